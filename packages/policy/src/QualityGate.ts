/**
 * A quality gate: named checks measure the work against thresholds (an error
 * rate at most 5 %, a queue's lag at most 30 s, a model's score on a probe set
 * at least 0.9), and when one fails the gate **stops the line**: the work it
 * guards is refused with a typed {@link LineStopped} that carries the
 * evidence (each failed check, its value and its threshold), and its
 * {@link QualityGate.health} entries name the failed check, so the daemon
 * reports itself degraded. This is *jidoka*, Toyota's "automation with a
 * human touch": a machine that detects a defect stops the line at once,
 * instead of passing the defect on, and someone looks at it.
 *
 * - `evaluate` measures every check now (concurrently). A measurement that
 *   fails or dies, or a value that is `NaN`, counts as a failed check, with
 *   the error's message as its evidence. Any failed check stops the gate.
 * - Mode `"auto"` (the default): the gate resumes at the first later
 *   evaluation in which every check passes.
 * - Mode `"manual"`: the gate resumes only through `clear`, an operator's
 *   action, which evaluates every check then and there and resumes only if
 *   all pass; otherwise it fails with {@link LineStopped} and the gate stays
 *   stopped (a refused clear is not remembered: clear again once it is
 *   fixed). Evaluations in between still refresh the evidence; once they pass
 *   the gate is stopped with `awaitingClear`, and the checks that stopped it
 *   stay failed in `health`, saying that the line waits for a clear.
 * - With an `interval`, a fiber of the gate's scope evaluates at once and
 *   then `interval` after each evaluation ends, on Effect's `Clock` (so
 *   `TestClock` drives it); closing the scope interrupts it.
 *
 * `guard` does not measure anything: it reads the gate's state, so it is
 * cheap enough for every call; work already under way when the line stops
 * runs to its end. Stops and resumptions are a `Stream` (`changes`), and the
 * gate's metrics (see {@link names}) go to `effect/Metric`, tagged
 * `policy=<name>` and, per check, `check=<check name>`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * How a check's value passes: `"atMost"` the threshold (an error rate, a
 * latency) or `"atLeast"` the threshold (free disk, a score). The threshold
 * itself passes.
 *
 * @since 0.1.0
 */
export type Compare = "atMost" | "atLeast"

/**
 * A named check: `measure` gives a number, which passes when it is `compare`
 * `threshold`.
 *
 * @example
 * ```ts
 * import type { QualityGate } from "@duende/policy"
 * import { Effect } from "effect"
 *
 * const errorRate: QualityGate.Check = {
 *   name: "error_rate",
 *   measure: Effect.succeed(0.01),
 *   threshold: 0.05,
 *   compare: "atMost",
 *   message: (value, threshold) => `${(value * 100).toFixed(1)} % of requests failed (limit ${threshold * 100} %)`
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface Check<R = never> {
  /** Names the check in evidence, health and metrics (a `check` tag): keep the names few and fixed. */
  readonly name: string
  readonly measure: Effect.Effect<number, unknown, R>
  readonly threshold: number
  readonly compare: Compare
  /** The evidence's message (default: "0.12 is above the maximum 0.05" and the like). */
  readonly message?: (value: number, threshold: number, passed: boolean) => string
}

/**
 * One check's result. `value` is `undefined` when the measurement failed
 * (then `message` is the error's message).
 *
 * @since 0.1.0
 */
export interface Evidence {
  /** The check's name. */
  readonly check: string
  readonly value: number | undefined
  readonly threshold: number
  readonly passed: boolean
  readonly message: string
  /** When the measurement ended (epoch ms, by the gate's Clock). */
  readonly at: number
}

/**
 * How a stopped gate resumes: by itself once the checks pass (`"auto"`), or
 * through an operator's `clear` (`"manual"`).
 *
 * @since 0.1.0
 */
export type Mode = "auto" | "manual"

/**
 * Where the gate is. A stopped gate has the failed evidence of the latest
 * evaluation that failed, and `awaitingClear` when (in manual mode) the latest
 * evaluation passed.
 *
 * @since 0.1.0
 */
export type State =
  | { readonly _tag: "Running" }
  | {
    readonly _tag: "Stopped"
    /** When it stopped (epoch ms). */
    readonly since: number
    readonly evidence: ReadonlyArray<Evidence>
    readonly awaitingClear: boolean
  }

