// The bulkhead on TestClock: admission, FIFO hand-over, shedding (full and queueTimeout, at the
// boundary), interruption of waiters and of running calls, releases on failures and defects,
// metrics, layers, retry; a property over random arrivals, durations, timeouts and interruptions;
// and the Promise facade on the real clock.
import { describe, expect, it } from "@effect/vitest"
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import fc from "fast-check"
import * as Backpressure from "../src/Backpressure.js"

let unique = 0
/** Metrics live in Effect's global registry: a fresh name per bulkhead keeps the tests apart. */
const fresh = (name: string) => `${name}-${++unique}`

const gauge = (which: "active" | "queued", name: string) =>
  Effect.map(Metric.value(Backpressure.metrics(name)[which]), (state) => state.value)
const shedCount = (name: string, reason: "full" | "queueTimeout") =>
  Effect.map(
    Metric.value(Backpressure.metrics(name).shed(reason)),
    (state) => state.count
  )
const queueTime = (name: string) => Metric.value(Backpressure.metrics(name).queueTime)

/** The test's Clock, counting the sleeps begun and the sleeps interrupted (the queueTimeout timers). */
const spyClock = Effect.map(Effect.clock, (clock) => {
  const timers = { started: 0, stopped: 0 }
  const spy: Clock.Clock = Object.assign(Object.create(clock) as Clock.Clock, {
    sleep: (duration: Duration.Duration) =>
      Effect.onInterrupt(
        Effect.zipRight(Effect.sync(() => timers.started++), clock.sleep(duration)),
        () => Effect.sync(() => timers.stopped++)
      )
  })
  return { spy, timers }
})

/** Lets forked fibers run up to their next suspension. */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

