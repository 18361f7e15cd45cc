/**
 * The WOS kernel in Node, running real WebAssembly processes: each process is
 * a WASI preview1 command (`node:wasi`) in its own worker thread, with its
 * args, its env (plus `WOS_PID`, and `PWD` naming the sandbox's own path), a
 * sandbox directory preopened at `/sandbox` and at that path, stdout and
 * stderr captured as log lines, and its exit code.
 *
 * - **Memory is capped for real.** The module must import its memory as
 *   `env.memory`; the host creates it with the process's maximum, so growing
 *   past it fails inside the module (`memory.grow` returns -1, `malloc` NULL).
 *   A module that defines (exports) its own memory is refused with
 *   `ModuleRefused`: the host cannot cap a memory it does not create without
 *   rewriting the module, and it does not rewrite modules.
 * - **Scheduling is real.** At most `cpus` processes (default 1) are let run
 *   in a slice; one not chosen waits at its next host call (`Atomics.wait` on
 *   a shared control block) until the kernel chooses it. A process sleeping
 *   in `poll_oneoff` is Blocked in the kernel meanwhile.
 * - **Signals.** KILL is `worker.terminate()`, at once. Other signals are
 *   delivered at the process's next host call through the `duende` import
 *   module (see `include/duende_wos.h`): handlers run at the safe points
 *   `duende_yield`/`duende_ready`/`duende_health`; the default action ends the
 *   process at any host call with the signal number as its exit code.
 *   A module that never calls the host can only be KILLed.
 * - **File descriptors** count against the kernel's per-process limit (256):
 *   past it `path_open` fails with EMFILE.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { mkdtemp, readFile, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, join, relative, resolve } from "node:path"
import { Worker } from "node:worker_threads"
import {
  CODE,
  PENDING,
  REPLY,
  RUN,
  SLEEPING,
  SLOTS,
  VALUE,
  type WorkerData,
  type WorkerMessage
} from "./internal/control.js"
import { memoryImport } from "./internal/wasmModule.js"
import { workerSource } from "./internal/worker.js"
import * as WosError from "./WosError.js"
import * as WosKernel from "./WosKernel.js"
import { numbers } from "./WosSignal.js"

const PAGE = 65_536
const MiB = 1024 * 1024

/**
 * What `spawn` is given; decoded, so a bad request names its field.
 *
 * @example
 * ```ts
 * import { NodeWosHost } from "@duende/platform-wos"
 * import * as Schema from "effect/Schema"
 *
 * Schema.decodeUnknownSync(NodeWosHost.SpawnOptions)({ name: "api", module: "api.wasm" }).memory // 16777216
 * ```
 *
 * @since 0.1.0
 */
export const SpawnOptions = Schema.Struct({
  name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)),
  /** The path of the `.wasm` file. */
  module: Schema.String.pipe(Schema.minLength(1)),
  /** Arguments after argv[0] (which is the name). */
  args: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  env: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) }),
  priority: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 7)), { default: () => 4 }),
  /** The process's memory cap in bytes (rounded up to 64 KiB pages); reserved in the kernel. Default 16 MiB. */
  memory: Schema.optionalWith(Schema.Int.pipe(Schema.between(PAGE, 256 * MiB)), { default: () => 16 * MiB }),
  /** A directory preopened as `/sandbox`; default a fresh temporary directory, removed when the process exits. */
  sandbox: Schema.optional(Schema.String.pipe(Schema.minLength(1))),
  /** The parent pid; init by default. */
  parent: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

/**
 * A spawn request as a caller writes it.
 *
 * @example
 * ```ts
 * import type { NodeWosHost } from "@duende/platform-wos"
 *
 * const request: NodeWosHost.SpawnOptions = { name: "api", module: "api.wasm", args: ["--port", "80"], priority: 2 }
 * ```
 *
 * @since 0.1.0
 */
export type SpawnOptions = Schema.Schema.Encoded<typeof SpawnOptions>

/**
 * How a process ended.
 *
 * @example
 * ```ts
 * import type { NodeWosHost } from "@duende/platform-wos"
 *
 * const killed: NodeWosHost.ExitInfo = { code: 9, signal: 9, reason: "killed by KILL", at: 0 }
 * ```
 *
 * @since 0.1.0
 */
