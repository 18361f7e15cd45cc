/**
 * The test platform: a {@link PlatformAdapter} whose daemons are simulated in
 * memory and run on Effect's Clock, so under `TestClock` a day of crashes,
 * restarts, health failures and deadlines passes in milliseconds, the same way
 * every run. A simulated daemon acts out a {@link Behavior} (from its
 * `DUENDE_TEST_*` env, or a behaviour registered for its program name) and,
 * with {@link Chaos}, seeded random faults.
 *
 * @since 0.1.0
 */
import { DaemonId, DaemonStatus, ExitReason } from "@duende/core"
import {
  DaemonAlreadyRunning,
  DaemonNotFound,
  OperationUnsupported,
  PlatformAdapter,
  StartFailed
} from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { type Behavior, fromEnv } from "./Behavior.js"
import * as Chaos from "./Chaos.js"

type Adapter = PlatformAdapter.PlatformAdapter
type DaemonEvent = PlatformAdapter.DaemonEvent
type LogLine = PlatformAdapter.LogLine
type ExitInfo = PlatformAdapter.ExitInfo
type Signal = Parameters<Adapter["signal"]>[1]
type DaemonConfig = Parameters<Adapter["install"]>[0]

/**
 * Options of the test platform.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Behaviours by program name: a config whose command is `["crasher"]` acts out `programs.crasher`. */
  readonly programs?: Readonly<Record<string, Behavior>>
  /** Seeded faults for every simulated daemon. */
  readonly chaos?: Chaos.Options
}

interface Run {
  /** Set once the run has ended (a plain flag: status reads it often). */
  ended: boolean
  readonly pid: number
  readonly startedAt: number
  readonly ready: Deferred.Deferred<void, StartFailed>
  readonly exited: Deferred.Deferred<ExitInfo>
  readonly signals: Queue.Queue<Signal>
  stopRequested: boolean
  killedFor: string | undefined
  lastPing: number
  readyAt: number
}

const cleanExit = (code: number | null, signal: Signal | null) =>
  code === 0 || code === 130 || code === 143 ||
  (signal !== null && ["SIGHUP", "SIGINT", "SIGTERM", "SIGPIPE"].includes(signal))

