/**
 * Many daemons on one platform adapter: a registry, the wanted state of each
 * (running or stopped), restarts by policy with backoff (where the platform
 * does not restart by itself), a crash-loop limit, restarts when a daemon
 * turns unhealthy, and `after` dependencies: started in dependency order,
 * stopped in reverse.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Fiber from "effect/Fiber"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { availableParallelism } from "node:os"
import { type AdapterError, OperationUnsupported } from "./AdapterError.js"
import type { DaemonConfig } from "./DaemonConfig.js"
import type { DaemonId } from "./DaemonId.js"
import * as DaemonStatus from "./DaemonStatus.js"
import { type DaemonEvent, type DaemonHandle, type DaemonState, type ExitInfo, PlatformAdapter } from "./PlatformAdapter.js"
import * as CronSchedule from "./internal/cronSchedule.js"
import * as WatchFiles from "./internal/watchFiles.js"
import * as RestartBreaker from "./RestartBreaker.js"
import * as RestartPolicy from "./RestartPolicy.js"
import type { Signal } from "./Signal.js"

/**
 * A daemon as the manager sees it.
 *
 * @since 0.1.0
 */
export interface Managed {
  readonly handle: DaemonHandle
  readonly config: DaemonConfig
  /** What the user asked for. */
  readonly desired: "running" | "stopped"
  /** The platform's view; Failed with the reason when the manager gave up (crash loop). */
  readonly state: DaemonState
  /** Restarts so far (by the manager, or the platform's own count). */
  readonly restarts: number
  /** When the next restart is due (epoch ms), while waiting out a backoff. */
  readonly nextRestartAt: number | undefined
  /** Why the restart is held beyond its backoff (the restart circuit is open), while it is. */
  readonly restartHeld?: string | undefined
}

/**
 * What happens in the manager: every daemon event, and the manager's own decisions.
 *
 * @since 0.1.0
 */
export type ManagerEvent =
  | { readonly _tag: "Daemon"; readonly name: string; readonly event: DaemonEvent }
  | {
    readonly _tag: "Restarting"
    readonly name: string
    readonly attempt: number
    readonly delayMs: number
    readonly reason: string
  }
  | { readonly _tag: "GaveUp"; readonly name: string; readonly reason: string }
  /** The restart circuit breaker changed state (see {@link RestartBreaker}). */
  | { readonly _tag: "RestartCircuit"; readonly state: RestartBreaker.State }
  | { readonly _tag: "Changed"; readonly name: string; readonly desired: "running" | "stopped" | "removed" }

/**
 * No daemon of that name is registered.
 *
 * @since 0.1.0
 */
export class UnknownDaemon extends Data.TaggedError("UnknownDaemon")<{
  readonly name: string
  readonly known: ReadonlyArray<string>
}> {
  override get message(): string {
    return `no daemon named "${this.name}"${this.known.length ? ` (known: ${this.known.join(", ")})` : " (none registered)"}`
  }
}

/**
 * `after` dependencies that cannot be met: a missing daemon or a cycle.
 *
 * @since 0.1.0
 */