export interface ExitInfo {
  readonly code: number
  /** The signal that ended it (KILL, or a signal's default action); undefined when it exited by itself. */
  readonly signal: number | undefined
  /** "exit 0", "killed by KILL", "terminated by signal 15", "trap: unreachable". */
  readonly reason: string
  /** Epoch ms. */
  readonly at: number
}

/**
 * A line a process wrote.
 *
 * @example
 * ```ts
 * import type { NodeWosHost } from "@duende/platform-wos"
 *
 * const line: NodeWosHost.LogLine = { at: 0, stream: "stdout", text: "count 100" }
 * ```
 *
 * @since 0.1.0
 */
export interface LogLine {
  readonly at: number
  readonly stream: "stdout" | "stderr"
  readonly text: string
}

/**
 * What happens to a process, as it happens.
 *
 * @example
 * ```ts
 * import type { NodeWosHost } from "@duende/platform-wos"
 *
 * const describe = (event: NodeWosHost.ProcessEvent) => event._tag === "Exited" ? `${event.pid}: ${event.exit.reason}` : event._tag
 * ```
 *
 * @since 0.1.0
 */
export type ProcessEvent =
  | { readonly _tag: "Ready"; readonly pid: WosKernel.Pid; readonly at: number }
  | { readonly _tag: "Health"; readonly pid: WosKernel.Pid; readonly healthy: boolean; readonly at: number }
  | { readonly _tag: "Log"; readonly pid: WosKernel.Pid; readonly line: LogLine }
  | { readonly _tag: "Exited"; readonly pid: WosKernel.Pid; readonly exit: ExitInfo }

/**
 * A process of the host.
 *
 * @example
 * ```ts
 * import type { NodeWosHost } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const lastLine = (proc: NodeWosHost.WosProcess) => Effect.map(proc.logs, (lines) => lines.at(-1)?.text)
 * ```
 *
 * @since 0.1.0
 */
export interface WosProcess {
  readonly pid: WosKernel.Pid
  readonly name: string
  /** Whether its module imports `duende.ready`, i.e. it will say when it is ready. */
  readonly reportsReady: boolean
  /** Waits until it reported ready (true) or exited before (false). */
  readonly awaitReady: Effect.Effect<boolean>
  /** Waits until it exited. */
  readonly awaitExit: Effect.Effect<ExitInfo>
  readonly exit: Effect.Effect<Option.Option<ExitInfo>>
  readonly ready: Effect.Effect<boolean>
  /** Its last `duende_health` report, if any. */
  readonly healthy: Effect.Effect<boolean | undefined>
  /** Its last lines (at most 1000). */
  readonly logs: Effect.Effect<ReadonlyArray<LogLine>>
}

/**
 * The host's options: the kernel's.
 *
 * @example
 * ```ts
 * import { NodeWosHost } from "@duende/platform-wos"
 *
 * const options: NodeWosHost.Options = { cpus: 2, quantum: "5 millis", limits: { processes: 100 } }
 * ```
 *
 * @since 0.1.0
 */
export type Options = WosKernel.Options

/**
 * The host.
 *
 * @example
 * ```ts
 * import { NodeWosHost } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const stop = (host: NodeWosHost.WosHost, pid: number) => Effect.zipRight(host.signal(pid, 15), Effect.flatMap(host.process(pid), (p) => p.awaitExit))
 * ```
 *
 * @since 0.1.0
 */
