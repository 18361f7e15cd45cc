/**
 * The host half every WOS host shares: the kernel, the modules checked before
 * they run, the process records, the answers to what workers ask (spawn,
 * wait, sigaction, fds…), signals, and the scheduler's pass writing the
 * control blocks. What differs between Node and a browser — reading a
 * module, the sandbox, starting and ending a worker — is a `Platform`.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as WosError from "../WosError.js"
import * as WosHost from "../WosHost.js"
import * as WosKernel from "../WosKernel.js"
import { numbers } from "../WosSignal.js"
import { ABI_VERSION, CODE, PENDING, REPLY, RUN, SLEEPING, SLOTS, VALUE, type WorkerData, type WorkerMessage } from "./control.js"
import { memoryImport } from "./wasmModule.js"

const PAGE = 65_536

/** A running worker, as the host ends it. */
export interface WorkerHandle {
  readonly terminate: () => Promise<unknown> | void
}

/** What a worker reports besides its messages. */
export interface WorkerEvents {
  readonly message: (message: WorkerMessage) => void
  /** It failed to load or threw outside the process. */
  readonly failed: (reason: string) => void
  /** It ended by itself (Node only: a Web Worker has no exit event). */
  readonly exited: (code: number) => void
}

/** A sandbox a process runs in. */
export interface Sandbox {
  /** Its path: the host directory (Node), or `/sandbox` (browser). */
  readonly path: string
  /** Made for this process: removed when it exits. */
  readonly own: boolean
}

/** What runs processes on one kind of host. */
export interface Platform {
  /** The bytes of a module (a file in Node, a URL in a browser). */
  readonly read: (module: string) => Promise<Uint8Array>
  /** The WASI preview1 functions its processes get (a module importing another is refused). */
  readonly preview1: ReadonlySet<string>
  /** The sandbox of a process: the given one, checked, or a fresh one. */
  readonly sandbox: (given: string | undefined) => Effect.Effect<Sandbox, WosError.HostFailed>
  readonly removeSandbox: (path: string) => Promise<void>
  /** The module of a child a process spawns by its path inside `/sandbox`, or why it cannot be spawned. */
  readonly childModule: (sandbox: string, path: string) => Either.Either<string, string>
  /** Starts a process's worker; throws when it cannot. */
  readonly startWorker: (data: WorkerData, events: WorkerEvents) => WorkerHandle
}

interface Record_ {
  readonly pid: WosKernel.Pid
  readonly name: string
  readonly reportsReady: boolean
  /** The sandbox the host made for it, removed at its exit. */
  readonly ownSandbox: string | undefined
  /** What its children inherit: its sandbox, env and memory cap. */
  readonly sandbox: string
  readonly env: Readonly<Record<string, string>>
  readonly memory: number
  worker: WorkerHandle | undefined
  readonly control: Int32Array
  readonly logs: Array<WosHost.LogLine>
  readonly ready: Deferred.Deferred<boolean>
  readonly exit: Deferred.Deferred<WosHost.ExitInfo>
  healthy: boolean | undefined
  isReady: boolean
  exited: WosHost.ExitInfo | undefined
  sleeping: boolean
}

/** stdin, stdout, stderr and the sandbox preopen. */
const STARTING_FDS = 4
const KEPT_LINES = 1000
const KEPT_EXITED = 100
const catchable = Object.values(numbers).filter((signal) => signal !== numbers.KILL)
const duendeImports = new Set(["yield", "signal_pending", "sigaction", "ready", "health", "spawn", "wait"])

const refuse = (module: string, reason: string) => new WosError.ModuleRefused({ module, reason })

