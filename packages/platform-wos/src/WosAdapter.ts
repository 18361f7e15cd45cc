/**
 * Core's `PlatformAdapter` on the WOS kernel: a daemon is a WebAssembly
 * module (`command.program` is its `.wasm`) run by a `NodeWosHost` in this
 * process. `start` spawns it under init with `platform.wos.priority` and a
 * memory cap of `resources.memory` (default 16 MiB), its working directory
 * preopened as `/sandbox`, and returns once it called `duende_ready` (a
 * module that does not import it is ready once started); `stop` sends TERM,
 * waits up to the timeout, then KILLs; `signal` sends the WOS signals (INT,
 * KILL, USR1, SEGV, USR2, PIPE, TERM, CHLD); `renice` changes its priority
 * while it runs. WOS has no HUP, so `reload` is `OperationUnsupported`.
 * Duende's `DaemonManager` restarts daemons (`restarts: "manager"`).
 *
 * The kernel lives in this process: daemons are known to the adapter that
 * installed them, for the life of its scope.
 *
 * @since 0.1.0
 */
import { type DaemonConfig, DaemonId, DaemonStatus, ExitReason, Signal } from "@duende/core"
import {
  type AdapterError,
  DaemonAlreadyRunning,
  DaemonNotFound,
  OperationUnsupported,
  PlatformAdapter,
  type PlatformModule,
  StartFailed,
  SyscallTrace
} from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { isAbsolute, resolve } from "node:path"
import * as NodeWosHost from "./NodeWosHost.js"
import type * as WosKernel from "./WosKernel.js"
import { fromNumber, nameOf, numbers } from "./WosSignal.js"

/**
 * The adapter's options: the host's (CPUs, time slice, limits), or a host to share.
 *
 * @example
 * ```ts
 * import type { WosAdapter } from "@duende/platform-wos/adapter"
 *
 * const options: WosAdapter.Options = { cpus: 1, quantum: "10 millis" }
 * ```
 *
 * @since 0.1.0
 */
export interface Options extends NodeWosHost.Options {
  /** Run daemons on this host instead of one of the adapter's own. */
  readonly host?: NodeWosHost.WosHost
}

/**
 * The adapter: core's, plus `find` (by name) and `renice`.
 *
 * @example
 * ```ts
 * import type { WosAdapter } from "@duende/platform-wos/adapter"
 *
 * const ps = (adapter: WosAdapter.WosAdapter) => adapter.host.kernel.ps
 * ```
 *
 * @since 0.1.0
 */
