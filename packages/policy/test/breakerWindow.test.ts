// The circuit breaker's window (an internal module): bounded whatever the number of calls, and
// counting what a list of every call would count (exactly for windows up to 1 second, and at most
// one slice, a thousandth of the window, short of it for longer ones).
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Window } from "../src/internal/breakerWindow.js"

/** What the breaker counted before: every call kept, those with `at > now - windowMs` counted. */
const naive = (calls: ReadonlyArray<{ readonly at: number; readonly failed: boolean }>, now: number, windowMs: number) => {
  const kept = calls.filter((call) => call.at > now - windowMs)
  return { calls: kept.length, failures: kept.filter((call) => call.failed).length }
}

describe("CircuitBreaker window", () => {
  it("holds a bounded number of slices after 100,000 successes, whatever their pace", () => {
    const spread = new Window(10_000) // 10 ms slices
    for (let i = 0; i < 100_000; i++) spread.record(i, false) // one a millisecond, for 100 s
    expect(spread.slices).toBeLessThanOrEqual(1_001)
    expect(spread.calls).toBeLessThanOrEqual(10_000)
    expect(spread.calls).toBeGreaterThanOrEqual(9_990)

    const burst = new Window(10_000)
    for (let i = 0; i < 100_000; i++) burst.record(5_000, false) // all at once
    expect(burst.slices).toBe(1)
    expect(burst.calls).toBe(100_000)

    const sparse = new Window(1_000) // 1 ms slices; a call every 3 ms for 300 s
    for (let i = 0; i < 100_000; i++) sparse.record(i * 3, i % 7 === 0)
    expect(sparse.slices).toBeLessThanOrEqual(334)
    expect({ calls: sparse.calls, failures: sparse.failures }).toEqual(
      naive(Array.from({ length: 100_000 }, (_, i) => ({ at: i * 3, failed: i % 7 === 0 })), 299_997, 1_000)
    )
  })

  it("forgets every call when cleared, and calls after a step back of the clock go into the newest slice", () => {
    const window = new Window(1_000)
    window.record(10_000, true)
    window.record(9_000, true) // the clock stepped back
    expect(window.slices).toBe(1)
    expect(window.failures).toBe(2)
    window.record(10_999, false)
    expect(window.failures).toBe(2)
    window.record(11_000, false) // the slice at 10,000 left the window
    expect({ calls: window.calls, failures: window.failures }).toEqual({ calls: 2, failures: 0 })
    window.clear()
    expect({ slices: window.slices, calls: window.calls, failures: window.failures }).toEqual({ slices: 0, calls: 0, failures: 0 })
  })

  it("counts what a list of every call counts: exactly up to 1 second, within one slice beyond (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60_000 }),
        fc.array(fc.record({ pause: fc.integer({ min: 0, max: 400 }), failed: fc.boolean() }), { maxLength: 400 }),
        (windowMs, steps) => {
          const window = new Window(windowMs)
          const calls: Array<{ at: number; failed: boolean }> = []
          let now = 1_700_000_000_000
          for (const step of steps) {
            now += step.pause
            window.record(now, step.failed)
            calls.push({ at: now, failed: step.failed })
            const within = naive(calls, now, windowMs)
            if (window.width === 1) {
              if (window.calls !== within.calls || window.failures !== within.failures) return false
            } else {
              // Up to one slice early: never more than the list counts, never less than it counts in a window one slice shorter.
              const shorter = naive(calls, now, windowMs - window.width)
              if (window.calls > within.calls || window.calls < shorter.calls) return false
              if (window.failures > within.failures || window.failures < shorter.failures) return false
            }
            if (window.slices > 1_001) return false
          }
          return true
        }
      ),
      { numRuns: 300 }
    )
  })
})
