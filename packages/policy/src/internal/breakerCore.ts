/**
 * The circuit breaker's state machine, synchronous: plain mutable fields, no
 * Effect per call. `CircuitBreaker.make` wraps it for Effect (`execute`) and
 * `CircuitBreaker.promise` calls it directly around the user's promise; both
 * read the time from the Clock captured when the breaker was made.
 *
 * @internal
 */
import type { State, Threshold } from "../CircuitBreaker.js"
import { Window } from "./breakerWindow.js"

/** Admitted as an ordinary call (closed). */
export const CALL = 0
/** Admitted as the half-open trial. */
export const TRIAL = 1
/** How an admitted call runs. */
export type Admission = typeof CALL | typeof TRIAL

/** How a call ended: it counts as a success, as a failure, or not at all (interrupted, or `isFailure` said no). */
export const SUCCESS = 0
export const FAILURE = 1
export const IGNORED = 2
export type Outcome = typeof SUCCESS | typeof FAILURE | typeof IGNORED

export interface CoreOptions<Refusal> {
  readonly threshold: Threshold
  readonly windowMs: number
  readonly successesToClose: number
  /** The time in ms (the breaker's Clock), read only when the state machine needs it. */
  readonly now: () => number
  /** The cooldown in ms of the `opens`-th opening in a row, opened at `now`. */
  readonly cooldown: (opens: number, now: number) => number
  /** After every change of state. */
  readonly onChange: (state: State) => void
  /** The refusal of a call (the breaker is open until `retryAt`, or its trial is under way). */
  readonly refuse: (retryAt: number) => Refusal
}

export interface Core<Refusal> {
  readonly state: () => State
  /** Admits a call (CALL or TRIAL), or refuses it (what `refuse` made). Reads no clock while closed. */
  readonly acquire: () => Admission | Refusal
  /**
   * The refusal of a call now (what `refuse` made), or undefined when it would
   * be admitted; takes nothing, so it needs no mask against interruption.
   */
  readonly refusal: () => Refusal | undefined
  /**
   * Counts how an admitted call ended. Reads no clock for a success while
   * closed with a `failures` threshold (the window then counts only failures).
   */
  readonly settle: (as: Admission, outcome: Outcome) => void
  /** Whether a success while closed is counted (a `ratio` threshold); with `failures` it changes nothing. */
  readonly countsSuccesses: boolean
  /** The window of the closed breaker (for tests: its size stays bounded). */
  readonly window: Window
}

const closed: State = { _tag: "Closed" }

export const makeCore = <Refusal>(options: CoreOptions<Refusal>): Core<Refusal> => {
  const { cooldown, now, onChange, refuse, successesToClose, threshold } = options
  // With a count of failures, successes change nothing: only a ratio needs them in the window.
  const countsSuccesses = !("failures" in threshold)
  const window = new Window(options.windowMs)
  const reached: () => boolean = "failures" in threshold
    ? () => window.failures >= threshold.failures
    : () => window.calls >= threshold.minimumCalls && window.failures / window.calls >= threshold.ratio
  let state: State = closed
  let trial = false
  let trialSuccesses = 0

  const moveTo = (next: State) => {
    state = next
    onChange(next)
  }
  // The cooldown first: should the schedule throw, the state has not changed.
  const open = (opens: number, at: number) => {
    const retryAt = at + cooldown(opens, at)
    moveTo({ _tag: "Open", openedAt: at, retryAt, opens })
  }

  /** Whether a call at `at` is refused: open before its retryAt, or half-open with the trial under way. */
  const refuses = (at: number) => (state._tag === "Open" && at < state.retryAt) || (state._tag === "HalfOpen" && trial)

  return {
    state: () => state,
    countsSuccesses,
    window,
    refusal: () => {
      if (state._tag === "Closed") return undefined
      const at = now()
      return refuses(at) ? refuse(state._tag === "Open" ? state.retryAt : at) : undefined
    },
    acquire: () => {
      const current = state
      if (current._tag === "Closed") return CALL
      const at = now()
      if (refuses(at)) return refuse(current._tag === "Open" ? current.retryAt : at)
      trial = true
      if (current._tag === "Open") {
        trialSuccesses = 0
        moveTo({ _tag: "HalfOpen", opens: current.opens })
      }
      return TRIAL
    },
    settle: (as, outcome) => {
      if (as === TRIAL) {
        trial = false
        const current = state
        if (current._tag !== "HalfOpen" || outcome === IGNORED) return
        if (outcome === FAILURE) return open(current.opens + 1, now())
        if (++trialSuccesses < successesToClose) return
        window.clear()
        return moveTo(closed)
      }
      if (outcome === IGNORED || state._tag !== "Closed" || (outcome === SUCCESS && !countsSuccesses)) return
      const at = now()
      window.record(at, outcome === FAILURE)
      if (outcome === FAILURE && reached()) open(1, at)
    }
  }
}
