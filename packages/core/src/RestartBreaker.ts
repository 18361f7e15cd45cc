/**
 * The manager's restart circuit breaker, beside each daemon's own crash-loop
 * limit: when many daemons crash at once (a database they all need is down),
 * restarting each of them on its own backoff is a storm that helps nobody.
 * The breaker watches the crashes of every daemon together:
 *
 * - **Closed**: restarts follow each daemon's backoff.
 * - **Open**: `crashes` crashes of at least `daemons` different daemons within
 *   `window` open it; every restart is then held until the cooldown (the n-th
 *   opening in a row waits `cooldown × 2^(n-1)`, at most `maxCooldown`).
 * - **HalfOpen**: after the cooldown, one held daemon is restarted as a trial;
 *   the others stay held. If nothing crashes for `probe` after the trial
 *   began, the breaker closes and the held restarts go ahead; any crash in
 *   the meantime opens it again, for a longer cooldown.
 *
 * One daemon crashing alone never opens it (that is its crash-loop limit's
 * job). The state machine is pure — times are passed in — so the manager
 * drives it with Effect's `Clock` and tests drive it with numbers.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * Options; every field has a default.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Crashes within `window` that open it (default 10). */
  readonly crashes?: number
  /** …of at least this many different daemons (default 3). */
  readonly daemons?: number
  /** Default 10 seconds. */
  readonly window?: Duration.DurationInput
  /** The first cooldown (default 5 seconds); doubles with each opening in a row. */
  readonly cooldown?: Duration.DurationInput
  /** Default 1 minute. */
  readonly maxCooldown?: Duration.DurationInput
  /** How long a trial restart must go without any crash to close it (default 5 seconds). */
  readonly probe?: Duration.DurationInput
}

/**
 * Where the breaker is.
 *
 * @since 0.1.0
 */
export type State =
  | { readonly _tag: "Closed" }
  | { readonly _tag: "Open"; readonly retryAt: number; readonly opens: number; readonly reason: string }
  | { readonly _tag: "HalfOpen"; readonly trial: string; readonly since: number; readonly opens: number; readonly reason: string }

/**
 * What a restart may do now: go, or wait until `until` (epoch ms), and why.
 *
 * @since 0.1.0
 */
export type Decision =
  | { readonly _tag: "Go" }
  | { readonly _tag: "Wait"; readonly until: number; readonly reason: string }

/**
 * A breaker.
 *
 * @since 0.1.0
 */
export interface RestartBreaker {
  /** A daemon crashed (and will be restarted): returns the new state if the crash changed it. */
  readonly crashed: (name: string, now: number) => State | undefined
  /** Whether the restart of `name` may begin now. */
  readonly admit: (name: string, now: number) => Decision
  readonly state: () => State
}

/**
 * Makes a breaker.
 *
 * @example
 * ```ts
 * import { RestartBreaker } from "@duende/core/manager"
 *
 * const breaker = RestartBreaker.make({ crashes: 3, daemons: 3, window: "10 seconds", cooldown: "5 seconds" })
 * breaker.crashed("a", 0)
 * breaker.crashed("b", 100)
 * breaker.crashed("c", 200) // opens: { _tag: "Open", retryAt: 5200, … }
 * breaker.admit("a", 1000) // { _tag: "Wait", until: 5200, reason: "restart circuit open: …" }
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): RestartBreaker => {
  const threshold = Math.max(1, options.crashes ?? 10)
  const distinct = Math.max(1, options.daemons ?? 3)
  const windowMs = Duration.toMillis(Duration.decode(options.window ?? "10 seconds"))
  const cooldownMs = Duration.toMillis(Duration.decode(options.cooldown ?? "5 seconds"))
  const maxCooldownMs = Duration.toMillis(Duration.decode(options.maxCooldown ?? "1 minute"))
  const probeMs = Duration.toMillis(Duration.decode(options.probe ?? "5 seconds"))
  let state: State = { _tag: "Closed" }
  let recent: Array<{ readonly name: string; readonly at: number }> = []

  const open = (opens: number, now: number, reason: string): State => {
    const wait = Math.min(maxCooldownMs, cooldownMs * 2 ** Math.min(opens - 1, 30))
    state = { _tag: "Open", retryAt: now + wait, opens, reason }
    return state
  }

  const held = (until: number, reason: string): Decision => ({ _tag: "Wait", until, reason })

  return {
    state: () => state,
    crashed: (name, now) => {
      if (state._tag === "Open") return undefined
      if (state._tag === "HalfOpen" && now >= state.since + probeMs) state = { _tag: "Closed" } // the trial held up
      if (state._tag === "HalfOpen") {
        return open(state.opens + 1, now, `${name} crashed during the trial restart of ${state.trial} (${state.reason})`)
      }
      recent = recent.filter((crash) => crash.at > now - windowMs)
      recent.push({ name, at: now })
      const names = new Set(recent.map((crash) => crash.name))
      if (recent.length < threshold || names.size < distinct) return undefined
      const reason = `${recent.length} crashes of ${names.size} daemons within ${Duration.format(Duration.millis(windowMs))}`
      recent = []
      return open(1, now, reason)
    },
    admit: (name, now) => {
      switch (state._tag) {
        case "Closed":
          return { _tag: "Go" }
        case "Open": {
          if (now < state.retryAt) return held(state.retryAt, `restart circuit open: ${state.reason}; restarts held`)
          state = { _tag: "HalfOpen", trial: name, since: now, opens: state.opens, reason: state.reason }
          return { _tag: "Go" }
        }
        case "HalfOpen": {
          if (name === state.trial) return { _tag: "Go" }
          const closeAt = state.since + probeMs
          if (now < closeAt) return held(closeAt, `restart circuit half-open: ${state.trial} restarted as a trial; restarts held`)
          state = { _tag: "Closed" }
          return { _tag: "Go" }
        }
      }
    }
  }
}