export interface WosAdapter extends PlatformModule.Adapter {
  readonly host: NodeWosHost.WosHost
  /** Changes a running daemon's priority (0 highest … 7). */
  readonly renice: (handle: PlatformAdapter.DaemonHandle, priority: number) => Effect.Effect<void, AdapterError>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { WosAdapter } from "@duende/platform-wos/adapter"
 * import { Effect } from "effect"
 *
 * const renice = Effect.flatMap(WosAdapter.WosAdapter, (adapter) =>
 *   Effect.flatMap(adapter.find("api"), (handle) => adapter.renice(handle, 1)))
 * ```
 *
 * @since 0.1.0
 */
export const WosAdapter: Context.Tag<WosAdapter, WosAdapter> = Context.GenericTag<WosAdapter>(
  "@duende/platform-wos/WosAdapter"
)

const MiB = 1024 * 1024


/**
 * The spawn request a config becomes: module, args, env, priority, memory
 * cap, sandbox; what WOS cannot express is listed in `ignored` (field and why).
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { WosAdapter } from "@duende/platform-wos/adapter"
 *
 * WosAdapter.spawnRequest(decodeSync({ name: "api", command: ["/srv/api.wasm"], platform: { wos: { priority: 2 } } }))
 * // { request: { name: "api", module: "/srv/api.wasm", priority: 2, memory: 16777216, ... }, ignored: [] }
 * ```
 *
 * @since 0.1.0
 */
export const spawnRequest = (config: DaemonConfig.DaemonConfig): {
  readonly request: NodeWosHost.SpawnOptions
  readonly ignored: ReadonlyArray<{ readonly field: string; readonly reason: string }>
} => {
  const base = config.workingDirectory ?? process.cwd()
  const program = config.command.program
  const ignored: Array<{ field: string; reason: string }> = []
  if (config.user !== undefined || config.group !== undefined) {
    ignored.push({ field: "user", reason: "WOS processes have no users; each has its own sandbox" })
  }
  if (config.listen.length > 0) ignored.push({ field: "listen", reason: "WOS processes have no sockets" })
  if (config.watchdogInterval !== undefined) ignored.push({ field: "watchdogInterval", reason: "the WOS ABI has no watchdog ping" })
  return {
    request: {
      name: config.name,
      module: isAbsolute(program) ? program : resolve(base, program),
      args: [...config.command.args],
      env: { ...config.env },
      priority: config.platform.wos?.priority ?? 4,
      memory: config.resources.memory ?? 16 * MiB,
      ...(config.workingDirectory === undefined ? {} : { sandbox: config.workingDirectory })
    },
    ignored
  }
}

/**
 * The artifact a config renders to: its spawn request as JSON.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { WosAdapter } from "@duende/platform-wos/adapter"
 *
 * WosAdapter.artifact(decodeSync({ name: "api", command: ["/srv/api.wasm"] })).name // "api.wos.json"
 * ```
 *
 * @since 0.1.0
 */
export const artifact = (config: DaemonConfig.DaemonConfig): PlatformAdapter.Artifact => ({
  name: `${config.name}.wos.json`,
  kind: "WOS spawn request",
  content: `${JSON.stringify(spawnRequest(config).request, null, 2)}\n`
})

interface Run {
  readonly process: NodeWosHost.WosProcess
  readonly startedAt: number
}

interface Installed {
  readonly handle: PlatformAdapter.DaemonHandle
  readonly config: DaemonConfig.DaemonConfig
  status: DaemonStatus.DaemonStatus
  run: Run | undefined
  /** The last run, kept for logs and exit after it ended. */
  last: NodeWosHost.WosProcess | undefined
  lastExit: PlatformAdapter.ExitInfo | undefined
  stopping: boolean
  readonly pids: Set<WosKernel.Pid>
}

/**
 * How a WOS process's end reads in core's terms: a signal (KILL, or a signal's
 * default action) as `signal` with no code, else the exit code.
 *
 * @example
 * ```ts
 * import { WosAdapter } from "@duende/platform-wos/adapter"
 *
 * WosAdapter.exitInfo({ code: 9, signal: 9, reason: "killed by KILL", at: 0 }) // { code: null, signal: "SIGKILL", ... }
 * ```
 *
 * @since 0.1.0
 */
export const exitInfo = (exit: NodeWosHost.ExitInfo): PlatformAdapter.ExitInfo => {
  if (exit.signal === undefined) {
    return { code: exit.code, signal: null, at: exit.at, description: ExitReason.describeExit(exit.code) }
  }
  const signal = Signal.fromNumber(exit.signal) ?? null
  return {
    code: null,
    signal,
    at: exit.at,
    description: exit.signal === numbers.KILL ? "killed by KILL" : `terminated by ${nameOf(exit.signal as never)}`
  }
}

/**
 * An adapter for the life of the scope (its host's processes end with it).
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { WosAdapter } from "@duende/platform-wos/adapter"
 * import { Duration, Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const adapter = yield* WosAdapter.make({ cpus: 1 })
 *   const config = yield* DaemonConfig.decode({ name: "counter", command: ["counter.wasm"] })
 *   const handle = yield* adapter.install(config)
 *   yield* adapter.start(handle)
 *   yield* adapter.stop(handle, Duration.seconds(5))
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<WosAdapter, never, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? (yield* NodeWosHost.make(options))
    const scope = yield* Effect.scope
    const installed = new Map<string, Installed>()
    const events = yield* PubSub.unbounded<{ readonly name: string; readonly event: PlatformAdapter.DaemonEvent }>()
    const publish = (record: Installed, event: PlatformAdapter.DaemonEvent) =>
      PubSub.publish(events, { name: record.handle.name, event })

    const recordOf = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.suspend(() => {
        const record = installed.get(handle.name)
        return record === undefined
          ? Effect.fail(new DaemonNotFound({ name: handle.name, platform: "wos" }))
          : Effect.succeed(record)
      })

    const running = (handle: PlatformAdapter.DaemonHandle, what: string) =>
      Effect.flatMap(recordOf(handle), (record) =>
        record.run === undefined
          ? Effect.fail(new StartFailed({ name: handle.name, reason: `not running: cannot ${what}` }))
          : Effect.succeed({ record, run: record.run }))

    // Host events become the daemons' events.
    const hostEvents = yield* host.events
    yield* Effect.forkScoped(Stream.runForEach(hostEvents, (event) =>
      Effect.suspend(() => {
        const record = [...installed.values()].find((entry) => entry.pids.has(event.pid))
        if (record === undefined) return Effect.void
        if (event._tag === "Ready") return publish(record, { _tag: "Ready", at: event.at })
        if (event._tag !== "Health") return Effect.void // logs: followLogs; exits: `ended`
        return publish(record, {
          _tag: "Health",
          state: event.healthy ? "healthy" : "unhealthy",
          consecutiveFailures: event.healthy ? 0 : 1,
          summary: event.healthy ? "healthy" : "unhealthy",
          at: event.at
        })
      })))

    /** What happens once a run ended, however it ended. */
    const ended = (record: Installed, run: Run, exit: NodeWosHost.ExitInfo) =>
      Effect.gen(function*() {
        if (record.run !== run) return
        const info = exitInfo(exit)
        record.run = undefined
        record.lastExit = info
        record.status = record.stopping || (exit.code === 0 && exit.signal === undefined)
          ? DaemonStatus.Stopped()
          : DaemonStatus.Failed({ reason: info.description })
        record.stopping = false
        yield* publish(record, { _tag: "Exited", exit: info })
      })