export interface WosHost {
  readonly kernel: WosKernel.WosKernel
  /** Starts a process under its parent (init by default); it runs once scheduled. */
  readonly spawn: (
    options: SpawnOptions
  ) => Effect.Effect<WosProcess, WosError.KernelError | WosError.ModuleRefused | WosError.HostFailed>
  readonly signal: (pid: WosKernel.Pid, signal: number) => Effect.Effect<void, WosError.NoSuchProcess | WosError.InvalidRequest>
  /** A process spawned by this host, running or exited (the last 100 exited are kept). */
  readonly process: (pid: WosKernel.Pid) => Effect.Effect<WosProcess, WosError.NoSuchProcess>
  /** Subscribes now, for the life of the scope, to every process's events. */
  readonly events: Effect.Effect<Stream.Stream<ProcessEvent>, never, Scope.Scope>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { NodeWosHost } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const exit = Effect.gen(function*() {
 *   const host = yield* NodeWosHost.WosHost
 *   const process = yield* host.spawn({ name: "hello", module: "hello.wasm" })
 *   return yield* process.awaitExit
 * })
 * ```
 *
 * @since 0.1.0
 */
export const WosHost: Context.Tag<WosHost, WosHost> = Context.GenericTag<WosHost>("@duende/platform-wos/WosHost")

interface Record_ {
  readonly pid: WosKernel.Pid
  readonly name: string
  readonly reportsReady: boolean
  /** The temporary sandbox the host made for it, removed at its exit. */
  readonly ownSandbox: string | undefined
  /** What its children inherit: its sandbox, env and memory cap. */
  readonly sandbox: string
  readonly env: Readonly<Record<string, string>>
  readonly memory: number
  readonly worker: Worker
  readonly control: Int32Array
  readonly logs: Array<LogLine>
  readonly ready: Deferred.Deferred<boolean>
  readonly exit: Deferred.Deferred<ExitInfo>
  healthy: boolean | undefined
  isReady: boolean
  exited: ExitInfo | undefined
  sleeping: boolean
}

/** stdin, stdout, stderr and the sandbox preopen. */
const STARTING_FDS = 4
const KEPT_LINES = 1000
const KEPT_EXITED = 100
const catchable = Object.values(numbers).filter((signal) => signal !== numbers.KILL)
const duendeImports = new Set(["yield", "signal_pending", "sigaction", "ready", "health", "spawn", "wait"])

const refuse = (module: string, reason: string) => new WosError.ModuleRefused({ module, reason })

/** Compiles and checks a module; its memory's page limits under a cap of `memory` bytes. */
const load = (path: string, memory: number) =>
  Effect.gen(function*() {
    const bytes = yield* Effect.tryPromise({
      try: () => readFile(path),
      catch: (error) => refuse(path, `cannot be read: ${(error as Error).message}`)
    })
    const module = yield* Effect.tryPromise({
      try: () => WebAssembly.compile(bytes),
      catch: (error) => refuse(path, `not a WebAssembly module: ${(error as Error).message}`)
    })
    const exports = WebAssembly.Module.exports(module)
    if (exports.some((entry) => entry.kind === "memory")) {
      return yield* refuse(
        path,
        "it defines and exports its own memory, which the host cannot cap without rewriting the module; " +
          "link it with -Wl,--import-memory so that it imports env.memory"
      )
    }
    if (!exports.some((entry) => entry.name === "_start" && entry.kind === "function")) {
      return yield* refuse(path, "it exports no _start function (build a WASI command)")
    }
    // Loaded here, not at import: node:wasi prints an ExperimentalWarning when it loads, and the
    // duende command loads this module for every `render` (it bundles its platforms).
    const { WASI } = process.getBuiltinModule("node:wasi")
    const preview1 = (new WASI({ version: "preview1" }).getImportObject() as { wasi_snapshot_preview1: object })
      .wasi_snapshot_preview1
    for (const entry of WebAssembly.Module.imports(module)) {
      const known = entry.module === "wasi_snapshot_preview1"
        ? Object.hasOwn(preview1, entry.name)
        : entry.module === "duende"
        ? duendeImports.has(entry.name)
        : entry.module === "env" && entry.name === "memory" && entry.kind === "memory"
      if (!known) return yield* refuse(path, `it imports ${entry.module}.${entry.name}, which the host does not provide`)
    }
    const limits = memoryImport(bytes)
    if (limits === undefined) return yield* refuse(path, "it imports no env.memory (link it with -Wl,--import-memory)")
    if (limits.shared) return yield* refuse(path, "its memory is shared; WOS processes are single-threaded")
    const cap = Math.ceil(memory / PAGE)
    const maximumPages = Math.min(cap, limits.maximum ?? cap)
    if (limits.minimum > maximumPages) {
      return yield* refuse(
        path,
        `it needs ${limits.minimum * PAGE} bytes of memory at start, more than its cap of ${maximumPages * PAGE}`
      )
    }
    const reportsReady = WebAssembly.Module.imports(module).some((entry) =>
      entry.module === "duende" && entry.name === "ready"
    )
    return { module, initialPages: limits.minimum, maximumPages, reportsReady }
  })

const decodeSpawn = Schema.decodeUnknownEither(SpawnOptions)

/**
 * A host with its kernel, for the life of the scope: closing it terminates
 * every process and removes the sandboxes it created.
 *
 * @example
 * ```ts
 * import { NodeWosHost } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const host = yield* NodeWosHost.make({ cpus: 1 })
 *   const counter = yield* host.spawn({ name: "counter", module: "counter.wasm", priority: 2 })
 *   yield* counter.awaitReady
 *   yield* host.signal(counter.pid, 15)
 *   return yield* counter.awaitExit // { code: 0, ... }
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<WosHost, never, Scope.Scope> =>
  Effect.gen(function*() {
    const kernel = yield* WosKernel.make(options)
    const runtime = yield* Effect.runtime<never>()
    const runSync = Runtime.runSync(runtime)
    const runFork = Runtime.runFork(runtime)
    const pubsub = yield* PubSub.unbounded<ProcessEvent>()
    const live = new Map<WosKernel.Pid, Record_>()
    const exited: Array<Record_> = []
    const sandboxes = new Set<string>()
    const removeSandbox = (path: string) =>
      Effect.promise(() => rm(path, { recursive: true, force: true })).pipe(
        Effect.ensuring(Effect.sync(() => sandboxes.delete(path)))
      )

    const finish = (record: Record_, code: number, reason: string, signal: number | undefined) =>
      Effect.gen(function*() {
        if (record.exited !== undefined) return
        const exit: ExitInfo = { code, signal, reason, at: yield* Clock.currentTimeMillis }
        record.exited = exit
        live.delete(record.pid)
        exited.push(record)
        if (exited.length > KEPT_EXITED) exited.shift()
        const parent = yield* Effect.option(Effect.map(kernel.get(record.pid), (info) => live.get(info.ppid)))
        yield* Effect.ignore(kernel.exit(record.pid, code))
        // The kernel queued CHLD to its parent: the parent's worker sees it too.
        if (parent._tag === "Some" && parent.value !== undefined) Atomics.or(parent.value.control, PENDING, 1 << numbers.CHLD)
        yield* Deferred.succeed(record.ready, false)
        yield* Deferred.succeed(record.exit, exit)
        yield* PubSub.publish(pubsub, { _tag: "Exited", pid: record.pid, exit })
        void record.worker.terminate()
        if (record.ownSandbox !== undefined) runFork(removeSandbox(record.ownSandbox))
      })

    const onMessage = (record: Record_, message: WorkerMessage) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        switch (message.type) {
          case "log": {
            const line: LogLine = { at, stream: message.stream, text: message.text }
            record.logs.push(line)
            if (record.logs.length > KEPT_LINES) record.logs.shift()
            return yield* PubSub.publish(pubsub, { _tag: "Log", pid: record.pid, line })
          }
          case "ready":
            record.isReady = true
            yield* Deferred.succeed(record.ready, true)
            return yield* PubSub.publish(pubsub, { _tag: "Ready", pid: record.pid, at })
          case "health":
            record.healthy = message.healthy
            return yield* PubSub.publish(pubsub, { _tag: "Health", pid: record.pid, healthy: message.healthy, at })
          case "sigaction":
            return yield* Effect.ignore(kernel.sigaction(record.pid, message.signal, message.handled))
          case "delivered":
            return yield* Effect.ignore(kernel.deliver(record.pid))
          case "fd":
            return yield* (message.opened ? Effect.ignore(kernel.openFd(record.pid)) : Effect.ignore(kernel.closeFd(record.pid)))
          case "spawn":
            return void runFork(spawnChild(record, message.path, message.args, message.priority))
          case "wait":
            return void runFork(waitChild(record, message.pid))
          case "exit":
            return yield* finish(
              record,
              message.code,
              message.reason ?? `exit ${message.code}`,
              message.signal
            )
        }
      })

