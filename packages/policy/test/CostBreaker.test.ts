// The cost breaker on TestClock: it opens when the budget is spent, refuses with the exact time the
// budget frees, closes at that moment by itself; costs known after the call; fractional money; bad
// options; a property that no window ever holds more than the budget (with exact refusals and
// retryAt); metrics; the Promise facade on the real clock.
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import fc from "fast-check"
import * as CostBreaker from "../src/CostBreaker.js"
import { metric } from "./helpers/metric.js"

const tagOf = (breaker: CostBreaker.CostBreaker) => Effect.map(breaker.state, (state) => state._tag)

const defectOf = <A, E>(exit: Exit.Exit<A, E>) => (Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined)

describe("CostBreaker", () => {
  it.scoped("opens when the budget is spent, refuses with the exact time it frees, and frees at the window's edge", () =>
    Effect.gen(function*() {
      const breaker = yield* CostBreaker.make({ name: "requests", budget: 3, window: "10 seconds" })
      let ran = 0
      const call = Effect.sync(() => ++ran)
      expect(yield* breaker.execute(call)).toBe(1) // at 0, cost 1 by default
      yield* TestClock.adjust("1 second")
      yield* breaker.execute(call)
      expect(yield* breaker.remaining).toBe(1)
      expect(yield* tagOf(breaker)).toBe("Closed")
      yield* TestClock.adjust("1 second")
      yield* breaker.execute(call)
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 2_000, retryAt: 10_000 })
      expect(yield* breaker.remaining).toBe(0)

      const refused = yield* Effect.flip(breaker.execute(call))
      expect(refused).toBeInstanceOf(CostBreaker.BudgetSpent)
      expect(refused).toMatchObject({ name: "requests", spent: 3, budget: 3, amount: 1, retryAt: 10_000 })
      expect(refused.message).toBe(
        'cost breaker "requests": 3 of the budget 3 spent in the window, 1 more does not fit until 1970-01-01T00:00:10.000Z'
      )
      expect(ran).toBe(3)
      yield* TestClock.adjust("7999 millis") // 9_999
      expect((yield* Effect.either(breaker.execute(call)))._tag).toBe("Left")
      yield* TestClock.adjust("1 milli") // 10_000: the spend at 0 frees
      expect(yield* tagOf(breaker)).toBe("Closed")
      expect(yield* breaker.execute(call)).toBe(4)
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 10_000, retryAt: 11_000 })
    }))

  it.scoped("refuses a cost that does not fit in what is left, while closed; retryAt is when enough frees", () =>
    Effect.gen(function*() {
      const breaker = yield* CostBreaker.make({ name: "fit", budget: 10, window: "10 seconds" })
      yield* breaker.spend(2) // at 0
      yield* TestClock.adjust("1 second")
      yield* breaker.spend(3) // at 1 s
      yield* TestClock.adjust("1 second")
      yield* breaker.spend(4) // at 2 s: 9 spent
      const refused = yield* Effect.flip(breaker.spend(5)) // needs 4 spent at most: the 2 and the 3 must free
      expect(refused).toMatchObject({ spent: 9, budget: 10, amount: 5, retryAt: 11_000 })
      expect(yield* tagOf(breaker)).toBe("Closed")
      yield* breaker.spend(1) // fits exactly
      expect(yield* tagOf(breaker)).toBe("Open")
      expect((yield* Effect.flip(breaker.spend(0.5))).retryAt).toBe(10_000)
      yield* breaker.spend(0) // nothing always fits
    }))

  it.scoped("charges made at the same time free together", () =>
    Effect.gen(function*() {
      const breaker = yield* CostBreaker.make({ name: "together", budget: 4, window: "1 second" })
      yield* breaker.spend(2)
      yield* breaker.spend(2)
      expect((yield* Effect.flip(breaker.spend(1))).retryAt).toBe(1_000)
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 0, retryAt: 1_000 })
    }))

  it.scoped("an amount above the whole budget is refused for ever (retryAt Infinity)", () =>
    Effect.gen(function*() {
      const breaker = yield* CostBreaker.make({ name: "huge", budget: 10, window: "1 minute" })
      const refused = yield* Effect.flip(breaker.spend(11))
      expect(refused).toMatchObject({ spent: 0, amount: 11, retryAt: Infinity })
      expect(refused.message).toBe('cost breaker "huge": 0 of the budget 10 spent in the window, 11 is more than the whole budget')
      expect(yield* breaker.remaining).toBe(10)
    }))

  it.scoped("a pre-charged cost stays charged when the call fails", () =>
    Effect.gen(function*() {
      const breaker = yield* CostBreaker.make({ name: "attempts", budget: 5, window: "1 minute" })
      expect(yield* Effect.either(breaker.execute(Effect.fail("boom"), 2))).toEqual(Either.left("boom"))
      expect(yield* breaker.remaining).toBe(3)
    }))

  it.scoped("a cost known after the call: charged on success only, let through while any budget is left, open until the overrun frees", () =>
    Effect.gen(function*() {
      const tokens = yield* CostBreaker.make({ name: "tokens", budget: 1_000, window: "1 minute" })
      const complete = (used: number) => Effect.succeed({ text: "…", used })
      const byUsage = (response: { readonly used: number }) => response.used
      expect(yield* tokens.execute(complete(600), byUsage)).toEqual({ text: "…", used: 600 })
      expect(yield* tokens.remaining).toBe(400)
      yield* Effect.either(tokens.execute(Effect.fail("rate limited"), byUsage))
      expect(yield* tokens.remaining).toBe(400) // a failed call costs nothing
      yield* TestClock.adjust("10 seconds")
      yield* tokens.execute(complete(700), byUsage) // 400 left, so it runs; 1300 spent
      expect(yield* tokens.state).toEqual({ _tag: "Open", openedAt: 10_000, retryAt: 60_000 }) // below 1000 once the 600 frees
      const refused = yield* Effect.flip(tokens.execute(complete(1), byUsage))
      expect(refused).toMatchObject({ spent: 1_300, budget: 1_000, amount: undefined, retryAt: 60_000 })
      expect(refused.message).toBe(
        'cost breaker "tokens": 1300 of the budget 1000 spent in the window, nothing left until 1970-01-01T00:01:00.000Z'
      )
      yield* TestClock.adjust("50 seconds")
      expect(yield* tokens.remaining).toBe(300)
      expect(yield* tokens.execute(complete(1), byUsage)).toMatchObject({ used: 1 })
    }))

  it.scoped("a charge of a call under way postpones the closing", () =>
    Effect.gen(function*() {
      const breaker = yield* CostBreaker.make({ name: "inflight", budget: 10, window: "10 seconds" })
      const slow = yield* Effect.fork(breaker.execute(Effect.as(Effect.sleep("5 seconds"), 8), (used) => used))
      yield* Effect.yieldNow()
      yield* breaker.spend(10) // at 0: spent
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 0, retryAt: 10_000 })
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(slow) // charged 8 at 5 s: 18 spent
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 0, retryAt: 10_000 }) // 8 < 10 once the 10 frees
      yield* TestClock.adjust("5 seconds")
      expect(yield* tagOf(breaker)).toBe("Closed")
      expect(yield* breaker.remaining).toBe(2)
    }))

  it.scoped("closes on time by itself: the changes and the open gauge, with no call", () =>
    Effect.gen(function*() {
      const breaker = yield* CostBreaker.make({ name: "idle", budget: 2, window: "30 seconds" })
      const seen = yield* Effect.fork(Stream.runCollect(Stream.take(yield* breaker.changes, 2)))
      yield* breaker.spend(2)
      expect(yield* metric(CostBreaker.names.open, { policy: "idle" })).toBe(1)
      yield* TestClock.adjust("29999 millis")
      expect(yield* metric(CostBreaker.names.open, { policy: "idle" })).toBe(1)
      yield* TestClock.adjust("1 milli")
      expect(yield* metric(CostBreaker.names.open, { policy: "idle" })).toBe(0)
      expect([...(yield* Fiber.join(seen))]).toEqual([{ _tag: "Open", openedAt: 0, retryAt: 30_000 }, { _tag: "Closed" }])
    }))

  it.scoped("counts fractional money: 0.1 + 0.2 fits a budget of 0.3", () =>
    Effect.gen(function*() {
      const usd = yield* CostBreaker.make({ name: "usd", budget: 0.3, window: "1 day" })
      yield* usd.spend(0.1)
      yield* usd.spend(0.2)
      expect(yield* tagOf(usd)).toBe("Open")
      expect(yield* usd.remaining).toBe(0)
      expect((yield* Effect.flip(usd.spend(0.01))).retryAt).toBe(Duration.toMillis("1 day"))
      expect(yield* metric(CostBreaker.names.spent, { policy: "usd" })).toBeCloseTo(0.3, 12)
      yield* TestClock.adjust("1 day")
      expect(yield* usd.remaining).toBeCloseTo(0.3, 12)
      yield* usd.spend(0.25)
      expect(yield* usd.remaining).toBeCloseTo(0.05, 12)
    }))

  it.scoped("rejects bad options and amounts with a RangeError naming the field", () =>
    Effect.gen(function*() {
      const badOptions: Array<[CostBreaker.Options, string]> = [
        [{ name: "bad", budget: -1, window: "1 second" }, "budget must be a positive finite number, got -1"],
        [{ name: "bad", budget: NaN, window: "1 second" }, "budget must be a positive finite number, got NaN"],
        [{ name: "bad", budget: 0, window: "1 second" }, "budget must be a positive finite number, got 0"],
        [{ name: "bad", budget: Infinity, window: "1 second" }, "budget must be a positive finite number, got Infinity"],
        [{ name: "bad", budget: 1, window: 0 }, "window must be a positive finite duration"],
        [{ name: "bad", budget: 1, window: Duration.infinity }, "window must be a positive finite duration"]
      ]
      for (const [options, message] of badOptions) {
        expect(defectOf(yield* Effect.exit(CostBreaker.make(options)))).toEqual(new RangeError(`CostBreaker "bad": ${message}`))
      }
      const breaker = yield* CostBreaker.make({ name: "amounts", budget: 10, window: "1 second" })
      expect(defectOf(yield* Effect.exit(breaker.spend(NaN)))).toEqual(
        new RangeError('CostBreaker "amounts": amount must be a non-negative finite number, got NaN')
      )
      expect(defectOf(yield* Effect.exit(breaker.spend(-0.5)))).toEqual(
        new RangeError('CostBreaker "amounts": amount must be a non-negative finite number, got -0.5')
      )
      let ran = false
      expect(defectOf(yield* Effect.exit(breaker.execute(Effect.sync(() => (ran = true)), Infinity)))).toEqual(
        new RangeError('CostBreaker "amounts": cost must be a non-negative finite number, got Infinity')
      )
      expect(ran).toBe(false)
      expect(defectOf(yield* Effect.exit(breaker.execute(Effect.succeed("x"), () => NaN)))).toEqual(
        new RangeError('CostBreaker "amounts": cost must be a non-negative finite number, got NaN')
      )
      expect(yield* breaker.remaining).toBe(10)
    }))

  it.scoped("records its metrics, tagged by breaker", () =>
    Effect.gen(function*() {
      const breaker = yield* CostBreaker.make({ name: "metered", budget: 5, window: "1 minute" })
      const policy = { policy: "metered" }
      expect(yield* metric(CostBreaker.names.spent, policy)).toBe(0)
      expect(yield* metric(CostBreaker.names.refused, policy)).toBe(0)
      expect(yield* metric(CostBreaker.names.open, policy)).toBe(0)
      yield* breaker.spend(2.5)
      yield* breaker.execute(Effect.succeed(2), (n) => n)
      yield* Effect.either(breaker.spend(1))
      expect(yield* metric(CostBreaker.names.spent, policy)).toBe(4.5)
      expect(yield* metric(CostBreaker.names.refused, policy)).toBe(1)
      expect(yield* metric(CostBreaker.names.open, policy)).toBe(0) // 0.5 left
      yield* breaker.spend(0.5)
      expect(yield* metric(CostBreaker.names.open, policy)).toBe(1)
    }))

  it.effect("is a service with a layer", () =>
    Effect.gen(function*() {
      const breaker = yield* CostBreaker.CostBreaker
      yield* breaker.spend(1)
      expect(yield* breaker.remaining).toBe(1)
    }).pipe(Effect.provide(CostBreaker.layer({ name: "layered", budget: 2, window: "1 second" }))))

  it.effect("never lets the spend within any window exceed the budget; refuses only what does not fit, until exactly retryAt (property)", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ pause: fc.integer({ min: 0, max: 1_500 }), tenths: fc.integer({ min: 0, max: 40 }) }), { maxLength: 60 }),
          fc.integer({ min: 1, max: 10 }),
          fc.integer({ min: 1, max: 5_000 }),
          (steps, budget, window) =>
            Effect.runPromise(Effect.scoped(Effect.gen(function*() {
              const breaker = yield* CostBreaker.make({ name: "property", budget, window })
              const admitted: Array<{ readonly at: number; readonly amount: number }> = []
              const spentAt = (t: number) =>
                admitted.filter((charge) => charge.at > t - window && charge.at <= t).reduce((sum, charge) => sum + charge.amount, 0)
              const tolerance = budget * 1e-9
              let now = 0
              for (const step of steps) {
                yield* TestClock.adjust(Duration.millis(step.pause))
                now += step.pause
                const amount = step.tenths / 10
                const result = yield* Effect.either(breaker.spend(amount))
                if (Either.isRight(result)) {
                  admitted.push({ at: now, amount })
                  if (spentAt(now) > budget + tolerance) return false
                } else {
                  const { retryAt } = result.left
                  if (spentAt(now) + amount <= budget - tolerance) return false // refused what fit
                  if (amount > budget) {
                    if (retryAt !== Infinity) return false
                    continue
                  }
                  if (!(retryAt > now)) return false
                  if (spentAt(retryAt) + amount > budget + tolerance) return false // still no room at retryAt
                  if (spentAt(retryAt - 1) + amount <= budget - tolerance) return false // room before retryAt
                }
              }
              return true
            })).pipe(Effect.provide(TestContext.TestContext)))
        ),
        { numRuns: 200 }
      )
    ))

  it("has a Promise facade on the real clock: the call's own rejection, or BudgetSpent once spent", async () => {
    const breaker = CostBreaker.promise({ name: "facade", budget: 2, window: "300 millis" })
    try {
      const boom = new Error("boom")
      await expect(breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom)
      expect(await breaker.execute(async () => 42, (n) => n / 42)).toBe(42) // the failed call's 1, and 1 after this one
      expect(breaker.remaining()).toBe(0)
      expect(breaker.state()._tag).toBe("Open")
      let ran = false
      const before = Date.now()
      const refused: unknown = await breaker.execute(async () => (ran = true)).then(() => undefined, (error: unknown) => error)
      expect(refused).toBeInstanceOf(CostBreaker.BudgetSpent)
      const { retryAt } = refused as CostBreaker.BudgetSpent
      expect(retryAt).toBeGreaterThan(before)
      expect(retryAt).toBeLessThanOrEqual(before + 300)
      expect(ran).toBe(false)
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, retryAt - Date.now()) + 50))
      expect(breaker.state()._tag).toBe("Closed")
      await breaker.spend(1)
      expect(() => CostBreaker.promise({ name: "bad", budget: -1, window: "1 second" })).toThrow(RangeError)
    } finally {
      await breaker.close()
    }
  })
})