export class DependencyError extends Data.TaggedError("DependencyError")<{
  readonly name: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.name}: ${this.reason}`
  }
}

/**
 * What manager operations fail with.
 *
 * @since 0.1.0
 */
export type ManagerError = UnknownDaemon | DependencyError | AdapterError

/**
 * The daemon manager.
 *
 * @since 0.1.0
 */
export interface DaemonManager {
  readonly adapter: PlatformAdapter
  /**
   * Registers (or updates) a daemon and installs it on the platform; it is not
   * started. `desired` restores a wanted state (a supervisor coming back): a
   * daemon that should run is started by {@link DaemonManager.startAll}.
   * A config with `instances` above 1 becomes that many daemons named
   * `<name>@0`, `<name>@1`…; adding it again with another count scales it
   * (instances beyond the count are stopped and removed; new ones take the
   * others' desired state and are started by `start`; scaled to 1 it stays
   * `<name>@0`). `instance` registers one of them (a supervisor restoring its
   * registry). Returns the first.
   */
  readonly add: (
    config: DaemonConfig,
    options?: { readonly id?: DaemonId; readonly desired?: "running" | "stopped"; readonly instance?: number }
  ) => Effect.Effect<Managed, AdapterError>
  /** Starts a daemon after starting what it runs `after`; it is then kept running per its policy. */
  readonly start: (name: string) => Effect.Effect<void, ManagerError>
  /** Stops a daemon (within `timeout`, default its shutdownTimeout); it stays stopped. */
  readonly stop: (name: string, timeout?: Duration.Duration) => Effect.Effect<void, ManagerError>
  /** Restarts a daemon; one with `listen` sockets is replaced by a rolling restart where the platform can. */
  readonly restart: (name: string) => Effect.Effect<void, ManagerError>
  /** SIGHUP to the daemon's reload hook, or with `reload: "replace"` a rolling restart (new code). */
  readonly reload: (name: string) => Effect.Effect<void, ManagerError>
  readonly signal: (name: string, signal: Signal) => Effect.Effect<void, ManagerError>
  /** Stops, uninstalls and forgets a daemon. */
  readonly remove: (name: string) => Effect.Effect<void, ManagerError>
  readonly get: (name: string) => Effect.Effect<Managed, ManagerError>
  /** The daemons a name stands for: the daemon, or every instance of a config with `instances` (by instance). */
  readonly members: (name: string) => Effect.Effect<ReadonlyArray<Managed>, ManagerError>
  readonly list: Effect.Effect<ReadonlyArray<Managed>, AdapterError>
  /** Starts every daemon whose desired state is running, dependencies first. */
  readonly startAll: Effect.Effect<void, ManagerError>
  /**
   * Stops every daemon, dependents before what they depend on, independent ones
   * at once, and restarts nothing afterwards. Desired states are kept, so a
   * supervisor that restores them later starts the same daemons again.
   */
  readonly shutdownAll: Effect.Effect<void>
  /** Subscribes now, for the life of the scope, to what happens from this moment. */
  readonly events: Effect.Effect<Stream.Stream<ManagerEvent>, never, Scope.Scope>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 */
export const DaemonManager: Context.Tag<DaemonManager, DaemonManager> = Context.GenericTag<DaemonManager>(
  "@duende/core/DaemonManager"
)

interface Entry {
  config: DaemonConfig
  handle: DaemonHandle
  desired: "running" | "stopped"
  restarts: number
  restartTimes: Array<number>
  gaveUp: string | undefined
  nextRestartAt: number | undefined
  lastStartAt: number
  /** Exits the manager caused itself (health restarts, restart()) and must not treat as crashes. */
  expectedExits: number
  schedule: Schedule.Schedule<Duration.Duration>
  scheduleState: unknown
  /** Holds the event subscription and the supervising fiber; closed on remove. */
  scope: Scope.CloseableScope
  /** The restart waiting out its backoff, if any (at most one). */
  pendingRestart: Fiber.RuntimeFiber<void> | undefined
  restartHeld: string | undefined
}

/**
 * How many copies of a config run: its `instances`, with "max" one per CPU.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { DaemonManager } from "@duende/core/manager"
 *
 * DaemonManager.instanceCount(decodeSync({ name: "api", command: ["node", "api.js"], instances: 4 })) // 4
 * ```
 *
 * @since 0.1.0
 */
export const instanceCount = (config: DaemonConfig): number =>
  config.instances === "max" ? Math.max(1, availableParallelism()) : config.instances

/**
 * Orders daemons so that each comes after everything it runs `after`. Fails on
 * a missing dependency or a cycle. Returns levels: daemons in one level do not
 * depend on each other.
 *
 * @example
 * ```ts
 * import { DaemonManager } from "@duende/core/manager"
 *
 * DaemonManager.dependencyLevels([
 *   { name: "api", after: ["db"] },
 *   { name: "db", after: [] }
 * ]) // Either.right([["db"], ["api"]])
 * ```
 *
 * @since 0.1.0
 */
