/**
 * The watchdog pinger: pings the manager every half of its watchdog timeout,
 * but only while the daemon is not unhealthy. The ping is driven by a timer on
 * the event loop, so a blocked loop stops the pings and the manager notices.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type { HealthReport } from "../PlatformRuntime.js"

export interface WatchdogOptions {
  readonly timeout: Duration.Duration
  readonly ping: Effect.Effect<void>
  readonly health: Ref.Ref<HealthReport | undefined>
}

export const watchdogLoop = ({ health, ping, timeout }: WatchdogOptions): Effect.Effect<never> =>
  Effect.gen(function*() {
    const period = Duration.toMillis(timeout) / 2
    let withheld = false
    yield* ping
    while (true) {
      const before = yield* Clock.currentTimeMillis
      yield* Effect.sleep(Duration.millis(period))
      const lag = (yield* Clock.currentTimeMillis) - before - period
      if (lag > period / 2) {
        yield* Effect.logWarning(
          `event loop was blocked for about ${Math.round(lag)}ms (watchdog timeout ${Duration.format(timeout)})`
        )
      }
      const report = yield* Ref.get(health)
      if (report?.state === "unhealthy") {
        if (!withheld) yield* Effect.logWarning("withholding watchdog pings while unhealthy")
        withheld = true
      } else {
        if (withheld) yield* Effect.log("healthy again: watchdog pings resume")
        withheld = false
        yield* ping
      }
    }
  })