/**
 * Work refused because the gate stopped the line, with the evidence.
 *
 * @example
 * ```ts
 * import { QualityGate } from "@duende/policy"
 *
 * new QualityGate.LineStopped({
 *   name: "ingest",
 *   since: 0,
 *   awaitingClear: false,
 *   evidence: [{ check: "error_rate", value: 0.12, threshold: 0.05, passed: false, message: "0.12 is above the maximum 0.05", at: 0 }]
 * }).message // 'quality gate "ingest" stopped the line: error_rate: 0.12 is above the maximum 0.05'
 * ```
 *
 * @since 0.1.0
 */
export class LineStopped extends Data.TaggedError("LineStopped")<{
  readonly name: string
  /** When the line stopped (epoch ms, by the gate's Clock). */
  readonly since: number
  /** The failed checks. */
  readonly evidence: ReadonlyArray<Evidence>
  /** The checks pass again, and the (manual) gate waits for an operator's `clear`. */
  readonly awaitingClear: boolean
}> {
  override get message(): string {
    const failed = this.evidence.map((evidence) => `${evidence.check}: ${evidence.message}`).join("; ")
    return `quality gate "${this.name}" stopped the line: ${failed}` +
      (this.awaitingClear ? " (the checks pass again; waiting for an operator's clear)" : "")
  }
}

/**
 * One entry of a daemon's health, the shape of `@duende/core`'s
 * `HealthCheck`, so `HealthStatus.fromChecks(yield* gate.health)` takes it.
 *
 * @since 0.1.0
 */
export interface HealthCheck {
  readonly name: string
  readonly passed: boolean
  readonly message?: string | undefined
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options<R = never> {
  /** For errors, metrics (the `policy` tag) and logs. */
  readonly name: string
  /** At least one; their names must differ. */
  readonly checks: ReadonlyArray<Check<R>>
  /** Evaluate at once and then this long after each evaluation ends (default: only when `evaluate` is called). */
  readonly interval?: Duration.DurationInput
  /** Default `"auto"`. */
  readonly mode?: Mode
}

/**
 * The metric names. All are tagged `policy=<gate name>`; the check metrics
 * also `check=<check name>`.
 *
 * @example
 * ```ts
 * import { QualityGate } from "@duende/policy"
 *
 * QualityGate.names.stopped // "duende_policy_gate_stopped"
 * ```
 *
 * @since 0.1.0
 */
export const names = {
  /** Gauge: 1 while the gate is stopped, 0 while it runs. */
  stopped: "duende_policy_gate_stopped",
  /** Counter: times the gate stopped the line. */
  stops: "duende_policy_gate_stops_total",
  /** Counter: calls `guard` refused. */
  refused: "duende_policy_gate_refused_total",
  /** Counter, per check: evaluations in which the check failed. */
  checkFailures: "duende_policy_gate_check_failures_total",
  /** Gauge, per check: the latest measured value (kept when a measurement fails). */
  checkValue: "duende_policy_gate_check_value"
} as const

const stoppedGauge = Metric.gauge(names.stopped, { description: "1 while the quality gate stops the line, 0 while it runs." })
const stopsCounter = Metric.counter(names.stops, { description: "Times the quality gate stopped the line.", incremental: true })
const refusedCounter = Metric.counter(names.refused, {
  description: "Calls the quality gate refused while the line was stopped.",
  incremental: true
})
const checkFailuresCounter = Metric.counter(names.checkFailures, {
  description: "Evaluations in which the quality gate's check failed.",
  incremental: true
})
const checkValueGauge = Metric.gauge(names.checkValue, { description: "The latest value the quality gate's check measured." })

/**
 * The metrics of the gates named `name` (see {@link metrics}).
 *
 * @since 0.1.0
 */
export interface Metrics {
  readonly stopped: Metric.Metric.Gauge<number>
  readonly stops: Metric.Metric.Counter<number>
  readonly refused: Metric.Metric.Counter<number>
  /** One check's failed evaluations. */
  readonly checkFailures: (check: string) => Metric.Metric.Counter<number>
  /** One check's latest value. */
  readonly checkValue: (check: string) => Metric.Metric.Gauge<number>
}

/**
 * The metrics of the gates named `name`, tagged `policy=<name>` (and `check`
 * for the per-check ones): to read them, or to chart them.
 *
 * @example
 * ```ts
 * import { QualityGate } from "@duende/policy"
 * import { Metric } from "effect"
 *
 * const stopped = Metric.value(QualityGate.metrics("ingest").stopped)
 * ```
 *
 * @since 0.1.0
 */
export const metrics = (name: string): Metrics => ({
  stopped: Metric.tagged(stoppedGauge, "policy", name),
  stops: Metric.tagged(stopsCounter, "policy", name),
  refused: Metric.tagged(refusedCounter, "policy", name),
  checkFailures: (check) => checkFailuresCounter.pipe(Metric.tagged("policy", name), Metric.tagged("check", check)),
  checkValue: (check) => checkValueGauge.pipe(Metric.tagged("policy", name), Metric.tagged("check", check))
})

/**
 * A gate.
 *
 * @since 0.1.0
 */
export interface QualityGate {
  readonly name: string
  readonly mode: Mode
  /** Measures every check now and moves the gate accordingly; the evidence in the order of the checks. */
  readonly evaluate: Effect.Effect<ReadonlyArray<Evidence>>
  /** Runs `effect` while the line runs; `LineStopped` at once, without running it, while it is stopped. */
  readonly guard: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LineStopped, R>
  /** An operator's clear: evaluates now and resumes if every check passes (in either mode); `LineStopped` otherwise. */
  readonly clear: Effect.Effect<void, LineStopped>
  readonly state: Effect.Effect<State>
  /** One entry per check, from its latest evidence ("not evaluated yet" passes). */
  readonly health: Effect.Effect<ReadonlyArray<HealthCheck>>
  /** Subscribes now (for the scope's life): the stream has every stop and resumption from here on. */
  readonly changes: Effect.Effect<Stream.Stream<State>, never, Scope.Scope>
}

/**
 * The gate as a service.
 *
 * @example
 * ```ts
 * import { QualityGate } from "@duende/policy"
 * import { Effect } from "effect"
 *
 * const ingest = (batch: ReadonlyArray<string>) =>
 *   Effect.flatMap(QualityGate.QualityGate, (gate) => gate.guard(Effect.succeed(batch.length)))
 * ```
 *
 * @since 0.1.0
 */
export const QualityGate: Context.Tag<QualityGate, QualityGate> = Context.GenericTag<QualityGate>(
  "@duende/policy/QualityGate"
)

const running: State = { _tag: "Running" }

const passes = (value: number, threshold: number, compare: Compare) =>
  compare === "atMost" ? value <= threshold : value >= threshold

const describe = (value: number, threshold: number, compare: Compare, passed: boolean) => {
  if (Number.isNaN(value)) return "measured NaN, which passes no threshold"
  if (compare === "atMost") return passed ? `${value} is at most ${threshold}` : `${value} is above the maximum ${threshold}`
  return passed ? `${value} is at least ${threshold}` : `${value} is below the minimum ${threshold}`
}

/** The error's message, for evidence: an Error's message, a tagged error's tag, or the value as a string. */
const reason = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (error instanceof Error && error.message !== "") return error.message
  if (typeof error === "object" && error !== null && "_tag" in error) return String(error._tag)
  return String(error)
}

