/**
 * `wos-ctl`: a running kernel's control channel, with the verbs the Rust
 * Duende's WOS adapter used — `spawn --name N --priority P`,
 * `signal --pid P --signal N`, `status --pid P --json`, `ps --format pid,name`,
 * `renice --pid P --priority P` — plus `logs --pid P` and `boot`, which runs a
 * kernel (a `NodeWosHost`) in the foreground. The channel is a unix socket
 * carrying one JSON request and one JSON answer per line; requests are
 * decoded with `effect/Schema`, so a bad one is answered with an error naming
 * its field.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { existsSync, unlinkSync } from "node:fs"
import { connect, createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as NodeWosHost from "./NodeWosHost.js"
import * as WosSignal from "./WosSignal.js"

const Pid = Schema.Int.pipe(Schema.positive())

const requests = {
  spawn: Schema.TaggedStruct("spawn", { request: NodeWosHost.SpawnOptions }),
  signal: Schema.TaggedStruct("signal", { pid: Pid, signal: WosSignal.WosSignal }),
  status: Schema.TaggedStruct("status", { pid: Pid }),
  ps: Schema.TaggedStruct("ps", {}),
  renice: Schema.TaggedStruct("renice", { pid: Pid, priority: Schema.Int.pipe(Schema.between(0, 7)) }),
  logs: Schema.TaggedStruct("logs", { pid: Pid })
}
/**
 * A request on the channel.
 *
 * @example
 * ```ts
 * import { WosCtl } from "@duende/platform-wos"
 * import * as Schema from "effect/Schema"
 *
 * Schema.decodeUnknownSync(WosCtl.Request)({ _tag: "signal", pid: 2, signal: 15 })
 * ```
 *
 * @since 0.1.0
 */
export const Request = Schema.Union(...Object.values(requests))

/**
 * A request as a client writes it.
 *
 * @example
 * ```ts
 * import type { WosCtl } from "@duende/platform-wos"
 *
 * const ps: WosCtl.Request = { _tag: "ps" }
 * ```
 *
 * @since 0.1.0
 */
export type Request = Schema.Schema.Encoded<typeof Request>

/**
 * The channel failed, or the kernel refused the request (its message says why).
 *
 * @example
 * ```ts
 * import { WosCtl } from "@duende/platform-wos"
 *
 * new WosCtl.CtlError({ reason: "no kernel listens on /tmp/wos.sock" }).message
 * ```
 *
 * @since 0.1.0
 */
export class CtlError extends Data.TaggedError("CtlError")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

/**
 * The default socket: `$WOS_CTL_SOCKET`, else `duende-wos-<uid>.sock` in the temporary directory.
 *
 * @example
 * ```ts
 * import { WosCtl } from "@duende/platform-wos"
 *
 * WosCtl.defaultSocket() // "/tmp/duende-wos-0.sock"
 * ```
 *
 * @since 0.1.0
 */
export const defaultSocket = (): string =>
  process.env.WOS_CTL_SOCKET ?? join(tmpdir(), `duende-wos-${process.getuid?.() ?? "user"}.sock`)

/** Decodes a request line: its verb first, then that verb's fields (so an error names the field, not the union). */
const decodeRequest = (line: string): Either.Either<Schema.Schema.Type<typeof Request>, string> => {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch (error) {
    return Either.left(`not JSON: ${(error as Error).message}`)
  }
  const tag = (json as { _tag?: unknown } | null)?._tag
  if (typeof tag !== "string" || !Object.hasOwn(requests, tag)) {
    return Either.left(`_tag: expected one of ${Object.keys(requests).join(", ")}, got ${JSON.stringify(tag)}`)
  }
  return Either.mapLeft(
    Schema.decodeUnknownEither(requests[tag as keyof typeof requests] as Schema.Schema<Schema.Schema.Type<typeof Request>, unknown>)(json),
    (error) => ParseResult.TreeFormatter.formatErrorSync(error)
  )
}

/** The answer to one decoded request. */
const answer = (
  host: NodeWosHost.WosHost,
  request: Schema.Schema.Type<typeof Request>
): Effect.Effect<unknown, { readonly message: string }> => {
  switch (request._tag) {
    case "spawn":
      return Effect.map(host.spawn(request.request), (proc) => ({ pid: proc.pid }))
    case "signal":
      return Effect.as(host.signal(request.pid, request.signal), {})
    case "status":
      return Effect.gen(function*() {
        const proc = yield* host.process(request.pid)
        const info = yield* Effect.option(host.kernel.get(request.pid))
        const exit = yield* proc.exit
        return {
          pid: proc.pid,
          name: proc.name,
          state: info._tag === "Some" ? info.value.state : { _tag: "Terminated", code: exit._tag === "Some" ? exit.value.code : 0 },
          ...(info._tag === "Some" ? { ppid: info.value.ppid, priority: info.value.priority, memory: info.value.memory } : {}),
          reportsReady: proc.reportsReady,
          ready: yield* proc.ready,
          healthy: yield* proc.healthy,
          ...(exit._tag === "Some" ? { exit: exit.value } : {})
        }
      })
    case "ps":
      return Effect.map(host.kernel.ps, (all) =>
        all.map((p) => ({ pid: p.pid, ppid: p.ppid, name: p.name, state: p.state._tag, priority: p.priority })))
    case "renice":
      return Effect.as(host.kernel.renice(request.pid, request.priority), {})
    case "logs":
      return Effect.flatMap(host.process(request.pid), (proc) => proc.logs)
  }
}