/**
 * The test platform's adapter as a scoped value.
 *
 * @example
 * ```ts
 * import { TestPlatform } from "@duende/testing"
 * import { Effect } from "effect"
 *
 * const adapter = TestPlatform.make({ programs: { crasher: { exitAfterMs: 5_000, exitCode: 1 } } })
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Adapter, never, Scope.Scope> =>
  Effect.gen(function*() {
    const fork = yield* FiberSet.makeRuntime<never>()
    const chaos = options.chaos === undefined ? undefined : Chaos.source(options.chaos)
    let nextPid = 1000
    const daemons = new Map<string, Sim>()

    class Sim {
      status: DaemonStatus.DaemonStatus = DaemonStatus.Created()
      run: Run | undefined
      lastExit: ExitInfo | undefined
      statusText: string | undefined
      health: "starting" | "healthy" | "unhealthy" | undefined
      readonly logs: Array<LogLine> = []

      constructor(
        readonly handle: PlatformAdapter.DaemonHandle,
        public config: DaemonConfig,
        readonly events: PubSub.PubSub<DaemonEvent>,
        readonly lines: PubSub.PubSub<LogLine>
      ) {}

      get behavior(): Behavior {
        return options.programs?.[this.config.command.program] ?? fromEnv(this.config.env)
      }

      publish(event: DaemonEvent) {
        return PubSub.publish(this.events, event)
      }

      moveTo(next: DaemonStatus.DaemonStatus) {
        const result = DaemonStatus.transition(this.status, next)
        this.status = Either.isRight(result) ? result.right : next
      }

      print(stream: "stdout" | "stderr", text: string) {
        return Effect.flatMap(Clock.currentTimeMillis, (at) => {
          const line = { at, stream, text }
          this.logs.push(line)
          if (this.logs.length > 10_000) this.logs.splice(0, this.logs.length - 10_000)
          return PubSub.publish(this.lines, line)
        })
      }

      /** A start is waiting for its process to exist (`spawnAfterMs`). */
      spawning = false

      running(): boolean {
        return this.run !== undefined && !this.run.ended
      }

      /** The run ends: status, last exit, event. */
      exit(run: Run, code: number | null, signal: Signal | null) {
        return Effect.gen(this, function*() {
          if (yield* Deferred.isDone(run.exited)) return
          const at = yield* Clock.currentTimeMillis
          const described = ExitReason.describeExit(code, signal)
          const exit: ExitInfo = {
            code,
            signal,
            at,
            description: run.killedFor ? `${described} (${run.killedFor})` : described
          }
          this.lastExit = exit
          this.health = undefined
          if (run.stopRequested || (cleanExit(code, signal) && run.killedFor === undefined)) {
            this.moveTo(DaemonStatus.Stopped())
          } else this.moveTo(DaemonStatus.Failed({ reason: exit.description }))
          run.ended = true
          yield* Deferred.succeed(run.exited, exit)
          if (!(yield* Deferred.isDone(run.ready))) {
            yield* Deferred.fail(
              run.ready,
              new StartFailed({ name: this.handle.name, reason: run.killedFor ?? `${exit.description} before it was ready` })
            )
          }
          yield* this.publish({ _tag: "Exited", exit })
        })
      }

      /** The simulated process: ready, then exits, crashes, hangs or answers signals per its behaviour. */
      simulate(run: Run, behavior: Behavior) {
        return Effect.gen(this, function*() {
          yield* this.print("stdout", `cwd=${this.config.workingDirectory ?? "/"}`)
          yield* this.print("stdout", `echo=${this.config.env.DUENDE_TEST_ECHO ?? ""}`)
          for (const line of behavior.lines ?? []) yield* this.print("stdout", line)
          if (behavior.neverReady) return yield* Effect.never
          const latency = (behavior.readyAfterMs ?? 0) + (chaos ? yield* chaos.startLatencyMs : 0)
          if (latency > 0) yield* Effect.sleep(Duration.millis(latency))
          if (behavior.failInit) return yield* this.exit(run, 3, null)
          const now = yield* Clock.currentTimeMillis
          run.readyAt = now
          run.lastPing = now
          this.moveTo(DaemonStatus.Running())
          yield* this.publish({ _tag: "Ready", at: now })
          yield* Deferred.succeed(run.ready, undefined)
          const crashMs = chaos ? yield* chaos.nextCrashMs : undefined
          const ends: Array<Effect.Effect<void>> = [this.answerSignals(run, behavior)]
          if (this.config.watchdogInterval !== undefined || this.config.health.enabled) {
            ends.push(this.pingAndCheck(run, behavior))
          }
          if (behavior.exitAfterMs !== undefined) {
            ends.push(Effect.zipRight(
              Effect.sleep(Duration.millis(behavior.exitAfterMs)),
              this.exit(run, behavior.exitCode ?? 1, null)
            ))
          }
          if (crashMs !== undefined) {
            ends.push(Effect.zipRight(Effect.sleep(Duration.millis(crashMs)), this.exit(run, null, "SIGSEGV")))
          }
          yield* Effect.raceAll(ends.map((end) => Effect.zipRight(end, Deferred.await(run.exited))))
        })
      }

      answerSignals(run: Run, behavior: Behavior): Effect.Effect<void> {
        return Effect.gen(this, function*() {
          while (true) {
            const signal = yield* Queue.take(run.signals)
            const at = yield* Clock.currentTimeMillis
            if (signal === "SIGHUP") {
              yield* this.publish({ _tag: "Reloading", at })
              yield* this.publish({ _tag: "Ready", at })
            } else if (signal === "SIGTERM" || signal === "SIGINT") {
              if (behavior.ignoreTerm) continue
              yield* this.publish({ _tag: "Stopping", at })
              yield* this.print("stdout", "shutdown")
              const extra = chaos ? yield* chaos.extraShutdownMs : 0
              const shutdownMs = (behavior.shutdownMs ?? 0) + extra
              if (shutdownMs > 0) yield* Effect.sleep(Duration.millis(shutdownMs))
              return yield* this.exit(run, signal === "SIGTERM" ? 143 : 130, null)
            } else if (signal === "SIGSTOP" || signal === "SIGCONT" || signal === "SIGUSR1" || signal === "SIGUSR2") {
              continue
            } else {
              return yield* this.exit(run, null, signal)
            }
          }
        })
      }

      /** Health checks and watchdog pings as the daemon's runtime would send them. */
      pingAndCheck(run: Run, behavior: Behavior): Effect.Effect<void> {
        const health = this.config.health
        const watchdog = this.config.watchdogInterval
        const ping: Effect.Effect<void> = watchdog === undefined
          ? Effect.never
          : Effect.forever(Effect.gen(function*() {
            yield* Effect.sleep(Duration.millis(Duration.toMillis(watchdog) / 2))
            const now = yield* Clock.currentTimeMillis
            if (behavior.hangAfterMs === undefined || now - run.readyAt < behavior.hangAfterMs) run.lastPing = now
          }))
        const check: Effect.Effect<void> = !health.enabled
          ? Effect.never
          : Effect.gen(this, function*() {
            let failures = 0
            let state: "starting" | "healthy" | "unhealthy" = "starting"
            while (true) {
              yield* Effect.sleep(health.interval)
              const now = yield* Clock.currentTimeMillis
              const unhealthy = (behavior.unhealthyAfterMs !== undefined && now - run.readyAt >= behavior.unhealthyAfterMs) ||
                (chaos ? yield* chaos.healthFails : false)
              const previous: "starting" | "healthy" | "unhealthy" = state
              if (!unhealthy) {
                failures = 0
                state = "healthy"
              } else {
                failures++
                if (failures >= health.retries) state = "unhealthy"
              }
              this.health = state
              if (unhealthy || state !== previous) {
                yield* this.publish({
                  _tag: "Health",
                  state,
                  consecutiveFailures: failures,
                  summary: unhealthy ? "main: unhealthy" : "healthy",
                  at: now
                })
              }
            }
          })
        return Effect.zipRight(Effect.all([ping, check], { concurrency: "unbounded" }), Effect.never)
      }

      /** The adapter's side of the watchdog: no ping within the interval → SIGABRT. */
      enforceWatchdog(run: Run): Effect.Effect<void> {
        const watchdog = this.config.watchdogInterval
        if (watchdog === undefined) return Effect.void
        const timeoutMs = Duration.toMillis(watchdog)
        return Effect.gen(this, function*() {
          if (Either.isLeft(yield* Effect.either(Deferred.await(run.ready)))) return
          while (!(yield* Deferred.isDone(run.exited))) {
            yield* Effect.sleep(Duration.millis(Math.max(1, timeoutMs / 4)))
            const now = yield* Clock.currentTimeMillis
            if (now - run.lastPing > timeoutMs && !run.stopRequested && !(yield* Deferred.isDone(run.exited))) {
              run.killedFor = "watchdog timeout"
              yield* this.publish({ _tag: "WatchdogMissed", timeoutMs, at: now })
              yield* this.exit(run, null, "SIGABRT")
            }
          }
        })
      }

      start() {
        return Effect.gen(this, function*() {
          if (this.running() || this.spawning) {
            return yield* new DaemonAlreadyRunning({ name: this.handle.name, pid: this.run?.pid })
          }
          const spawnAfterMs = this.behavior.spawnAfterMs ?? 0
          if (spawnAfterMs > 0) {
            this.spawning = true
            this.moveTo(DaemonStatus.Starting())
            yield* Effect.ensuring(Effect.sleep(Duration.millis(spawnAfterMs)), Effect.sync(() => (this.spawning = false)))
          }
          const now = yield* Clock.currentTimeMillis
          const run: Run = {
            ended: false,
            pid: nextPid++,
            startedAt: now,
            ready: yield* Deferred.make<void, StartFailed>(),
            exited: yield* Deferred.make<ExitInfo>(),
            signals: yield* Queue.unbounded<Signal>(),
            stopRequested: false,
            killedFor: undefined,
            lastPing: now,
            readyAt: now
          }
          this.run = run
          this.statusText = undefined
          this.moveTo(DaemonStatus.Starting())
          yield* this.publish({ _tag: "Started", pid: run.pid, at: now })
          const behavior = this.behavior
          // The simulated process ends when it exits; a kill ends it from outside.
          fork(Effect.raceFirst(this.simulate(run, behavior), Deferred.await(run.exited)))
          if (this.config.watchdogInterval !== undefined) fork(this.enforceWatchdog(run))
          const initTimeout = this.config.initTimeout
          // Readiness or the init deadline, whichever comes first (the loser's sleep is cancelled).
          fork(Effect.raceFirst(
            Effect.ignore(Deferred.await(run.ready)),
            Effect.zipRight(
              Effect.sleep(initTimeout),
              Effect.suspend(() => {
                run.killedFor = `not ready within ${Duration.format(initTimeout)}`
                return this.stopRun(run, this.config.shutdownTimeout)
              })
            )
          ))
          return yield* Deferred.await(run.ready)
        })
      }

      stopRun(run: Run, timeout: Duration.Duration) {
        return Effect.gen(this, function*() {
          if (yield* Deferred.isDone(run.exited)) return
          run.stopRequested = true
          this.moveTo(DaemonStatus.Stopping())
          yield* Queue.offer(run.signals, "SIGTERM")
          const ended = yield* Effect.timeout(Deferred.await(run.exited), timeout).pipe(Effect.option)
          if (ended._tag === "None") yield* this.exit(run, null, "SIGKILL")
        })
      }
    }

    const find = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.suspend(() => {
        const sim = daemons.get(handle.name)
        return sim === undefined
          ? Effect.fail(new DaemonNotFound({ name: handle.name, platform: "test" }))
          : Effect.succeed(sim)
      })

    const adapter: Adapter = {
      platform: "native",
      restarts: "manager",
      render: (config) =>
        Effect.succeed([{
          name: `${config.name}.behavior.json`,
          kind: "test platform behaviour",
          content: `${JSON.stringify(options.programs?.[config.command.program] ?? fromEnv(config.env), null, 2)}\n`
        }]),
      install: (config, id) =>
        Effect.gen(function*() {
          const existing = daemons.get(config.name)
          if (existing) {
            existing.config = config
            return existing.handle
          }
          const handle = { id: id ?? DaemonId.random(), name: config.name, platform: "native" as const, ref: config.name }
          daemons.set(
            config.name,
            new Sim(handle, config, yield* PubSub.unbounded<DaemonEvent>(), yield* PubSub.unbounded<LogLine>())
          )
          return handle
        }),
      start: (handle) => Effect.flatMap(find(handle), (sim) => sim.start()),
      stop: (handle, timeout) =>
        Effect.flatMap(find(handle), (sim) => (sim.run ? sim.stopRun(sim.run, timeout) : Effect.void)),
      restart: (handle, timeout) =>
        Effect.flatMap(find(handle), (sim) =>
          Effect.zipRight(sim.run ? sim.stopRun(sim.run, timeout) : Effect.void, sim.start())),
      reload: (handle) => adapter.signal(handle, "SIGHUP"),
      signal: (handle, signal) =>
        Effect.flatMap(find(handle), (sim) => {
          const run = sim.run
          if (run === undefined || !sim.running()) {
            return Effect.fail(new StartFailed({ name: handle.name, reason: `not running: cannot send ${signal}` }))
          }
          if (signal === "SIGKILL") return sim.exit(run, null, "SIGKILL")
          return Queue.offer(run.signals, signal)
        }),
      status: (handle) =>
        Effect.map(find(handle), (sim) => {
          const alive = sim.running()
          return {
            status: sim.status,
            pid: alive ? sim.run?.pid : undefined,
            startedAt: alive ? sim.run?.startedAt : undefined,
            lastExit: sim.lastExit,
            restarts: 0,
            statusText: sim.statusText,
            health: alive ? sim.health : undefined
          }
        }),
      logs: (handle, logOptions) => Effect.map(find(handle), (sim) => sim.logs.slice(-(logOptions?.lines ?? 100))),
      followLogs: (handle) => Effect.flatMap(find(handle), (sim) => Effect.map(PubSub.subscribe(sim.lines), Stream.fromQueue)),
      events: (handle) => Effect.flatMap(find(handle), (sim) => Effect.map(PubSub.subscribe(sim.events), Stream.fromQueue)),
      uninstall: (handle) =>
        Effect.flatMap(find(handle), (sim) =>
          sim.running()
            ? Effect.fail(new OperationUnsupported({ operation: `uninstall ${handle.name} while it runs`, platform: "test", hint: "stop it first" }))
            : Effect.sync(() => void daemons.delete(handle.name)))
    }
    return adapter
  })

