/**
 * One daemon under the container adapter: its spec and files, the state
 * file it watches (readiness, reloads, stopping, status text and health come
 * from the daemon itself through the bind-mounted state directory), the
 * runtime's starts and deaths, readiness with the init deadline, stop, and
 * the events it publishes.
 *
 * @internal
 */
import { type DaemonConfig, DaemonStatus, ExitReason, Signal } from "@duende/core"
import { type AdapterError, DaemonAlreadyRunning, type PlatformAdapter, StartFailed } from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { rmSync, watch } from "node:fs"
import type { ContainerSpec } from "../ContainerSpec.js"
import * as StateFile from "../StateFile.js"
import type { Driver, Inspection, Lifecycle, Paths } from "./driver.js"

export interface Shared {
  readonly driver: Driver
  readonly readyGraceMs: number
  readonly poll: Duration.Duration
  /** Forks a fiber that lives as long as the adapter. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E>) => void
}

interface Run {
  /** Epoch ms when the adapter (or the engine, for its restarts) began this run. */
  readonly createdAt: number
  readonly ready: Deferred.Deferred<void, StartFailed>
  readonly exited: Deferred.Deferred<PlatformAdapter.ExitInfo>
  started: boolean
  /** The daemon wrote a state file in this run: it speaks Duende's protocol. */
  helloSeen: boolean
  killedFor: string | undefined
}

/** What explains a crash: the last "SomethingError: …" line and the last line, else the last three lines. */
const lastErrors = (lines: ReadonlyArray<string>): ReadonlyArray<string> => {
  const text = lines.map((line) => line.trim()).filter((line) => line !== "")
  const error = [...text].reverse().find((line) => /\b(?:[A-Z]\w*)?(?:Error|Exception)\b:/.test(line))
  if (error === undefined) return text.slice(-3)
  const last = text[text.length - 1]!
  return last === error ? [error] : [error, last]
}

/**
 * An exit status as runtimes report it. They encode a death by signal as 128 + n; only SIGKILL
 * (137) is certainly one, since it cannot be caught: a Duende daemon exits 143 or 130 itself
 * after SIGTERM or SIGINT.
 */
const exitInfo = (code: number, at: number, killedFor?: string): PlatformAdapter.ExitInfo => {
  const killed = code === 128 + Signal.toNumber("SIGKILL")
  const described = killed ? ExitReason.describeExit(null, "SIGKILL") : ExitReason.describeExit(code)
  return {
    code: killed ? null : code,
    signal: killed ? "SIGKILL" : null,
    at,
    description: killedFor !== undefined ? `${described} (${killedFor})` : described
  }
}

/** Exits that mean "it stopped because it was told to". */
const cleanExit = (code: number) => code === 0 || code === 130 || code === 143

export class ManagedDaemon {
  private status: DaemonStatus.DaemonStatus = DaemonStatus.Created()
  private run: Run | undefined
  private lastExit: PlatformAdapter.ExitInfo | undefined
  private observed: StateFile.State | undefined
  private observedText = ""
  /** The watcher and the lifecycle both read the state file: one at a time, so events keep their order. */
  private readonly reading = Effect.unsafeMakeSemaphore(1)
  private stopRequested = false

  constructor(
    readonly handle: PlatformAdapter.DaemonHandle,
    public config: DaemonConfig.DaemonConfig,
    public spec: ContainerSpec,
    readonly paths: Paths,
    readonly events: PubSub.PubSub<PlatformAdapter.DaemonEvent>,
    private readonly shared: Shared
  ) {}

  private publish(event: PlatformAdapter.DaemonEvent): void {
    Effect.runSync(PubSub.publish(this.events, event))
  }

  private moveTo(next: DaemonStatus.DaemonStatus): void {
    const result = DaemonStatus.transition(this.status, next)
    this.status = Either.isRight(result) ? result.right : next
  }

