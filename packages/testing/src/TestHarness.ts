/**
 * A harness for testing your own daemon's lifecycle in-process, on Effect's
 * `TestClock`: start it, send signals, move time, and read its status, health
 * and the notifications it sent (ready, status, reloading, stopping, watchdog
 * pings) as an ordered, timestamped event log. `stop` fails the test with a
 * clear message when the daemon does not shut down within its deadline.
 *
 * @since 0.1.0
 */
import { Daemon, type DaemonConfig, DaemonStatus, ExitReason, PlatformRuntime, ProcessSignals, type PromiseDaemon } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"

/**
 * One notification, at a test-clock time (ms).
 *
 * @since 0.1.0
 */
export interface Event {
  readonly at: number
  /** "READY", "RELOADING", "STOPPING", "WATCHDOG", "STATUS=<text>", "HEALTH=<state>/<failures>", "EXTEND=<ms>" */
  readonly event: string
}

/**
 * A harness expectation failed.
 *
 * @since 0.1.0
 */
export class HarnessError extends Data.TaggedError("HarnessError")<{ readonly message: string }> {}

/**
 * How a daemon ended.
 *
 * @since 0.1.0
 */
export interface Ended {
  readonly reason: ExitReason.ExitReason
  readonly code: number
}

/**
 * A running daemon under test.
 *
 * @since 0.1.0
 */
export interface Harness {
  /** Every notification so far, in order. */
  readonly events: Effect.Effect<ReadonlyArray<Event>>
  /** The same as lines: "<ms> <event>" (handy for snapshots and replays). */
  readonly log: Effect.Effect<ReadonlyArray<string>>
  readonly status: Effect.Effect<DaemonStatus.DaemonStatus>
  readonly health: Effect.Effect<"starting" | "healthy" | "unhealthy" | undefined>
  readonly signal: (signal: "SIGTERM" | "SIGINT" | "SIGHUP") => Effect.Effect<void>
  /** Delivers an error nobody caught (as `uncaughtException` would). */
  readonly crash: (error: unknown) => Effect.Effect<void>
  /** Moves the test clock forward and lets the daemon react. */
  readonly advance: (duration: Duration.DurationInput) => Effect.Effect<void>
  /** Lets the daemon run (without moving time) until `event` has been sent. */
  readonly waitFor: (event: string) => Effect.Effect<void, HarnessError>
  /** The end, once it has come (without moving time). */
  readonly ended: Effect.Effect<Option.Option<Ended>>
  /**
   * Sends SIGTERM (or `signal`) and moves time until the daemon ends. Fails
   * with a clear message when the exit had to be forced (deadline or second
   * signal) or the daemon is still running past its deadline.
   */
  readonly stop: (signal?: "SIGTERM" | "SIGINT") => Effect.Effect<Ended, HarnessError>
}

/**
 * Options of {@link start} and {@link startPromise}, whatever the daemon needs.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Config fields (as in a config file); name and command are filled in. */
  readonly config?: Partial<DaemonConfig.Input>
  /** A watchdog timeout imposed by the (simulated) manager. */
  readonly watchdogTimeout?: Duration.DurationInput
  /** What a SIGHUP reloads; by default the same config. */
  readonly reloadConfig?: Effect.Effect<DaemonConfig.DaemonConfig, unknown>
}

/**
 * The options of a daemon that needs services `R`: {@link Options} and the
 * `layer` that provides them (required when `R` is not `never`), as
 * `Daemon.runMain` takes it. The harness builds it inside init, under the init
 * deadline, and releases it after shutdown, as a real run does; the platform is
 * the harness's own.
 *
 * @example
 * ```ts
 * import { TestHarness } from "@duende/testing"
 * import { Context, Effect, Layer } from "effect"
 *
 * class Db extends Context.Tag("Db")<Db, { readonly ping: Effect.Effect<boolean> }>() {}
 *
 * const options: TestHarness.StartOptions<Db> = {
 *   layer: Layer.succeed(Db, { ping: Effect.succeed(true) }),
 *   config: { shutdownTimeout: "5s" }
 * }
 * ```
 *
 * @since 0.1.0
 */
export type StartOptions<R> = Options & Daemon.LayerOption<R>

/**
 * The options argument: optional when the daemon needs no services.
 *
 * @since 0.1.0
 */
export type StartArguments<R> = [R] extends [never] ? [options?: StartOptions<R>] : [options: StartOptions<R>]

const settle = Effect.repeatN(Effect.yieldNow(), 64)

const isPromiseDaemon = (value: unknown): value is PromiseDaemon.PromiseDaemon =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag !== "Daemon" &&
  typeof (value as { run?: unknown }).run === "function"