    const spawn = (request: SpawnOptions) =>
      Effect.gen(function*() {
        const decoded = decodeSpawn(request)
        if (decoded._tag === "Left") {
          return yield* new WosError.InvalidRequest({
            operation: "spawn",
            reason: ParseResult.TreeFormatter.formatErrorSync(decoded.left)
          })
        }
        const spec = decoded.right
        const loaded = yield* load(spec.module, spec.memory)
        const sandbox = spec.sandbox ?? (yield* Effect.tryPromise({
          try: () => mkdtemp(join(tmpdir(), "duende-wos-")),
          catch: (error) => new WosError.HostFailed({ reason: `sandbox: ${(error as Error).message}` })
        }))
        if (spec.sandbox === undefined) sandboxes.add(sandbox)
        else {
          const isDirectory = yield* Effect.promise(() => stat(sandbox).then((s) => s.isDirectory(), () => false))
          if (!isDirectory) return yield* new WosError.HostFailed({ reason: `sandbox ${sandbox} is not a directory` })
        }
        const pid = yield* kernel.spawn({
          name: spec.name,
          priority: spec.priority,
          memory: loaded.maximumPages * PAGE,
          fds: STARTING_FDS,
          ...(spec.parent === undefined ? {} : { parent: spec.parent })
        })
        const control = new SharedArrayBuffer(SLOTS * 4)
        const data: WorkerData = {
          module: loaded.module,
          args: [spec.name, ...spec.args],
          env: { PWD: sandbox, ...spec.env, WOS_PID: String(pid) },
          sandbox,
          initialPages: loaded.initialPages,
          maximumPages: loaded.maximumPages,
          control,
          catchable,
          CHLD: numbers.CHLD,
          opens: kernel.limits.fds - STARTING_FDS,
          slots: { RUN, PENDING, SLEEPING, REPLY, VALUE, CODE }
        }
        const worker = yield* Effect.try({
          try: () => new Worker(workerSource, { eval: true, workerData: data }),
          catch: (error) => new WosError.HostFailed({ reason: `worker: ${(error as Error).message}` })
        }).pipe(Effect.tapError(() => Effect.ignore(kernel.exit(pid, 1))))
        const record: Record_ = {
          pid,
          name: spec.name,
          reportsReady: loaded.reportsReady,
          ownSandbox: spec.sandbox === undefined ? sandbox : undefined,
          sandbox,
          env: spec.env,
          memory: spec.memory,
          worker,
          control: new Int32Array(control),
          logs: [],
          ready: yield* Deferred.make<boolean>(),
          exit: yield* Deferred.make<ExitInfo>(),
          healthy: undefined,
          isReady: false,
          exited: undefined,
          sleeping: false
        }
        live.set(pid, record)
        worker.on("message", (message: WorkerMessage) => runSync(onMessage(record, message)))
        worker.on("error", (error) => runSync(finish(record, 1, `worker failed: ${error.message}`, undefined)))
        worker.on("exit", (code) => runSync(finish(record, code === 0 ? 1 : code, "its worker exited", undefined)))
        return view(record)
      })

