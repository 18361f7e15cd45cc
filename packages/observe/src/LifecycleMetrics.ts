/**
 * Lifecycle metrics of daemons: restarts, failed health checks, uptime and
 * circuit-breaker trips, as Effect metrics tagged `daemon=<name>`. A
 * supervisor records restarts and trips as it decides them; a daemon (or the
 * supervisor from the daemon's reports) records health failures.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/**
 * The metric names.
 *
 * @example
 * ```ts
 * import { LifecycleMetrics } from "@duende/observe"
 *
 * LifecycleMetrics.names.restarts // "duende_daemon_restarts_total"
 * ```
 *
 * @since 0.1.0
 */
export const names = {
  restarts: "duende_daemon_restarts_total",
  healthCheckFailures: "duende_health_check_failures_total",
  uptime: "duende_daemon_uptime_seconds",
  circuitBreakerTrips: "duende_circuit_breaker_trips_total"
} as const

/**
 * One daemon's lifecycle metrics.
 *
 * @since 0.1.0
 */
export interface LifecycleMetrics {
  readonly restarts: Metric.Metric.Counter<number>
  readonly healthCheckFailures: Metric.Metric.Counter<number>
  /** Seconds since the current run started; set it when you sample it. */
  readonly uptime: Metric.Metric.Gauge<number>
  readonly circuitBreakerTrips: Metric.Metric.Counter<number>
}

const restarts = Metric.counter(names.restarts, { description: "Restarts of the daemon.", incremental: true })
const healthCheckFailures = Metric.counter(names.healthCheckFailures, {
  description: "Health checks that failed or timed out.",
  incremental: true
})
const uptime = Metric.gauge(names.uptime, { description: "Seconds since the daemon's current run started." })
const circuitBreakerTrips = Metric.counter(names.circuitBreakerTrips, {
  description: "Times a circuit breaker of the daemon opened.",
  incremental: true
})

/**
 * The lifecycle metrics of one daemon. Its counters are registered at zero
 * right away, so Prometheus sees the series before the first restart.
 *
 * @example
 * ```ts
 * import { LifecycleMetrics } from "@duende/observe"
 * import { Effect, Metric } from "effect"
 *
 * const orders = LifecycleMetrics.forDaemon("orders")
 * const onRestart = Metric.increment(orders.restarts)
 * const onSample = (seconds: number) => Metric.set(orders.uptime, seconds)
 * ```
 *
 * @since 0.1.0
 */
export const forDaemon = (daemon: string): LifecycleMetrics => {
  const metrics = {
    restarts: Metric.tagged(restarts, "daemon", daemon),
    healthCheckFailures: Metric.tagged(healthCheckFailures, "daemon", daemon),
    uptime: Metric.tagged(uptime, "daemon", daemon),
    circuitBreakerTrips: Metric.tagged(circuitBreakerTrips, "daemon", daemon)
  }
  metrics.restarts.unsafeValue([])
  metrics.healthCheckFailures.unsafeValue([])
  metrics.circuitBreakerTrips.unsafeValue([])
  return metrics
}

/**
 * Counts a health check as failed when it fails, dies, or answers unhealthy
 * (`healthy: false`); the result passes through unchanged.
 *
 * @example
 * ```ts
 * import { HealthStatus } from "@duende/core"
 * import { LifecycleMetrics } from "@duende/observe"
 * import { Effect } from "effect"
 *
 * const check = Effect.succeed(HealthStatus.healthy()).pipe(LifecycleMetrics.trackHealth("orders"))
 * ```
 *
 * @since 0.1.0
 */
export const trackHealth = (daemon: string) => {
  const failures = forDaemon(daemon).healthCheckFailures
  return <A extends { readonly healthy: boolean }, E, R>(check: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.tapBoth(check, {
      onFailure: () => Metric.increment(failures),
      onSuccess: (status) => (status.healthy ? Effect.void : Metric.increment(failures))
    }).pipe(Effect.tapDefect(() => Metric.increment(failures)))
}