/**
 * Serves the channel of `host` on the unix socket `path` for the life of the
 * scope (a stale socket file is replaced; one a kernel still listens on is refused).
 *
 * @example
 * ```ts
 * import { NodeWosHost, WosCtl } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const boot = Effect.scoped(Effect.gen(function*() {
 *   const host = yield* NodeWosHost.make({ cpus: 1 })
 *   yield* WosCtl.serve(host, "/tmp/wos.sock")
 *   return yield* Effect.never
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const serve = (host: NodeWosHost.WosHost, path: string): Effect.Effect<void, CtlError, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    if (existsSync(path)) {
      const alive = yield* Effect.either(call(path, { _tag: "ps" }))
      if (Either.isRight(alive)) return yield* new CtlError({ reason: `a kernel already listens on ${path}` })
      unlinkSync(path)
    }
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      let buffered = ""
      socket.on("data", (chunk) => {
        buffered += chunk.toString("utf8")
        for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
          const line = buffered.slice(0, end)
          buffered = buffered.slice(end + 1)
          const decoded = decodeRequest(line)
          const reply = Either.isLeft(decoded)
            ? Effect.succeed({ ok: false, error: decoded.left })
            : answer(host, decoded.right).pipe(
              Effect.map((result) => ({ ok: true, result })),
              Effect.catchAll((error) => Effect.succeed({ ok: false, error: error.message }))
            )
          Runtime.runFork(runtime)(Effect.flatMap(reply, (body) => Effect.sync(() => socket.write(`${JSON.stringify(body)}\n`))))
        }
      })
      socket.on("error", () => socket.destroy())
    })
    yield* Effect.acquireRelease(
      Effect.async<void, CtlError>((resume) => {
        server.once("error", (error) => resume(Effect.fail(new CtlError({ reason: `${path}: ${error.message}` }))))
        server.listen(path, () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
  })

/**
 * Sends one request to the kernel listening on `path`; its result, or a `CtlError` with the kernel's reason.
 *
 * @example
 * ```ts
 * import { WosCtl } from "@duende/platform-wos"
 *
 * const ps = WosCtl.call("/tmp/wos.sock", { _tag: "ps" })
 * ```
 *
 * @since 0.1.0
 */
