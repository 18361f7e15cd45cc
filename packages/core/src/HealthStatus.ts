/**
 * The answer of a daemon's health check: healthy or not, with named checks.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * One named check ("database", "disk") and whether it passed.
 *
 * @since 0.1.0
 */
export interface HealthCheck {
  readonly name: string
  readonly passed: boolean
  readonly message?: string | undefined
}

/**
 * A health status. `healthy` is true exactly when every check passed.
 *
 * @since 0.1.0
 */
export class HealthStatus extends Data.Class<{
  readonly healthy: boolean
  readonly checks: ReadonlyArray<HealthCheck>
}> {}

/**
 * Healthy, optionally with passing checks listed.
 *
 * @example
 * ```ts
 * import { HealthStatus } from "@duende/core"
 *
 * const status = HealthStatus.healthy()
 * ```
 *
 * @since 0.1.0
 */
export const healthy = (...names: ReadonlyArray<string>): HealthStatus =>
  new HealthStatus({ healthy: true, checks: names.map((name) => ({ name, passed: true })) })

/**
 * Unhealthy with one failing check named "main".
 *
 * @example
 * ```ts
 * import { HealthStatus } from "@duende/core"
 *
 * const status = HealthStatus.unhealthy("database unreachable")
 * ```
 *
 * @since 0.1.0
 */
export const unhealthy = (message: string): HealthStatus =>
  new HealthStatus({ healthy: false, checks: [{ name: "main", passed: false, message }] })

/**
 * A status from named checks: healthy when all passed.
 *
 * @example
 * ```ts
 * import { HealthStatus } from "@duende/core"
 *
 * const status = HealthStatus.fromChecks([
 *   { name: "database", passed: true },
 *   { name: "queue", passed: false, message: "lag 40s" }
 * ])
 * status.healthy // false
 * ```
 *
 * @since 0.1.0
 */
export const fromChecks = (checks: ReadonlyArray<HealthCheck>): HealthStatus =>
  new HealthStatus({ healthy: checks.every((check) => check.passed), checks })

/**
 * The failing checks as one line: "queue: lag 40s; disk".
 *
 * @example
 * ```ts
 * import { HealthStatus } from "@duende/core"
 *
 * HealthStatus.summary(HealthStatus.unhealthy("timeout")) // "main: timeout"
 * ```
 *
 * @since 0.1.0
 */
export const summary = (status: HealthStatus): string => {
  const failing = status.checks.filter((check) => !check.passed)
  if (status.healthy) return "healthy"
  if (failing.length === 0) return "unhealthy"
  return failing.map((check) => (check.message ? `${check.name}: ${check.message}` : check.name)).join("; ")
}