export const dependencyLevels = (
  daemons: ReadonlyArray<{ readonly name: string; readonly after: ReadonlyArray<string> }>
): Effect.Effect<ReadonlyArray<ReadonlyArray<string>>, DependencyError> =>
  Effect.suspend(() => {
    const byName = new Map(daemons.map((d) => [d.name, d]))
    for (const daemon of daemons) {
      for (const dependency of daemon.after) {
        if (!byName.has(dependency)) {
          return Effect.fail(
            new DependencyError({ name: daemon.name, reason: `runs after "${dependency}", which is not registered` })
          )
        }
      }
    }
    const level = new Map<string, number>()
    const visiting: Array<string> = []
    const depth = (name: string): number | DependencyError => {
      const known = level.get(name)
      if (known !== undefined) return known
      if (visiting.includes(name)) {
        const cycle = [...visiting.slice(visiting.indexOf(name)), name].join(" → ")
        return new DependencyError({ name, reason: `dependency cycle: ${cycle}` })
      }
      visiting.push(name)
      let mine = 0
      for (const dependency of byName.get(name)!.after) {
        const d = depth(dependency)
        if (typeof d !== "number") return d
        mine = Math.max(mine, d + 1)
      }
      visiting.pop()
      level.set(name, mine)
      return mine
    }
    for (const daemon of daemons) {
      const d = depth(daemon.name)
      if (typeof d !== "number") return Effect.fail(d)
    }
    const levels: Array<Array<string>> = []
    for (const [name, l] of level) (levels[l] ??= []).push(name)
    return Effect.succeed(levels.map((names) => names.sort()))
  })

/**
 * A manager over the {@link PlatformAdapter} in context. Closing the scope
 * stops supervising (it does not stop daemons: use `shutdownAll`).
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { DaemonManager, NativeAdapter } from "@duende/core/manager"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const manager = yield* DaemonManager.make
 *   const config = yield* DaemonConfig.load("examples/http-counter/duende.json")
 *   yield* manager.add(config)
 *   yield* manager.start(config.name)
 * }).pipe(Effect.scoped, Effect.provide(NativeAdapter.layer({ logDirectory: "/tmp/duende-logs" })))
 * ```
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<DaemonManager, never, PlatformAdapter | Scope.Scope> = Effect.suspend(() => makeWith())

/**
 * Options of {@link makeWith}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The restart circuit breaker across all daemons (default: its defaults); false turns it off. */
  readonly restartBreaker?: RestartBreaker.Options | false
}

/**
 * {@link make} with options: the restart circuit breaker's thresholds, or none.
 *
 * @example
 * ```ts
 * import { DaemonManager } from "@duende/core/manager"
 *
 * const manager = DaemonManager.makeWith({ restartBreaker: { crashes: 20, daemons: 5, window: "30 seconds" } })
 * ```
 *
 * @since 0.1.0
 */