export const call = (path: string, request: Request): Effect.Effect<unknown, CtlError> =>
  Effect.async<unknown, CtlError>((resume) => {
    const socket = connect(path)
    let buffered = ""
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`))
    socket.on("data", (chunk) => {
      buffered += chunk.toString("utf8")
      const end = buffered.indexOf("\n")
      if (end < 0) return
      socket.end()
      const body = JSON.parse(buffered.slice(0, end)) as { ok: boolean; result?: unknown; error?: string }
      resume(body.ok ? Effect.succeed(body.result) : Effect.fail(new CtlError({ reason: body.error ?? "refused" })))
    })
    socket.on("error", (error) =>
      resume(Effect.fail(new CtlError({ reason: `no kernel listens on ${path} (${error.message}): run wos-ctl boot` }))))
    return Effect.sync(() => socket.destroy())
  })

/** `--name value` flags and the words after `--`. */
const parse = (args: ReadonlyArray<string>) => {
  const flags = new Map<string, string>()
  const rest: Array<string> = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") {
      rest.push(...args.slice(i + 1))
      break
    }
    if (!arg.startsWith("--")) {
      rest.push(arg)
      continue
    }
    const [name, inline] = arg.slice(2).split("=", 2) as [string, string | undefined]
    if (name === "json") flags.set("json", "true")
    else if (inline !== undefined) flags.set(name, inline)
    else flags.set(name, args[++i] ?? "")
  }
  return { flags, rest }
}

const usage = `usage: wos-ctl <verb> [--socket PATH]
  boot [--cpus N] [--quantum MS]                       run a kernel in the foreground
  spawn --name N [--priority P] [--memory BYTES] [--sandbox DIR] -- MODULE.wasm [ARGS...]
  signal --pid P --signal N                            INT 2, KILL 9, USR1 10, SEGV 11, USR2 12, PIPE 13, TERM 15, CHLD 17
  status --pid P [--json]
  ps [--format pid,name,...]                           columns: pid, ppid, name, state, priority
  renice --pid P --priority P
  logs --pid P`

const number = (flags: Map<string, string>, name: string) => (flags.has(name) ? Number(flags.get(name)) : undefined)

/**
 * Runs one `wos-ctl` command line (without `boot`) against the kernel on its
 * socket; what it prints.
 *
 * @example
 * ```ts
 * import { WosCtl } from "@duende/platform-wos"
 *
 * const out = WosCtl.run(["ps", "--format", "pid,name", "--socket", "/tmp/wos.sock"]) // "0 kernel\n1 init\n…"
 * ```
 *
 * @since 0.1.0
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<string, CtlError> =>
  Effect.gen(function*() {
    const [verb, ...args] = argv
    const { flags, rest } = parse(args)
    const socket = flags.get("socket") ?? defaultSocket()
    const pid = number(flags, "pid")
    switch (verb) {
      case "spawn": {
        const [module, ...moduleArgs] = rest
        const result = (yield* call(socket, {
          _tag: "spawn",
          request: {
            name: flags.get("name") ?? "",
            module: module === undefined ? "" : resolve(module),
            args: moduleArgs,
            ...(flags.has("priority") ? { priority: number(flags, "priority")! } : {}),
            ...(flags.has("memory") ? { memory: number(flags, "memory")! } : {}),
            ...(flags.has("sandbox") ? { sandbox: resolve(flags.get("sandbox")!) } : {})
          }
        })) as { pid: number }
        return `${result.pid}`
      }
      case "signal":
        yield* call(socket, { _tag: "signal", pid: pid!, signal: number(flags, "signal") as never })
        return ""
      case "status": {
        const status = (yield* call(socket, { _tag: "status", pid: pid! })) as {
          pid: number
          name: string
          state: { _tag: string; code?: number }
        }
        return flags.has("json")
          ? JSON.stringify(status)
          : `${status.pid} ${status.name} ${status.state._tag}${status.state.code === undefined ? "" : ` (${status.state.code})`}`
      }
      case "ps": {
        const columns = (flags.get("format") ?? "pid,ppid,name,state,priority").split(",")
        const rows = (yield* call(socket, { _tag: "ps" })) as Array<Record<string, string | number>>
        const unknown = columns.filter((column) => !["pid", "ppid", "name", "state", "priority"].includes(column))
        if (unknown.length > 0) return yield* new CtlError({ reason: `ps --format: no column ${unknown.join(", ")}` })
        return rows.map((row) => columns.map((column) => String(row[column])).join(" ")).join("\n")
      }
      case "renice":
        yield* call(socket, { _tag: "renice", pid: pid!, priority: number(flags, "priority")! })
        return ""
      case "logs": {
        const lines = (yield* call(socket, { _tag: "logs", pid: pid! })) as Array<{ stream: string; text: string }>
        return lines.map((line) => `${line.stream}: ${line.text}`).join("\n")
      }
      default:
        return yield* new CtlError({ reason: verb === undefined ? usage : `unknown verb "${verb}"\n${usage}` })
    }
  })

/**
 * `wos-ctl boot`: a kernel on `socket` until interrupted.
 *
 * @example
 * ```ts
 * import { WosCtl } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * Effect.runFork(WosCtl.boot({ socket: "/tmp/wos.sock", cpus: 2 }))
 * ```
 *
 * @since 0.1.0
 */
export const boot = (options: NodeWosHost.Options & { readonly socket?: string }): Effect.Effect<never, CtlError> =>
  Effect.scoped(Effect.gen(function*() {
    const host = yield* NodeWosHost.make(options)
    const socket = options.socket ?? defaultSocket()
    yield* serve(host, socket)
    yield* Effect.logInfo(`WOS kernel listening on ${socket} (${host.kernel.cpus} CPU, ${Duration.format(host.kernel.quantum)} slices)`)
    return yield* Effect.never
  }))

/**
 * The `wos-ctl` command: `boot` runs a kernel; every other verb talks to one.
 *
 * @example
 * ```ts
 * import { WosCtl } from "@duende/platform-wos"
 *
 * WosCtl.main(process.argv.slice(2))
 * ```
 *
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<void, CtlError> =>
  argv[0] === "boot"
    ? Effect.suspend(() => {
      const { flags } = parse(argv.slice(1))
      const cpus = number(flags, "cpus")
      const quantum = number(flags, "quantum")
      return boot({
        ...(flags.has("socket") ? { socket: flags.get("socket")! } : {}),
        ...(cpus === undefined ? {} : { cpus }),
        ...(quantum === undefined ? {} : { quantum: `${quantum} millis` as const })
      })
    })
    : Effect.flatMap(run(argv), (out) => Effect.sync(() => out === "" || void process.stdout.write(`${out}\n`)))