/**
 * Starts a daemon (an Effect daemon from `Daemon.make`, or a Promise-facade
 * object) on the test clock. Needs `TestClock` (as `it.effect` and `it.scoped`
 * provide) and a scope. A daemon whose hooks need services gets them from
 * `layer` (see {@link StartOptions}): swap your real services for test ones
 * there. The daemon runs in a fiber of its own, so nothing here waits for time
 * to pass unless you move it (`advance`, `stop`).
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { TestHarness } from "@duende/testing"
 * import { expect, it } from "@effect/vitest"
 * import { Context, Effect, Layer } from "effect"
 *
 * class Db extends Context.Tag("Db")<Db, { readonly ping: Effect.Effect<boolean> }>() {}
 *
 * const api = Daemon.make({ name: "api", run: () => Effect.zipRight(Effect.flatMap(Db, (db) => db.ping), Effect.never) })
 *
 * it.scoped("stops gracefully", () =>
 *   Effect.gen(function*() {
 *     const harness = yield* TestHarness.start(api, { layer: Layer.succeed(Db, { ping: Effect.succeed(true) }) })
 *     yield* harness.waitFor("READY")
 *     const { code } = yield* harness.stop()
 *     expect(code).toBe(143)
 *   }))
 * ```
 *
 * @since 0.1.0
 */
export const start = <E = unknown, R = never>(
  daemon: Daemon.Daemon<E, R> | PromiseDaemon.PromiseDaemon,
  ...[startOptions]: StartArguments<R>
): Effect.Effect<Harness, never, Scope.Scope> =>
  Effect.gen(function*() {
    const options: StartOptions<R> = startOptions ?? ({} as StartOptions<R>)
    const definition: Daemon.Daemon<unknown, R> = isPromiseDaemon(daemon)
      ? (Daemon.fromPromise(daemon) as Daemon.Daemon<unknown, R>)
      : daemon
    const config = decodeSync({ name: definition.name, command: ["test"], ...options.config }, "TestHarness options")
    const events = yield* Ref.make<ReadonlyArray<Event>>([])
    const healthState = yield* Ref.make<"starting" | "healthy" | "unhealthy" | undefined>(undefined)
    const record = (event: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => Ref.update(events, (list) => [...list, { at, event }]))
    const runtime = PlatformRuntime.make({
      platform: "native",
      ready: record("READY"),
      reloading: record("RELOADING"),
      stopping: record("STOPPING"),
      status: (text) => record(`STATUS=${text}`),
      health: (report) =>
        Effect.zipRight(Ref.set(healthState, report.state), record(`HEALTH=${report.state}/${report.consecutiveFailures}`)),
      extendTimeout: (duration) => record(`EXTEND=${Duration.toMillis(duration)}`),
      watchdogPing: record("WATCHDOG"),
      watchdogTimeout: options.watchdogTimeout === undefined
        ? Option.none()
        : Option.some(Duration.decode(options.watchdogTimeout))
    })
    const { offer, signals } = yield* ProcessSignals.makeManual
    const fiber = yield* Effect.forkScoped(
      Daemon.run(definition, {
        config,
        ...(options.reloadConfig ? { reloadConfig: options.reloadConfig } : {}),
        ...(options.layer ? { layer: options.layer } : {})
      } as Daemon.RunOptions<R>).pipe(
        Effect.provideService(PlatformRuntime.PlatformRuntime, runtime),
        Effect.provideService(ProcessSignals.ProcessSignals, signals)
      )
    )
    const ended: Effect.Effect<Option.Option<Ended>> = Effect.map(Fiber.poll(fiber), Option.flatMap((exit) =>
      Exit.isSuccess(exit) ? Option.some({ reason: exit.value, code: ExitReason.exitCode(exit.value) }) : Option.none()))
    const status = Effect.gen(function*() {
      const end = yield* ended
      if (Option.isSome(end)) {
        const { reason } = end.value
        return reason._tag === "Graceful" || reason._tag === "Signal"
          ? DaemonStatus.Stopped()
          : DaemonStatus.Failed({ reason: ExitReason.describe(reason) })
      }
      const seen = (yield* Ref.get(events)).map((e) => e.event)
      if (seen.includes("STOPPING")) return DaemonStatus.Stopping()
      if (seen.includes("READY")) return DaemonStatus.Running()
      return DaemonStatus.Starting()
    })
    const waitFor = (event: string) =>
      Effect.gen(function*() {
        for (let i = 0; i < 200; i++) {
          if ((yield* Ref.get(events)).some((e) => e.event === event)) return
          yield* settle
        }
        const seen = (yield* Ref.get(events)).map((e) => `${e.at} ${e.event}`).join("\n  ")
        return yield* new HarnessError({ message: `${definition.name} never sent ${event}; it sent:\n  ${seen}` })
      })
    const harness: Harness = {
      events: Ref.get(events),
      log: Effect.map(Ref.get(events), (list) => list.map((e) => `${e.at} ${e.event}`)),
      status,
      health: Ref.get(healthState),
      signal: (signal) => Effect.zipRight(offer({ _tag: "Signal", signal }), settle),
      crash: (error) => Effect.zipRight(offer({ _tag: "Fatal", error }), settle),
      advance: (duration) => Effect.zipRight(Effect.zipRight(settle, TestClock.adjust(duration)), settle),
      waitFor,
      ended,
      stop: (signal = "SIGTERM") =>
        Effect.gen(function*() {
          yield* harness.signal(signal)
          const deadline = Duration.toMillis(config.shutdownTimeout)
          const step = Math.max(1, Math.ceil(deadline / 100))
          let waited = 0
          let end = yield* ended
          while (Option.isNone(end) && waited <= deadline + step) {
            yield* harness.advance(Duration.millis(step))
            waited += step
            end = yield* ended
          }
          const limit = Duration.format(config.shutdownTimeout)
          if (Option.isNone(end)) {
            return yield* new HarnessError({
              message: `${definition.name} is still running ${Duration.format(Duration.millis(waited))} after ${signal} (its deadline is ${limit})`
            })
          }
          const { reason } = end.value
          if (reason._tag === "ForcedByDeadline") {
            return yield* new HarnessError({
              message: `${definition.name} did not shut down within its ${limit} deadline: it was still ${reason.phase} when the exit was forced (exit ${end.value.code})`
            })
          }
          if (reason._tag === "ForcedBySignal") {
            return yield* new HarnessError({ message: `${definition.name} was forced to exit by a second ${reason.signal}` })
          }
          return end.value
        })
    }
    yield* settle
    return harness
  })

