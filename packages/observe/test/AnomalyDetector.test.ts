import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as AnomalyDetector from "../src/AnomalyDetector.js"

const reference = (window: ReadonlyArray<number>, value: number) => {
  const mean = window.reduce((a, b) => a + b, 0) / window.length
  const stdDev = Math.sqrt(window.reduce((a, b) => a + (b - mean) ** 2, 0) / window.length)
  return { mean, stdDev, zScore: (value - mean) / stdDev }
}

describe("AnomalyDetector", () => {
  it("scores nothing until the window has minSamples values", () => {
    const detector = AnomalyDetector.make({ window: 10, minSamples: 4 })
    expect([1, 2, 3, 4].map((v) => detector.observe(v))).toEqual([undefined, undefined, undefined, undefined])
    expect(detector.observe(5)?.mean).toBe(2.5)
  })

  it("flags a spike above the threshold, not the ordinary noise", () => {
    const detector = AnomalyDetector.make({ window: 20, threshold: 3, minSamples: 10 })
    const noise = [10, 12, 11, 9, 10, 11, 12, 10, 9, 11, 10, 12]
    for (const v of noise) expect(detector.observe(v)?.anomalous ?? false).toBe(false)
    const spike = detector.observe(40)!
    expect(spike.anomalous).toBe(true)
    expect(spike.zScore).toBeGreaterThan(3)
    // A drop is an anomaly too.
    const dip = AnomalyDetector.make({ window: 20, threshold: 3 })
    for (const v of noise) dip.observe(v)
    expect(dip.observe(-20)?.anomalous).toBe(true)
  })

  it("the threshold is configurable", () => {
    const strict = AnomalyDetector.make({ threshold: 1.5 })
    const lenient = AnomalyDetector.make({ threshold: 5 })
    for (const v of [10, 12, 11, 9, 10, 11, 12, 10, 9, 11]) {
      strict.observe(v)
      lenient.observe(v)
    }
    expect(strict.observe(13.5)?.anomalous).toBe(true)
    expect(lenient.observe(13.5)?.anomalous).toBe(false)
  })

  it("slides: old values leave the window", () => {
    const detector = AnomalyDetector.make({ window: 5, minSamples: 5 })
    for (const v of [1000, 1000, 1000, 1000, 1001, 1, 2, 1, 2, 1]) detector.observe(v)
    const score = detector.observe(2)!
    expect(score.mean).toBeCloseTo(1.4)
  })

  it("a flat window has no spread: no score; non-finite values are ignored", () => {
    const detector = AnomalyDetector.make({ minSamples: 3 })
    for (const v of [5, 5, 5]) detector.observe(v)
    expect(detector.observe(6)).toBeUndefined()
    expect(detector.observe(NaN)).toBeUndefined()
    expect(detector.observe(Infinity)).toBeUndefined()
    expect(detector.observe(5)!.mean).toBeCloseTo(5.25)
  })

  it("stays exact for memory-sized values (no catastrophic cancellation)", () => {
    const detector = AnomalyDetector.make({ window: 60, minSamples: 10 })
    const base = 8e9 // 8 GB
    for (let i = 0; i < 60; i++) detector.observe(base + (i % 2 === 0 ? 4096 : -4096))
    const score = detector.observe(base + 2.9 * 4096)!
    expect(score.stdDev).toBeCloseTo(4096, 3)
    expect(score.anomalous).toBe(false)
    expect(detector.observe(base + 4 * 4096)!.anomalous).toBe(true)
  })

  it("matches a direct computation over the window (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 30 }),
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 80 }),
        (window, values) => {
          const detector = AnomalyDetector.make({ window, minSamples: 2, threshold: 2 })
          values.forEach((value, i) => {
            const before = values.slice(Math.max(0, i - window), i)
            const score = detector.observe(value)
            const expected = before.length >= 2 ? reference(before, value) : undefined
            if (expected === undefined || expected.stdDev === 0) {
              if (expected === undefined) expect(score).toBeUndefined()
              return
            }
            if (score === undefined) return // the detector's own spread came out 0 within rounding
            expect(score.mean).toBeCloseTo(expected.mean, 6)
            expect(Math.abs(score.stdDev - expected.stdDev)).toBeLessThanOrEqual(1e-6 * Math.max(1, expected.stdDev))
            expect(score.anomalous).toBe(Math.abs(score.zScore) > 2)
          })
        }
      )
    )
  })

  it("rejects settings that cannot work", () => {
    expect(() => AnomalyDetector.make({ window: 1 })).toThrow(RangeError)
    expect(() => AnomalyDetector.make({ threshold: 0 })).toThrow(RangeError)
    expect(() => AnomalyDetector.make({ window: 5, minSamples: 6 })).toThrow(RangeError)
  })
})
