/**
 * The native platform: Duende's own supervisor runs the user's real command as
 * a child in a session (and process group) of its own, with its env, working
 * directory, user and group. stdout/stderr go to a per-daemon log file with
 * size-based rotation. Readiness comes over a notify pipe (Duende daemons send
 * READY=1) or, for other commands, from a start grace, a TCP port or an HTTP
 * URL. Stop is SIGTERM to the group, then after the timeout SIGKILL to the
 * whole tree (given the daemon's own `shutdownTimeout` or more, 2 s past it,
 * so that a Duende daemon's own forced exit at its deadline, exit 4, comes
 * first and is what is recorded); on Linux the supervisor is a child subreaper (through the
 * optional koffi dependency) and reaps what daemons leave behind, so no
 * process and no zombie remains — also of processes that left the daemon's
 * session (`setsid`, double forks): re-parented to the supervisor, they are
 * known by the `DUENDE_DAEMON_ID` they inherited, and die with the daemon at
 * a crash as at a stop (each pid's start time checked before it is signalled).
 *
 * `resources` are enforced: each daemon gets control groups of its own for
 * every controller the supervisor may write (cgroup v2, or v1 on hybrid
 * hosts): memory (an OOM kill is recorded as the exit's reason), swap, CPU
 * quota and weight, pids, I/O bandwidth; `openFilesMax` is set with prlimit.
 * Without a writable memory controller `resources.memory` is enforced by
 * sampling the RSS of the process tree every second and restarting the
 * daemon after `platform.native.memoryGrace` above it. A limit that cannot be
 * enforced is said once in the daemon's log and in `limits` of its status
 * ({@link resourceSupport} tells what this host can do).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { DaemonNotFound, OperationUnsupported } from "./AdapterError.js"
import * as DaemonId from "./DaemonId.js"
import type { DaemonEvent, DaemonHandle } from "./PlatformAdapter.js"
import { PlatformAdapter } from "./PlatformAdapter.js"
import * as SyscallTrace from "./SyscallTrace.js"
import { createServer, type Server } from "node:net"
import { rmSync } from "node:fs"
import { lineSplitter } from "./internal/lines.js"
import { decodeDaemon } from "./internal/notifyProtocol.js"
import { NativeDaemon } from "./internal/native/nativeDaemon.js"
import { reaper } from "./internal/native/reaper.js"
import { cgroupSupport } from "./internal/native/resourceLimits.js"
import { SocketPool } from "./internal/native/socketPool.js"
import { startWarden } from "./internal/native/warden.js"

/**
 * Options of the native adapter.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Where each daemon's `<name>.log` (and rotated `<name>.log.N`) is written. */
  readonly logDirectory: string
  /** The environment daemons inherit before their own `env` (default: this process's). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** How long a command that is not a Duende daemon must stay up to count as ready (readiness "auto"; default 2s). */
  readonly readyGrace?: Duration.DurationInput
  /**
   * Starts each daemon inside a "duende.spawn" span and hands it the span as
   * `TRACEPARENT`, so the daemon's spans join the supervisor's trace. Off by
   * default: without a tracer that exports, daemons would point at parent
   * spans nobody recorded.
   */
  readonly traceContext?: boolean
  /**
   * Daemons never outlive this process (what `duende run` wants; the background
   * supervisor wants the opposite). A warden process in a session of its own
   * holds a pipe from this one; when this process ends in any way, SIGKILL
   * included, the warden stops every daemon's whole tree (SIGTERM, up to its
   * shutdownTimeout, then SIGKILL), checking each pid's start time first.
   * Meant for a process that runs nothing but its daemons: every other child
   * it adopts as subreaper is taken for a daemon's orphan. Off by default.
   */
  readonly tethered?: boolean
  /**
   * Processes a previous supervisor left running, by daemon id: `start` takes
   * one over (same pid, no restart) when it still runs as recorded — started
   * with that daemon's id, at that start time, by this user — instead of
   * spawning anew. Not being its parent, the adapter learns of its end by
   * looking, not its exit status; its output is followed from its log file
   * (a Duende daemon writes there itself once its pipe broke); its readiness,
   * status text and health come back when it reconnects to `notifySocket`;
   * its watchdog is not enforced until it is restarted.
   */
  readonly adoptable?: (daemonId: string) => { readonly pid: number; readonly startedAt: number } | undefined
  /**
   * A unix socket (made 0600; put it in a directory only this user can
   * write) where a Duende daemon whose notify pipe broke reconnects, named to
   * each daemon as `DUENDE_NOTIFY_SOCKET`: a supervisor that took it over
   * hears its readiness, status text and health again. Stable across
   * supervisors (the same path for the next one).
   */
  readonly notifySocket?: string
}