const validate = (options: Options<unknown>): void => {
  const where = `QualityGate "${options.name}"`
  if (options.checks.length === 0) throw new RangeError(`${where}: checks must hold at least one check`)
  const seen = new Set<string>()
  for (const check of options.checks) {
    if (check.name === "") throw new RangeError(`${where}: a check's name must not be empty`)
    if (seen.has(check.name)) throw new RangeError(`${where}: check names must differ, "${check.name}" is twice`)
    seen.add(check.name)
    if (Number.isNaN(check.threshold)) throw new RangeError(`${where}: threshold of check "${check.name}" is NaN`)
  }
  if (options.interval !== undefined && !Duration.greaterThan(Duration.decode(options.interval), Duration.zero)) {
    throw new RangeError(`${where}: interval must be a positive duration`)
  }
}

/**
 * Makes a gate for the life of the scope (which also holds its periodic
 * evaluation, with an `interval`). Bad options (no checks, a check name twice,
 * a `NaN` threshold, an interval that is not positive) are a `RangeError`
 * defect.
 *
 * @example
 * ```ts
 * import { QualityGate } from "@duende/policy"
 * import { Effect, Schedule } from "effect"
 *
 * let failed = 0
 * let handled = 0
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const gate = yield* QualityGate.make({
 *       name: "ingest",
 *       interval: "10 seconds",
 *       checks: [
 *         { name: "error_rate", measure: Effect.sync(() => failed / Math.max(1, handled)), threshold: 0.05, compare: "atMost" }
 *       ]
 *     })
 *     // Refused with the evidence while stopped; retried until the line runs again.
 *     return yield* gate.guard(Effect.sync(() => ++handled)).pipe(
 *       Effect.retry({ while: (error) => error._tag === "LineStopped", schedule: Schedule.spaced("10 seconds") })
 *     )
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = <R = never>(options: Options<R>): Effect.Effect<QualityGate, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    yield* Effect.sync(() => validate(options))
    const context = yield* Effect.context<R>()
    const mode = options.mode ?? "auto"
    const changes = yield* Effect.acquireRelease(PubSub.unbounded<State>(), PubSub.shutdown)
    const lock = yield* Effect.makeSemaphore(1)
    const stopped = Metric.tagged(stoppedGauge, "policy", options.name)
    const stops = Metric.tagged(stopsCounter, "policy", options.name)
    const refused = Metric.tagged(refusedCounter, "policy", options.name)
    const checks = options.checks.map((check) => ({
      check,
      failures: Metric.tagged(Metric.tagged(checkFailuresCounter, "policy", options.name), "check", check.name),
      value: Metric.tagged(Metric.tagged(checkValueGauge, "policy", options.name), "check", check.name)
    }))
    // Registered now, at zero: a series that appears only with the first stop breaks rate() in Prometheus.
    stopped.unsafeUpdate(0, [])
    stops.unsafeValue([])
    refused.unsafeValue([])
    for (const { failures } of checks) failures.unsafeValue([])
    let state: State = running
    const latest = new Map<string, Evidence>()

    const moveTo = (next: State) =>
      Effect.suspend(() => {
        state = next
        stopped.unsafeUpdate(next._tag === "Stopped" ? 1 : 0, [])
        if (next._tag === "Stopped") stops.unsafeUpdate(1, [])
        return PubSub.publish(changes, next)
      })

    const measure = ({ check, failures, value }: (typeof checks)[number]): Effect.Effect<Evidence> =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Effect.flatMap(Effect.provide(check.measure, context), (measured) =>
          Effect.sync(() => {
            const passed = passes(measured, check.threshold, check.compare)
            const message = check.message?.(measured, check.threshold, passed) ??
              describe(measured, check.threshold, check.compare, passed)
            return { value: measured, passed, message }
          })))
        const at = yield* Clock.currentTimeMillis
        const evidence: Evidence = Exit.isSuccess(exit)
          ? { check: check.name, threshold: check.threshold, at, ...exit.value }
          : {
            check: check.name,
            value: undefined,
            threshold: check.threshold,
            passed: false,
            message: `could not be measured: ${reason(exit.cause)}`,
            at
          }
        if (evidence.value !== undefined) value.unsafeUpdate(evidence.value, [])
        if (!evidence.passed) failures.unsafeUpdate(1, [])
        return evidence
      })

    /** One evaluation, and the state it left; `operator` when it is a clear, which may resume a manual gate. */
    const evaluateAs = (operator: boolean): Effect.Effect<{ readonly evidence: ReadonlyArray<Evidence>; readonly state: State }> =>
      lock.withPermits(1)(Effect.gen(function*() {
        const evidence = yield* Effect.forEach(checks, measure, { concurrency: "unbounded" })
        const now = yield* Clock.currentTimeMillis
        for (const one of evidence) latest.set(one.check, one)
        const failed = evidence.filter((one) => !one.passed)
        if (failed.length > 0) {
          if (state._tag === "Running") yield* moveTo({ _tag: "Stopped", since: now, evidence: failed, awaitingClear: false })
          else state = { ...state, evidence: failed, awaitingClear: false }
        } else if (state._tag === "Stopped") {
          if (mode === "auto" || operator) yield* moveTo(running)
          else state = { ...state, awaitingClear: true }
        }
        return { evidence, state }
      }))

    const refusal = (stoppedState: Extract<State, { _tag: "Stopped" }>) =>
      new LineStopped({
        name: options.name,
        since: stoppedState.since,
        evidence: stoppedState.evidence,
        awaitingClear: stoppedState.awaitingClear
      })

    const guard = <A, E, R2>(effect: Effect.Effect<A, E, R2>): Effect.Effect<A, E | LineStopped, R2> =>
      Effect.suspend((): Effect.Effect<A, E | LineStopped, R2> => {
        if (state._tag === "Running") return effect
        refused.unsafeUpdate(1, [])
        return Effect.fail(refusal(state))
      })

    const health = Effect.sync(() =>
      options.checks.map((check): HealthCheck => {
        const last = latest.get(check.name)
        if (last === undefined) return { name: check.name, passed: true, message: "not evaluated yet" }
        const stoppedOn = state._tag === "Stopped" && state.awaitingClear
          ? state.evidence.find((one) => one.check === check.name)
          : undefined
        if (stoppedOn !== undefined) {
          return {
            name: check.name,
            passed: false,
            message: `stopped the line (${stoppedOn.message}); passes now (${last.message}), waiting for an operator's clear`
          }
        }
        return { name: check.name, passed: last.passed, message: last.message }
      })
    )

    if (options.interval !== undefined) {
      yield* Effect.forkScoped(Effect.repeat(evaluateAs(false), Schedule.spaced(options.interval)))
    }

    return {
      name: options.name,
      mode,
      evaluate: Effect.map(evaluateAs(false), (result) => result.evidence),
      guard,
      clear: Effect.flatMap(evaluateAs(true), (result) =>
        result.state._tag === "Stopped" ? Effect.fail(refusal(result.state)) : Effect.void),
      state: Effect.sync(() => state),
      health,
      changes: Effect.map(PubSub.subscribe(changes), Stream.fromQueue)
    }
  })

