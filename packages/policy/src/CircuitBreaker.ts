/**
 * A circuit breaker for calls to something that can fail (a database, an API):
 * after enough failures it **opens** and fails calls at once with a typed
 * {@link BreakerOpen} instead of waiting on a dependency that is down; after a
 * cooldown it lets a **half-open** trial through; trials that succeed close
 * it, a trial that fails opens it again, for the next, longer cooldown.
 *
 * - Closed → Open: `failures` failed calls within `window`, or a failure
 *   `ratio` of the calls within `window` once at least `minimumCalls` were made.
 * - Open → HalfOpen: when the cooldown has passed, at the next call. The
 *   cooldown is a `Schedule`: the n-th opening in a row waits the schedule's
 *   n-th delay (`Schedule.exponential("1 second")` backs off; default 5 s).
 * - HalfOpen: one trial call at a time (others fail fast); `halfOpenSuccesses`
 *   successes close it (and forget the window and the openings), any failure
 *   reopens it.
 *
 * Time is Effect's `Clock` (the one of the fiber that makes the breaker, read
 * synchronously), so the breaker is deterministic under `TestClock`. Its state
 * is plain fields behind the service: a call costs no more than a check before
 * it and a handler after it, and the Promise facade runs no Effect per call.
 * An interrupted call counts neither way; which failures count is `isFailure`'s
 * choice (defects always count). State changes are a `Stream` (`changes`)
 * and metrics tagged `policy=<name>` (see {@link names}), which
 * `@duende/observe`'s registry exports with every other Effect metric.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type Admission, CALL, FAILURE, IGNORED, makeCore, SUCCESS, TRIAL } from "./internal/breakerCore.js"
import { withoutStack } from "./internal/withoutStack.js"

/**
 * Where the breaker is. `opens` counts the openings in a row (it picks the cooldown).
 *
 * @since 0.1.0
 */
export type State =
  | { readonly _tag: "Closed" }
  | { readonly _tag: "Open"; readonly openedAt: number; readonly retryAt: number; readonly opens: number }
  | { readonly _tag: "HalfOpen"; readonly opens: number }

/**
 * A call refused because the breaker is open (or half-open with its trial under way).
 * The breaker makes a new one for each refusal, without a stack trace (its
 * message names the breaker and when it lets a trial through; the stack would
 * be the breaker's own frames, and capturing it cost more than the rest of the
 * refusal).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@duende/policy"
 *
 * new CircuitBreaker.BreakerOpen({ name: "db", retryAt: 0 }).message // 'circuit breaker "db" is open: …'
 * ```
 *
 * @since 0.1.0
 */
export class BreakerOpen extends Data.TaggedError("BreakerOpen")<{
  readonly name: string
  /** When a trial call will be let through (epoch ms, by the breaker's Clock). */
  readonly retryAt: number
}> {
  override get message(): string {
    return `circuit breaker "${this.name}" is open: calls fail fast until ${new Date(this.retryAt).toISOString()}`
  }
}

/**
 * When the breaker opens: a count of failures, or a ratio of the calls.
 *
 * @since 0.1.0
 */
export type Threshold =
  | { readonly failures: number }
  | { readonly ratio: number; readonly minimumCalls: number }

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options<E = unknown> {
  /** For errors, metrics and logs. */
  readonly name: string
  readonly threshold: Threshold
  /**
   * The window the threshold counts in (default 10 seconds). It is kept in at
   * most 1,001 slices of `window / 1000` (1 ms for windows up to 1 second), so
   * its memory is bounded whatever the number of calls; a call leaves the
   * window up to one slice early, never late.
   */
  readonly window?: Duration.DurationInput
  /** The cooldown before a trial: the n-th delay for the n-th opening in a row (default 5 seconds, always). */
  readonly cooldown?: Schedule.Schedule<unknown, unknown>
  /** Successful trials that close it (default 1). */
  readonly halfOpenSuccesses?: number
  /** Whether a failure counts (default: every one). Defects always count; interruptions never. */
  readonly isFailure?: (error: E) => boolean
}

/**
 * A breaker.
 *
 * @since 0.1.0
 */
export interface CircuitBreaker<E = unknown> {
  readonly name: string
  /** Runs `effect` if the breaker admits it; `BreakerOpen` at once otherwise. */
  readonly execute: <A, E2 extends E, R>(effect: Effect.Effect<A, E2, R>) => Effect.Effect<A, E2 | BreakerOpen, R>
  readonly state: Effect.Effect<State>
  /** Subscribes now (for the scope's life): the stream has every change of state from here on. */
  readonly changes: Effect.Effect<Stream.Stream<State>, never, Scope.Scope>
}

/**
 * The service tag of a breaker, for a daemon that has one; with several, give
 * each its own tag: `class Payments extends Context.Tag("Payments")<Payments,
 * CircuitBreaker.CircuitBreaker>() {}` and `Layer.effect(Payments, CircuitBreaker.make(…))`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@duende/policy"
 * import { Effect } from "effect"
 *
 * const guarded = Effect.flatMap(CircuitBreaker.CircuitBreaker, (breaker) => breaker.execute(Effect.succeed("ok")))
 * ```
 *
 * @since 0.1.0
 */