describe("Backpressure", () => {
  it.effect("runs calls at once below maxConcurrent and sheds with reason full once slots and queue are taken", () =>
    Effect.gen(function*() {
      const name = fresh("db")
      const bulkhead = yield* Backpressure.make({ name, maxConcurrent: 2, maxQueued: 1 })
      expect(yield* bulkhead.execute(Effect.succeed(1))).toBe(1)
      const gate = yield* Deferred.make<void>()
      const running = [
        yield* Effect.fork(bulkhead.execute(Deferred.await(gate))),
        yield* Effect.fork(bulkhead.execute(Deferred.await(gate)))
      ]
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 2, queued: 0 })
      const waiting = yield* Effect.fork(bulkhead.execute(Effect.succeed("queued")))
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 2, queued: 1 })
      let ran = false
      const shed = yield* Effect.flip(bulkhead.execute(Effect.sync(() => (ran = true))))
      expect(shed).toBeInstanceOf(Backpressure.BulkheadFull)
      expect(shed).toMatchObject({ _tag: "BulkheadFull", name, reason: "full", active: 2, queued: 1 })
      expect(shed.message).toBe(`bulkhead "${name}" is full (2 running, 1 queued): call shed`)
      expect(ran).toBe(false)
      expect(yield* shedCount(name, "full")).toBe(1)
      expect(yield* shedCount(name, "queueTimeout")).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll(running)
      expect(yield* Fiber.join(waiting)).toBe("queued")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
    }))

  it.effect("with no queue (the default), sheds as soon as every slot is taken", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Backpressure.make({ name: fresh("noqueue"), maxConcurrent: 1 })
      expect(bulkhead.maxQueued).toBe(0)
      yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* settle
      expect((yield* Effect.flip(bulkhead.execute(Effect.void))).reason).toBe("full")
    }))

  it.effect("resumes waiters in FIFO order", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Backpressure.make({ name: fresh("fifo"), maxConcurrent: 1, maxQueued: 10 })
      const order: Array<number> = []
      const blocker = yield* Effect.fork(bulkhead.execute(Effect.sleep("1 second")))
      yield* settle
      const waiters: Array<Fiber.RuntimeFiber<void, Backpressure.BulkheadFull>> = []
      for (let i = 0; i < 8; i++) {
        waiters.push(yield* Effect.fork(bulkhead.execute(Effect.zipRight(Effect.sleep(Duration.millis(10 * (8 - i))), Effect.sync(() => {
          order.push(i)
        })))))
        yield* settle
      }
      expect((yield* bulkhead.stats).queued).toBe(8)
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(blocker)
      yield* Fiber.joinAll(waiters)
      expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    }))

  it.effect("hands a freed slot to the oldest waiter: a newcomer cannot jump the queue", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Backpressure.make({ name: fresh("handoff"), maxConcurrent: 1, maxQueued: 1 })
      const order: Array<string> = []
      let waiter: Fiber.RuntimeFiber<void, Backpressure.BulkheadFull> | undefined
      yield* bulkhead.execute(Effect.gen(function*() {
        waiter = yield* Effect.fork(bulkhead.execute(Effect.sync(() => void order.push("waiter"))))
        yield* settle // the waiter queues behind this call
      }))
      // The slot went straight to the waiter, which has not run yet:
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0 })
      yield* bulkhead.execute(Effect.sync(() => void order.push("newcomer")))
      yield* Fiber.join(waiter!)
      expect(order).toEqual(["waiter", "newcomer"])
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
    }))

  it.effect("sheds a queued call exactly when it has waited queueTimeout", () =>
    Effect.gen(function*() {
      const name = fresh("timeout")
      const bulkhead = yield* Backpressure.make({ name, maxConcurrent: 1, maxQueued: 2, queueTimeout: "1 second" })
      yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* settle
      let ran = false
      const waiting = yield* Effect.fork(bulkhead.execute(Effect.sync(() => (ran = true))))
      yield* settle
      yield* TestClock.adjust("999 millis")
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 1 })
      yield* TestClock.adjust("1 milli")
      const exit = yield* Fiber.await(waiting)
      expect(exit).toEqual(Exit.fail(new Backpressure.BulkheadFull({ name, reason: "queueTimeout", active: 1, queued: 0 })))
      expect(ran).toBe(false)
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0 })
      expect(yield* shedCount(name, "queueTimeout")).toBe(1)
      expect(yield* shedCount(name, "full")).toBe(0)
      expect(yield* gauge("queued", name)).toBe(0)
    }))

  it.effect("a waiter that gets its slot before queueTimeout runs, and its timer is gone", () =>
    Effect.gen(function*() {
      const name = fresh("timeout-ok")
      const { spy, timers } = yield* spyClock
      const bulkhead = yield* Effect.withClock(Backpressure.make({ name, maxConcurrent: 1, maxQueued: 1, queueTimeout: "1 second" }), spy)
      yield* Effect.fork(bulkhead.execute(Effect.sleep("500 millis")))
      yield* settle
      const waiting = yield* Effect.fork(bulkhead.execute(Effect.as(Effect.sleep("2 seconds"), "done")))
      yield* settle
      expect(timers).toEqual({ started: 1, stopped: 0 })
      yield* TestClock.adjust("500 millis")
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0 })
      expect(timers).toEqual({ started: 1, stopped: 1 }) // its timer stopped as it got the slot
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(waiting)).toBe("done")
      expect(yield* shedCount(name, "queueTimeout")).toBe(0)
    }))

  it.effect("an interrupted waiter leaves the queue, never runs and takes no slot", () =>
    Effect.gen(function*() {
      const name = fresh("interrupt-queued")
      const { spy, timers } = yield* spyClock
      const bulkhead = yield* Effect.withClock(Backpressure.make({ name, maxConcurrent: 1, maxQueued: 1, queueTimeout: "10 seconds" }), spy)
      const gate = yield* Deferred.make<void>()
      const blocker = yield* Effect.fork(bulkhead.execute(Deferred.await(gate)))
      yield* settle
      let ran = false
      const waiting = yield* Effect.fork(bulkhead.execute(Effect.sync(() => (ran = true))))
      yield* settle
      expect((yield* Effect.flip(bulkhead.execute(Effect.void))).reason).toBe("full") // its place is taken
      yield* Fiber.interrupt(waiting)
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0 })
      expect(yield* gauge("queued", name)).toBe(0)
      yield* settle
      expect(timers).toEqual({ started: 1, stopped: 1 }) // its queueTimeout timer is stopped
      const next = yield* Effect.fork(bulkhead.execute(Effect.succeed("next"))) // its place is free again
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 1 })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(blocker)
      expect(yield* Fiber.join(next)).toBe("next")
      expect(ran).toBe(false)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
      yield* TestClock.adjust("1 minute")
      expect(yield* shedCount(name, "queueTimeout")).toBe(0)
    }))

  it.effect("interrupting a running call frees its slot for the next waiter", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Backpressure.make({ name: fresh("interrupt-running"), maxConcurrent: 1, maxQueued: 1 })
      const running = yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* settle
      const waiting = yield* Effect.fork(bulkhead.execute(Effect.succeed("after")))
      yield* settle
      yield* Fiber.interrupt(running)
      expect(yield* Fiber.join(waiting)).toBe("after")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
    }))

  it.effect("a waiter interrupted just as it is handed the slot passes the slot on (it is never lost)", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Backpressure.make({ name: fresh("race"), maxConcurrent: 1, maxQueued: 2 })
      const gate = yield* Deferred.make<void>()
      let ran = false
      let victim: Fiber.RuntimeFiber<boolean, Backpressure.BulkheadFull> | undefined
      const blocker = yield* Effect.fork(bulkhead.execute(Effect.zipRight(
        Deferred.await(gate),
        // Interrupts the waiter, then (as this call ends) hands it the slot, before it can act on either.
        Effect.sync(() => victim!.unsafeInterruptAsFork(victim!.id()))
      )))
      yield* settle
      victim = yield* Effect.fork(bulkhead.execute(Effect.sync(() => (ran = true))))
      yield* settle
      const next = yield* Effect.fork(bulkhead.execute(Effect.succeed("next")))
      yield* settle
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(blocker)
      expect(Exit.isInterrupted(yield* Fiber.await(victim))).toBe(true)
      expect(ran).toBe(false)
      expect(yield* Fiber.join(next)).toBe("next")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
    }))

  it.effect("failures and defects of the call release its slot", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Backpressure.make({ name: fresh("errors"), maxConcurrent: 1, maxQueued: 2 })
      const gate = yield* Deferred.make<void>()
      const failing = yield* Effect.fork(bulkhead.execute(Effect.zipRight(Deferred.await(gate), Effect.fail("boom" as const))))
      yield* settle
      const dying = yield* Effect.fork(bulkhead.execute(Effect.die("bug")))
      const last = yield* Effect.fork(bulkhead.execute(Effect.succeed("ok")))
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 2 })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.await(failing)).toEqual(Exit.fail("boom"))
      expect(Exit.isFailure(yield* Fiber.await(dying))).toBe(true)
      expect(yield* Fiber.join(last)).toBe("ok")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
      expect(yield* Effect.exit(bulkhead.execute(Effect.die("again")))).toEqual(Exit.die("again"))
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
    }))

  it.effect("records its gauges, shed counters and the queue time of the calls that queued", () =>
    Effect.gen(function*() {
      const name = fresh("metrics")
      const bulkhead = yield* Backpressure.make({ name, maxConcurrent: 1, maxQueued: 1, queueTimeout: "5 seconds" })
      // Registered at zero before any call:
      expect(yield* gauge("active", name)).toBe(0)
      expect(yield* shedCount(name, "full")).toBe(0)
      expect((yield* queueTime(name)).count).toBe(0)
      yield* bulkhead.execute(Effect.void) // admitted at once: no queue time recorded
      expect((yield* queueTime(name)).count).toBe(0)
      const first = yield* Effect.fork(bulkhead.execute(Effect.sleep("2 seconds")))
      yield* settle
      const second = yield* Effect.fork(bulkhead.execute(Effect.sleep("1 second")))
      yield* settle
      expect(yield* gauge("active", name)).toBe(1)
      expect(yield* gauge("queued", name)).toBe(1)
      yield* Effect.flip(bulkhead.execute(Effect.void))
      yield* Effect.flip(bulkhead.execute(Effect.void))
      expect(yield* shedCount(name, "full")).toBe(2)
      yield* TestClock.adjust("2 seconds")
      expect(yield* gauge("queued", name)).toBe(0)
      expect(yield* gauge("active", name)).toBe(1)
      const histogram = yield* queueTime(name)
      expect(histogram.count).toBe(1)
      expect(histogram.sum).toBe(2)
      expect(histogram.max).toBe(2)
      // Cumulative buckets: 2 s is above 1.024, at or below 2.048.
      expect(histogram.buckets.find(([bound]) => bound === 1.024)?.[1]).toBe(0)
      expect(histogram.buckets.find(([bound]) => bound === 2.048)?.[1]).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* Fiber.joinAll([first, second])
      expect(yield* gauge("active", name)).toBe(0)
      expect(Backpressure.names).toEqual({
        active: "duende_policy_bulkhead_active",
        queued: "duende_policy_bulkhead_queued",
        shed: "duende_policy_bulkhead_shed_total",
        queueTime: "duende_policy_bulkhead_queue_seconds"
      })
      const series = (yield* Metric.snapshot).filter((pair) =>
        pair.metricKey.tags.some((tag) => tag.key === "policy" && tag.value === name)
      ).map((pair) => pair.metricKey.name)
      expect(new Set(series)).toEqual(new Set(Object.values(Backpressure.names)))
    }))

  it.effect("composes with Effect.retry: a shed call retried on a schedule runs once a slot frees", () =>
    Effect.gen(function*() {
      const name = fresh("retry")
      const bulkhead = yield* Backpressure.make({ name, maxConcurrent: 1 })
      yield* Effect.fork(bulkhead.execute(Effect.sleep("1 second")))
      yield* settle
      const retried = yield* Effect.fork(bulkhead.execute(Effect.succeed("ran")).pipe(
        Effect.retry({ schedule: Schedule.spaced("300 millis"), while: (error) => error._tag === "BulkheadFull" }),
        Effect.zip(Effect.clockWith((clock) => clock.currentTimeMillis))
      ))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(retried)).toEqual(["ran", 1_200])
      expect(yield* shedCount(name, "full")).toBe(4) // at 0, 300, 600 and 900 ms
    }))

  it.effect("is a service: layer provides the default tag, Layer.effect with make any other", () =>
    Effect.gen(function*() {
      class Payments extends Context.Tag("test/Payments")<Payments, Backpressure.Backpressure>() {}
      const name = fresh("payments")
      const program = Effect.gen(function*() {
        const db = yield* Backpressure.Backpressure
        const payments = yield* Payments
        return [db.name, payments.name, yield* payments.execute(Effect.succeed(7))] as const
      })
      const result = yield* program.pipe(Effect.provide(Layer.mergeAll(
        Backpressure.layer({ name: "db-layer", maxConcurrent: 3 }),
        Layer.effect(Payments, Backpressure.make({ name, maxConcurrent: 1 }))
      )))
      expect(result).toEqual(["db-layer", name, 7])
    }))

  it("rejects invalid options with a RangeError naming the field", () => {
    const bad: Array<[Partial<Backpressure.Options>, string]> = [
      [{ maxConcurrent: 0 }, "maxConcurrent"],
      [{ maxConcurrent: 1.5 }, "maxConcurrent"],
      [{ maxConcurrent: Number.NaN }, "maxConcurrent"],
      [{ maxConcurrent: Infinity }, "maxConcurrent"],
      [{ maxConcurrent: 1, maxQueued: -1 }, "maxQueued"],
      [{ maxConcurrent: 1, maxQueued: 0.5 }, "maxQueued"],
      [{ maxConcurrent: 1, queueTimeout: 0 }, "queueTimeout"],
      [{ maxConcurrent: 1, queueTimeout: "soon" as Duration.DurationInput }, "queueTimeout"]
    ]
    for (const [options, field] of bad) {
      const full = { name: "bad", ...options } as Backpressure.Options
      expect(() => Backpressure.make(full)).toThrow(RangeError)
      expect(() => Backpressure.make(full)).toThrow(field)
      expect(() => Backpressure.layer(full)).toThrow(field)
      expect(() => Backpressure.promise(full)).toThrow(RangeError)
    }
    expect(() => Backpressure.make({ name: "ok", maxConcurrent: 1, maxQueued: Infinity, queueTimeout: Duration.infinity })).not.toThrow()
  })

  it.effect("never runs more than maxConcurrent calls, starts them in arrival order and never leaks a slot (property)", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })), // bursts, and calls spread out
              duration: fc.integer({ min: 0, max: 1_000 }),
              interruptAfter: fc.option(fc.integer({ min: 0, max: 1_500 }), { freq: 4 }),
              fails: fc.boolean()
            }),
            { maxLength: 40 }
          ),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 0, max: 5 }),
          fc.option(fc.integer({ min: 1, max: 1_000 })),
          (calls, maxConcurrent, maxQueued, timeout) =>
            Effect.runPromise(Effect.gen(function*() {
              const name = fresh("property")
              const bulkhead = yield* Backpressure.make({
                name,
                maxConcurrent,
                maxQueued,
                ...(timeout === null ? {} : { queueTimeout: Duration.millis(timeout) })
              })
              let running = 0
              let peak = 0
              const started: Array<number> = []
              const fibers: Array<Fiber.RuntimeFiber<void, string | Backpressure.BulkheadFull>> = []
              for (const [index, call] of calls.entries()) {
                if (call.gap > 0) yield* TestClock.adjust(Duration.millis(call.gap))
                const fiber = yield* Effect.fork(bulkhead.execute(Effect.gen(function*() {
                  started.push(index)
                  peak = Math.max(peak, ++running)
                  yield* Effect.ensuring(
                    Effect.zipRight(Effect.sleep(Duration.millis(call.duration)), call.fails ? Effect.fail("failed") : Effect.void),
                    Effect.sync(() => running--)
                  )
                })))
                fibers.push(fiber)
                yield* Effect.repeatN(Effect.yieldNow(), 2)
                if (call.interruptAfter !== null) {
                  yield* Effect.fork(Effect.zipRight(Effect.sleep(Duration.millis(call.interruptAfter)), Fiber.interrupt(fiber)))
                }
              }
              yield* TestClock.adjust("1 hour")
              const exits = yield* Effect.forEach(fibers, Fiber.await)
              for (const exit of exits) {
                if (Exit.isSuccess(exit) || Exit.isInterrupted(exit)) continue
                const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
                if (error === "failed") continue
                if (!(error instanceof Backpressure.BulkheadFull)) return false
                if (error.reason === "full" && (error.active !== maxConcurrent || error.queued !== maxQueued)) return false
                if (error.reason === "queueTimeout" && timeout === null) return false
              }
              const stats = yield* bulkhead.stats
              return peak <= maxConcurrent &&
                running === 0 &&
                stats.active === 0 &&
                stats.queued === 0 &&
                (yield* gauge("active", name)) === 0 &&
                (yield* gauge("queued", name)) === 0 &&
                started.every((index, i) => i === 0 || started[i - 1]! < index)
            }).pipe(Effect.provide(TestContext.TestContext)))
        ),
        { numRuns: 100 }
      )
    ))

  describe("promise", () => {
    const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

    it("runs calls up to maxConcurrent, queues the next ones in order and rejects the rest with BulkheadFull", async () => {
      const bulkhead = Backpressure.promise({ name: fresh("promise"), maxConcurrent: 2, maxQueued: 2 })
      const order: Array<number> = []
      const call = (i: number, ms: number) => bulkhead.execute(async () => {
        order.push(i)
        await sleep(ms)
        return i
      })
      const all = [call(0, 40), call(1, 40), call(2, 10), call(3, 10)]
      expect(bulkhead.stats()).toEqual({ active: 2, queued: 2 })
      const shed = await bulkhead.execute(async () => 99).catch((error) => error)
      expect(shed).toBeInstanceOf(Backpressure.BulkheadFull)
      expect(shed.reason).toBe("full")
      expect(await Promise.all(all)).toEqual([0, 1, 2, 3])
      expect(order).toEqual([0, 1, 2, 3])
      expect(bulkhead.stats()).toEqual({ active: 0, queued: 0 })
    })

    it("clears the queueTimeout timer of a queued call that gets its slot", async () => {
      const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length
      const bulkhead = Backpressure.promise({ name: fresh("promise-timer"), maxConcurrent: 1, maxQueued: 1, queueTimeout: "1 hour" })
      const before = timers()
      const blocker = bulkhead.execute(() => sleep(20))
      const queued = bulkhead.execute(async () => "queued")
      expect(timers()).toBe(before + 2) // the blocker's sleep and the queued call's timeout
      await blocker
      expect(await queued).toBe("queued")
      expect(timers()).toBe(before)
    })

    it("releases the slot when the call rejects or throws, and sheds a call queued longer than queueTimeout", async () => {
      const name = fresh("promise-timeout")
      const bulkhead = Backpressure.promise({ name, maxConcurrent: 1, maxQueued: 1, queueTimeout: "30 millis" })
      const boom = new Error("boom")
      await expect(bulkhead.execute(() => Promise.reject(boom))).rejects.toBe(boom)
      await expect(bulkhead.execute(() => {
        throw boom
      })).rejects.toBe(boom)
      expect(bulkhead.stats()).toEqual({ active: 0, queued: 0 })
      const started = Date.now()
      const blocker = bulkhead.execute(() => sleep(300))
      let ran = false
      const error = await bulkhead.execute(async () => (ran = true)).catch((error) => error)
      expect(Date.now() - started).toBeLessThan(250) // shed while the blocker still runs
      expect(error).toBeInstanceOf(Backpressure.BulkheadFull)
      expect(error).toMatchObject({ reason: "queueTimeout", active: 1, queued: 0 })
      expect(bulkhead.stats()).toEqual({ active: 1, queued: 0 })
      await blocker
      expect(ran).toBe(false)
      expect(bulkhead.stats()).toEqual({ active: 0, queued: 0 })
      expect(await Effect.runPromise(shedCount(name, "queueTimeout"))).toBe(1)
    })
  })
})