/** The notify socket: each connection names its daemon, then speaks the notify protocol to it. */
const serveNotify = (path: string, byId: (id: string) => NativeDaemon | undefined) =>
  Effect.acquireRelease(
    Effect.async<Server | undefined>((resume) => {
      // The previous supervisor's socket, if it died: only one supervisor runs (its PID file).
      rmSync(path, { force: true })
      const server = createServer((connection) => {
        connection.on("error", () => undefined)
        // Undefined until the connection names its daemon; null once it is refused.
        let daemon: NativeDaemon | undefined | null
        const feed = lineSplitter((line) => {
          if (daemon === null) return
          if (daemon !== undefined) return daemon.notify(line)
          const id = decodeDaemon(line)
          if (id === undefined) return
          // Only a daemon taken over hears again through here; any other connection is dropped.
          const found = byId(id)
          daemon = found !== undefined && found.reattach() ? found : null
          if (daemon === null) connection.destroy()
        }, 4096)
        connection.on("data", (chunk: Buffer) => feed(chunk.toString()))
      })
      const previous = process.umask(0o177)
      server.once("error", (error) => {
        // Without it the daemons run on; a taken-over one just stays silent.
        process.umask(previous)
        resume(Effect.as(Effect.logWarning(`native adapter: no notify socket at ${path} (${error.message})`), undefined))
      })
      server.listen(path, () => {
        process.umask(previous)
        server.on("error", () => undefined)
        resume(Effect.succeed(server))
      })
    }),
    (server) =>
      Effect.sync(() => {
        if (server === undefined) return
        server.close()
        rmSync(path, { force: true })
      })
  )

