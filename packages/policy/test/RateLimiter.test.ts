// The rate limiter's every boundary on TestClock (refill times, the window's edge, waits, maxWait,
// keys and their eviction, interrupted waiters), its metrics, its Promise facade on real time, and
// properties: for any operations, the sliding window never admits more than `limit` in any window
// and the bucket never more than `capacity + rate × d` in any interval; with `onLimit: "fail"`,
// both decide exactly as a naive reference model does (so they are not merely over-strict).
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import fc from "fast-check"
import * as RateLimiter from "../src/RateLimiter.js"

const now = Clock.currentTimeMillis
/** The time `effect` completed at (by the Clock). */
const doneAt = <E>(effect: Effect.Effect<void, E>) => Effect.zipRight(effect, now)
const bucket = (capacity: number, tokens: number, every: Duration.DurationInput): RateLimiter.Algorithm => ({
  _tag: "TokenBucket",
  capacity,
  refill: { tokens, every }
})
const sliding = (limit: number, window: Duration.DurationInput): RateLimiter.Algorithm => ({ _tag: "SlidingWindow", limit, window })
const retryAfterOf = <A>(effect: Effect.Effect<A, RateLimiter.RateLimited>) =>
  Effect.map(Effect.flip(effect), (error) => error.retryAfter)
const dieMessage = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) return "succeeded"
    const defect = Option.getOrUndefined(Cause.dieOption(exit.cause))
    return defect instanceof RangeError ? defect.message : `not a RangeError: ${String(defect)}`
  })

