/**
 * The health loop: calls the daemon's health check every interval, bounded by
 * the timeout, counts consecutive failures (not during the start period until
 * the first success) and reports every failure and every change of state.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type { HealthCheck } from "../DaemonConfig.js"
import * as HealthStatus from "../HealthStatus.js"
import type { HealthReport } from "../PlatformRuntime.js"

export interface HealthLoopOptions {
  readonly check: Effect.Effect<HealthStatus.HealthStatus, unknown>
  readonly settings: HealthCheck
  readonly report: (report: HealthReport) => Effect.Effect<void>
  readonly current: Ref.Ref<HealthReport | undefined>
}

export const healthLoop = ({ check, current, report, settings }: HealthLoopOptions): Effect.Effect<never> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const startPeriod = Duration.toMillis(settings.startPeriod)
    let consecutiveFailures = 0
    let everHealthy = false
    let state: HealthReport["state"] = "starting"
    const timeoutText = Duration.format(settings.timeout)
    // A hung check must not stall the loop: disconnect it so the timeout returns at once.
    const bounded = check.pipe(
      Effect.disconnect,
      Effect.timeoutFail({ duration: settings.timeout, onTimeout: () => `timed out after ${timeoutText}` }),
      Effect.catchAllCause((cause) =>
        Effect.succeed(HealthStatus.unhealthy(
          Cause.isFailType(cause) && typeof cause.error === "string"
            ? cause.error
            : `check failed: ${Cause.pretty(cause).split("\n")[0]}`
        ))
      )
    )
    while (true) {
      yield* Effect.sleep(settings.interval)
      const before = yield* Clock.currentTimeMillis
      const status = yield* bounded
      const now = yield* Clock.currentTimeMillis
      const previous: HealthReport["state"] = state
      if (status.healthy) {
        consecutiveFailures = 0
        everHealthy = true
        state = "healthy"
      } else if (everHealthy || now - startedAt >= startPeriod) {
        consecutiveFailures++
        if (consecutiveFailures >= settings.retries) state = "unhealthy"
      }
      const result: HealthReport = { state, status, consecutiveFailures, latencyMs: now - before }
      yield* Ref.set(current, result)
      if (!status.healthy) {
        yield* Effect.logWarning(
          `health check failed${
            consecutiveFailures === 0 ? " (start period)" : ` (${consecutiveFailures}/${settings.retries})`
          }: ${HealthStatus.summary(status)}`
        )
      }
      if (state !== previous) {
        const line = `health: ${previous} → ${state}`
        yield* state === "unhealthy" ? Effect.logError(line) : Effect.log(line)
      }
      if (!status.healthy || state !== previous) yield* report(result)
    }
  })