export const makeWith = (options: Options = {}): Effect.Effect<DaemonManager, never, PlatformAdapter | Scope.Scope> =>
  Effect.gen(function*() {
    const adapter = yield* PlatformAdapter
    const breaker = options.restartBreaker === false ? undefined : RestartBreaker.make(options.restartBreaker)
    let announced: RestartBreaker.State | undefined = breaker?.state()
    /** Tells a change of the breaker's state once (a hundred released restarts say "Closed" once). */
    const announce = (state: RestartBreaker.State) =>
      Effect.suspend(() => {
        if (state === announced) return Effect.void
        announced = state
        return publish({ _tag: "RestartCircuit", state })
      })
    const scope = yield* Effect.scope
    const hub = yield* PubSub.sliding<ManagerEvent>(4096)
    const entries = new Map<string, Entry>()
    let shuttingDown = false
    const publish = (event: ManagerEvent) => PubSub.publish(hub, event)

    const find = (name: string) =>
      Effect.suspend(() => {
        const entry = entries.get(name)
        return entry === undefined
          ? Effect.fail(new UnknownDaemon({ name, known: [...entries.keys()].sort() }))
          : Effect.succeed(entry)
      })

    /** Restarts after a delay from the backoff schedule, unless the crash-loop limit is reached. */
    const restartLater = (entry: Entry, reason: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (now - entry.lastStartAt >= Duration.toMillis(entry.config.restart.minUptime)) {
          entry.scheduleState = entry.schedule.initial
        }
        const loop = RestartPolicy.crashLoop(entry.config.restart.crashLoop, [...entry.restartTimes, now], now)
        if (loop.looping) {
          // `recent` holds the restart just refused: the ones made are one fewer.
          entry.gaveUp = `crash loop: ${loop.recent.length - 1} restarts within ${
            Duration.format(entry.config.restart.crashLoop.interval)
          } (last: ${reason})`
          yield* Effect.logError(`${entry.handle.name}: giving up, ${entry.gaveUp}`)
          yield* publish({ _tag: "GaveUp", name: entry.handle.name, reason: entry.gaveUp })
          return
        }
        const [state, , decision] = yield* entry.schedule.step(now, undefined, entry.scheduleState)
        entry.scheduleState = state
        const delayMs = ScheduleDecision.isDone(decision)
          ? Duration.toMillis(entry.config.restart.backoff.max)
          : Math.max(0, ScheduleIntervals.start(decision.intervals) - now)
        entry.restartTimes = [...loop.recent]
        entry.nextRestartAt = now + delayMs
        yield* Effect.logWarning(`${entry.handle.name}: ${reason}; restarting in ${Duration.format(Duration.millis(delayMs))}`)
        yield* publish({ _tag: "Restarting", name: entry.handle.name, attempt: entry.restarts + 1, delayMs, reason })
        yield* Effect.sleep(Duration.millis(delayMs))
        yield* heldByBreaker(entry)
        entry.nextRestartAt = undefined
        if (entry.desired !== "running" || shuttingDown) return
        entry.restarts++
        entry.lastStartAt = yield* Clock.currentTimeMillis
        // A failed start ends in an Exited event of its own, which schedules the next attempt.
        yield* adapter.start(entry.handle).pipe(
          Effect.catchAll((error) =>
            error._tag === "DaemonAlreadyRunning"
              ? Effect.void
              : Effect.logWarning(`${entry.handle.name}: restart failed: ${error.message}`)
          )
        )
      })

    /** Waits while the restart circuit holds this daemon's restart (the reason and the time shown in its status). */
    const heldByBreaker = (entry: Entry): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (breaker === undefined) return
        while (true) {
          const now = yield* Clock.currentTimeMillis
          const decision = breaker.admit(entry.handle.name, now)
          if (decision._tag === "Go") break
          if (entry.restartHeld !== decision.reason) {
            entry.restartHeld = decision.reason
            yield* Effect.logWarning(`${entry.handle.name}: ${decision.reason}`)
          }
          entry.nextRestartAt = decision.until
          yield* Effect.sleep(Duration.millis(Math.max(1, decision.until - now)))
        }
        entry.restartHeld = undefined
        yield* announce(breaker.state())
      }).pipe(Effect.onInterrupt(() => Effect.sync(() => (entry.restartHeld = undefined))))

    /** Restarts in a fiber of its own, so the events of the daemon keep flowing while it waits out the backoff. */
    const scheduleRestart = (entry: Entry, reason: string) =>
      Effect.gen(function*() {
        if (entry.pendingRestart !== undefined) return
        const fiber = yield* Effect.forkIn(
          Effect.ensuring(restartLater(entry, reason), Effect.sync(() => (entry.pendingRestart = undefined))),
          entry.scope
        )
        entry.pendingRestart = fiber
      })

    const cancelRestart = (entry: Entry) =>
      Effect.suspend(() => {
        const pending = entry.pendingRestart
        entry.pendingRestart = undefined
        entry.nextRestartAt = undefined
        return pending === undefined ? Effect.void : Fiber.interrupt(pending)
      })

    const onExit = (entry: Entry, exit: ExitInfo) =>
      Effect.suspend(() => {
        if (entry.expectedExits > 0) {
          entry.expectedExits--
          return Effect.void
        }
        if (entry.desired !== "running" || shuttingDown) return Effect.void
        if (!RestartPolicy.shouldRestart(entry.config.restart.policy, exit, false)) return Effect.void
        return Effect.gen(function*() {
          const changed = breaker?.crashed(entry.handle.name, yield* Clock.currentTimeMillis)
          if (changed?._tag === "Open") {
            yield* Effect.logWarning(
              `restart circuit open: ${changed.reason}; restarts held until ${new Date(changed.retryAt).toISOString()}`
            )
            yield* announce(changed)
          }
          yield* scheduleRestart(entry, exit.description)
        })
      })

    /**
     * Restarts a daemon that is meant to run. `rolling`: where the platform can
     * (`adapter.replace`) and the daemon is running, a new process is made ready
     * beside it before it stops — the daemon never stops, so no exit is expected.
     */
    const restartOne = (entry: Entry, rolling: boolean) =>
      Effect.gen(function*() {
        const state = yield* adapter.status(entry.handle)
        entry.desired = "running"
        entry.gaveUp = undefined
        entry.lastStartAt = yield* Clock.currentTimeMillis
        if (rolling && adapter.replace !== undefined && state.status._tag === "Running") {
          return yield* adapter.replace(entry.handle, entry.config.shutdownTimeout)
        }
        if (DaemonStatus.isActive(state.status)) entry.expectedExits++
        yield* adapter.restart(entry.handle, entry.config.shutdownTimeout)
      })

    const onUnhealthy = (entry: Entry, summary: string) =>
      Effect.gen(function*() {
        if (entry.desired !== "running" || shuttingDown || entry.config.restart.policy === "never") return
        const reason = `unhealthy (${summary})`
        const now = yield* Clock.currentTimeMillis
        const loop = RestartPolicy.crashLoop(entry.config.restart.crashLoop, [...entry.restartTimes, now], now)
        if (loop.looping) {
          // `recent` holds the restart just refused: the ones made are one fewer.
          entry.gaveUp = `crash loop: ${loop.recent.length - 1} restarts within ${
            Duration.format(entry.config.restart.crashLoop.interval)
          } (last: ${reason})`
          yield* publish({ _tag: "GaveUp", name: entry.handle.name, reason: entry.gaveUp })
          return
        }
        entry.restartTimes = [...loop.recent]
        entry.restarts++
        yield* Effect.logWarning(`${entry.handle.name}: ${reason}; restarting`)
        yield* publish({ _tag: "Restarting", name: entry.handle.name, attempt: entry.restarts, delayMs: 0, reason })
        entry.expectedExits++
        entry.lastStartAt = now
        yield* adapter.restart(entry.handle, entry.config.shutdownTimeout).pipe(
          Effect.catchAll((error) => Effect.logWarning(`${entry.handle.name}: restart failed: ${error.message}`))
        )
      })

    const supervise = (entry: Entry, events: Stream.Stream<DaemonEvent>) =>
      Stream.runForEach(events, (event) =>
        Effect.gen(function*() {
          yield* publish({ _tag: "Daemon", name: entry.handle.name, event })
          if (adapter.restarts !== "manager") return
          // Uptime (for minUptime) runs from when the process started, not from the start
          // request: booting a VM or pulling an image before it is no uptime.
          if (event._tag === "Started") entry.lastStartAt = Math.max(entry.lastStartAt, yield* Clock.currentTimeMillis)
          if (event._tag === "Exited") yield* onExit(entry, event.exit)
          if (event._tag === "Health" && event.state === "unhealthy") yield* onUnhealthy(entry, event.summary)
        })).pipe(Effect.catchAllCause((cause) => Effect.logError(`supervision of ${entry.handle.name} ended`, cause)))

    const view = (entry: Entry): Effect.Effect<Managed, AdapterError> =>
      Effect.map(adapter.status(entry.handle), (state) => ({
        handle: entry.handle,
        config: entry.config,
        desired: entry.desired,
        state: entry.gaveUp !== undefined && !DaemonStatus.isActive(state.status)
          ? { ...state, status: DaemonStatus.Failed({ reason: entry.gaveUp }) }
          : state,
        restarts: adapter.restarts === "manager" ? entry.restarts : state.restarts,
        nextRestartAt: entry.nextRestartAt,
        restartHeld: entry.restartHeld
      }))

    const startOne = (entry: Entry): Effect.Effect<void, AdapterError> =>
      Effect.gen(function*() {
        yield* cancelRestart(entry)
        entry.desired = "running"
        entry.gaveUp = undefined
        entry.scheduleState = entry.schedule.initial
        entry.lastStartAt = yield* Clock.currentTimeMillis
        yield* publish({ _tag: "Changed", name: entry.handle.name, desired: "running" })
        yield* adapter.start(entry.handle).pipe(
          Effect.catchTag("DaemonAlreadyRunning", () => Effect.void)
        )
      })

    const stopOne = (entry: Entry, timeout?: Duration.Duration) =>
      Effect.gen(function*() {
        entry.desired = "stopped"
        yield* cancelRestart(entry)
        yield* publish({ _tag: "Changed", name: entry.handle.name, desired: "stopped" })
        yield* adapter.stop(entry.handle, timeout ?? entry.config.shutdownTimeout)
      })

    /** The daemons of config `name` (its instances, in order), or the one daemon named so (`api@1`). */
    const membersOf = (name: string): Array<Entry> => {
      const exact = entries.get(name)
      if (exact !== undefined) return [exact]
      return [...entries.values()]
        .filter((entry) => entry.handle.instance !== undefined && entry.config.name === name)
        .sort((a, b) => a.handle.instance! - b.handle.instance!)
    }

    const members = (name: string) =>
      Effect.suspend(() => {
        const found = membersOf(name)
        if (found.length > 0) return Effect.succeed(found)
        const known = new Set([...entries.values()].flatMap((entry) => [entry.handle.name, entry.config.name]))
        return Effect.fail(new UnknownDaemon({ name, known: [...known].sort() }))
      })

    /** Configs `name` runs after, transitively, then `name` itself (config names: a config's instances go together). */
    const closure = (name: string, seen = new Set<string>()): Array<string> => {
      if (seen.has(name)) return []
      seen.add(name)
      const after = membersOf(name)[0]?.config.after ?? []
      return [...after.flatMap((dependency) => closure(dependency, seen)), name]
    }

    /** The dependency graph of configs (one node for all the instances of one). */
    const graph = () => {
      const byConfig = new Map<string, ReadonlyArray<string>>()
      for (const entry of entries.values()) byConfig.set(entry.config.name, entry.config.after)
      return [...byConfig].map(([name, after]) => ({ name, after }))
    }

    const forget = (entry: Entry) =>
      Effect.gen(function*() {
        yield* stopOne(entry)
        yield* adapter.uninstall(entry.handle)
        yield* Scope.close(entry.scope, Exit.void)
        entries.delete(entry.handle.name)
        yield* publish({ _tag: "Changed", name: entry.handle.name, desired: "removed" })
      })

    /** The restarts a config asks for itself (restart.cron, watch): one fiber per config, for all its instances. */
    const triggers = new Map<string, { readonly key: string; readonly fiber: Fiber.RuntimeFiber<void> }>()

    /** Restarts the running daemons of config `name` for `reason`, one instance at a time (rolling with `listen`). */
    const triggeredRestart = (name: string, reason: string) =>
      Effect.gen(function*() {
        const targets = membersOf(name).filter((entry) => entry.desired === "running" && entry.config.name === name)
        if (targets.length === 0 || shuttingDown) return
        yield* Effect.logInfo(`${name}: restarting (${reason})`)
        for (const entry of targets) {
          if (entry.desired !== "running" || shuttingDown) continue
          yield* publish({ _tag: "Restarting", name: entry.handle.name, attempt: entry.restarts + 1, delayMs: 0, reason })
          yield* restartOne(entry, entry.config.listen.length > 0).pipe(
            Effect.catchAll((error) => Effect.logWarning(`${entry.handle.name}: restart (${reason}) failed: ${error.message}`))
          )
        }
      })

    /** Starts, replaces or ends the triggers of a config as its `restart.cron` and `watch` say. */
    const arm = (config: DaemonConfig) =>
      Effect.gen(function*() {
        const cron = config.restart.cron
        const watch = WatchFiles.watchSpec(config)
        const key = JSON.stringify([cron ?? null, watch === undefined ? null : [watch.paths, watch.ignore, Duration.toMillis(watch.debounce)]])
        const current = triggers.get(config.name)
        if (current?.key === key) return
        if (current !== undefined) {
          triggers.delete(config.name)
          yield* Fiber.interrupt(current.fiber)
        }
        if (cron === undefined && watch === undefined) return
        const name = config.name
        const scheduled = cron === undefined ? Effect.void : CronSchedule.onSchedule(cron, triggeredRestart(name, `cron "${cron}"`))
        const watched = watch === undefined ? Effect.void : WatchFiles.changes(watch).pipe(
          Stream.debounce(watch.debounce),
          Stream.runForEach((path) => triggeredRestart(name, `watch: ${path} changed`)),
          Effect.catchAll((error) => Effect.logWarning(`${name}: the watch of its files stopped: ${error.message}`))
        )
        const fiber = yield* Effect.forkIn(Effect.all([scheduled, watched], { concurrency: "unbounded", discard: true }), scope)
        triggers.set(name, { key, fiber })
      })

    /** Ends the triggers of config `name` once none of its daemons is left. */
    const disarm = (name: string) =>
      Effect.suspend(() => {
        const current = triggers.get(name)
        if (current === undefined || membersOf(name).length > 0) return Effect.void
        triggers.delete(name)
        return Fiber.interrupt(current.fiber)
      })

    /** Registers one daemon: the config, or one instance of it. */
    const addOne = (
      config: DaemonConfig,
      instance: number | undefined,
      options: { readonly id?: DaemonId | undefined; readonly desired?: "running" | "stopped" | undefined }
    ) =>
      Effect.gen(function*() {
        const name = instance === undefined ? config.name : `${config.name}@${instance}`
        const existing = entries.get(name)
        const handle = yield* adapter.install(config, options.id ?? existing?.handle.id, instance)
        if (existing !== undefined) {
          existing.config = config
          existing.schedule = RestartPolicy.backoff(config.restart)
          if (options.desired !== undefined) existing.desired = options.desired
          return yield* view(existing)
        }
        const schedule = RestartPolicy.backoff(config.restart)
        const entryScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
        const entry: Entry = {
          config,
          handle,
          desired: options.desired ?? "stopped",
          restarts: 0,
          restartTimes: [],
          gaveUp: undefined,
          nextRestartAt: undefined,
          lastStartAt: 0,
          expectedExits: 0,
          schedule,
          scheduleState: schedule.initial,
          scope: entryScope,
          pendingRestart: undefined,
          restartHeld: undefined
        }
        entries.set(name, entry)
        // Subscribe here, before anything can happen to the daemon; consume in the background.
        const events = yield* Scope.extend(adapter.events(handle), entryScope).pipe(
          Effect.catchAll((error) => Effect.as(Effect.logError(`cannot watch ${name}: ${error.message}`), Stream.empty))
        )
        yield* Effect.forkIn(supervise(entry, events), entryScope)
        return yield* view(entry)
      })

    const manager: DaemonManager = {
      adapter,
      add: (config, options) =>
        Effect.gen(function*() {
          if (options?.instance !== undefined) {
            const added = yield* addOne(config, options.instance, options)
            yield* arm(config)
            return added
          }
          // A platform that runs the copies itself (replicas) gets the config once.
          const count = adapter.instances === "replicas" ? 1 : instanceCount(config)
          if (count > 1 && adapter.instances !== "copies") {
            return yield* new OperationUnsupported({
              operation: `run ${count} instances of ${config.name}`,
              platform: adapter.platform,
              hint: "run them with the native supervisor, or render them for the platform (systemd templates, Kubernetes replicas)"
            })
          }
          const before = membersOf(config.name)
          // Once a config runs as instances it stays so (scaled to 1, it is `<name>@0`): no rename, no restart.
          const grouped = count > 1 || before.some((entry) => entry.handle.instance !== undefined)
          const desired = options?.desired ?? (before.some((entry) => entry.desired === "running") ? "running" : undefined)
          const added: Array<Managed> = []
          for (let i = 0; i < count; i++) {
            added.push(yield* addOne(config, grouped ? i : undefined, { id: grouped ? undefined : options?.id, desired }))
          }
          // Then what no longer belongs goes, gracefully (after the new ones hold the listen sockets, so they stay open).
          const keep = (entry: Entry) =>
            grouped ? entry.handle.instance !== undefined && entry.handle.instance < count : entry.handle.instance === undefined
          for (const entry of before) if (!keep(entry)) yield* forget(entry)
          yield* arm(config)
          return added[0]!
        }),
      start: (name) =>
        Effect.gen(function*() {
          const targets = yield* members(name)
          yield* dependencyLevels(graph())
          const own = targets[0]!.config.name
          for (const each of closure(own)) {
            for (const entry of each === own ? targets : membersOf(each)) {
              const state = yield* adapter.status(entry.handle)
              if (each !== own && DaemonStatus.isActive(state.status)) continue
              yield* startOne(entry)
            }
          }
        }),
      stop: (name, timeout) =>
        Effect.flatMap(members(name), (targets) =>
          Effect.forEach(targets, (entry) => stopOne(entry, timeout), { concurrency: "unbounded", discard: true })),
      // One instance at a time: the others serve meanwhile.
      restart: (name) =>
        Effect.flatMap(members(name), (targets) =>
          Effect.forEach(targets, (entry) => restartOne(entry, entry.config.listen.length > 0), { discard: true })),
      reload: (name) =>
        Effect.flatMap(members(name), (targets) =>
          Effect.forEach(targets, (entry) =>
            // `reload: "replace"`: new code in a new process, made ready before the old one stops.
            entry.config.reload === "replace" ? restartOne(entry, true) : adapter.reload(entry.handle), { discard: true })),
      signal: (name, signal) =>
        Effect.flatMap(members(name), (targets) =>
          Effect.forEach(targets, (entry) => adapter.signal(entry.handle, signal), { discard: true })),
      remove: (name) =>
        Effect.flatMap(members(name), (targets) =>
          Effect.zipRight(
            Effect.forEach(targets, forget, { discard: true }),
            Effect.forEach(new Set(targets.map((entry) => entry.config.name)), disarm, { discard: true })
          )),
      get: (name) => Effect.flatMap(find(name), view),
      members: (name) => Effect.flatMap(members(name), (targets) => Effect.forEach(targets, view)),
      list: Effect.suspend(() => Effect.forEach([...entries.values()], view)),
      startAll: Effect.gen(function*() {
        const levels = yield* dependencyLevels(graph())
        for (const level of levels) {
          yield* Effect.forEach(
            level.flatMap(membersOf).filter((entry) => entry.desired === "running"),
            startOne,
            { concurrency: "unbounded", discard: true }
          )
        }
      }),
      shutdownAll: Effect.gen(function*() {
        // Desired states stay as they are (a supervisor that comes back restores them); exits are not restarted.
        shuttingDown = true
        const levels = yield* dependencyLevels(graph()).pipe(
          Effect.orElseSucceed(() => [graph().map((node) => node.name)] as ReadonlyArray<ReadonlyArray<string>>)
        )
        for (const level of [...levels].reverse()) {
          yield* Effect.forEach(
            level.flatMap(membersOf),
            (entry) =>
              Effect.zipRight(cancelRestart(entry), adapter.stop(entry.handle, entry.config.shutdownTimeout)).pipe(
                Effect.catchAll((error) => Effect.logError(`stopping ${entry.handle.name} failed: ${error.message}`))
              ),
            { concurrency: "unbounded", discard: true }
          )
        }
      }),
      events: Effect.map(PubSub.subscribe(hub), Stream.fromQueue)
    }
    return manager
  })

/**
 * The manager as a layer over the {@link PlatformAdapter} in context.
 *
 * @example
 * ```ts
 * import { DaemonManager, NativeAdapter } from "@duende/core/manager"
 * import { Layer } from "effect"
 *
 * const live = DaemonManager.layer.pipe(Layer.provide(NativeAdapter.layer({ logDirectory: "/tmp/logs" })))
 * ```
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<DaemonManager, never, PlatformAdapter> = Layer.scoped(DaemonManager, make)