/** Reads, compiles and checks a module; its memory's page limits under a cap of `memory` bytes. */
const load = (platform: Platform, path: string, memory: number) =>
  Effect.gen(function*() {
    const bytes = yield* Effect.tryPromise({
      try: () => platform.read(path),
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
    for (const entry of WebAssembly.Module.imports(module)) {
      const known = entry.module === "wasi_snapshot_preview1"
        ? platform.preview1.has(entry.name)
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

const decodeSpawn = Schema.decodeUnknownEither(WosHost.SpawnOptions)

/** A host on `platform` with its kernel, for the life of the scope: closing it ends every process. */
export const make = (
  platform: Platform,
  options: WosHost.Options = {}
): Effect.Effect<WosHost.WosHost, never, Scope.Scope> =>
  Effect.gen(function*() {
    const kernel = yield* WosKernel.make(options)
    const runtime = yield* Effect.runtime<never>()
    const runSync = Runtime.runSync(runtime)
    const runFork = Runtime.runFork(runtime)
    const pubsub = yield* PubSub.unbounded<WosHost.ProcessEvent>()
    const live = new Map<WosKernel.Pid, Record_>()
    const exited: Array<Record_> = []
    const sandboxes = new Set<string>()
    const removeSandbox = (path: string) =>
      Effect.promise(() => platform.removeSandbox(path)).pipe(
        Effect.ensuring(Effect.sync(() => sandboxes.delete(path)))
      )

    const finish = (record: Record_, code: number, reason: string, signal: number | undefined) =>
      Effect.gen(function*() {
        if (record.exited !== undefined) return
        const exit: WosHost.ExitInfo = { code, signal, reason, at: yield* Clock.currentTimeMillis }
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
        void record.worker?.terminate()
        if (record.ownSandbox !== undefined) runFork(removeSandbox(record.ownSandbox))
      })

    const onMessage = (record: Record_, message: WorkerMessage) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        switch (message.type) {
          case "log": {
            const line: WosHost.LogLine = { at, stream: message.stream, text: message.text }
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

    const spawn = (request: WosHost.SpawnOptions) =>
      Effect.gen(function*() {
        const decoded = decodeSpawn(request)
        if (decoded._tag === "Left") {
          return yield* new WosError.InvalidRequest({
            operation: "spawn",
            reason: ParseResult.TreeFormatter.formatErrorSync(decoded.left)
          })
        }
        const spec = decoded.right
        const loaded = yield* load(platform, spec.module, spec.memory)
        const sandbox = yield* platform.sandbox(spec.sandbox)
        if (sandbox.own) sandboxes.add(sandbox.path)
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
          env: { PWD: sandbox.path, ...spec.env, WOS_PID: String(pid), DUENDE_WOS_ABI: String(ABI_VERSION) },
          sandbox: sandbox.path,
          initialPages: loaded.initialPages,
          maximumPages: loaded.maximumPages,
          control,
          catchable,
          CHLD: numbers.CHLD,
          opens: kernel.limits.fds - STARTING_FDS,
          slots: { RUN, PENDING, SLEEPING, REPLY, VALUE, CODE }
        }
        const record: Record_ = {
          pid,
          name: spec.name,
          reportsReady: loaded.reportsReady,
          ownSandbox: sandbox.own ? sandbox.path : undefined,
          sandbox: sandbox.path,
          env: spec.env,
          memory: spec.memory,
          worker: undefined,
          control: new Int32Array(control),
          logs: [],
          ready: yield* Deferred.make<boolean>(),
          exit: yield* Deferred.make<WosHost.ExitInfo>(),
          healthy: undefined,
          isReady: false,
          exited: undefined,
          sleeping: false
        }
        record.worker = yield* Effect.try({
          try: () =>
            platform.startWorker(data, {
              message: (message) => runSync(onMessage(record, message)),
              failed: (reason) => runSync(finish(record, 1, `worker failed: ${reason}`, undefined)),
              exited: (code) => runSync(finish(record, code === 0 ? 1 : code, "its worker exited", undefined))
            }),
          catch: (error) => new WosError.HostFailed({ reason: `worker: ${(error as Error).message}` })
        }).pipe(Effect.tapError(() => Effect.ignore(kernel.exit(pid, 1))))
        live.set(pid, record)
        return view(record)
      })

    const view = (record: Record_): WosHost.WosProcess => ({
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
        const line: WosHost.LogLine = { at, stream: "stderr", text: `wos: ${text}` }
        record.logs.push(line)
        return PubSub.publish(pubsub, { _tag: "Log", pid: record.pid, line })
      })

    // duende_spawn: a module of the parent's sandbox, as its child, sharing the sandbox.
    const spawnChild = (record: Record_, path: string, args: ReadonlyArray<string>, priority: number) =>
      Effect.gen(function*() {
        const module = platform.childModule(record.sandbox, path)
        if (module._tag === "Left") {
          yield* note(record, `spawn ${path}: ${module.left}`)
          return yield* reply(record, -1)
        }
        const child = yield* Effect.either(spawn({
          name: args[0] ?? path.split("/").pop()!,
          module: module.right,
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
        await Promise.allSettled(workers.map((record) => record.worker?.terminate()))
        await Promise.allSettled([...sandboxes].map((path) => platform.removeSandbox(path)))
      })
    )

    return WosHost.WosHost.of({
      kernel,
      spawn,
      signal,
      process: find,
      events: Effect.map(PubSub.subscribe(pubsub), Stream.fromQueue)
    })
  })