export const CircuitBreaker: Context.Tag<CircuitBreaker, CircuitBreaker> = Context.GenericTag<CircuitBreaker>(
  "@duende/policy/CircuitBreaker"
)

/**
 * The metric names, each tagged `policy=<name>`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@duende/policy"
 *
 * CircuitBreaker.names.state // "duende_policy_breaker_state"
 * ```
 *
 * @since 0.1.0
 */
export const names = {
  /** 0 closed, 1 half-open, 2 open. */
  state: "duende_policy_breaker_state",
  opens: "duende_policy_breaker_opens_total",
  rejected: "duende_policy_breaker_rejected_total"
} as const

/**
 * The metrics of the breakers named `name`.
 *
 * @since 0.1.0
 */
export interface Metrics {
  readonly state: Metric.Metric.Gauge<number>
  readonly opens: Metric.Metric.Counter<number>
  readonly rejected: Metric.Metric.Counter<number>
}

const stateGauge = Metric.gauge(names.state, { description: "Where a circuit breaker is: 0 closed, 1 half-open, 2 open." })
const opensCounter = Metric.counter(names.opens, { description: "Times a circuit breaker opened.", incremental: true })
const rejectedCounter = Metric.counter(names.rejected, {
  description: "Calls a circuit breaker refused at once (open, or half-open with its trial under way).",
  incremental: true
})

/**
 * The metrics of the breakers named `name`, tagged `policy=<name>`: to read them, or to chart them.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@duende/policy"
 * import { Effect, Metric } from "effect"
 *
 * const refused = Effect.map(Metric.value(CircuitBreaker.metrics("payments").rejected), (state) => state.count)
 * ```
 *
 * @since 0.1.0
 */
export const metrics = (name: string): Metrics => ({
  state: Metric.tagged(stateGauge, "policy", name),
  opens: Metric.tagged(opensCounter, "policy", name),
  rejected: Metric.tagged(rejectedCounter, "policy", name)
})

const stateValue: Record<State["_tag"], number> = { Closed: 0, HalfOpen: 1, Open: 2 }

/** The cooldown of the n-th opening in a row: the schedule's n-th delay (its last one once it has ended). */
const cooldownOf = (schedule: Schedule.Schedule<unknown, unknown>, opens: number, now: number) =>
  Effect.map(
    Schedule.run(Schedule.delays(schedule), now, Array.from({ length: opens }, () => undefined)),
    (delays) => Duration.toMillis(Chunk.last(delays).pipe((last) => (last._tag === "Some" ? last.value : Duration.seconds(5))))
  )

// A refusal is a new BreakerOpen each time, made without a stack trace (its name and retryAt say it all).
const refusal = (name: string, retryAt: number): BreakerOpen => withoutStack(() => new BreakerOpen({ name, retryAt }))

