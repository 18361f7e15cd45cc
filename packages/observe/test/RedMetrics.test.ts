import { HealthStatus } from "@duende/core"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/TestClock"
import * as LifecycleMetrics from "../src/LifecycleMetrics.js"
import * as RedMetrics from "../src/RedMetrics.js"

describe("RedMetrics", () => {
  it.effect("counts requests, errors and defects; an interruption is not an error", () =>
    Effect.gen(function*() {
      const red = RedMetrics.make("red-outcomes")
      yield* red.track(Effect.succeed(1))
      yield* Effect.either(red.track(Effect.fail("bad request")))
      yield* Effect.exit(red.track(Effect.die(new Error("bug"))))
      const fiber = yield* Effect.fork(red.track(Effect.never))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      expect((yield* Metric.value(red.requests)).count).toBe(4)
      expect((yield* Metric.value(red.errors)).count).toBe(2)
      expect((yield* Metric.value(red.duration)).count).toBe(4)
    }))

  it.effect("measures durations with the Clock (TestClock drives it)", () =>
    Effect.gen(function*() {
      const red = RedMetrics.make("red-durations")
      const slow = yield* Effect.fork(red.track(Effect.sleep(Duration.millis(300))))
      yield* TestClock.adjust(Duration.millis(300))
      yield* Fiber.join(slow)
      const fast = yield* Effect.fork(red.track(Effect.sleep(Duration.millis(20))))
      yield* TestClock.adjust(Duration.millis(20))
      yield* Fiber.join(fast)
      const histogram = yield* Metric.value(red.duration)
      expect(histogram.sum).toBeCloseTo(0.32, 9)
      expect(histogram.count).toBe(2)
      const le = (bound: number) => histogram.buckets.find(([b]) => b === bound)?.[1]
      expect(le(0.025)).toBe(1)
      expect(le(0.25)).toBe(1)
      expect(le(0.5)).toBe(2)
    }))

  it.effect("tags every metric with the daemon and the extra tags, under stable names", () =>
    Effect.gen(function*() {
      const red = RedMetrics.make("red-tags", { tags: { operation: "create" }, buckets: [1, 2] })
      yield* red.track(Effect.void)
      const pairs = (yield* Metric.snapshot).filter((pair) =>
        pair.metricKey.tags.some((tag) => tag.key === "daemon" && tag.value === "red-tags")
      )
      expect(pairs.map((pair) => pair.metricKey.name).sort()).toEqual([
        "duende_request_duration_seconds",
        "duende_request_errors_total",
        "duende_requests_total"
      ])
      for (const pair of pairs) {
        expect(pair.metricKey.tags.map((t) => `${t.key}=${t.value}`).sort()).toEqual(["daemon=red-tags", "operation=create"])
      }
    }))
})

describe("LifecycleMetrics", () => {
  it.effect("per-daemon restarts, uptime and circuit-breaker trips", () =>
    Effect.gen(function*() {
      const a = LifecycleMetrics.forDaemon("life-a")
      const b = LifecycleMetrics.forDaemon("life-b")
      yield* Metric.increment(a.restarts)
      yield* Metric.increment(a.restarts)
      yield* Metric.increment(b.circuitBreakerTrips)
      yield* Metric.set(a.uptime, 42)
      expect((yield* Metric.value(a.restarts)).count).toBe(2)
      expect((yield* Metric.value(b.restarts)).count).toBe(0)
      expect((yield* Metric.value(b.circuitBreakerTrips)).count).toBe(1)
      expect((yield* Metric.value(a.uptime)).value).toBe(42)
    }))

  it.effect("trackHealth counts unhealthy answers, failures and defects, and passes results through", () =>
    Effect.gen(function*() {
      const track = LifecycleMetrics.trackHealth("life-health")
      expect((yield* track(Effect.succeed(HealthStatus.healthy()))).healthy).toBe(true)
      expect((yield* track(Effect.succeed(HealthStatus.unhealthy("disk full")))).healthy).toBe(false)
      expect(yield* Effect.flip(track(Effect.fail("timeout")))).toBe("timeout")
      yield* Effect.exit(track(Effect.die("bug")))
      const failures = LifecycleMetrics.forDaemon("life-health").healthCheckFailures
      expect((yield* Metric.value(failures)).count).toBe(3)
    }))
})
