// The circuit breaker's synchronous state machine (an internal module, what both CircuitBreaker.make
// and CircuitBreaker.promise run): its window stays bounded on a breaker that only sees successes,
// which grew by an entry per call before.
import { describe, expect, it } from "@effect/vitest"
import type { State } from "../src/CircuitBreaker.js"
import { CALL, FAILURE, makeCore, SUCCESS, TRIAL } from "../src/internal/breakerCore.js"

const core = (threshold: { failures: number } | { ratio: number; minimumCalls: number }, clock: { now: number; reads: number }) => {
  const changes: Array<State["_tag"]> = []
  const made = makeCore({
    threshold,
    windowMs: 10_000,
    successesToClose: 1,
    now: () => (clock.reads++, clock.now),
    cooldown: () => 5_000,
    onChange: (state) => changes.push(state._tag),
    refuse: (retryAt) => ({ refused: retryAt })
  })
  return { core: made, changes }
}

describe("CircuitBreaker core", () => {
  it("holds a bounded window after 100,000 successes, and a ratio still opens it on the calls of the window", () => {
    const clock = { now: 0, reads: 0 }
    const { changes, core: breaker } = core({ ratio: 0.5, minimumCalls: 10 }, clock)
    let refused = 0
    for (let i = 0; i < 100_000; i++) {
      clock.now = i // one a millisecond, for 100 s: ten windows
      if (breaker.acquire() !== CALL) refused++
      breaker.settle(CALL, SUCCESS)
    }
    expect(refused).toBe(0)
    expect(breaker.window.slices).toBeLessThanOrEqual(1_001)
    expect(breaker.window.calls).toBeLessThanOrEqual(10_000)
    expect(breaker.window.calls).toBeGreaterThanOrEqual(9_990)
    // Half of the window's calls failing opens it: about 10,000 failures, not 100,000.
    let failures = 0
    while (breaker.state()._tag === "Closed") {
      if (breaker.acquire() !== CALL) refused++
      breaker.settle(CALL, FAILURE)
      failures++
    }
    expect(refused).toBe(0)
    expect(failures).toBeGreaterThanOrEqual(9_990)
    expect(failures).toBeLessThanOrEqual(10_000)
    expect(changes).toEqual(["Open"])
    expect(breaker.acquire()).toEqual({ refused: 99_999 + 5_000 })
  })

  it("with a count of failures keeps no successes at all, and reads no clock for them", () => {
    const clock = { now: 0, reads: 0 }
    const { core: breaker } = core({ failures: 3 }, clock)
    for (let i = 0; i < 100_000; i++) {
      clock.now = i
      breaker.settle(breaker.acquire() as typeof CALL, SUCCESS)
    }
    expect(breaker.window.slices).toBe(0)
    expect(clock.reads).toBe(0)
    for (let i = 0; i < 3; i++) breaker.settle(breaker.acquire() as typeof CALL, FAILURE)
    expect(breaker.state()).toEqual({ _tag: "Open", openedAt: 99_999, retryAt: 104_999, opens: 1 })
  })

  it("refusal() refuses as acquire() would, but takes nothing: the trial stays for acquire", () => {
    const clock = { now: 0, reads: 0 }
    const { changes, core: breaker } = core({ failures: 1 }, clock)
    expect(breaker.refusal()).toBeUndefined()
    breaker.settle(breaker.acquire() as typeof CALL, FAILURE)
    expect(breaker.refusal()).toEqual({ refused: 5_000 })
    clock.now = 5_000
    expect(breaker.refusal()).toBeUndefined() // the cooldown is over: a call would be the trial
    expect(breaker.refusal()).toBeUndefined() // and asking again took nothing
    expect(breaker.state()._tag).toBe("Open")
    expect(breaker.acquire()).toBe(TRIAL)
    expect(breaker.refusal()).toEqual({ refused: 5_000 }) // the trial is under way
    expect(breaker.acquire()).toEqual({ refused: 5_000 })
    breaker.settle(TRIAL, SUCCESS)
    expect(changes).toEqual(["Open", "HalfOpen", "Closed"])
  })
})
