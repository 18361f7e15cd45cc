// The circuit breaker's every transition, on TestClock, and a property: it never runs a call
// while it is open, for any sequence of outcomes and pauses.
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import fc from "fast-check"
import * as CircuitBreaker from "../src/CircuitBreaker.js"

const fail = Effect.fail("down" as const)
const ok = Effect.succeed("up" as const)
const tagOf = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (state) => state._tag)

describe("CircuitBreaker", () => {
  it.effect("opens after the failures within the window, fails fast without running the call, and closes after a good trial", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "db", threshold: { failures: 3 }, window: "10 seconds", cooldown: Schedule.spaced("5 seconds") })
      for (let i = 0; i < 2; i++) expect(yield* Effect.either(breaker.execute(fail))).toEqual(Either.left("down"))
      expect(yield* tagOf(breaker)).toBe("Closed")
      yield* Effect.either(breaker.execute(fail))
      expect(yield* breaker.state).toMatchObject({ _tag: "Open", openedAt: 0, retryAt: 5_000, opens: 1 })
      let ran = 0
      const counted = Effect.sync(() => ++ran)
      const refused = yield* Effect.flip(breaker.execute(counted))
      expect(refused).toBeInstanceOf(CircuitBreaker.BreakerOpen)
      expect(refused.message).toBe('circuit breaker "db" is open: calls fail fast until 1970-01-01T00:00:05.000Z')
      expect(ran).toBe(0)
      yield* TestClock.adjust("4999 millis")
      expect((yield* Effect.either(breaker.execute(counted)))._tag).toBe("Left")
      yield* TestClock.adjust("1 milli")
      expect(yield* breaker.execute(counted)).toBe(1)
      expect(yield* tagOf(breaker)).toBe("Closed")
    }))

  it.effect("counts only failures within the window", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "w", threshold: { failures: 3 }, window: "10 seconds" })
      for (let i = 0; i < 10; i++) {
        yield* Effect.either(breaker.execute(fail))
        yield* TestClock.adjust("5001 millis") // never three within 10 s
      }
      expect(yield* tagOf(breaker)).toBe("Closed")
    }))

  it.effect("with a ratio, waits for the minimum number of calls", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "r", threshold: { ratio: 0.5, minimumCalls: 4 } })
      yield* Effect.either(breaker.execute(fail))
      yield* Effect.either(breaker.execute(fail))
      expect(yield* tagOf(breaker)).toBe("Closed") // 2 of 2 failed, but fewer than 4 calls
      yield* breaker.execute(ok)
      expect(yield* tagOf(breaker)).toBe("Closed")
      yield* Effect.either(breaker.execute(fail)) // 3 of 4
      expect(yield* tagOf(breaker)).toBe("Open")
    }))

  it.effect("a failed trial reopens it for the schedule's next, longer cooldown; successes in half-open close it", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "x",
        threshold: { failures: 1 },
        cooldown: Schedule.exponential("1 second"),
        halfOpenSuccesses: 2
      })
      yield* Effect.either(breaker.execute(fail))
      expect(yield* breaker.state).toMatchObject({ _tag: "Open", retryAt: 1_000, opens: 1 })
      yield* TestClock.adjust("1 second")
      yield* Effect.either(breaker.execute(fail)) // the trial fails
      expect(yield* breaker.state).toMatchObject({ _tag: "Open", openedAt: 1_000, retryAt: 3_000, opens: 2 })
      yield* TestClock.adjust("2 seconds")
      yield* breaker.execute(ok)
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", opens: 2 }) // one of two successes
      yield* breaker.execute(ok)
      expect(yield* tagOf(breaker)).toBe("Closed")
      yield* Effect.either(breaker.execute(fail)) // the window was forgotten; the cooldowns start over
      expect(yield* breaker.state).toMatchObject({ _tag: "Open", retryAt: 4_000, opens: 1 })
    }))

  it.effect("lets one trial through at a time; the others fail fast", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "t", threshold: { failures: 1 }, cooldown: Schedule.spaced("1 second") })
      yield* Effect.either(breaker.execute(fail))
      yield* TestClock.adjust("1 second")
      const slow = yield* Effect.fork(breaker.execute(Effect.as(Effect.sleep("1 second"), "slow")))
      yield* Effect.yieldNow()
      expect(yield* tagOf(breaker)).toBe("HalfOpen")
      expect((yield* Effect.flip(breaker.execute(ok)))._tag).toBe("BreakerOpen")
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(slow)).toBe("slow")
      expect(yield* tagOf(breaker)).toBe("Closed")
    }))

  it.effect("does not count interruptions, nor failures isFailure rejects; counts defects", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make<"down" | "not found">({
        name: "f",
        threshold: { failures: 1 },
        isFailure: (error) => error !== "not found"
      })
      yield* Effect.either(breaker.execute(Effect.fail("not found" as const)))
      const fiber = yield* Effect.fork(breaker.execute(Effect.never))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      expect(yield* tagOf(breaker)).toBe("Closed")
      yield* Effect.exit(breaker.execute(Effect.die("bug")))
      expect(yield* tagOf(breaker)).toBe("Open")
    }))

  it.effect("releases an interrupted trial: the next call after it is the trial, and it counts neither way", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "i", threshold: { failures: 1 }, cooldown: Schedule.spaced("1 second") })
      yield* Effect.either(breaker.execute(fail))
      yield* TestClock.adjust("1 second")
      const stuck = yield* Effect.fork(breaker.execute(Effect.never))
      yield* Effect.yieldNow()
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", opens: 1 })
      expect((yield* Effect.flip(breaker.execute(ok)))._tag).toBe("BreakerOpen") // its trial is under way
      yield* Fiber.interrupt(stuck)
      expect(yield* tagOf(breaker)).toBe("HalfOpen") // neither a success nor a failure
      expect(yield* breaker.execute(ok)).toBe("up") // the new trial
      expect(yield* tagOf(breaker)).toBe("Closed")
    }))

  it.effect("decides when the effect runs, not when execute builds it: one guarded effect run again and again", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "again", threshold: { failures: 2 }, cooldown: Schedule.spaced("1 second") })
      let ran = 0
      const guarded = breaker.execute(Effect.suspend(() => (++ran, fail)))
      yield* Effect.either(guarded)
      yield* Effect.either(guarded)
      expect(yield* tagOf(breaker)).toBe("Open")
      expect(yield* Effect.flip(guarded)).toBeInstanceOf(CircuitBreaker.BreakerOpen)
      expect(ran).toBe(2)
      yield* TestClock.adjust("1 second")
      yield* Effect.either(guarded) // the trial runs it, and fails
      expect(ran).toBe(3)
      expect(yield* breaker.state).toMatchObject({ _tag: "Open", opens: 2 })
    }))

  it.effect("refuses with a new BreakerOpen each time, a Data.TaggedError with the breaker's name and retryAt", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "tagged", threshold: { failures: 1 }, cooldown: Schedule.spaced("2 seconds") })
      yield* Effect.either(breaker.execute(fail))
      const first = yield* Effect.flip(breaker.execute(ok))
      const second = yield* Effect.flip(breaker.execute(ok))
      expect(first).toBeInstanceOf(Error)
      expect(first).not.toBe(second)
      expect({ _tag: first._tag, name: first.name, retryAt: first.retryAt }).toEqual({ _tag: "BreakerOpen", name: "tagged", retryAt: 2_000 })
      expect(Equal.equals(first, new CircuitBreaker.BreakerOpen({ name: "tagged", retryAt: 2_000 }))).toBe(true)
      // It is a yieldable error like every Data.TaggedError, and catchTag finds it.
      const caught = yield* first.pipe(Effect.catchTag("BreakerOpen", (open) => Effect.succeed(open.retryAt)))
      expect(caught).toBe(2_000)
    }))

  it.scoped("publishes every change of state", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "s", threshold: { failures: 1 }, cooldown: Schedule.spaced("1 second") })
      const seen = yield* Effect.fork(Stream.runCollect(Stream.take(yield* breaker.changes, 3)))
      yield* Effect.either(breaker.execute(fail))
      yield* TestClock.adjust("1 second")
      yield* breaker.execute(ok)
      const states = [...(yield* Fiber.join(seen))].map((state) => state._tag)
      expect(states).toEqual(["Open", "HalfOpen", "Closed"])
    }))

  it.effect("never runs a call while open, for any outcomes and pauses (property)", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ pause: fc.integer({ min: 0, max: 3_000 }), fails: fc.boolean() }), { maxLength: 60 }),
          fc.integer({ min: 1, max: 4 }),
          (steps, failures) =>
            Effect.runPromise(Effect.gen(function*() {
              const breaker = yield* CircuitBreaker.make({ name: "p", threshold: { failures }, window: "5 seconds", cooldown: Schedule.exponential("500 millis") })
              for (const step of steps) {
                yield* TestClock.adjust(Duration.millis(step.pause))
                const before = yield* breaker.state
                const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
                let ran = false
                yield* Effect.either(breaker.execute(Effect.suspend(() => {
                  ran = true
                  return step.fails ? fail : ok
                })))
                if (before._tag === "Open" && now < before.retryAt && ran) return false
              }
              return true
            }).pipe(Effect.provide(TestContext.TestContext)))
        ),
        { numRuns: 200 }
      )
    ))

  it("has a Promise facade: the call's own rejection, or BreakerOpen once open", async () => {
    const breaker = CircuitBreaker.promise({ name: "p", threshold: { failures: 2 }, cooldown: Schedule.spaced("1 hour") })
    const boom = new Error("boom")
    await expect(breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom)
    expect(await breaker.execute(() => Promise.resolve(42))).toBe(42)
    await expect(breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom)
    expect(breaker.state()._tag).toBe("Open")
    let ran = false
    await expect(breaker.execute(async () => (ran = true))).rejects.toBeInstanceOf(CircuitBreaker.BreakerOpen)
    expect(ran).toBe(false)
  })

  it("Promise facade: a synchronous throw is the call's rejection, and isFailure chooses what counts", async () => {
    const breaker = CircuitBreaker.promise({
      name: "p2",
      threshold: { failures: 2 },
      cooldown: Schedule.spaced("1 hour"),
      isFailure: (error) => !(error instanceof RangeError)
    })
    const thrown = new Error("thrown")
    await expect(breaker.execute(() => {
      throw thrown
    })).rejects.toBe(thrown)
    expect(breaker.state()._tag).toBe("Closed")
    for (let i = 0; i < 3; i++) await expect(breaker.execute(() => Promise.reject(new RangeError("404")))).rejects.toBeInstanceOf(RangeError)
    expect(breaker.state()._tag).toBe("Closed") // not failures, by isFailure
    await expect(breaker.execute(() => Promise.reject(thrown))).rejects.toBe(thrown)
    expect(breaker.state()._tag).toBe("Open")
    const refused = await breaker.execute(() => Promise.resolve(1)).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(CircuitBreaker.BreakerOpen)
    expect((refused as CircuitBreaker.BreakerOpen).name).toBe("p2")
  })

  it.effect("records its state, openings and refusals as metrics tagged with its name; is a layer", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.CircuitBreaker
      const recorded = CircuitBreaker.metrics("metered")
      expect((yield* Metric.value(recorded.state)).value).toBe(0)
      yield* Effect.either(breaker.execute(fail))
      expect((yield* Metric.value(recorded.state)).value).toBe(2)
      expect((yield* Metric.value(recorded.opens)).count).toBe(1)
      yield* Effect.either(breaker.execute(ok))
      yield* Effect.either(breaker.execute(ok))
      expect((yield* Metric.value(recorded.rejected)).count).toBe(2)
      yield* TestClock.adjust("5 seconds")
      yield* breaker.execute(ok)
      expect((yield* Metric.value(recorded.state)).value).toBe(0)
    }).pipe(Effect.provide(CircuitBreaker.layer({ name: "metered", threshold: { failures: 1 } }))))
})
