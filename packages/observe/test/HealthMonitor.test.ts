import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as HealthMonitor from "../src/HealthMonitor.js"
import type { ProcessSample } from "../src/ProcessSampler.js"

const sample = (residentBytes: number, sampledAt: number): ProcessSample => ({
  pid: 1,
  pids: [1],
  command: "d",
  state: "S",
  startedAt: 0,
  cpuSeconds: 0,
  cpuPercent: undefined,
  residentBytes,
  virtualBytes: 0,
  threads: 1,
  openFds: 3,
  ioReadBytes: 0,
  ioWriteBytes: 0,
  diskReadBytes: 0,
  diskWriteBytes: 0,
  sampledAt
})

const advance = (ms: number) => TestClock.adjust(Duration.millis(ms))

describe("HealthMonitor", () => {
  it.scoped("keeps each daemon's history with Clock times, and answers time ranges", () =>
    Effect.gen(function*() {
      const monitor = yield* HealthMonitor.make()
      yield* monitor.record("a", { state: "starting" })
      yield* advance(1_000)
      yield* monitor.record("a", { state: "healthy", latencyMs: 5 })
      yield* monitor.record("b", { state: "unhealthy", summary: "db: timeout" })
      yield* advance(1_000)
      yield* monitor.record("a", { state: "unhealthy", latencyMs: 900, summary: "slow" })
      yield* monitor.record("a", { state: "healthy", at: 10_000 }) // a reported time wins
      expect((yield* monitor.history("a")).map((e) => [e.at, e.value.state])).toEqual([
        [0, "starting"],
        [1_000, "healthy"],
        [2_000, "unhealthy"],
        [10_000, "healthy"]
      ])
      expect((yield* monitor.history("a", { from: 1_000, to: 2_000 })).map((e) => e.value.latencyMs)).toEqual([5, 900])
      expect((yield* monitor.history("b"))[0]?.value).toEqual({ state: "unhealthy", latencyMs: undefined, summary: "db: timeout" })
      expect(yield* monitor.history("nobody")).toEqual([])
    }))

  it.scoped("the history is bounded; the counts are not", () =>
    Effect.gen(function*() {
      const monitor = yield* HealthMonitor.make({ historySize: 3 })
      for (let i = 0; i < 10; i++) yield* monitor.record("a", { state: i % 2 === 0 ? "healthy" : "unhealthy" })
      expect((yield* monitor.history("a")).length).toBe(3)
      expect(yield* monitor.stats("a")).toEqual({ state: "unhealthy", checks: 10, failures: 5 })
    }))

  it.scoped("failure rate over the stored checks, or over a window; 'starting' is not a check", () =>
    Effect.gen(function*() {
      const monitor = yield* HealthMonitor.make()
      expect(yield* monitor.failureRate("a")).toBe(0)
      yield* monitor.record("a", { state: "starting" })
      for (let i = 0; i < 6; i++) {
        yield* monitor.record("a", { state: i < 4 ? "unhealthy" : "healthy" })
        yield* advance(10_000)
      }
      // at t = 60 s: checks at 0, 10, 20, 30 (unhealthy) and 40, 50 (healthy)
      expect(yield* monitor.failureRate("a")).toBeCloseTo(4 / 6)
      expect(yield* monitor.failureRate("a", "25 seconds")).toBe(0)
      expect(yield* monitor.failureRate("a", "35 seconds")).toBeCloseTo(1 / 3)
    }))

  it.scoped("publishes a transition each time the state changes, and only then", () =>
    Effect.gen(function*() {
      const monitor = yield* HealthMonitor.make()
      const events = yield* monitor.events
      const collected = yield* Effect.fork(Stream.runCollect(Stream.take(events, 3)))
      for (const state of ["starting", "healthy", "healthy", "unhealthy", "unhealthy"] as const) {
        yield* monitor.record("a", { state, summary: state === "unhealthy" ? "disk full" : undefined })
        yield* advance(1_000)
      }
      const got = Chunk.toReadonlyArray(yield* Fiber.join(collected))
      expect(got).toEqual([
        { _tag: "Transition", daemon: "a", from: undefined, to: "starting", summary: undefined, at: 0 },
        { _tag: "Transition", daemon: "a", from: "starting", to: "healthy", summary: undefined, at: 1_000 },
        { _tag: "Transition", daemon: "a", from: "healthy", to: "unhealthy", summary: "disk full", at: 3_000 }
      ])
    }))

  it.scoped("alerts on a latency spike and on a memory jump (z-score over a sliding window)", () =>
    Effect.gen(function*() {
      const monitor = yield* HealthMonitor.make({ anomaly: { window: 20, threshold: 3, minSamples: 10 } })
      const events = yield* monitor.events
      const alerts = yield* Effect.fork(
        Stream.runCollect(Stream.take(Stream.filter(events, (e) => e._tag === "Anomaly"), 2))
      )
      const latencies = [10, 12, 11, 9, 10, 11, 12, 10, 9, 11, 10, 12]
      for (const latencyMs of latencies) yield* monitor.record("a", { state: "healthy", latencyMs })
      yield* monitor.record("a", { state: "healthy", latencyMs: 95 })
      const mb = 1024 * 1024
      for (let i = 0; i < 15; i++) yield* monitor.recordProcess("a", sample(100 * mb + (i % 3) * 64 * 1024, i * 1000))
      yield* monitor.recordProcess("a", sample(300 * mb, 20_000))
      const [latency, memory] = Chunk.toReadonlyArray(yield* Fiber.join(alerts))
      expect(latency).toMatchObject({ _tag: "Anomaly", daemon: "a", metric: "latency", score: { value: 95, anomalous: true } })
      expect(memory).toMatchObject({ _tag: "Anomaly", daemon: "a", metric: "memory", at: 20_000 })
      expect(memory?._tag === "Anomaly" && memory.score.zScore).toBeGreaterThan(3)
      expect((yield* monitor.samples("a", { from: 20_000 })).map((e) => e.value.residentBytes)).toEqual([300 * mb])
    }))

  it.scoped("ordinary noise raises no alert", () =>
    Effect.gen(function*() {
      const monitor = yield* HealthMonitor.make({ anomaly: { window: 30, threshold: 3 } })
      const events = yield* monitor.events
      for (let i = 0; i < 200; i++) {
        yield* monitor.record("a", { state: "healthy", latencyMs: 10 + Math.sin(i) * 2 })
      }
      yield* monitor.record("z", { state: "healthy" }) // a marker after the noise
      const first = yield* Stream.runHead(Stream.filter(events, (e) => e._tag === "Anomaly" || e.daemon === "z"))
      expect(first._tag === "Some" && first.value.daemon).toBe("z")
    }))

  it.scoped("forget drops a daemon", () =>
    Effect.gen(function*() {
      const monitor = yield* HealthMonitor.make()
      yield* monitor.record("a", { state: "healthy" })
      yield* monitor.forget("a")
      expect(yield* monitor.history("a")).toEqual([])
      expect(yield* monitor.stats("a")).toEqual({ state: undefined, checks: 0, failures: 0 })
    }))
})
