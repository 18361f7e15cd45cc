/**
 * When and how soon a daemon that ended is started again: the policy decides
 * whether, an Effect `Schedule` decides when (exponential backoff with a cap
 * and jitter, reset after a minimum uptime), and a crash-loop window stops a
 * daemon that keeps dying.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import type { Restart } from "./DaemonConfig.js"
import type { ExitInfo } from "./PlatformAdapter.js"

/**
 * Whether an exit is clean: exit 0, or stopped by SIGINT/SIGTERM (130, 143,
 * or those signals and SIGHUP/SIGPIPE), as systemd counts it — unless the
 * supervisor or the kernel ended it for a reason (`killedFor`: a watchdog
 * timeout, a memory limit), which is a failure whatever the code.
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@duende/core/manager"
 *
 * RestartPolicy.isCleanExit({ code: 143, signal: null, at: 0, description: "" }) // true
 * ```
 *
 * @since 0.1.0
 */
export const isCleanExit = (exit: Pick<ExitInfo, "code" | "signal" | "killedFor">): boolean =>
  exit.killedFor === undefined && (exit.code === 0 || exit.code === 130 || exit.code === 143 ||
  (exit.signal !== null && ["SIGHUP", "SIGINT", "SIGTERM", "SIGPIPE"].includes(exit.signal)))

/**
 * Whether the policy restarts a daemon after this exit. An exit the user asked
 * for (a stop) is never restarted.
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@duende/core/manager"
 *
 * const crash = { code: 1, signal: null, at: 0, description: "failed (exit 1)" }
 * RestartPolicy.shouldRestart("on-failure", crash, false) // true
 * RestartPolicy.shouldRestart("never", crash, false) // false
 * ```
 *
 * @since 0.1.0
 */
export const shouldRestart = (
  policy: Restart["policy"],
  exit: Pick<ExitInfo, "code" | "signal" | "killedFor">,
  requestedByUser: boolean
): boolean => {
  if (requestedByUser) return false
  switch (policy) {
    case "never":
      return false
    case "on-failure":
      return !isCleanExit(exit)
    case "always":
    case "unless-stopped":
      return true
  }
}

/**
 * The backoff between restarts: `initial × multiplier^n`, each delay varied by
 * ± `jitter` and capped at `max`. Jitter uses Effect's `Random`, so tests with
 * a seeded `Random` (or `TestRandom`) get the same delays every run.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { RestartPolicy } from "@duende/core/manager"
 * import { Duration } from "effect"
 *
 * const schedule = RestartPolicy.backoff({
 *   policy: "always",
 *   backoff: { initial: Duration.seconds(1), max: Duration.minutes(1), multiplier: 2, jitter: 0.2 },
 *   crashLoop: { burst: 5, interval: Duration.minutes(1) },
 *   minUptime: Duration.seconds(10)
 * })
 * ```
 *
 * @since 0.1.0
 */
export const backoff = (restart: Restart): Schedule.Schedule<Duration.Duration> => {
  const { initial, jitter, max, multiplier } = restart.backoff
  const exponential = Schedule.exponential(initial, multiplier)
  const jittered = jitter > 0 ? Schedule.jitteredWith(exponential, { min: 1 - jitter, max: 1 + jitter }) : exponential
  return Schedule.modifyDelay(jittered, (_, delay) => Duration.min(delay, max))
}

/**
 * The crash-loop window: restarts at the given times (ms) within
 * `crashLoop.interval` of `now`; more than `crashLoop.burst` of them is a loop.
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@duende/core/manager"
 * import { Duration } from "effect"
 *
 * const loop = RestartPolicy.crashLoop({ burst: 2, interval: Duration.seconds(60) }, [0, 1000, 2000], 2500)
 * // { looping: true, recent: [0, 1000, 2000] }
 * ```
 *
 * @since 0.1.0
 */
export const crashLoop = (
  limit: Restart["crashLoop"],
  restarts: ReadonlyArray<number>,
  now: number
): { readonly looping: boolean; readonly recent: ReadonlyArray<number> } => {
  const since = now - Duration.toMillis(limit.interval)
  const recent = restarts.filter((at) => at > since)
  return { looping: recent.length > limit.burst, recent }
}