/**
 * The test platform as a layer providing core's `PlatformAdapter`.
 *
 * @example
 * ```ts
 * import { DaemonManager } from "@duende/core/manager"
 * import { TestPlatform } from "@duende/testing"
 * import { Layer } from "effect"
 *
 * const manager = DaemonManager.layer.pipe(Layer.provide(TestPlatform.layer({ chaos: { seed: 1, crashesPerHour: 12 } })))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<PlatformAdapter.PlatformAdapter> =>
  // core's tag: DaemonManager and the contract suite use this adapter like any other.
  Layer.scoped(PlatformAdapter.PlatformAdapter, make(options))

/**
 * {@link drive} gave up: the effect was still waiting when the test clock
 * reached its budget, or it waits for something other than time.
 *
 * @since 0.1.0
 */
export class DriveStalled extends Data.TaggedError("DriveStalled")<{ readonly message: string }> {}

const settle = Effect.repeatN(Effect.yieldNow(), 32)

/**
 * Runs an effect that waits on time, such as `manager.start` (it returns once
 * the daemon is ready, which takes simulated time) or `manager.stop`, and moves
 * `TestClock` while it runs: each step jumps to the next sleeper's wake-up time,
 * until the effect ends. Without it, a test that yields `manager.start(...)` on
 * `TestClock` waits for a clock nobody moves, and hangs until its timeout.
 * Fails with {@link DriveStalled} when the effect is still waiting after
 * `budget` of test time (default 1 day) or waits with nothing asleep.
 *
 * @example
 * ```ts
 * import { DaemonManager } from "@duende/core/manager"
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { Behavior, TestPlatform } from "@duende/testing"
 * import { expect, it } from "@effect/vitest"
 * import { Effect, Layer } from "effect"
 *
 * it.scoped("starts once ready, 3 s later", () =>
 *   Effect.gen(function*() {
 *     const manager = yield* DaemonManager.DaemonManager
 *     yield* manager.add(decodeSync({ name: "slow", command: ["sim"], env: Behavior.toEnv({ readyAfterMs: 3_000 }) }))
 *     yield* TestPlatform.drive(manager.start("slow"))
 *     expect((yield* manager.get("slow")).state.status._tag).toBe("Running")
 *   }).pipe(Effect.provide(DaemonManager.layer.pipe(Layer.provide(TestPlatform.layer())))))
 * ```
 *
 * @since 0.1.0
 */