/**
 * The harness with Promises, for plain vitest or jest tests without Effect.
 * Duende's own timers (deadlines, health intervals, watchdog) run on a test
 * clock that `advance` moves; a Promise daemon's own `setTimeout`s stay real.
 *
 * @since 0.1.0
 */
export interface PromiseHarness {
  readonly events: () => Promise<ReadonlyArray<Event>>
  readonly log: () => Promise<ReadonlyArray<string>>
  readonly status: () => Promise<DaemonStatus.DaemonStatus>
  readonly health: () => Promise<"starting" | "healthy" | "unhealthy" | undefined>
  readonly signal: (signal: "SIGTERM" | "SIGINT" | "SIGHUP") => Promise<void>
  readonly advance: (ms: number) => Promise<void>
  readonly waitFor: (event: string) => Promise<void>
  readonly stop: (signal?: "SIGTERM" | "SIGINT") => Promise<Ended>
  /** Ends the harness (and the daemon, if it still runs). */
  readonly dispose: () => Promise<void>
}

/**
 * Starts a daemon on a test clock of its own and returns Promise methods.
 * Takes the same options as {@link start}, `layer` included.
 *
 * @example
 * ```ts
 * import { TestHarness } from "@duende/testing"
 * import { expect, test } from "vitest"
 *
 * test("my worker stops gracefully", async () => {
 *   const harness = await TestHarness.startPromise({
 *     name: "worker",
 *     async run(ctx) {
 *       await ctx.untilShutdown()
 *     }
 *   })
 *   await harness.waitFor("READY")
 *   expect((await harness.stop()).code).toBe(143)
 *   await harness.dispose()
 * })
 * ```
 *
 * @since 0.1.0
 */
export const startPromise = async <E = unknown, R = never>(
  daemon: Daemon.Daemon<E, R> | PromiseDaemon.PromiseDaemon,
  ...options: StartArguments<R>
): Promise<PromiseHarness> => {
  const runtime = ManagedRuntime.make(TestContext.TestContext)
  const scope = await runtime.runPromise(Scope.make())
  const harness = await runtime.runPromise(Scope.extend(start(daemon, ...options), scope))
  // A Promise daemon works in real time between test-clock steps: give it turns of the event loop.
  const realTurn = () => new Promise<void>((resolve) => setImmediate(resolve))
  const run = <A, E>(effect: Effect.Effect<A, E>) => runtime.runPromise(effect)
  return {
    events: () => run(harness.events),
    log: () => run(harness.log),
    status: () => run(harness.status),
    health: () => run(harness.health),
    signal: (signal) => run(harness.signal(signal)),
    advance: async (ms) => {
      await run(harness.advance(Duration.millis(ms)))
      await realTurn()
    },
    waitFor: async (event) => {
      for (let i = 0; i < 200; i++) {
        const found = await run(Effect.map(harness.events, (list) => list.some((e) => e.event === event)))
        if (found) return
        await realTurn()
      }
      await run(harness.waitFor(event))
    },
    stop: async (signal) => {
      await run(harness.signal(signal ?? "SIGTERM"))
      // Let a Promise run() notice the stop and return, in real time.
      for (let i = 0; i < 50; i++) await realTurn()
      return run(harness.stop(signal))
    },
    dispose: async () => {
      await run(Scope.close(scope, Exit.void))
      await runtime.dispose()
    }
  }
}