/** What `make` and `promise` share: the breaker and its synchronous core. */
const build = <E>(options: Options<E>) =>
  Effect.gen(function*() {
    const name = options.name
    const windowMs = Duration.toMillis(Duration.decode(options.window ?? Duration.seconds(10)))
    const schedule = options.cooldown ?? Schedule.spaced(Duration.seconds(5))
    const isFailure = options.isFailure
    const counts = (cause: Cause.Cause<E>) =>
      !Cause.isInterruptedOnly(cause) &&
      (Cause.isDie(cause) || (isFailure === undefined ? Cause.isFailure(cause) : Chunk.some(Cause.failures(cause), isFailure)))
    const changes = yield* PubSub.unbounded<State>()
    // The clock and the services (Random, for a jittered cooldown) of the fiber that makes the
    // breaker: a call reads the time synchronously, and an opening runs the schedule synchronously.
    const clock = yield* Effect.clock
    const runSync = Runtime.runSync(yield* Effect.runtime<never>())
    // One constant tags array: Effect caches a metric's hook per array, so an update is a lookup, not a hash.
    const tags = [MetricLabel.make("policy", name)]
    stateGauge.unsafeUpdate(0, tags)
    opensCounter.unsafeUpdate(0, tags)
    rejectedCounter.unsafeUpdate(0, tags)

    const core = makeCore<BreakerOpen>({
      threshold: options.threshold,
      windowMs,
      successesToClose: Math.max(1, options.halfOpenSuccesses ?? 1),
      now: () => clock.unsafeCurrentTimeMillis(),
      cooldown: (opens, now) => runSync(cooldownOf(schedule, opens, now)),
      onChange: (next) => {
        stateGauge.unsafeUpdate(stateValue[next._tag], tags)
        if (next._tag === "Open") opensCounter.unsafeUpdate(1, tags)
        changes.unsafeOffer(next)
      },
      refuse: (retryAt) => {
        rejectedCounter.unsafeUpdate(1, tags)
        return refusal(name, retryAt)
      }
    })

    const settled = (as: Admission) => ({
      onFailure: (cause: Cause.Cause<E>) => {
        core.settle(as, counts(cause) ? FAILURE : IGNORED)
        return Effect.failCause(cause)
      },
      onSuccess: (value: unknown) => {
        core.settle(as, SUCCESS)
        return Effect.succeed(value)
      }
    })
    const call = settled(CALL)
    const trial = settled(TRIAL)

    const execute = <A, E2 extends E, R>(effect: Effect.Effect<A, E2, R>): Effect.Effect<A, E2 | BreakerOpen, R> =>
      Effect.suspend((): Effect.Effect<A, E2 | BreakerOpen, R> => {
        // Closed, the call needs no mask: a call that is interrupted counts neither way, so nothing
        // is lost when its handler is skipped; and with a count of failures a success counts for
        // nothing, so only a failure has a handler.
        if (core.state()._tag === "Closed") {
          // The handlers give back the call's own value or cause: the cast only restores its types.
          return (core.countsSuccesses
            ? Effect.matchCauseEffect(effect, call)
            : Effect.catchAllCause(effect, call.onFailure)) as Effect.Effect<A, E2, R>
        }
        const refused = core.refusal()
        if (refused !== undefined) return Effect.fail(refused)
        // Uninterruptible from admission to settling, but for the call itself: an interrupted trial is released.
        return Effect.uninterruptibleMask((restore): Effect.Effect<A, E2 | BreakerOpen, R> => {
          const as = core.acquire()
          if (as !== CALL && as !== TRIAL) return Effect.fail(as)
          return Effect.matchCauseEffect(restore(effect), as === CALL ? call : trial) as Effect.Effect<A, E2, R>
        })
      })

    const breaker: CircuitBreaker<E> = {
      name,
      execute,
      state: Effect.sync(core.state),
      changes: Effect.map(PubSub.subscribe(changes), Stream.fromQueue)
    }
    return { breaker, core }
  })

/**
 * Makes a breaker. Its time is the `Clock` of the fiber that makes it (read
 * once when a call is admitted and once when it ends), so under `TestClock` a
 * breaker made in the test follows `TestClock.adjust`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@duende/policy"
 * import { Effect, Schedule } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({
 *     name: "payments",
 *     threshold: { failures: 5 },
 *     window: "30 seconds",
 *     cooldown: Schedule.exponential("1 second")
 *   })
 *   const charge = Effect.tryPromise(() => fetch("http://127.0.0.1:9000/charge"))
 *   return yield* breaker.execute(charge) // BreakerOpen at once while payments is down
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = <E = unknown>(options: Options<E>): Effect.Effect<CircuitBreaker<E>> =>
  Effect.map(build(options), (built) => built.breaker)

/**
 * A breaker as a layer of {@link CircuitBreaker}.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@duende/policy"
 *
 * const BreakerLive = CircuitBreaker.layer({ name: "payments", threshold: { failures: 5 } })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<CircuitBreaker> => Layer.effect(CircuitBreaker, make(options))

/**
 * A breaker for code that is not written with Effect: `execute` takes a
 * function returning a promise and rejects with its error (a synchronous throw
 * of the function counts as its rejection), or with a {@link BreakerOpen} when
 * the breaker refuses the call, in which case the function is not called. The
 * real clock. It runs no Effect per call: the same state machine as
 * {@link make}'s, called around the promise.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@duende/policy"
 *
 * const breaker = CircuitBreaker.promise({ name: "payments", threshold: { failures: 5 } })
 * const response = await breaker.execute(() => fetch("http://127.0.0.1:9000/charge"))
 * ```
 *
 * @since 0.1.0
 */
export const promise = (options: Options<unknown>): {
  readonly execute: <A>(call: () => Promise<A>) => Promise<A>
  readonly state: () => State
} => {
  const { core } = Effect.runSync(build(options))
  const isFailure = options.isFailure
  // The settling handlers of a call and of a trial, made once.
  const handlers = (as: Admission) => {
    const failed = (error: unknown) => core.settle(as, isFailure === undefined || isFailure(error) ? FAILURE : IGNORED)
    return {
      failed,
      fulfilled: (value: unknown) => {
        core.settle(as, SUCCESS)
        return value
      },
      rejected: (error: unknown): never => {
        failed(error)
        throw error
      }
    }
  }
  const settlers = [handlers(CALL), handlers(TRIAL)] as const
  return {
    execute: <A>(call: () => Promise<A>): Promise<A> => {
      const as = core.acquire()
      if (as !== CALL && as !== TRIAL) return Promise.reject(as)
      const settle = settlers[as]
      let pending: Promise<A>
      try {
        pending = Promise.resolve(call())
      } catch (error) {
        settle.failed(error)
        return Promise.reject(error)
      }
      return pending.then(settle.fulfilled as (value: A) => A, settle.rejected)
    },
    state: core.state
  }
}