    const view = (record: Record_): WosProcess => ({
      pid: record.pid,
      name: record.name,
      reportsReady: record.reportsReady,
      awaitReady: Deferred.await(record.ready),
      awaitExit: Deferred.await(record.exit),
      exit: Effect.sync(() => Option.fromNullable(record.exited)),
      ready: Effect.sync(() => record.isReady),
      healthy: Effect.sync(() => record.healthy),
      logs: Effect.sync(() => [...record.logs])
    })

    /** Answers a process's spawn or wait. */
    const reply = (record: Record_, value: number, code = 0) =>
      Effect.sync(() => {
        Atomics.store(record.control, VALUE, value)
        Atomics.store(record.control, CODE, code)
        Atomics.store(record.control, REPLY, 1)
        Atomics.notify(record.control, REPLY)
      })
    /** A line from the host in a process's stderr log (why its spawn failed). */
    const note = (record: Record_, text: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => {
        const line: LogLine = { at, stream: "stderr", text: `wos: ${text}` }
        record.logs.push(line)
        return PubSub.publish(pubsub, { _tag: "Log", pid: record.pid, line })
      })

    // duende_spawn: a module of the parent's sandbox, as its child, sharing the sandbox.
    const spawnChild = (record: Record_, path: string, args: ReadonlyArray<string>, priority: number) =>
      Effect.gen(function*() {
        const inside = relative("/sandbox", resolve("/sandbox", path))
        if (!path.startsWith("/sandbox/") || inside.startsWith("..")) {
          yield* note(record, `spawn ${path}: a child's module must be in /sandbox`)
          return yield* reply(record, -1)
        }
        const child = yield* Effect.either(spawn({
          name: args[0] ?? basename(path),
          module: join(record.sandbox, inside),
          args: args.slice(1),
          env: record.env,
          priority,
          memory: record.memory,
          sandbox: record.sandbox,
          parent: record.pid
        }))
        if (child._tag === "Left") yield* note(record, `spawn ${path}: ${child.left.message}`)
        yield* reply(record, child._tag === "Right" ? child.right.pid : -1)
      })

