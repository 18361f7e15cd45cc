import { describe, expect, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import * as TraceContext from "../src/TraceContext.js"

const example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

describe("TraceContext: traceparent", () => {
  it("parses the spec's example", () => {
    expect(TraceContext.parse(example)).toEqual(
      Option.some({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: 1, traceState: [] })
    )
  })

  it("formats what it parses, byte for byte", () => {
    expect(TraceContext.format(Option.getOrThrow(TraceContext.parse(example)))).toBe(example)
    expect(TraceContext.format({ traceId: "a".repeat(32), spanId: "b".repeat(16), flags: 0, traceState: [] }))
      .toBe(`00-${"a".repeat(32)}-${"b".repeat(16)}-00`)
  })

  it.each([
    ["version ff is invalid", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    ["an all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["an all-zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],
    ["upper-case hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"],
    ["a short trace id", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"],
    ["version 00 with more fields", `${example}-extra`],
    ["wrong separators", "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"],
    ["non-hex flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"],
    ["empty", ""]
  ])("rejects %s", (_, header) => {
    expect(Option.isNone(TraceContext.parse(header))).toBe(true)
  })

  it("reads a future version by its first four fields", () => {
    const future = TraceContext.parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds")
    expect(Option.map(future, (c) => c.spanId)).toEqual(Option.some("00f067aa0ba902b7"))
    expect(Option.isNone(TraceContext.parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"))).toBe(true)
  })

  it("round-trips every valid context (property)", () => {
    const hexId = (length: number) =>
      fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: length, maxLength: length })
        .filter((s) => !/^0+$/.test(s))
    fc.assert(
      fc.property(hexId(32), hexId(16), fc.integer({ min: 0, max: 255 }), (traceId, spanId, flags) => {
        const context = { traceId, spanId, flags, traceState: [] }
        expect(TraceContext.parse(TraceContext.format(context))).toEqual(Option.some(context))
      })
    )
  })

  it("never throws on arbitrary input (property)", () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => {
      TraceContext.parse(a, b)
    }))
  })
})

describe("TraceContext: tracestate", () => {
  it("parses members in order, ignoring blanks and optional whitespace", () => {
    expect(TraceContext.parseTraceState("rojo=00f067aa0ba902b7 ,\t congo=t61rcWkgMzE,,")).toEqual(
      Option.some([["rojo", "00f067aa0ba902b7"], ["congo", "t61rcWkgMzE"]])
    )
  })

  it("accepts multi-tenant keys and rejects malformed members", () => {
    expect(TraceContext.parseTraceState("tenant1@vendor=v")).toEqual(Option.some([["tenant1@vendor", "v"]]))
    expect(TraceContext.parseTraceState("k=inner space")).toEqual(Option.some([["k", "inner space"]]))
    for (const bad of ["Upper=1", "k=", "=v", "k=a,b=c=d", "k=v,k=w", "k=caf\u00e9", "1abc=v", "k"]) {
      expect(Option.isNone(TraceContext.parseTraceState(bad)), bad).toBe(true)
    }
  })

  it("drops a header of more than 32 members", () => {
    const members = Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(",")
    expect(Option.isNone(TraceContext.parseTraceState(members))).toBe(true)
    expect(Option.map(TraceContext.parseTraceState(members.split(",").slice(0, 32).join(",")), (m) => m.length))
      .toEqual(Option.some(32))
  })

  it("an invalid tracestate does not invalidate the traceparent", () => {
    expect(Option.map(TraceContext.parse(example, "BAD KEY=1"), (c) => c.traceState)).toEqual(Option.some([]))
  })

  it("round-trips valid lists (property)", () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9_\-*/]{0,20}$/)
    const value = fc.stringMatching(/^[\x21-\x2b\x2d-\x3c\x3e-\x7e]([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,20}[\x21-\x2b\x2d-\x3c\x3e-\x7e])?$/)
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 32 }), (members) => {
        expect(TraceContext.parseTraceState(TraceContext.formatTraceState(members))).toEqual(Option.some(members))
      })
    )
  })
})

describe("TraceContext: environment carrier", () => {
  it("writes TRACEPARENT and TRACESTATE and reads them back", () => {
    const context = {
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      flags: 1,
      traceState: [["duende", "x1"]] as const
    }
    const env = TraceContext.toEnv(context)
    expect(env).toEqual({ TRACEPARENT: example, TRACESTATE: "duende=x1" })
    expect(TraceContext.fromEnv(env)).toEqual(Option.some(context))
  })

  it("leaves TRACESTATE out when empty and finds nothing without TRACEPARENT", () => {
    expect(TraceContext.toEnv({ traceId: "a".repeat(32), spanId: "b".repeat(16), flags: 0, traceState: [] }))
      .toEqual({ TRACEPARENT: `00-${"a".repeat(32)}-${"b".repeat(16)}-00` })
    expect(Option.isNone(TraceContext.fromEnv({ TRACESTATE: "a=b" }))).toBe(true)
  })
})