    const install = (config: DaemonConfig.DaemonConfig, id?: DaemonId.DaemonId) =>
      Effect.sync(() => {
        const existing = installed.get(config.name)
        const handle: PlatformAdapter.DaemonHandle = existing?.handle ?? {
          id: id ?? DaemonId.random(),
          name: config.name,
          platform: "wos",
          ref: ""
        }
        installed.set(config.name, {
          handle,
          config,
          status: existing?.status ?? DaemonStatus.Created(),
          run: existing?.run,
          last: existing?.last,
          lastExit: existing?.lastExit,
          stopping: false,
          pids: existing?.pids ?? new Set()
        })
        return handle
      })

    const start = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        if (record.run !== undefined) {
          return yield* new DaemonAlreadyRunning({ name: handle.name, pid: record.run.process.pid })
        }
        const { ignored, request } = spawnRequest(record.config)
        for (const { field, reason } of ignored) yield* Effect.logWarning(`WOS ignores ${field}: ${reason}`)
        record.status = DaemonStatus.Starting()
        const failed = (reason: string) => {
          record.status = DaemonStatus.Failed({ reason })
          return new StartFailed({ name: handle.name, reason })
        }
        const proc = yield* Effect.mapError(host.spawn(request), (error) => failed(error.message))
        const startedAt = yield* Clock.currentTimeMillis
        const run: Run = { process: proc, startedAt }
        record.run = run
        record.last = proc
        record.pids.add(proc.pid)
        yield* Effect.forkIn(Effect.flatMap(proc.awaitExit, (exit) => ended(record, run, exit)), scope)
        yield* publish(record, { _tag: "Started", pid: proc.pid, at: startedAt })
        if (!proc.reportsReady) {
          record.status = DaemonStatus.Running()
          return
        }
        const ready = yield* Effect.timeout(proc.awaitReady, record.config.initTimeout).pipe(Effect.option)
        if (Option.isSome(ready) && ready.value) {
          record.status = DaemonStatus.Running()
          return
        }
        if (Option.isNone(ready)) yield* Effect.ignore(host.signal(proc.pid, numbers.KILL))
        const exit = yield* proc.awaitExit
        yield* ended(record, run, exit)
        return yield* failed(
          Option.isNone(ready)
            ? `not ready within ${Duration.format(record.config.initTimeout)}`
            : `exited before it was ready: ${exitInfo(exit).description}`
        )
      })

    const stop = (handle: PlatformAdapter.DaemonHandle, timeout: Duration.Duration) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const run = record.run
        if (run === undefined) return
        record.stopping = true
        record.status = DaemonStatus.Stopping()
        yield* publish(record, { _tag: "Stopping", at: yield* Clock.currentTimeMillis })
        yield* Effect.ignore(host.signal(run.process.pid, numbers.TERM))
        const exited = yield* Effect.timeout(run.process.awaitExit, timeout).pipe(Effect.option)
        if (Option.isNone(exited)) yield* Effect.ignore(host.signal(run.process.pid, numbers.KILL))
        const exit = yield* run.process.awaitExit
        yield* ended(record, run, exit)
      })

    const signal = (handle: PlatformAdapter.DaemonHandle, sig: Signal.Signal) =>
      Effect.gen(function*() {
        const number = fromNumber(Signal.toNumber(sig))
        if (number === undefined) {
          return yield* new OperationUnsupported({
            operation: `send ${sig}`,
            platform: "wos",
            hint: "WOS has INT, KILL, USR1, SEGV, USR2, PIPE, TERM and CHLD"
          })
        }
        const { run } = yield* running(handle, `send ${sig}`)
        yield* Effect.ignore(host.signal(run.process.pid, number))
      })

    const renice = (handle: PlatformAdapter.DaemonHandle, priority: number) =>
      Effect.gen(function*() {
        const { run } = yield* running(handle, "renice")
        yield* Effect.mapError(
          host.kernel.renice(run.process.pid, priority),
          (error) => new StartFailed({ name: handle.name, reason: error.message })
        )
      })

    const status = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const healthy = record.run === undefined ? undefined : yield* record.run.process.healthy
        const state: PlatformAdapter.DaemonState = {
          status: record.status,
          pid: record.run?.process.pid,
          startedAt: record.run?.startedAt,
          lastExit: record.lastExit,
          restarts: 0,
          statusText: undefined,
          health: healthy === undefined ? undefined : healthy ? "healthy" : "unhealthy"
        }
        return state
      })

    const logs = (handle: PlatformAdapter.DaemonHandle, logOptions?: { readonly lines?: number }) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const lines = record.last === undefined ? [] : yield* record.last.logs
        return logOptions?.lines === undefined ? lines : lines.slice(-logOptions.lines)
      })

    const followLogs = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const record = yield* recordOf(handle)
        const stream = yield* host.events
        return stream.pipe(
          Stream.filterMap((event) =>
            event._tag === "Log" && record.pids.has(event.pid) ? Option.some(event.line) : Option.none()
          )
        )
      })

    const daemonEvents = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        yield* recordOf(handle)
        const queue = yield* PubSub.subscribe(events)
        return Stream.fromQueue(queue).pipe(
          Stream.filterMap((entry) => (entry.name === handle.name ? Option.some(entry.event) : Option.none()))
        )
      })

    const adapter: WosAdapter = {
      platform: "wos",
      restarts: "manager",
      attachTracer: () =>
        Effect.fail(
          new SyscallTrace.TraceUnsupported({
            platform: "wos",
            reason:
              "WOS processes are WebAssembly modules in this process's worker threads: they make no Linux system calls of their own (their WASI calls are the WOS kernel's host functions), so strace would show this Node process, not the daemon"
          })
        ),
      host,
      render: (config) => Effect.succeed([artifact(config)]),
      install,
      start,
      stop,
      restart: (handle, timeout) => Effect.zipRight(stop(handle, timeout), start(handle)),
      reload: () =>
        Effect.fail(
          new OperationUnsupported({
            operation: "reload",
            platform: "wos",
            hint: "WOS has no HUP: restart it, or send USR1 to a daemon that reloads on it"
          })
        ),
      signal,
      renice,
      status,
      logs,
      followLogs,
      events: daemonEvents,
      uninstall: (handle) =>
        Effect.gen(function*() {
          const record = yield* recordOf(handle)
          yield* stop(handle, record.config.shutdownTimeout)
          installed.delete(handle.name)
        }),
      find: (name) =>
        Effect.suspend(() => {
          const record = installed.get(name)
          return record === undefined
            ? Effect.fail(new DaemonNotFound({ name, platform: "wos" }))
            : Effect.succeed(record.handle)
        })
    }
    return WosAdapter.of(adapter)
  })

/**
 * The adapter as a layer providing core's `PlatformAdapter`.
 *
 * @example
 * ```ts
 * import { DaemonManager } from "@duende/core/manager"
 * import { WosAdapter } from "@duende/platform-wos/adapter"
 * import { Layer } from "effect"
 *
 * const manager = DaemonManager.layer.pipe(Layer.provide(WosAdapter.layer({ cpus: 2 })))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<PlatformAdapter.PlatformAdapter> =>
  Layer.scoped(PlatformAdapter.PlatformAdapter, make(options))
