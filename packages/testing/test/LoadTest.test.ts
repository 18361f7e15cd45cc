import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as LoadTest from "../src/LoadTest.js"

describe("LoadTest", () => {
  it.live("measures a real HTTP handler under concurrency", () =>
    Effect.gen(function*() {
      let served = 0
      const server = createServer((_, res) => {
        served++
        res.end("ok")
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const { port } = server.address() as AddressInfo
      const report = yield* LoadTest.run({
        concurrency: 8,
        requests: 400,
        call: () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.text())
      })
      expect(report.requests).toBe(400)
      expect(served).toBe(400)
      expect(report.errors).toBe(0)
      expect(report.throughputPerSecond).toBeGreaterThan(0)
      expect(report.p50Ms).toBeLessThanOrEqual(report.p95Ms)
      expect(report.p95Ms).toBeLessThanOrEqual(report.p99Ms)
      expect(report.p99Ms).toBeLessThanOrEqual(report.maxMs)
    }).pipe(Effect.scoped))

  it.live("counts failures and stops after a duration", () =>
    Effect.gen(function*() {
      let calls = 0
      const report = yield* LoadTest.run({
        concurrency: 4,
        duration: "200 millis",
        call: Effect.suspend(() => (++calls % 2 === 0 ? Effect.fail("boom") : Effect.sleep("1 millis")))
      })
      expect(report.requests).toBe(calls)
      expect(report.errors).toBe(Math.floor(calls / 2))
      expect(report.durationMs).toBeGreaterThanOrEqual(195)
    }))

  it("computes nearest-rank percentiles", () => {
    expect(LoadTest.percentile([1, 2, 3, 4], 50)).toBe(2)
    expect(LoadTest.percentile([1, 2, 3, 4], 99)).toBe(4)
    expect(LoadTest.percentile([], 50)).toBe(0)
  })
})