export const drive = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: { readonly budget?: Duration.DurationInput } = {}
): Effect.Effect<A, E | DriveStalled, R> =>
  Effect.gen(function*() {
    const started = yield* TestClock.currentTimeMillis
    const budget = Duration.decode(options.budget ?? "1 day")
    const limit = started + Duration.toMillis(budget)
    const fiber = yield* Effect.fork(effect)
    while (true) {
      yield* settle
      if ((yield* Fiber.poll(fiber))._tag === "Some") return yield* Fiber.join(fiber)
      let next = Math.min(...(yield* TestClock.sleeps()))
      if (!Number.isFinite(next)) {
        // Let forked fibers (simulated daemons, the manager's watchers) go to sleep, then look again.
        yield* TestClock.adjust(0)
        if ((yield* Fiber.poll(fiber))._tag === "Some") return yield* Fiber.join(fiber)
        next = Math.min(...(yield* TestClock.sleeps()))
      }
      const now = yield* TestClock.currentTimeMillis
      if (!Number.isFinite(next) || next > limit) {
        yield* Fiber.interrupt(fiber)
        return yield* new DriveStalled({
          message: Number.isFinite(next)
            ? `still waiting after ${Duration.format(budget)} of test time (next wake-up at ${next} ms)`
            : `waiting at ${now} ms with nothing asleep: it waits for something other than time`
        })
      }
      yield* TestClock.setTime(Math.max(next, now))
    }
  })
