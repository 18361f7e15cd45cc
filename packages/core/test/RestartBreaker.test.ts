// The restart circuit breaker's state machine, with times given as numbers: what opens it (and
// what does not), how long it holds restarts, the trial, and what reopens or closes it.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as RestartBreaker from "../src/RestartBreaker.js"

const options = { crashes: 4, daemons: 3, window: "10 seconds", cooldown: "2 seconds", maxCooldown: "5 seconds", probe: "1 second" } as const

describe("RestartBreaker", () => {
  it("one daemon crashing alone never opens it, however often: that is its crash-loop limit's job", () => {
    const breaker = RestartBreaker.make(options)
    for (let at = 0; at < 5_000; at += 100) expect(breaker.crashed("solo", at)).toBeUndefined()
    expect(breaker.admit("solo", 5_000)).toEqual({ _tag: "Go" })
  })

  it("opens on enough crashes of enough daemons within the window, and holds every restart until the cooldown", () => {
    const breaker = RestartBreaker.make(options)
    expect(breaker.crashed("a", 0)).toBeUndefined()
    expect(breaker.crashed("b", 100)).toBeUndefined()
    expect(breaker.crashed("a", 200)).toBeUndefined() // 3 crashes, 2 daemons
    const opened = breaker.crashed("c", 300)
    expect(opened).toEqual({ _tag: "Open", retryAt: 2_300, opens: 1, reason: "4 crashes of 3 daemons within 10s" })
    expect(breaker.admit("a", 2_299)).toEqual({
      _tag: "Wait",
      until: 2_300,
      reason: "restart circuit open: 4 crashes of 3 daemons within 10s; restarts held"
    })
  })

  it("crashes older than the window do not count", () => {
    const breaker = RestartBreaker.make(options)
    breaker.crashed("a", 0)
    breaker.crashed("b", 1)
    breaker.crashed("c", 2)
    expect(breaker.crashed("d", 10_002)).toBeUndefined() // the first three are more than 10 s old
    expect(breaker.state()._tag).toBe("Closed")
  })

  it("after the cooldown one restart is the trial; the rest wait for the probe; a quiet probe closes it", () => {
    const breaker = RestartBreaker.make(options)
    for (const [name, at] of [["a", 0], ["b", 0], ["c", 0], ["d", 0]] as const) breaker.crashed(name, at)
    expect(breaker.admit("b", 2_000)).toEqual({ _tag: "Go" })
    expect(breaker.state()).toMatchObject({ _tag: "HalfOpen", trial: "b", since: 2_000 })
    expect(breaker.admit("c", 2_500)).toMatchObject({ _tag: "Wait", until: 3_000 })
    expect(breaker.admit("c", 3_000)).toEqual({ _tag: "Go" })
    expect(breaker.state()._tag).toBe("Closed")
    expect(breaker.admit("d", 3_000)).toEqual({ _tag: "Go" })
  })

  it("a crash during the trial reopens it for a doubled cooldown, capped", () => {
    const breaker = RestartBreaker.make(options)
    for (const name of ["a", "b", "c", "d"]) breaker.crashed(name, 0)
    breaker.admit("a", 2_000)
    expect(breaker.crashed("a", 2_100)).toMatchObject({ _tag: "Open", retryAt: 6_100, opens: 2 })
    breaker.admit("b", 6_100)
    expect(breaker.crashed("b", 6_200)).toMatchObject({ _tag: "Open", retryAt: 11_200, opens: 3 }) // 8 s capped at 5 s
  })

  it("a crash after a quiet probe, with nobody left waiting, starts counting afresh instead of reopening", () => {
    const breaker = RestartBreaker.make(options)
    for (const name of ["a", "b", "c", "d"]) breaker.crashed(name, 0)
    breaker.admit("a", 2_000) // the trial; no one else was held
    expect(breaker.crashed("a", 60_000)).toBeUndefined()
    expect(breaker.state()._tag).toBe("Closed")
  })

  it("property: while open, no restart is admitted before its retry time", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: fc.constantFrom("a", "b", "c", "d", "e"), gap: fc.integer({ min: 0, max: 3_000 }), crash: fc.boolean() }), {
          maxLength: 200
        }),
        (steps) => {
          const breaker = RestartBreaker.make(options)
          let now = 0
          for (const step of steps) {
            now += step.gap
            const before = breaker.state()
            if (step.crash) {
              breaker.crashed(step.name, now)
              continue
            }
            const decision = breaker.admit(step.name, now)
            if (before._tag === "Open" && now < before.retryAt) expect(decision._tag).toBe("Wait")
            if (decision._tag === "Wait") expect(decision.until).toBeGreaterThan(now)
          }
        }
      )
    )
  })
})