    // duende_wait: reaps an exited child (`pid`, or any when -1), waiting for one to exit; -1 when it has none.
    const waitChild = (record: Record_, pid: number) =>
      Effect.scoped(Effect.gen(function*() {
        const exits = yield* PubSub.subscribe(pubsub)
        for (;;) {
          const reaped = yield* kernel.wait(record.pid, pid === -1 ? undefined : pid)
          if (reaped._tag === "Some") return yield* reply(record, reaped.value.pid, reaped.value.code)
          const children = (yield* kernel.ps).filter((p) => p.ppid === record.pid && (pid === -1 || p.pid === pid))
          if (children.length === 0) return yield* reply(record, -1)
          for (;;) {
            const event = yield* exits.take
            if (event._tag === "Exited" && children.some((child) => child.pid === event.pid)) break
          }
        }
      })).pipe(Effect.catchAll(() => Effect.void)) // the parent itself was reaped meanwhile

    const signal = (pid: WosKernel.Pid, value: number) =>
      Effect.gen(function*() {
        yield* kernel.signal(pid, value)
        const record = live.get(pid)
        if (record === undefined) return
        if (value === numbers.KILL) return yield* finish(record, numbers.KILL, "killed by KILL", numbers.KILL)
        Atomics.or(record.control, PENDING, 1 << value)
      })

    const find = (pid: WosKernel.Pid) =>
      Effect.suspend(() => {
        const record = live.get(pid) ?? exited.find((entry) => entry.pid === pid)
        return record === undefined ? Effect.fail(new WosError.NoSuchProcess({ pid })) : Effect.succeed(view(record))
      })

    // A sleeping process is Blocked; it is Ready again once it woke.
    const prepare = Effect.suspend(() =>
      Effect.forEach([...live.values()], (record) => {
        const sleeping = Atomics.load(record.control, SLEEPING) === 1
        if (sleeping === record.sleeping) return Effect.void
        record.sleeping = sleeping
        return Effect.ignore(sleeping ? kernel.block(record.pid) : kernel.unblock(record.pid))
      }, { discard: true })
    )

    const onPass = (running: ReadonlyArray<WosKernel.Pid>) =>
      Effect.sync(() => {
        for (const record of live.values()) {
          const chosen = running.includes(record.pid)
          Atomics.store(record.control, RUN, chosen ? 1 : 0)
          if (chosen) Atomics.notify(record.control, RUN)
        }
      })

    yield* Effect.forkScoped(kernel.run(onPass, prepare))
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const workers = [...live.values()]
        live.clear()
        await Promise.allSettled(workers.map((record) => record.worker.terminate()))
        await Promise.allSettled([...sandboxes].map((path) => rm(path, { recursive: true, force: true })))
      })
    )

    return WosHost.of({
      kernel,
      spawn,
      signal,
      process: find,
      events: Effect.map(PubSub.subscribe(pubsub), Stream.fromQueue)
    })
  })

/**
 * The host as a scoped layer.
 *
 * @example
 * ```ts
 * import { NodeWosHost } from "@duende/platform-wos"
 *
 * const host = NodeWosHost.layer({ cpus: 2, quantum: "5 millis" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<WosHost> => Layer.scoped(WosHost, make(options))
