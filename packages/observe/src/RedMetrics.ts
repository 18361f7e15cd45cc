/**
 * RED metrics for a daemon: how many requests it handles (Rate), how many
 * fail (Errors) and how long they take (Duration). They are Effect metrics
 * (`effect/Metric`), tagged with the daemon's name, so they reach
 * OpenTelemetry through `@effect/opentelemetry` (see `@duende/observe/otel`)
 * and Prometheus through `MetricsRegistry` (`@duende/observe/manager`).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricState from "effect/MetricState"

/**
 * Histogram buckets for request durations in seconds (Prometheus' defaults,
 * 5 ms to 10 s).
 *
 * @example
 * ```ts
 * import { RedMetrics } from "@duende/observe"
 *
 * const slow = RedMetrics.make("reports", { buckets: [...RedMetrics.defaultBuckets, 30, 60] })
 * ```
 *
 * @since 0.1.0
 */
export const defaultBuckets: ReadonlyArray<number> = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * The metric names.
 *
 * @example
 * ```ts
 * import { RedMetrics } from "@duende/observe"
 *
 * RedMetrics.names.requests // "duende_requests_total"
 * ```
 *
 * @since 0.1.0
 */
export const names = {
  requests: "duende_requests_total",
  errors: "duende_request_errors_total",
  duration: "duende_request_duration_seconds"
} as const

/**
 * A daemon's RED metrics.
 *
 * @since 0.1.0
 */
export interface RedMetrics {
  /** Requests handled (counted when they end, whatever the outcome). */
  readonly requests: Metric.Metric.Counter<number>
  /** Requests that failed (an error or a defect; an interruption is not an error). */
  readonly errors: Metric.Metric.Counter<number>
  /** Request durations in seconds. */
  readonly duration: Metric.Metric<MetricKeyType.MetricKeyType.Histogram, number, MetricState.MetricState.Histogram>
  /** Counts `effect` as one request: its outcome and its duration (measured with Clock). */
  readonly track: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * The RED metrics of a daemon, tagged `daemon=<name>` plus any extra tags
 * (an operation, a route: keep their values few, each is a series).
 *
 * @example
 * ```ts
 * import { RedMetrics } from "@duende/observe"
 * import { Effect } from "effect"
 *
 * const red = RedMetrics.make("orders", { tags: { operation: "create" } })
 * const createOrder = Effect.succeed({ id: 1 }).pipe(red.track)
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  daemon: string,
  options?: { readonly tags?: Readonly<Record<string, string>>; readonly buckets?: ReadonlyArray<number> }
): RedMetrics => {
  const tags = { daemon, ...options?.tags }
  const requests = Metric.taggedWithLabels(
    Metric.counter(names.requests, { description: "Requests handled, whatever their outcome.", incremental: true }),
    labels(tags)
  )
  const errors = Metric.taggedWithLabels(
    Metric.counter(names.errors, { description: "Requests that failed.", incremental: true }),
    labels(tags)
  )
  const duration = Metric.taggedWithLabels(
    Metric.histogram(
      names.duration,
      MetricBoundaries.fromIterable(options?.buckets ?? defaultBuckets),
      "How long requests took, in seconds."
    ),
    labels(tags)
  )
  // Registered now, at zero: a series that appears only with the first error breaks rate() in Prometheus.
  requests.unsafeValue([])
  errors.unsafeValue([])
  duration.unsafeValue([])
  const track = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.clockWith((clock) => {
      const start = clock.unsafeCurrentTimeNanos()
      return Effect.onExit(effect, (exit) =>
        Effect.sync(() => {
          requests.unsafeUpdate(1, [])
          duration.unsafeUpdate(Number(clock.unsafeCurrentTimeNanos() - start) / 1e9, [])
          if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) errors.unsafeUpdate(1, [])
        }))
    })
  return { requests, errors, duration, track }
}

const labels = (tags: Readonly<Record<string, string>>): ReadonlyArray<MetricLabel.MetricLabel> =>
  Object.entries(tags).map(([key, value]) => MetricLabel.make(key, value))
