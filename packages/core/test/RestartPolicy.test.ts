import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import * as RestartPolicy from "../src/RestartPolicy.js"
import { decodeSync } from "../src/DaemonConfigSchema.js"

const restart = (backoff: object) =>
  decodeSync({ name: "x", command: ["x"], restart: { backoff } }).restart

/** The first n delays (ms) of a schedule, stepped by hand from time 0. */
const delays = (schedule: Schedule.Schedule<Duration.Duration>, n: number) =>
  Effect.gen(function*() {
    let state = schedule.initial
    let now = 0
    const out: Array<number> = []
    for (let i = 0; i < n; i++) {
      const [next, , decision] = yield* schedule.step(now, undefined, state)
      if (ScheduleDecision.isDone(decision)) break
      const at = ScheduleIntervals.start(decision.intervals)
      out.push(at - now)
      now = at
      state = next
    }
    return out
  })

describe("RestartPolicy", () => {
  it.effect("backs off exponentially up to the cap", () =>
    Effect.gen(function*() {
      const schedule = RestartPolicy.backoff(restart({ initial: "1s", multiplier: 2, max: "10s", jitter: 0 }))
      expect(yield* delays(schedule, 7)).toEqual([1000, 2000, 4000, 8000, 10000, 10000, 10000])
    }))

  it.effect("varies each delay by at most ± jitter, and never past the cap", () =>
    Effect.gen(function*() {
      const schedule = RestartPolicy.backoff(restart({ initial: "1s", multiplier: 3, max: "20s", jitter: 0.25 }))
      const got = yield* delays(schedule, 8)
      const plain = [1000, 3000, 9000, 27000, 81000, 243000, 729000, 2187000]
      got.forEach((delay, i) => {
        expect(delay).toBeGreaterThanOrEqual(Math.min(plain[i]! * 0.75, 20000) - 1)
        expect(delay).toBeLessThanOrEqual(Math.min(plain[i]! * 1.25, 20000) + 1)
      })
      expect(new Set(got.slice(0, 3)).size).toBe(3)
    }))

  it("restarts per policy; a stop the user asked for is never restarted", () => {
    const crash = { code: 1, signal: null }
    const killed = { code: null, signal: "SIGKILL" as const }
    const graceful = { code: 143, signal: null }
    const done = { code: 0, signal: null }
    expect(RestartPolicy.shouldRestart("on-failure", crash, false)).toBe(true)
    expect(RestartPolicy.shouldRestart("on-failure", killed, false)).toBe(true)
    expect(RestartPolicy.shouldRestart("on-failure", graceful, false)).toBe(false)
    expect(RestartPolicy.shouldRestart("on-failure", done, false)).toBe(false)
    expect(RestartPolicy.shouldRestart("always", done, false)).toBe(true)
    expect(RestartPolicy.shouldRestart("unless-stopped", graceful, false)).toBe(true)
    expect(RestartPolicy.shouldRestart("never", crash, false)).toBe(false)
    expect(RestartPolicy.shouldRestart("always", crash, true)).toBe(false)
    expect(RestartPolicy.isCleanExit({ code: null, signal: "SIGTERM" })).toBe(true)
    expect(RestartPolicy.isCleanExit({ code: 4, signal: null })).toBe(false)
  })

  it("counts restarts inside the crash-loop window only", () => {
    const limit = { burst: 3, interval: Duration.seconds(10) }
    expect(RestartPolicy.crashLoop(limit, [1000, 2000, 3000], 3500)).toEqual({ looping: false, recent: [1000, 2000, 3000] })
    expect(RestartPolicy.crashLoop(limit, [1000, 2000, 3000, 4000], 4500).looping).toBe(true)
    expect(RestartPolicy.crashLoop(limit, [1000, 2000, 3000, 14000], 14500)).toEqual({ looping: false, recent: [14000] })
  })
})
