import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as RingBuffer from "../src/RingBuffer.js"

describe("RingBuffer", () => {
  it("keeps the newest `capacity` entries, oldest first", () => {
    const ring = RingBuffer.make<string>(3)
    expect(ring.toArray()).toEqual([])
    expect(ring.latest()).toBeUndefined()
    for (const [at, value] of [[1, "a"], [2, "b"], [3, "c"], [4, "d"], [5, "e"]] as const) ring.push(at, value)
    expect(ring.size).toBe(3)
    expect(ring.toArray()).toEqual([{ at: 3, value: "c" }, { at: 4, value: "d" }, { at: 5, value: "e" }])
    expect(ring.latest()).toEqual({ at: 5, value: "e" })
  })

  it("answers time ranges inclusively, across the wrap-around", () => {
    const ring = RingBuffer.make<number>(4)
    for (let i = 1; i <= 6; i++) ring.push(i * 1000, i)
    expect(ring.range(3000, 5000).map((e) => e.value)).toEqual([3, 4, 5])
    expect(ring.range(3500, 4500).map((e) => e.value)).toEqual([4])
    expect(ring.range(0, 2999)).toEqual([])
    expect(ring.range(7000, 9000)).toEqual([])
    expect(ring.range(5000, 3000)).toEqual([])
    expect(ring.range(-Infinity, Infinity).map((e) => e.value)).toEqual([3, 4, 5, 6])
  })

  it("never lets time go backwards (a wall clock stepped back)", () => {
    const ring = RingBuffer.make<string>(4)
    ring.push(100, "a")
    ring.push(50, "b")
    expect(ring.toArray()).toEqual([{ at: 100, value: "a" }, { at: 100, value: "b" }])
    expect(ring.range(100, 100).length).toBe(2)
  })

  it("clear empties it; it fills again", () => {
    const ring = RingBuffer.make<number>(2)
    ring.push(1, 1)
    ring.push(2, 2)
    ring.push(3, 3)
    ring.clear()
    expect(ring.size).toBe(0)
    ring.push(9, 9)
    expect(ring.toArray()).toEqual([{ at: 9, value: 9 }])
  })

  it("rejects a capacity that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, NaN]) expect(() => RingBuffer.make(bad)).toThrow(RangeError)
  })

  it("behaves like the last `capacity` items of an unbounded list (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 100 }),
        fc.integer({ min: -5, max: 60 }),
        fc.integer({ min: -5, max: 60 }),
        (capacity, steps, from, to) => {
          const ring = RingBuffer.make<number>(capacity)
          const model: Array<{ at: number; value: number }> = []
          let at = 0
          steps.forEach((step, value) => {
            at += step % 3 // non-decreasing times, with repeats
            ring.push(at, value)
            model.push({ at, value })
          })
          const kept = model.slice(-capacity)
          expect(ring.size).toBe(kept.length)
          expect(ring.toArray()).toEqual(kept)
          expect(ring.range(from, to)).toEqual(kept.filter((e) => e.at >= from && e.at <= to))
        }
      )
    )
  })
})