describe("RateLimiter", () => {
  describe("token bucket", () => {
    it.effect("admits a burst of capacity, then refuses with the exact time until the next token", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "tb-burst", algorithm: bucket(3, 1, "1 second") })
        for (let i = 0; i < 3; i++) yield* limiter.acquire()
        const refused = yield* Effect.flip(limiter.acquire())
        expect(refused).toBeInstanceOf(RateLimiter.RateLimited)
        expect(refused).toMatchObject({ _tag: "RateLimited", name: "tb-burst", key: "default", retryAfter: 1000 })
        expect(refused.message).toBe('rate limiter "tb-burst" refused key "default": over its limit, retry after 1000 ms')
        // A new error each refusal (equal by value), and the stack trace setting is left as it was.
        const again = yield* Effect.flip(limiter.acquire())
        expect(again).not.toBe(refused)
        expect(again).toEqual(refused)
        expect(Error.stackTraceLimit).toBeGreaterThan(0)
        yield* TestClock.adjust("999 millis")
        expect(yield* retryAfterOf(limiter.acquire())).toBe(1)
        yield* TestClock.adjust("1 milli")
        yield* limiter.acquire() // exactly at the refill
        expect(yield* retryAfterOf(limiter.acquire())).toBe(1000)
      }))

    it.effect("refills continuously (10 per second is one per 100 ms) and never above capacity", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "tb-rate", algorithm: bucket(5, 10, "1 second") })
        for (let i = 0; i < 5; i++) yield* limiter.acquire()
        expect(yield* retryAfterOf(limiter.acquire())).toBe(100)
        yield* TestClock.adjust("250 millis") // 2.5 tokens
        yield* limiter.acquire()
        yield* limiter.acquire()
        expect(yield* retryAfterOf(limiter.acquire())).toBe(50)
        yield* TestClock.adjust("1 hour") // full again, and no fuller
        for (let i = 0; i < 5; i++) yield* limiter.acquire()
        expect(yield* limiter.tryAcquire()).toBe(false)
      }))

    it.effect("takes several permits at once: the wait is for all of them; permits beyond capacity die", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "tb-permits", algorithm: bucket(4, 1, "1 second") })
        yield* limiter.acquire("k", 4)
        expect(yield* retryAfterOf(limiter.acquire("k", 3))).toBe(3000)
        yield* TestClock.adjust("3 seconds")
        yield* limiter.acquire("k", 3)
        expect(yield* dieMessage(limiter.acquire("k", 5))).toBe(
          'rate limiter "tb-permits": permits must be an integer from 1 to 4 (the capacity), got 5'
        )
        expect(yield* dieMessage(limiter.acquire("k", 0))).toContain("permits must be an integer from 1 to 4")
        expect(yield* dieMessage(limiter.tryAcquire("k", 1.5))).toContain("got 1.5")
        expect(yield* dieMessage(limiter.withPermit("k", 9)(Effect.void))).toContain("got 9")
      }))

    it.effect("with onLimit wait, serves waiters in order at the exact refill times, never two on one token", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "tb-wait", algorithm: bucket(1, 1, "1 second"), onLimit: "wait" })
        expect(yield* doneAt(limiter.acquire())).toBe(0)
        const waiters = []
        for (let i = 0; i < 3; i++) waiters.push(yield* Effect.fork(doneAt(limiter.acquire())))
        yield* Effect.yieldNow()
        yield* TestClock.adjust("999 millis")
        expect(yield* Effect.forEach(waiters, (fiber) => Effect.map(fiber.poll, Option.isSome))).toEqual([false, false, false])
        yield* TestClock.adjust("10 seconds")
        expect(yield* Effect.forEach(waiters, Fiber.join)).toEqual([1000, 2000, 3000])
        // The waiters took the refills: a new call at 10 999 ms finds what has refilled since 3000 ms.
        expect(yield* doneAt(limiter.acquire())).toBe(10_999)
      }))

    it.effect("a later small call does not overtake a waiting big one", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "tb-fifo", algorithm: bucket(10, 1, "1 second"), onLimit: "wait" })
        yield* limiter.acquire("k", 5)
        const big = yield* Effect.fork(doneAt(limiter.acquire("k", 10))) // 5 more tokens: at 5 s
        yield* Effect.yieldNow()
        const small = yield* Effect.fork(doneAt(limiter.acquire("k", 1))) // after it: at 6 s
        yield* Effect.yieldNow()
        yield* TestClock.adjust("1 minute")
        expect(yield* Fiber.join(big)).toBe(5000)
        expect(yield* Fiber.join(small)).toBe(6000)
      }))
  })

  describe("sliding window", () => {
    it.effect("a permit counts for exactly `window`: refused at window - 1 ms, admitted at window", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "sw-edge", algorithm: sliding(2, "1 second") })
        yield* limiter.acquire()
        yield* limiter.acquire()
        expect(yield* retryAfterOf(limiter.acquire())).toBe(1000)
        yield* TestClock.adjust("999 millis")
        expect(yield* retryAfterOf(limiter.acquire())).toBe(1)
        yield* TestClock.adjust("1 milli")
        yield* limiter.acquire()
        yield* limiter.acquire()
        expect(yield* retryAfterOf(limiter.acquire())).toBe(1000)
      }))

    it.effect("slides: no fixed-window burst at a boundary; each admission frees its slot window later", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "sw-slide", algorithm: sliding(2, "1 second") })
        yield* limiter.acquire() // 0
        yield* TestClock.adjust("500 millis")
        yield* limiter.acquire() // 500
        yield* TestClock.adjust("499 millis")
        expect(yield* retryAfterOf(limiter.acquire())).toBe(1) // 999: (0, 500] are in the window
        yield* TestClock.adjust("1 milli")
        yield* limiter.acquire() // 1000: the one at 0 left
        expect(yield* retryAfterOf(limiter.acquire())).toBe(500) // the one at 500 leaves at 1500
        expect(yield* retryAfterOf(limiter.acquire("default", 2))).toBe(1000) // both of 500 and 1000 must leave
      }))

    it.effect("with onLimit wait, books future slots: five calls at once at 0, 0, 1000, 1000, 2000", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "sw-wait", algorithm: sliding(2, "1 second"), onLimit: "wait" })
        const calls = []
        for (let i = 0; i < 5; i++) calls.push(yield* Effect.fork(doneAt(limiter.acquire())))
        yield* Effect.yieldNow()
        yield* TestClock.adjust("10 seconds")
        expect(yield* Effect.forEach(calls, Fiber.join)).toEqual([0, 0, 1000, 1000, 2000])
      }))
  })

  describe("waiting", () => {
    it.effect("maxWait: waits up to exactly maxWait, fails at once beyond it without reserving", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "max-wait",
          algorithm: bucket(1, 1, "1 second"),
          onLimit: "wait",
          maxWait: "2 seconds"
        })
        yield* limiter.acquire()
        const first = yield* Effect.fork(doneAt(limiter.acquire())) // 1000
        const second = yield* Effect.fork(doneAt(limiter.acquire())) // 2000: exactly maxWait
        yield* Effect.yieldNow()
        const refused = yield* Effect.flip(limiter.acquire()) // would be 3000
        expect(refused).toMatchObject({ _tag: "RateLimited", retryAfter: 3000 })
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(first)).toBe(1000)
        const third = yield* Effect.fork(doneAt(limiter.acquire())) // the refusal reserved nothing: 3000
        yield* Effect.yieldNow()
        yield* TestClock.adjust("5 seconds")
        expect(yield* Fiber.join(second)).toBe(2000)
        expect(yield* Fiber.join(third)).toBe(3000)
      }))

    it.effect("waits longer than a JS timer can (24.8 days) still end at the exact time", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "long", algorithm: bucket(1, 1, "30 days"), onLimit: "wait" })
        yield* limiter.acquire()
        const waiter = yield* Effect.fork(doneAt(limiter.acquire()))
        yield* Effect.yieldNow()
        yield* TestClock.adjust("29 days")
        expect(Option.isNone(yield* waiter.poll)).toBe(true)
        yield* TestClock.adjust("2 days")
        expect(yield* Fiber.join(waiter)).toBe(Duration.toMillis("30 days"))
      }))

    it.effect("an interrupted waiter gives its reservation back (the bucket)", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "undo-tb", algorithm: bucket(1, 1, "1 second"), onLimit: "wait" })
        yield* limiter.acquire()
        const waiter = yield* Effect.fork(limiter.acquire()) // reserves 1000
        yield* Effect.yieldNow()
        yield* TestClock.adjust("400 millis")
        yield* Fiber.interrupt(waiter)
        const next = yield* Effect.fork(doneAt(limiter.acquire()))
        yield* Effect.yieldNow()
        yield* TestClock.adjust("5 seconds")
        expect(yield* Fiber.join(next)).toBe(1000) // not 2000
      }))

    it.effect("an interrupted waiter gives its slots back (the window), in any order of interruption", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "undo-sw", algorithm: sliding(2, "1 second"), onLimit: "wait" })
        yield* limiter.acquire()
        yield* limiter.acquire()
        const a = yield* Effect.fork(limiter.acquire("default", 2)) // 1000, 1000
        yield* Effect.yieldNow()
        const b = yield* Effect.fork(limiter.acquire()) // 2000
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(b)
        yield* Fiber.interrupt(a)
        const next = yield* Effect.fork(doneAt(limiter.acquire("default", 2)))
        yield* Effect.yieldNow()
        yield* TestClock.adjust("5 seconds")
        expect(yield* Fiber.join(next)).toBe(1000)
        expect(yield* limiter.tryAcquire()).toBe(true) // 5000: both slots long free
      }))

    it.effect("an interrupted waiter with a later reservation behind it forfeits: the later one is not moved up", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "forfeit", algorithm: bucket(1, 1, "1 second"), onLimit: "wait" })
        yield* limiter.acquire()
        const a = yield* Effect.fork(doneAt(limiter.acquire())) // 1000
        yield* Effect.yieldNow()
        const b = yield* Effect.fork(doneAt(limiter.acquire())) // 2000
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(a)
        const c = yield* Effect.fork(doneAt(limiter.acquire()))
        yield* Effect.yieldNow()
        yield* TestClock.adjust("10 seconds")
        expect(yield* Fiber.join(b)).toBe(2000)
        expect(yield* Fiber.join(c)).toBe(3000) // a's token is lost, never handed out twice
      }))

    it.effect("the same in the window: the later reservation keeps its slot, the interrupted one's are lost", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "forfeit-sw", algorithm: sliding(1, "1 second"), onLimit: "wait" })
        yield* limiter.acquire()
        const a = yield* Effect.fork(doneAt(limiter.acquire())) // 1000
        yield* Effect.yieldNow()
        const b = yield* Effect.fork(doneAt(limiter.acquire())) // 2000
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(a)
        const c = yield* Effect.fork(doneAt(limiter.acquire()))
        yield* Effect.yieldNow()
        yield* TestClock.adjust("10 seconds")
        expect(yield* Fiber.join(b)).toBe(2000)
        expect(yield* Fiber.join(c)).toBe(3000)
      }))

    it.effect("tryAcquire never waits nor reserves, even with onLimit wait", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "try", algorithm: bucket(1, 1, "1 second"), onLimit: "wait" })
        expect(yield* limiter.tryAcquire()).toBe(true)
        expect(yield* limiter.tryAcquire()).toBe(false)
        expect(yield* now).toBe(0)
        yield* TestClock.adjust("1 second")
        expect(yield* limiter.tryAcquire()).toBe(true)
      }))

    it.effect("withPermit runs the effect once admitted and not at all when refused; it composes in pipe", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "with", algorithm: sliding(1, "1 minute") })
        let runs = 0
        const call = Effect.sync(() => ++runs)
        expect(yield* call.pipe(limiter.withPermit("u1"))).toBe(1)
        const refused = yield* Effect.flip(call.pipe(limiter.withPermit("u1")))
        expect(refused).toMatchObject({ _tag: "RateLimited", key: "u1", retryAfter: 60_000 })
        expect(runs).toBe(1)
        expect(yield* call.pipe(limiter.withPermit("u2"))).toBe(2)
      }))
  })

  describe("keys", () => {
    it.effect("each key is limited on its own; the default key is \"default\"", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "keys", algorithm: bucket(1, 1, "1 minute") })
        yield* limiter.acquire("a")
        expect(yield* Effect.flip(limiter.acquire("a"))).toMatchObject({ key: "a", retryAfter: 60_000 })
        yield* limiter.acquire("b")
        yield* limiter.acquire()
        expect(yield* Effect.flip(limiter.acquire("default"))).toMatchObject({ key: "default" })
      }))

    it.effect("keeps at most maxKeys: evicts the least recently used, counting only keys still limited", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "evict", algorithm: sliding(1, "1 second"), maxKeys: 2 })
        const evicted = Metric.value(RateLimiter.metrics("evict").evictedKeys)
        yield* limiter.acquire("a")
        yield* limiter.acquire("b")
        expect(yield* limiter.tryAcquire("a")).toBe(false) // a is used again: b is now the least recent
        yield* limiter.acquire("c") // evicts b, still limited
        expect((yield* evicted).count).toBe(1)
        expect(yield* limiter.tryAcquire("a")).toBe(false) // a was kept
        expect(yield* limiter.tryAcquire("b")).toBe(true) // b was forgotten: it starts afresh (evicts c)
        expect((yield* evicted).count).toBe(2)
        yield* TestClock.adjust("1 second") // a and b are idle now
        yield* limiter.acquire("d")
        yield* limiter.acquire("e")
        expect((yield* evicted).count).toBe(2) // a and b were forgotten, but idle: nothing lost
        yield* limiter.acquire("f") // evicts d, admitted just now
        expect((yield* evicted).count).toBe(3)
      }))

    it.effect("a flood of untrusted keys cannot grow the state beyond maxKeys", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "flood", algorithm: sliding(1, "1 hour"), maxKeys: 100 })
        yield* limiter.acquire("victim")
        for (let i = 0; i < 10_000; i++) yield* limiter.acquire(`attacker-${i}`)
        // Only the 100 most recent keys are remembered: the first attackers, and the victim, were forgotten.
        expect(yield* limiter.tryAcquire("attacker-9999")).toBe(false)
        expect(yield* limiter.tryAcquire("attacker-9950")).toBe(false)
        expect(yield* limiter.tryAcquire("attacker-0")).toBe(true)
        expect(yield* limiter.tryAcquire("victim")).toBe(true)
        expect((yield* Metric.value(RateLimiter.metrics("flood").evictedKeys)).count).toBeGreaterThanOrEqual(9_901)
      }))

    it("forgets exactly the keys an LRU model forgets, for any sequence of keys (property)", () => {
      let run = 0
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 300 }), (maxKeys, sequence) => {
          const name = `lru-${run++}`
          // One permit an hour: a key it remembers is refused, a key it forgot (or never saw) is admitted afresh.
          const limiter = RateLimiter.promise({ name, algorithm: sliding(1, "1 hour"), maxKeys })
          const model = new Map<string, true>() // insertion order is use order
          let evictions = 0
          for (const n of sequence) {
            const key = `k${n}`
            const remembered = model.has(key)
            model.delete(key)
            model.set(key, true)
            if (!remembered && model.size > maxKeys) {
              model.delete(model.keys().next().value!)
              evictions++
            }
            if (limiter.tryAcquire(key) === remembered) return false
          }
          return Effect.runSync(Metric.value(RateLimiter.metrics(name).evictedKeys)).count === evictions
        }),
        { numRuns: 300 }
      )
    })
  })

  describe("time", () => {
    it.effect("a step back of the clock does not stall it", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(100_000)
        const limiter = yield* RateLimiter.make({ name: "back", algorithm: bucket(1, 1, "1 second") })
        yield* limiter.acquire()
        yield* TestClock.setTime(0) // back by 100 s
        expect(yield* retryAfterOf(limiter.acquire())).toBe(1000) // not 101 000
        yield* TestClock.adjust("1 second")
        yield* limiter.acquire()
      }))
  })

  describe("metrics", () => {
    it.effect("counts admitted and rejected acquisitions and the waits, tagged policy=<name> and not by key", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "metered",
          algorithm: bucket(2, 1, "1 second"),
          onLimit: "wait",
          maxWait: "1 second"
        })
        const m = RateLimiter.metrics("metered")
        expect((yield* Metric.value(m.admitted)).count).toBe(0) // registered at zero
        yield* limiter.acquire("a")
        yield* limiter.acquire("b")
        yield* limiter.acquire("a")
        yield* Effect.either(limiter.acquire("a", 2)) // would wait 2 s > maxWait
        yield* limiter.tryAcquire("a")
        const waiter = yield* Effect.fork(limiter.acquire("a")) // waits 1 s
        const interrupted = yield* Effect.fork(limiter.acquire("b", 2)) // would wait 1 s; interrupted
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(interrupted)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(waiter)
        expect((yield* Metric.value(m.admitted)).count).toBe(4)
        expect((yield* Metric.value(m.rejected)).count).toBe(2)
        const waits = yield* Metric.value(m.waitSeconds)
        expect(waits.count).toBe(1)
        expect(waits.sum).toBe(1)
        const ownSeries = Metric.unsafeSnapshot().filter((pair) =>
          Object.values(RateLimiter.names).includes(pair.metricKey.name as never) &&
          pair.metricKey.tags.some((tag) => tag.key === "policy" && tag.value === "metered")
        )
        expect(ownSeries.map((pair) => pair.metricKey.name).sort()).toEqual(Object.values(RateLimiter.names).sort())
        for (const pair of ownSeries) expect(pair.metricKey.tags.map((tag) => tag.key)).toEqual(["policy"])
        // The same series, by name and tag:
        const admitted = Metric.counter(RateLimiter.names.admitted, {
          description: "Acquisitions a rate limiter admitted.",
          incremental: true
        }).pipe(Metric.tagged("policy", "metered"))
        expect((yield* Metric.value(admitted)).count).toBe(4)
        expect((yield* Metric.value(RateLimiter.metrics("other").admitted)).count).toBe(0)
      }))
  })

  describe("options", () => {
    it.effect("invalid options die with a RangeError naming the field", () =>
      Effect.gen(function*() {
        const message = (options: RateLimiter.Options) => dieMessage(RateLimiter.make(options))
        expect(yield* message({ name: "o", algorithm: bucket(0, 1, "1 second") })).toBe(
          'rate limiter "o": capacity must be a positive integer, got 0'
        )
        expect(yield* message({ name: "o", algorithm: bucket(1.5, 1, "1 second") })).toContain("capacity must be a positive integer")
        expect(yield* message({ name: "o", algorithm: bucket(1, -1, "1 second") })).toContain("refill.tokens must be a positive integer")
        expect(yield* message({ name: "o", algorithm: bucket(1, 1, "0 millis") })).toContain("refill.every must be a positive, finite duration")
        expect(yield* message({ name: "o", algorithm: bucket(1, 1, Duration.infinity) })).toContain("refill.every must be")
        expect(yield* message({ name: "o", algorithm: sliding(0, "1 second") })).toContain("limit must be a positive integer, got 0")
        expect(yield* message({ name: "o", algorithm: sliding(1, "soon" as Duration.DurationInput) })).toContain("window must be a duration, got soon")
        expect(yield* message({ name: "o", algorithm: sliding(1, "1 second"), maxKeys: 0 })).toContain("maxKeys must be a positive integer")
        expect(yield* message({ name: "o", algorithm: sliding(1, "1 second"), onLimit: "wait", maxWait: "later" as Duration.DurationInput }))
          .toContain("maxWait must be a duration")
        expect(yield* message({ name: "o", algorithm: sliding(1, "1 second"), onLimit: "block" as "wait" })).toContain("onLimit must be")
        expect(yield* message({ name: "o", algorithm: { _tag: "Leaky" } as unknown as RateLimiter.Algorithm })).toContain(
          'algorithm._tag must be "TokenBucket" or "SlidingWindow", got Leaky'
        )
        expect(yield* message({ name: "o", algorithm: sliding(1, "1 second") })).toBe("succeeded")
      }))
  })

  describe("service", () => {
    it.effect("layer provides the RateLimiter tag; several limiters use their own tags", () =>
      Effect.gen(function*() {
        class Login extends Context.Tag("test/Login")<Login, RateLimiter.RateLimiter>() {}
        const program = Effect.gen(function*() {
          const api = yield* RateLimiter.RateLimiter
          const login = yield* Login
          yield* api.acquire()
          yield* login.acquire()
          return [api.name, login.name, yield* api.tryAcquire(), yield* login.tryAcquire()] as const
        })
        const layers = Layer.merge(
          RateLimiter.layer({ name: "svc-api", algorithm: sliding(2, "1 second") }),
          Layer.effect(Login, RateLimiter.make({ name: "svc-login", algorithm: bucket(1, 1, "1 minute") }))
        )
        expect(yield* Effect.provide(program, layers)).toEqual(["svc-api", "svc-login", true, false])
      }))
  })

  describe("properties", () => {
    type Step =
      | { readonly _tag: "advance"; readonly ms: number }
      | { readonly _tag: "acquire" | "try"; readonly key: "a" | "b"; readonly permits: number }
      | { readonly _tag: "interrupt"; readonly index: number }
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 1500 }) }) },
      { weight: 2, arbitrary: fc.record({ _tag: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 5 }) }) },
      {
        weight: 2,
        arbitrary: fc.record({
          _tag: fc.constantFrom("acquire" as const, "try" as const),
          key: fc.constantFrom("a" as const, "b" as const),
          permits: fc.integer({ min: 1, max: 4 })
        })
      },
      {
        weight: 4,
        arbitrary: fc.record({ _tag: fc.constant("acquire" as const), key: fc.constant("a" as const), permits: fc.integer({ min: 1, max: 2 }) })
      },
      { weight: 2, arbitrary: fc.record({ _tag: fc.constant("interrupt" as const), index: fc.nat() }) }
    )
    interface Admission {
      readonly key: string
      readonly at: number
      readonly permits: number
    }

    /** Runs the steps (acquisitions forked, waiting or not) and returns every admission. */
    const admissions = (options: RateLimiter.Options, max: number, steps: ReadonlyArray<Step>) =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make(options)
        const admitted: Array<Admission> = []
        const fibers: Array<Fiber.RuntimeFiber<unknown>> = []
        for (const step of steps) {
          if (step._tag === "advance") yield* TestClock.adjust(Duration.millis(step.ms))
          else if (step._tag === "interrupt") {
            const fiber = fibers[fibers.length - 1 - (step.index % 3)] // a recent one: likely still waiting
            if (fiber !== undefined) yield* Fiber.interrupt(fiber)
          } else {
            const permits = 1 + ((step.permits - 1) % max)
            if (step._tag === "try") {
              if (yield* limiter.tryAcquire(step.key, permits)) admitted.push({ key: step.key, at: yield* now, permits })
            } else {
              fibers.push(yield* Effect.fork(Effect.either(Effect.tap(doneAt(limiter.acquire(step.key, permits)), (at) => {
                admitted.push({ key: step.key, at, permits })
              }))))
              yield* Effect.yieldNow()
            }
          }
        }
        yield* TestClock.adjust("1 day")
        yield* Effect.forEach(fibers, Fiber.await)
        return admitted
      }).pipe(Effect.provide(TestContext.TestContext))

    const byKey = (admitted: ReadonlyArray<Admission>) =>
      ["a", "b"].map((key) => admitted.filter((a) => a.key === key).sort((x, y) => x.at - y.at))

    const config = fc.record({
      max: fc.integer({ min: 1, max: 4 }),
      onLimit: fc.constantFrom("wait" as const, "wait" as const, "wait" as const, "fail" as const),
      maxWait: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined, freq: 2 })
    })

    it.effect("the sliding window never admits more than limit in any window of length window", () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(config, fc.integer({ min: 1, max: 1000 }), fc.array(step, { maxLength: 80 }), async (c, window, steps) => {
            const admitted = await Effect.runPromise(admissions({
              name: "prop-sw",
              algorithm: sliding(c.max, Duration.millis(window)),
              onLimit: c.onLimit,
              ...(c.maxWait === undefined ? {} : { maxWait: Duration.millis(c.maxWait) })
            }, c.max, steps))
            for (const list of byKey(admitted)) {
              for (const first of list) {
                const inWindow = list.filter((a) => a.at >= first.at && a.at < first.at + window)
                const permits = inWindow.reduce((sum, a) => sum + a.permits, 0)
                if (permits > c.max) return false
              }
            }
            return true
          }),
          { numRuns: 300 }
        )
      ))

    it.effect("the token bucket never admits more than capacity + rate × d in any interval of length d", () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            config,
            fc.integer({ min: 1, max: 3 }),
            fc.integer({ min: 1, max: 1000 }),
            fc.array(step, { maxLength: 80 }),
            async (c, tokens, every, steps) => {
              const admitted = await Effect.runPromise(admissions({
                name: "prop-tb",
                algorithm: bucket(c.max, tokens, Duration.millis(every)),
                onLimit: c.onLimit,
                ...(c.maxWait === undefined ? {} : { maxWait: Duration.millis(c.maxWait) })
              }, c.max, steps))
              for (const list of byKey(admitted)) {
                for (let i = 0; i < list.length; i++) {
                  let permits = 0
                  for (let j = i; j < list.length; j++) {
                    permits += list[j]!.permits
                    // permits ≤ capacity + (tokens / every) × d, in integers
                    if (permits * every > c.max * every + tokens * (list[j]!.at - list[i]!.at)) return false
                  }
                }
              }
              return true
            }
          ),
          { numRuns: 300 }
        )
      ))

    /** A naive model of the decisions with onLimit fail: 0 (admitted) or the retryAfter. */
    const slidingModel = (limit: number, window: number) => {
      const logs = new Map<string, Array<Admission>>()
      return (time: number, key: string, permits: number): number => {
        const log = logs.get(key) ?? []
        logs.set(key, log)
        const used = (t: number) => log.filter((a) => a.at > t - window && a.at <= t).reduce((sum, a) => sum + a.permits, 0)
        if (used(time) + permits <= limit) {
          log.push({ key, at: time, permits })
          return 0
        }
        const candidates = log.map((a) => a.at + window - time).filter((r) => r > 0).sort((x, y) => x - y)
        return candidates.find((r) => used(time + r) + permits <= limit)!
      }
    }
    const bucketModel = (capacity: number, tokens: number, every: number) => {
      const states = new Map<string, { units: number; at: number }>()
      return (time: number, key: string, permits: number): number => {
        const state = states.get(key) ?? { units: capacity * every, at: time }
        states.set(key, state)
        state.units = Math.min(capacity * every, state.units + (time - state.at) * tokens)
        state.at = time
        if (state.units >= permits * every) {
          state.units -= permits * every
          return 0
        }
        return Math.ceil((permits * every - state.units) / tokens)
      }
    }

    it.effect("with onLimit fail, both decide exactly as a naive model: admitted, or refused with the exact retryAfter", () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.boolean(),
            fc.integer({ min: 1, max: 4 }),
            fc.integer({ min: 1, max: 3 }),
            fc.integer({ min: 1, max: 1000 }),
            fc.array(step, { maxLength: 80 }),
            (isBucket, max, tokens, ms, steps) =>
              Effect.runPromise(Effect.gen(function*() {
                const limiter = yield* RateLimiter.make({
                  name: "model",
                  algorithm: isBucket ? bucket(max, tokens, Duration.millis(ms)) : sliding(max, Duration.millis(ms))
                })
                const model = isBucket ? bucketModel(max, tokens, ms) : slidingModel(max, ms)
                for (const step of steps) {
                  if (step._tag === "advance") yield* TestClock.adjust(Duration.millis(step.ms))
                  else if (step._tag !== "interrupt") {
                    const permits = 1 + ((step.permits - 1) % max)
                    const expected = model(yield* now, step.key, permits)
                    const result = yield* Effect.either(limiter.acquire(step.key, permits))
                    const actual = Either.isRight(result) ? 0 : result.left.retryAfter
                    if (actual !== expected) return false
                  }
                }
                return true
              }).pipe(Effect.provide(TestContext.TestContext)))
          ),
          { numRuns: 300 }
        )
      ))
  })

  describe("promise facade", () => {
    it("admits, waits on the real clock, and rejects with RateLimited", async () => {
      const waiting = RateLimiter.promise({ name: "p-wait", algorithm: sliding(2, "200 millis"), onLimit: "wait" })
      const start = Date.now()
      const times = await Promise.all([0, 1, 2, 3].map(() => waiting.acquire("k").then(() => Date.now() - start)))
      expect(times[0]).toBeLessThan(100)
      expect(times[1]).toBeLessThan(100)
      expect(times[2]).toBeGreaterThanOrEqual(190)
      expect(times[3]).toBeGreaterThanOrEqual(190)
      expect(times[3]).toBeLessThan(5000)

      const failing = RateLimiter.promise({ name: "p-fail", algorithm: bucket(1, 1, "1 hour") })
      let runs = 0
      expect(await failing.withPermit(async () => ++runs, "u")).toBe(1)
      const refused = await failing.withPermit(async () => ++runs, "u").catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(RateLimiter.RateLimited)
      expect(refused).toMatchObject({ name: "p-fail", key: "u" })
      expect((refused as RateLimiter.RateLimited).retryAfter).toBeGreaterThan(3_500_000)
      expect((refused as RateLimiter.RateLimited).retryAfter).toBeLessThanOrEqual(3_600_000)
      expect(runs).toBe(1)
      await expect(failing.acquire("u")).rejects.toBeInstanceOf(RateLimiter.RateLimited)
      await failing.acquire("v")
      expect(failing.tryAcquire("w")).toBe(true)
      expect(failing.tryAcquire("w")).toBe(false)
      await expect(failing.acquire("x", 2)).rejects.toBeInstanceOf(RangeError)
      expect(() => RateLimiter.promise({ name: "p-bad", algorithm: sliding(-1, "1 second") })).toThrow(
        'rate limiter "p-bad": limit must be a positive integer, got -1'
      )
    })
  })
})