/**
 * The gate as a layer (its periodic evaluation lives as long as the layer).
 *
 * @example
 * ```ts
 * import { QualityGate } from "@duende/policy"
 * import { Effect } from "effect"
 *
 * const gate = QualityGate.layer({
 *   name: "ingest",
 *   interval: "30 seconds",
 *   mode: "manual",
 *   checks: [{ name: "queue_lag_seconds", measure: Effect.succeed(3), threshold: 30, compare: "atMost" }]
 * })
 * ```
 *
 * @since 0.1.0
 */
export const layer = <R = never>(options: Options<R>): Layer.Layer<QualityGate, never, R> =>
  Layer.scoped(QualityGate, make(options))

/**
 * A check of {@link promise}: `measure` returns the value or a promise of it.
 *
 * @since 0.1.0
 */
export interface PromiseCheck extends Omit<Check, "measure"> {
  readonly measure: () => number | PromiseLike<number>
}

/**
 * Options of {@link promise}.
 *
 * @since 0.1.0
 */
export interface PromiseOptions extends Omit<Options, "checks"> {
  readonly checks: ReadonlyArray<PromiseCheck>
}

/** Runs `effect`, rejecting with its error (or defect) itself rather than a FiberFailure. */
const run = async <A, E>(effect: Effect.Effect<A, E>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

/**
 * A gate for code that is not written with Effect, on the real clock:
 * `guard` takes a function returning a promise and rejects with its error, or
 * with a {@link LineStopped} while the line is stopped. With an `interval`
 * its timer keeps the process alive until `close`.
 *
 * @example
 * ```ts
 * import { QualityGate } from "@duende/policy"
 *
 * let failed = 0
 * let handled = 0
 * const gate = QualityGate.promise({
 *   name: "ingest",
 *   interval: "10 seconds",
 *   checks: [{ name: "error_rate", measure: () => failed / Math.max(1, handled), threshold: 0.05, compare: "atMost" }]
 * })
 * const response = await gate.guard(() => fetch("http://127.0.0.1:9000/ingest"))
 * await gate.close()
 * ```
 *
 * @since 0.1.0
 */
export const promise = (options: PromiseOptions): {
  readonly evaluate: () => Promise<ReadonlyArray<Evidence>>
  readonly guard: <A>(call: () => PromiseLike<A>) => Promise<A>
  readonly clear: () => Promise<void>
  readonly state: () => State
  readonly health: () => ReadonlyArray<HealthCheck>
  /** Stops the periodic evaluation. */
  readonly close: () => Promise<void>
} => {
  const scope = Effect.runSync(Scope.make())
  const made = Effect.runSyncExit(Scope.extend(
    make({
      ...options,
      checks: options.checks.map((check) => ({
        ...check,
        measure: Effect.tryPromise({ try: async () => check.measure(), catch: (error) => error })
      }))
    }),
    scope
  ))
  if (Exit.isFailure(made)) throw Cause.squash(made.cause)
  const gate = made.value
  return {
    evaluate: () => run(gate.evaluate),
    guard: <A>(call: () => PromiseLike<A>) =>
      run(gate.guard(Effect.tryPromise({ try: async () => call(), catch: (error) => error }))),
    clear: () => run(gate.clear),
    state: () => Effect.runSync(gate.state),
    health: () => Effect.runSync(gate.health),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