/**
 * The native adapter as a scoped value: closing the scope stops every daemon
 * it started (each within its shutdown timeout) and closes their logs.
 *
 * @example
 * ```ts
 * import { NativeAdapter } from "@duende/core/manager"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const adapter = yield* NativeAdapter.make({ logDirectory: "/tmp/duende-logs" })
 *     // adapter.install(config), adapter.start(handle), ...
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<PlatformAdapter, never, Scope.Scope> =>
  Effect.gen(function*() {
    const fork = yield* FiberSet.makeRuntime<never>()
    const reap = reaper()
    if (!reap.active) yield* Effect.logDebug(`native adapter: not a child subreaper (${reap.reason})`)
    const daemons = new Map<string, NativeDaemon>()
    // Acquired before the daemons' finalizer below, so released after it: the warden ends last.
    const warden = options.tethered === true
      ? yield* Effect.acquireRelease(Effect.sync(startWarden), (w) => Effect.sync(() => typeof w === "string" ? undefined : w.close()))
      : undefined
    if (typeof warden === "string") yield* Effect.logWarning(`native adapter: no warden, daemons may outlive this process (${warden})`)
    const context = {
      logDirectory: options.logDirectory,
      env: options.env ?? process.env,
      readyGraceMs: Duration.toMillis(Duration.decode(options.readyGrace ?? Duration.seconds(2))),
      traceContext: options.traceContext ?? false,
      reaper: reap,
      sockets: new SocketPool(),
      sessions: new Set<number>(),
      mains: new Set<number>(),
      warden: typeof warden === "object" ? warden : undefined,
      adoptable: options.adoptable ?? (() => undefined),
      notifySocket: options.notifySocket,
      fork: <A, E>(effect: Effect.Effect<A, E>) => void fork(effect)
    }
    if (reap.active) {
      // Orphans of daemons may die at any time: reap them now and then (and hand the living ones to the warden).
      const { warden } = context
      const own = warden === undefined ? context.mains : new Set([warden.pid])
      yield* Effect.forkScoped(
        Effect.forever(Effect.zipRight(
          Effect.sleep(Duration.seconds(1)),
          Effect.sync(() => {
            reap.reap(context.sessions, context.mains)
            if (warden !== undefined) {
              for (const pid of reap.orphans(own)) if (!context.mains.has(pid)) warden.adopt(pid)
            }
          })
        ))
      )
    }
    if (options.notifySocket !== undefined) yield* serveNotify(options.notifySocket, (id) => [...daemons.values()].find((d) => d.handle.id === id))
    const find = (handle: DaemonHandle) =>
      Effect.suspend(() => {
        const daemon = daemons.get(handle.name)
        return daemon === undefined
          ? Effect.fail(new DaemonNotFound({ name: handle.name, platform: "native" }))
          : Effect.succeed(daemon)
      })

    yield* Effect.addFinalizer(() =>
      Effect.forEach(
        [...daemons.values()],
        (daemon) => Effect.zipRight(daemon.stop(daemon.config.shutdownTimeout), Effect.sync(() => daemon.close())),
        { concurrency: "unbounded", discard: true }
      )
    )

    const adapter: PlatformAdapter = {
      platform: "native",
      restarts: "manager",
      instances: "copies",
      render: (config) =>
        Effect.succeed([{
          name: `${config.name}.launch.json`,
          kind: "native launch spec",
          content: `${
            JSON.stringify(
              {
                program: config.command.program,
                args: config.command.args,
                workingDirectory: config.workingDirectory,
                env: config.env,
                user: config.user,
                group: config.group,
                ready: config.platform.native?.ready ?? "auto",
                log: `${options.logDirectory}/${config.name}.log`
              },
              null,
              2
            )
          }\n`
        }]),
      install: (config, id, instance) =>
        Effect.gen(function*() {
          const name = instance === undefined ? config.name : `${config.name}@${instance}`
          const existing = daemons.get(name)
          if (existing !== undefined) {
            existing.config = config
            return existing.handle
          }
          const handle: DaemonHandle = { id: id ?? DaemonId.random(), name, instance, platform: "native", ref: name }
          // Sliding: a slow subscriber loses the oldest, never stalls the daemon. Small: one per daemon.
          const events = yield* PubSub.sliding<DaemonEvent>(128)
          daemons.set(name, new NativeDaemon(handle, config, context, events))
          return handle
        }),
      start: (handle) => Effect.flatMap(find(handle), (daemon) => daemon.start()),
      stop: (handle, timeout) => Effect.flatMap(find(handle), (daemon) => daemon.stop(timeout)),
      restart: (handle, timeout) =>
        Effect.flatMap(find(handle), (daemon) => Effect.zipRight(daemon.stop(timeout), daemon.start())),
      replace: (handle, timeout) => Effect.flatMap(find(handle), (daemon) => daemon.replace(timeout)),
      reload: (handle) => Effect.flatMap(find(handle), (daemon) => daemon.reload()),
      signal: (handle, signal) => Effect.flatMap(find(handle), (daemon) => daemon.signal(signal)),
      status: (handle) => Effect.map(find(handle), (daemon) => daemon.state()),
      logs: (handle, logOptions) => Effect.map(find(handle), (daemon) => daemon.logs(logOptions?.lines ?? 100)),
      followLogs: (handle) =>
        Effect.flatMap(find(handle), (daemon) => daemon.follow()),
      events: (handle) =>
        Effect.flatMap(find(handle), (daemon) => Effect.map(PubSub.subscribe(daemon.events), Stream.fromQueue)),
      attachTracer: (handle, traceOptions) =>
        Effect.flatMap(find(handle), (daemon) => {
          const { pid, startedAt } = daemon.state()
          return pid === undefined || startedAt === undefined
            ? Effect.fail(new SyscallTrace.TracerFailed({ reason: `${handle.name} is not running` }))
            : SyscallTrace.attach({ pid, startedAt }, traceOptions)
        }),
      uninstall: (handle) =>
        Effect.flatMap(find(handle), (daemon) =>
          daemon.running
            ? Effect.fail(
              new OperationUnsupported({
                operation: `uninstall ${handle.name} while it runs`,
                platform: "native",
                hint: "stop it first"
              })
            )
            : Effect.sync(() => {
              daemon.close()
              daemons.delete(handle.name)
            }))
    }
    return adapter
  })

/**
 * What this process can enforce, per resource controller: "memory", "cpu",
 * "pids" and "io", each with how (a cgroup v2 or v1 hierarchy it may write)
 * or why not (and the fix). `duende doctor` prints it.
 *
 * @example
 * ```ts
 * import { NativeAdapter } from "@duende/core/manager"
 *
 * for (const { controller, how, why } of NativeAdapter.resourceSupport()) {
 *   console.log(controller, how ?? `not enforced: ${why}`)
 * }
 * ```
 *
 * @since 0.1.0
 */
export const resourceSupport = (): ReadonlyArray<{ readonly controller: string; readonly how?: string; readonly why?: string }> => {
  const support = cgroupSupport()
  return (["memory", "cpu", "pids", "io"] as const).map((controller) => {
    const hierarchy = support.controllers[controller]
    if (hierarchy !== undefined) return { controller, how: `cgroup v${hierarchy.version} under ${hierarchy.parent}` }
    const why = support.missing[controller] ?? "unknown"
    return controller === "memory"
      ? { controller, how: `RSS sampling of each process tree (no memory cgroup: ${why})` }
      : { controller, why }
  })
}

/**
 * The native adapter as a layer providing {@link PlatformAdapter}.
 *
 * @example
 * ```ts
 * import { NativeAdapter, PlatformAdapter } from "@duende/core/manager"
 * import { Effect } from "effect"
 *
 * const adapter = NativeAdapter.layer({ logDirectory: "/tmp/duende-logs" })
 * const program = Effect.flatMap(PlatformAdapter.PlatformAdapter, (a) => Effect.log(a.platform)).pipe(
 *   Effect.provide(adapter)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<PlatformAdapter> => Layer.scoped(PlatformAdapter, make(options))
