import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { formatByteSize, formatDurationMillis, parseByteSize, parseDurationMillis } from "../src/internal/units.js"

describe("durations", () => {
  it("reads the forms users write", () => {
    expect(parseDurationMillis("30s")).toBe(30_000)
    expect(parseDurationMillis("500ms")).toBe(500)
    expect(parseDurationMillis("1m30s")).toBe(90_000)
    expect(parseDurationMillis("1.5h")).toBe(5_400_000)
    expect(parseDurationMillis("2d")).toBe(172_800_000)
    expect(parseDurationMillis(" 10s ")).toBe(10_000)
  })

  it("refuses what is not a duration", () => {
    for (const bad of ["", "10", "s", "10 s", "-5s", "10x", "1m30", "ms10", "1e3s", "10S"]) {
      expect(parseDurationMillis(bad), bad).toBeUndefined()
    }
  })

  it("prints compactly and reads back what it prints", () => {
    expect(formatDurationMillis(0)).toBe("0s")
    expect(formatDurationMillis(90_000)).toBe("1m30s")
    expect(formatDurationMillis(1_500)).toBe("1500ms")
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 86_400_000 }), (ms) => {
        expect(parseDurationMillis(formatDurationMillis(ms))).toBe(ms)
      })
    )
  })
})

describe("byte sizes", () => {
  it("reads 1024-based units", () => {
    expect(parseByteSize("512M")).toBe(512 * 1024 ** 2)
    expect(parseByteSize("512MiB")).toBe(512 * 1024 ** 2)
    expect(parseByteSize("1.5G")).toBe(1.5 * 1024 ** 3)
    expect(parseByteSize("64k")).toBe(64 * 1024)
    expect(parseByteSize("4096")).toBe(4096)
    expect(parseByteSize("10B")).toBe(10)
  })

  it("refuses ambiguous and broken sizes", () => {
    for (const bad of ["512MB", "1GB", "", "M", "-1M", "1.2.3M", "12 parsecs"]) {
      expect(parseByteSize(bad), bad).toBeUndefined()
    }
  })

  it("prints with the largest exact unit and reads back", () => {
    expect(formatByteSize(512 * 1024 ** 2)).toBe("512M")
    expect(formatByteSize(1000)).toBe("1000")
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 45 }), (bytes) => {
        expect(parseByteSize(formatByteSize(bytes))).toBe(bytes)
      })
    )
  })
})