  /** Watches the state file for the life of the scope: wakes on inotify, polls as a fallback. */
  watchState(): Effect.Effect<never, never, Scope.Scope> {
    return Effect.gen(this, function*() {
      const wake = yield* Queue.sliding<void>(1)
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          try {
            const watcher = watch(this.paths.run, () => Queue.unsafeOffer(wake, undefined))
            watcher.on("error", () => undefined)
            return watcher
          } catch {
            return undefined
          }
        }),
        (watcher) => Effect.sync(() => watcher?.close())
      )
      return yield* Effect.forever(
        Effect.zipRight(this.readState(), Effect.race(Queue.take(wake), Effect.sleep(this.shared.poll)))
      )
    })
  }

  /** Reads the state file and reports what changed since the last read. */
  private readState(): Effect.Effect<void> {
    return this.reading.withPermits(1)(Effect.suspend(() => {
      const read = StateFile.read(this.paths.run)
      if (typeof read === "string") return Effect.void
      const text = JSON.stringify(read.state)
      if (text === this.observedText) return Effect.void
      this.observedText = text
      return this.onState(read.state)
    }))
  }

  private onState(state: StateFile.State): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      const at = yield* Clock.currentTimeMillis
      const prior = this.observed
      const base = prior !== undefined && prior.pid === state.pid && prior.startedAt === state.startedAt ? prior : undefined
      this.observed = state
      const run = this.run
      if (run !== undefined) run.helloSeen = true
      if (state.reloadCount > (base?.reloadCount ?? 0)) this.publish({ _tag: "Reloading", at })
      if (state.status !== undefined && state.status !== base?.status) {
        this.publish({ _tag: "StatusText", text: state.status, at })
      }
      if (state.health !== undefined && state.health.at !== base?.health?.at) {
        this.publish({
          _tag: "Health",
          state: state.health.state,
          consecutiveFailures: state.health.consecutiveFailures,
          summary: state.health.summary,
          at
        })
      }
      if (state.readyCount > (base?.readyCount ?? 0)) {
        if (this.status._tag === "Starting") this.moveTo(DaemonStatus.Running())
        this.publish({ _tag: "Ready", at })
        if (run !== undefined) yield* Deferred.succeed(run.ready, undefined)
      }
      const stopping = (phase: StateFile.Phase | undefined) => phase === "stopping" || phase === "stopped"
      if (stopping(state.phase) && !stopping(base?.phase)) {
        if (this.status._tag === "Running" || this.status._tag === "Paused") this.moveTo(DaemonStatus.Stopping())
        this.publish({ _tag: "Stopping", at })
      }
    })
  }

  /** A start or death the runtime reported for this daemon's container. */
  onLifecycle(event: Lifecycle): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      if (event._tag === "Started") {
        let run = this.run
        if (run === undefined || run.started || (yield* Deferred.isDone(run.exited))) {
          // The engine restarted it (restart policy): a new run Duende did not ask for.
          run = yield* this.newRun(event.at)
          this.moveTo(DaemonStatus.Starting())
          this.shared.fork(this.awaitReadiness(run))
        }
        run.started = true
        const found = yield* this.shared.driver.inspect(this.spec.name).pipe(Effect.orElseSucceed(() => undefined))
        this.publish({ _tag: "Started", pid: found?.pid, at: event.at })
        return
      }
      const run = this.run
      // A death from before the current run began (a late event of the previous run) is history.
      if (run === undefined || event.at < run.createdAt - 1000 || (yield* Deferred.isDone(run.exited))) return
      // What the daemon wrote last (STOPPING, its final status) comes before its exit.
      yield* this.readState()
      const exit = exitInfo(event.code, event.at, run.killedFor)
      this.lastExit = exit
      this.observed = undefined
      if (this.stopRequested || (exit.code !== null && cleanExit(exit.code) && run.killedFor === undefined)) {
        this.moveTo(DaemonStatus.Stopped())
      }
      else this.moveTo(DaemonStatus.Failed({ reason: exit.description }))
      this.publish({ _tag: "Exited", exit })
      yield* Deferred.succeed(run.exited, exit)
      if (!(yield* Deferred.isDone(run.ready))) {
        const errors = yield* this.shared.driver.logs(this.spec.name, this.paths, 40).pipe(
          Effect.map((lines) => lastErrors(lines.filter((line) => line.stream === "stderr").map((line) => line.text))),
          Effect.orElseSucceed((): ReadonlyArray<string> => [])
        )
        const reason = run.killedFor !== undefined && this.stopRequested
          ? run.killedFor
          : `${exit.description} before it was ready${errors.length > 0 ? `; last stderr: ${errors.join(" | ")}` : ""}`
        yield* Deferred.fail(run.ready, new StartFailed({ name: this.handle.name, reason }))
      }
    })
  }

  private newRun(createdAt: number): Effect.Effect<Run> {
    return Effect.gen(this, function*() {
      const run: Run = {
        createdAt,
        ready: yield* Deferred.make<void, StartFailed>(),
        exited: yield* Deferred.make<PlatformAdapter.ExitInfo>(),
        started: false,
        helloSeen: false,
        killedFor: undefined
      }
      this.run = run
      return run
    })
  }

  /**
   * Ready when the daemon reports READY; with "auto", a command that wrote no state file is ready
   * once it has stayed up for the grace; with "started", at once.
   */
  private awaitReadiness(run: Run): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      const mode = this.spec.ready
      const grace = mode === "notify" ? Effect.never : Effect.zipRight(
        Effect.sleep(Duration.millis(mode === "started" ? 0 : this.shared.readyGraceMs)),
        Effect.flatMap(Clock.currentTimeMillis, (at) => {
          if ((mode === "auto" && run.helloSeen) || this.run !== run) return Effect.never
          if (this.status._tag === "Starting") {
            this.moveTo(DaemonStatus.Running())
            this.publish({ _tag: "Ready", at })
          }
          return Deferred.succeed(run.ready, undefined)
        })
      )
      const timedOut = Effect.gen(this, function*() {
        yield* Effect.sleep(this.config.initTimeout)
        if (yield* Deferred.isDone(run.ready)) return
        run.killedFor = `not ready within ${Duration.format(this.config.initTimeout)}`
        yield* this.stop(this.config.shutdownTimeout).pipe(Effect.ignore)
        yield* Deferred.fail(run.ready, new StartFailed({ name: this.handle.name, reason: run.killedFor }))
      })
      yield* Effect.raceFirst(Effect.ignore(Deferred.await(run.ready)), Effect.race(grace, timedOut))
    })
  }

  start(): Effect.Effect<void, AdapterError> {
    return Effect.gen(this, function*() {
      const found = yield* this.shared.driver.inspect(this.spec.name)
      if (found !== undefined && (found.status === "running" || found.status === "paused" || found.status === "restarting")) {
        return yield* new DaemonAlreadyRunning({ name: this.handle.name, pid: found.pid })
      }
      // A state file left by the last run must not pass for this run's READY.
      rmSync(`${this.paths.run}/${StateFile.fileName}`, { force: true })
      const run = yield* this.newRun(yield* Clock.currentTimeMillis)
      this.observed = undefined
      this.stopRequested = false
      this.moveTo(DaemonStatus.Starting())
      const started = yield* Effect.either(this.shared.driver.start(this.spec, this.paths, found))
      if (Either.isLeft(started)) {
        const at = yield* Clock.currentTimeMillis
        const exit: PlatformAdapter.ExitInfo = { code: null, signal: null, at, description: started.left.message }
        this.lastExit = exit
        this.moveTo(DaemonStatus.Failed({ reason: started.left.message }))
        this.publish({ _tag: "Exited", exit })
        this.run = undefined
        return yield* started.left
      }
      this.shared.fork(this.awaitReadiness(run))
      yield* Deferred.await(run.ready)
    })
  }

  stop(timeout: Duration.Duration): Effect.Effect<void, AdapterError> {
    return Effect.gen(this, function*() {
      const found = yield* this.shared.driver.inspect(this.spec.name)
      if (found === undefined || found.status === "exited" || found.status === "created") {
        this.settleStopped(found)
        return
      }
      this.stopRequested = true
      if (this.status._tag !== "Stopping") this.moveTo(DaemonStatus.Stopping())
      yield* this.shared.driver.stop(this.spec.name, timeout)
      const run = this.run
      if (run !== undefined) {
        // The death arrives through the runtime's events; wait for it briefly, then trust inspect.
        yield* Effect.timeout(Deferred.await(run.exited), Duration.seconds(5)).pipe(Effect.ignore)
      }
      this.settleStopped(yield* this.shared.driver.inspect(this.spec.name))
    })
  }

  /** After a stop (or when the container is not running), make the status agree with the runtime. */
  private settleStopped(found: Inspection | undefined): void {
    const run = this.run
    const alreadyRecorded = run !== undefined && Effect.runSync(Deferred.isDone(run.exited))
    if (!alreadyRecorded && found?.exit !== undefined && this.status._tag !== "Created") {
      const exit = exitInfo(found.exit.code, found.exit.at)
      this.lastExit = exit
      this.publish({ _tag: "Exited", exit })
      if (run !== undefined) Effect.runSync(Deferred.succeed(run.exited, exit))
    }
    if (this.status._tag !== "Created" && this.status._tag !== "Failed") this.moveTo(DaemonStatus.Stopped())
  }

  signal(signal: Signal.Signal): Effect.Effect<void, AdapterError> {
    return Effect.gen(this, function*() {
      const found = yield* this.shared.driver.inspect(this.spec.name)
      if (found === undefined || (found.status !== "running" && found.status !== "paused")) {
        return yield* new StartFailed({ name: this.handle.name, reason: `not running: cannot send ${signal}` })
      }
      yield* this.shared.driver.kill(this.spec.name, signal)
      if (signal === "SIGSTOP" && this.status._tag === "Running") this.moveTo(DaemonStatus.Paused())
      if (signal === "SIGCONT" && this.status._tag === "Paused") this.moveTo(DaemonStatus.Running())
    })
  }

  /** SIGHUP; for a Duende daemon, waits until it reported RELOADING and then READY (bounded). */
  reload(): Effect.Effect<void, AdapterError> {
    return Effect.scoped(Effect.gen(this, function*() {
      if (this.observed === undefined) return yield* this.signal("SIGHUP")
      const events = yield* PubSub.subscribe(this.events)
      yield* this.signal("SIGHUP")
      const next = (tag: PlatformAdapter.DaemonEvent["_tag"]): Effect.Effect<void> =>
        Effect.flatMap(events.take, (event) => (event._tag === tag ? Effect.void : next(tag)))
      const reloading = yield* Effect.timeout(next("Reloading"), Duration.seconds(2)).pipe(Effect.option)
      if (Option.isSome(reloading)) yield* Effect.timeout(next("Ready"), this.config.initTimeout).pipe(Effect.ignore)
    }))
  }

  state(): Effect.Effect<PlatformAdapter.DaemonState, AdapterError> {
    return Effect.map(this.shared.driver.inspect(this.spec.name), (found) => {
      const observed = this.observed
      const alive = found !== undefined && (found.status === "running" || found.status === "paused")
      const status: DaemonStatus.DaemonStatus = found === undefined || found.status === "exited"
        ? this.settled(found)
        : found.status === "paused"
        ? DaemonStatus.Paused()
        : found.status === "restarting"
        ? DaemonStatus.Starting()
        : found.status === "created"
        ? this.status._tag === "Starting" ? this.status : DaemonStatus.Created()
        : ["Starting", "Running", "Stopping", "Paused"].includes(this.status._tag)
        ? this.status
        : observed !== undefined && observed.readyCount > 0
        ? DaemonStatus.Running()
        : DaemonStatus.Starting()
      const lastExit = this.lastExit ?? (found?.exit !== undefined
        ? exitInfo(found.exit.code, found.exit.at)
        : undefined)
      return {
        status,
        pid: alive ? found.pid : undefined,
        startedAt: alive ? found.startedAt ?? this.run?.createdAt : undefined,
        lastExit,
        restarts: found?.restarts ?? 0,
        statusText: alive ? observed?.status : undefined,
        health: alive ? observed?.health?.state ?? found.health : undefined
      }
    })
  }

  /** The status of a container that does not run, from what Duende saw or else the runtime's record. */
  private settled(found: Inspection | undefined): DaemonStatus.DaemonStatus {
    const recorded = found?.exit !== undefined ? exitInfo(found.exit.code, found.exit.at) : undefined
    const judge = (exit: PlatformAdapter.ExitInfo) =>
      exit.code !== null && cleanExit(exit.code) ? DaemonStatus.Stopped() : DaemonStatus.Failed({ reason: exit.description })
    if (this.status._tag === "Created") return recorded !== undefined ? judge(recorded) : this.status
    if (this.status._tag === "Stopped" || this.status._tag === "Failed") return this.status
    const exit = this.lastExit ?? recorded
    return exit === undefined || this.stopRequested ? DaemonStatus.Stopped() : judge(exit)
  }

  /** Whether the runtime says the container runs now. */
  running(): Effect.Effect<boolean, AdapterError> {
    return Effect.map(
      this.shared.driver.inspect(this.spec.name),
      (found) => found !== undefined && found.status !== "exited" && found.status !== "created"
    )
  }
}
