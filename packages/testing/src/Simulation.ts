/**
 * Virtual time for long simulations. The program runs on a controlled
 * scheduler and a virtual clock: `Effect.sleep`, `Clock`, `Schedule` and
 * timeouts all follow the virtual clock, which moves only when the program
 * calls {@link advance}, straight to the next sleeper each time. When no task
 * is left to run, everything is waiting for time; so a day of restarts, health
 * checks and deadlines costs only the work in it. `TestClock` does the same
 * for ordinary tests, but waits for fibers to settle with real timer turns;
 * use this for days and weeks of simulated time.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Random from "effect/Random"
import * as Scheduler from "effect/Scheduler"
import type * as Scope from "effect/Scope"

/**
 * The controls a simulated program has.
 *
 * @since 0.1.0
 */
export interface Simulation {
  /** Moves virtual time forward, running everything due on the way, in order. */
  readonly advance: (duration: Duration.DurationInput) => Effect.Effect<void>
  /** Virtual time in milliseconds (it starts at 0). */
  readonly now: Effect.Effect<number>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 */
export const Simulation: Context.Tag<Simulation, Simulation> = Context.GenericTag<Simulation>(
  "@duende/testing/Simulation"
)

/**
 * Moves virtual time forward (from inside a simulated program).
 *
 * @example
 * ```ts
 * import { Simulation } from "@duende/testing"
 * import { Effect } from "effect"
 *
 * const aDay = Simulation.advance("24 hours")
 * ```
 *
 * @since 0.1.0
 */
export const advance = (duration: Duration.DurationInput): Effect.Effect<void, never, Simulation> =>
  Effect.flatMap(Simulation, (simulation) => simulation.advance(duration))

interface Sleeper {
  readonly at: number
  readonly seq: number
  readonly wake: () => void
}

class VirtualClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  now = 0
  private seq = 0
  /** Sleepers by wake-up time, then by the order they went to sleep. */
  readonly sleepers: Array<Sleeper> = []

  unsafeCurrentTimeMillis(): number {
    return this.now
  }
  unsafeCurrentTimeNanos(): bigint {
    return BigInt(Math.round(this.now * 1_000_000))
  }
  currentTimeMillis = Effect.sync(() => this.now)
  currentTimeNanos = Effect.sync(() => this.unsafeCurrentTimeNanos())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const sleeper: Sleeper = { at: this.now + Duration.toMillis(duration), seq: this.seq++, wake: () => resume(Effect.void) }
      // insert in order (binary search on at, then seq)
      let low = 0
      let high = this.sleepers.length
      while (low < high) {
        const mid = (low + high) >>> 1
        const other = this.sleepers[mid]!
        if (other.at < sleeper.at || (other.at === sleeper.at && other.seq < sleeper.seq)) low = mid + 1
        else high = mid
      }
      this.sleepers.splice(low, 0, sleeper)
      return Effect.sync(() => {
        const index = this.sleepers.indexOf(sleeper)
        if (index >= 0) this.sleepers.splice(index, 1)
      })
    })
  }
}

/**
 * Options of {@link runPromise}.
 *
 * @since 0.1.0
 */
export interface RunOptions {
  /**
   * Seeds Effect's `Random` for the whole program (backoff jitter draws from
   * it), so that, with the virtual clock, a run replays exactly.
   */
  readonly seed?: number
}

/**
 * Runs a simulated program to its end and returns its result. Fails when the
 * program waits forever: it is blocked and has not asked for time to pass.
 *
 * @example
 * ```ts
 * import { Simulation } from "@duende/testing"
 * import { Effect } from "effect"
 *
 * const now = await Simulation.runPromise(
 *   Effect.gen(function*() {
 *     yield* Effect.fork(Effect.sleep("1 hour"))
 *     yield* Simulation.advance("2 hours")
 *     return yield* Effect.flatMap(Simulation.Simulation, (s) => s.now)
 *   }),
 *   { seed: 42 }
 * ) // 7_200_000
 * ```
 *
 * @since 0.1.0
 */
export const runPromise = async <A, E>(
  program: Effect.Effect<A, E, Simulation | Scope.Scope>,
  options: RunOptions = {}
): Promise<A> => {
  const scheduler = new Scheduler.ControlledScheduler()
  const clock = new VirtualClock()
  let target: { readonly at: number; readonly wake: () => void } | undefined
  const simulation: Simulation = {
    now: clock.currentTimeMillis,
    advance: (duration) =>
      Effect.async<void>((resume) => {
        target = { at: clock.now + Duration.toMillis(Duration.decode(duration)), wake: () => resume(Effect.void) }
      })
  }
  let result: Exit.Exit<A, E> | undefined
  const seeded = options.seed === undefined ? program : Effect.withRandom(program, Random.make(options.seed))
  const fiber = Effect.runFork(
    seeded.pipe(
      Effect.scoped,
      Effect.provideService(Simulation, simulation),
      Effect.withClock(clock),
      Effect.withScheduler(scheduler)
    )
  )
  fiber.addObserver((exit) => (result = exit))
  const drain = () => {
    while (scheduler.tasks.buckets.length > 0) scheduler.step()
  }
  // The program's last steps (leaving the scheduler's region) run on the default scheduler.
  const realTurn = () => new Promise<void>((resolve) => setImmediate(resolve))
  while (true) {
    drain()
    if (result !== undefined) break
    if (target === undefined) {
      for (let turn = 0; turn < 5 && result === undefined && target === undefined; turn++) {
        await realTurn()
        drain()
      }
      if (result !== undefined) break
      if (target === undefined) {
        throw new Error(
          `simulation stuck at ${clock.now}ms: every fiber waits and none asked for time to pass (${clock.sleepers.length} asleep)`
        )
      }
      continue
    }
    const next = clock.sleepers[0]
    if (next !== undefined && next.at <= target.at) {
      clock.sleepers.shift()
      clock.now = Math.max(clock.now, next.at)
      next.wake()
    } else {
      clock.now = target.at
      const wake = target.wake
      target = undefined
      wake()
    }
  }
  if (Exit.isSuccess(result)) return result.value
  throw new Error(`simulated program failed:\n${Cause.pretty(result.cause)}`)
}
