import { Integration } from "@duende/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Scope from "effect/Scope"
import * as fc from "fast-check"
import { InvalidMetric } from "../src/InvalidMetric.js"
import * as MetricsRegistry from "../src/MetricsRegistry.js"
import * as RedMetrics from "../src/RedMetrics.js"
import { parseExposition } from "./helpers/exposition.js"
import { promtoolCheck } from "./helpers/promtool.js"

const fresh = (options: MetricsRegistry.Options = { effectMetrics: false }) =>
  Effect.runSync(MetricsRegistry.make(options))

describe("MetricsRegistry: exposition", () => {
  it("renders counters, gauges and histograms in the text format, byte for byte", () => {
    const registry = fresh()
    const jobs = registry.counter({ name: "jobs_done_total", help: "Jobs done.", labelNames: ["queue"] })
    jobs.inc({ queue: "urgent" })
    jobs.inc({ queue: "urgent" }, 2)
    jobs.with({ queue: "bulk" }).inc(0.5)
    const temperature = registry.gauge({ name: "room_celsius", help: "Temperature." })
    temperature.set({}, -3.25)
    const latency = registry.histogram({ name: "latency_seconds", help: "Latency.", labelNames: ["route"], buckets: [0.1, 1] })
    latency.observe({ route: "/a" }, 0.05)
    latency.observe({ route: "/a" }, 0.1)
    latency.observe({ route: "/a" }, 3)
    expect(registry.renderNow()).toBe(
      [
        "# HELP jobs_done_total Jobs done.",
        "# TYPE jobs_done_total counter",
        "jobs_done_total{queue=\"urgent\"} 3",
        "jobs_done_total{queue=\"bulk\"} 0.5",
        "# HELP room_celsius Temperature.",
        "# TYPE room_celsius gauge",
        "room_celsius -3.25",
        "# HELP latency_seconds Latency.",
        "# TYPE latency_seconds histogram",
        "latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 2",
        "latency_seconds_bucket{route=\"/a\",le=\"1\"} 2",
        "latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3",
        "latency_seconds_sum{route=\"/a\"} 3.15",
        "latency_seconds_count{route=\"/a\"} 3",
        ""
      ].join("\n")
    )
  })

  it("a family without labels shows its series at zero from the start; special values render as Go floats", () => {
    const registry = fresh()
    registry.counter({ name: "starts_total", help: "Starts." })
    const g = registry.gauge({ name: "ratio", help: "A ratio.", labelNames: ["k"] })
    g.set({ k: "nan" }, NaN)
    g.set({ k: "up" }, Infinity)
    g.set({ k: "down" }, -Infinity)
    const samples = parseExposition(registry.renderNow())
    expect(samples).toEqual([
      { name: "starts_total", labels: {}, value: 0 },
      { name: "ratio", labels: { k: "nan" }, value: NaN },
      { name: "ratio", labels: { k: "up" }, value: Infinity },
      { name: "ratio", labels: { k: "down" }, value: -Infinity }
    ])
  })

  it("escapes label values and help text so that any string round-trips (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ unit: "grapheme" }), fc.string()), { minLength: 1, maxLength: 8 }),
        fc.string({ unit: "grapheme" }),
        (pairs, help) => {
          const registry = fresh()
          const c = registry.counter({ name: "fuzz_total", help, labelNames: ["a", "b"] })
          const expected = new Map<string, { a: string; b: string; n: number }>()
          pairs.forEach(([a, b], n) => {
            c.inc({ a, b }, n + 1)
            const key = JSON.stringify([a, b])
            const seen = expected.get(key)
            expected.set(key, { a, b, n: (seen?.n ?? 0) + n + 1 })
          })
          const text = registry.renderNow()
          const lines = text.split("\n")
          expect(lines[0]!.startsWith("# HELP fuzz_total ")).toBe(true)
          expect(lines.filter((l) => l.startsWith("#")).length).toBe(2) // help never spills onto a new line
          const samples = parseExposition(text)
          expect(samples.length).toBe(expected.size)
          for (const { a, b, n } of expected.values()) {
            expect(samples).toContainEqual({ name: "fuzz_total", labels: { a, b }, value: n })
          }
        }
      )
    )
  })

  it("label values that differ only where a naive key would collide stay apart", () => {
    const registry = fresh()
    const c = registry.counter({ name: "pairs_total", help: "Pairs.", labelNames: ["a", "b"] })
    c.inc({ a: "1:x", b: "" })
    c.inc({ a: "1", b: ":x" })
    c.inc({ a: 1, b: ":x" }) // numbers are their decimal text
    const samples = parseExposition(registry.renderNow())
    expect(samples).toEqual([
      { name: "pairs_total", labels: { a: "1:x", b: "" }, value: 1 },
      { name: "pairs_total", labels: { a: "1", b: ":x" }, value: 2 }
    ])
  })

  it("removes one series, clears a family, drops a family", () => {
    const registry = fresh()
    const up = registry.gauge({ name: "up", help: "Up.", labelNames: ["daemon"] })
    up.set({ daemon: "a" }, 1)
    up.set({ daemon: "b" }, 1)
    expect(up.remove({ daemon: "a" })).toBe(true)
    expect(up.remove({ daemon: "a" })).toBe(false)
    expect(parseExposition(registry.renderNow()).map((s) => s.labels.daemon)).toEqual(["b"])
    up.clear()
    expect(parseExposition(registry.renderNow())).toEqual([])
    expect(registry.remove("up")).toBe(true)
    expect(registry.renderNow()).toBe("")
  })
})

describe("MetricsRegistry: definitions and misuse", () => {
  it("defining the same metric again returns it; another shape under the same name throws", () => {
    const registry = fresh()
    const a = registry.counter({ name: "x_total", help: "X.", labelNames: ["k"] })
    expect(registry.counter({ name: "x_total", help: "X.", labelNames: ["k"] })).toBe(a)
    expect(() => registry.gauge({ name: "x_total", help: "X.", labelNames: ["k"] })).toThrow(InvalidMetric)
    expect(() => registry.counter({ name: "x_total", help: "X.", labelNames: ["j"] })).toThrow(/another type, labels or buckets/)
    registry.histogram({ name: "h", help: "H.", buckets: [1, 2] })
    expect(() => registry.histogram({ name: "h", help: "H.", buckets: [1, 3] })).toThrow(InvalidMetric)
  })

  it.each([
    ["a bad name", { name: "bad name", help: "" }],
    ["a name starting with a digit", { name: "1st", help: "" }],
    ["a bad label name", { name: "ok", help: "", labelNames: ["bad-label"] }],
    ["a reserved label name", { name: "ok", help: "", labelNames: ["__name"] }],
    ["a repeated label name", { name: "ok", help: "", labelNames: ["a", "a"] }]
  ])("rejects %s", (_, options) => {
    expect(() => fresh().counter(options)).toThrow(InvalidMetric)
  })

  it("rejects histograms with an le label or unordered buckets", () => {
    const registry = fresh()
    expect(() => registry.histogram({ name: "h1", help: "", labelNames: ["le"] })).toThrow(/le/)
    expect(() => registry.histogram({ name: "h2", help: "", buckets: [1, 1] })).toThrow(/strictly increasing/)
    expect(() => registry.histogram({ name: "h3", help: "", buckets: [2, 1] })).toThrow(/strictly increasing/)
    expect(() => registry.histogram({ name: "h4", help: "", buckets: [1, Infinity] })).toThrow(/finite/)
    expect(() => registry.histogram({ name: "h5", help: "", buckets: [] })).toThrow(/at least one/)
  })

  it("rejects missing, extra or unknown labels, and counters going down", () => {
    const registry = fresh()
    const c = registry.counter({ name: "c_total", help: "C.", labelNames: ["a", "b"] })
    expect(() => c.inc({ a: "1" } as never)).toThrow(/takes the labels \[a, b\], got \{a\}/)
    expect(() => c.inc({ a: "1", b: "2", z: "3" } as never)).toThrow(InvalidMetric)
    expect(() => c.inc({ a: "1", z: "3" } as never)).toThrow(InvalidMetric)
    expect(() => c.with({ a: "1", b: "2" }).inc(-1)).toThrow(/only goes up/)
    expect(() => c.with({ a: "1", b: "2" }).inc(NaN)).toThrow(/only goes up/)
    expect(c.with({ a: "1", b: "2" }).value).toBe(0)
  })

  it("histogram buckets: values on a bound count in that bucket; many buckets use a binary search", () => {
    const registry = fresh()
    const bounds = Array.from({ length: 40 }, (_, i) => i + 1)
    const h = registry.histogram({ name: "many", help: "Many.", buckets: bounds })
    const series = h.with({})
    const values = [0, 1, 1.5, 2, 39.9, 40, 41, -5]
    for (const v of values) series.observe(v)
    const buckets = parseExposition(registry.renderNow()).filter((s) => s.name === "many_bucket")
    for (const sample of buckets) {
      const le = sample.labels.le === "+Inf" ? Infinity : Number(sample.labels.le)
      expect(sample.value, `le=${le}`).toBe(values.filter((v) => v <= le).length)
    }
    expect(series.count).toBe(values.length)
    expect(series.sum).toBeCloseTo(values.reduce((a, b) => a + b, 0))
  })
})

describe("MetricsRegistry: collectors and Effect metrics", () => {
  it.effect("collectors run before each scrape, and leave with their scope", () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make({ effectMetrics: false })
      const scrapes = registry.counter({ name: "scrapes_total", help: "Scrapes." })
      const scope = yield* Scope.make()
      yield* Effect.provideService(registry.addCollector(Effect.sync(() => scrapes.inc({}))), Scope.Scope, scope)
      expect(yield* registry.render).toContain("scrapes_total 1\n")
      expect(yield* registry.render).toContain("scrapes_total 2\n")
      yield* Scope.close(scope, Exit.void)
      expect(yield* registry.render).toContain("scrapes_total 2\n")
    }))

  it.scoped("a failing collector is logged and the scrape goes on", () =>
    Effect.gen(function*() {
      const registry = yield* MetricsRegistry.make({ effectMetrics: false })
      registry.gauge({ name: "still_here", help: "Still here." })
      yield* registry.addCollector(Effect.die(new Error("collector bug")))
      expect(yield* registry.render).toContain("still_here 0\n")
    }))

  it.effect("Effect metrics appear: counters get _total, histograms their buckets, own families win on a name clash", () =>
    Effect.gen(function*() {
      const red = RedMetrics.make("registry-effect")
      yield* red.track(Effect.void)
      yield* Metric.update(
        Metric.histogram("registry_effect_hist", MetricBoundaries.fromIterable([1, 5])).pipe(Metric.tagged("k", "v")),
        3
      )
      yield* Metric.increment(Metric.counter("registry.effect.events", { incremental: true }))
      yield* Metric.set(Metric.gauge("registry_effect_level"), 7)
      const registry = yield* MetricsRegistry.make()
      registry.gauge({ name: "registry_effect_level", help: "Mine." }).set({}, 1)
      const samples = parseExposition(yield* registry.render)
      const find = (name: string, labels: Record<string, string> = {}) =>
        samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      expect(find("duende_requests_total", { daemon: "registry-effect" })[0]?.value).toBe(1)
      expect(find("duende_request_errors_total", { daemon: "registry-effect" })[0]?.value).toBe(0)
      expect(find("registry_effect_hist_bucket").map((s) => [s.labels.le, s.value])).toEqual([["1", 0], ["5", 1], ["+Inf", 1]])
      expect(find("registry_effect_hist_sum")[0]?.value).toBe(3)
      expect(find("registry_effect_events_total")[0]?.value).toBe(1)
      expect(find("registry_effect_level").map((s) => s.value)).toEqual([1])
    }))
})

const promtool = Integration.check(Integration.tool("promtool", "apt-get install prometheus"))
describe.skipIf(!promtool.ok)(`promtool check metrics${promtool.label}`, () => {
  it.effect("accepts the whole exposition: own families and Effect metrics, with awkward label values", () =>
    Effect.gen(function*() {
      const red = RedMetrics.make("promtool-check")
      yield* red.track(Effect.void)
      yield* Effect.either(red.track(Effect.fail("x")))
      const registry = yield* MetricsRegistry.make()
      registry.counter({ name: "duende_test_events_total", help: "Events with \\ and\nnewline.", labelNames: ["daemon", "kind"] })
        .inc({ daemon: "a\"b\\c\nd", kind: "é ✓" }, 3)
      registry.gauge({ name: "duende_test_temperature_celsius", help: "Temperature." }).set({}, -1.5e-7)
      registry.histogram({ name: "duende_test_latency_seconds", help: "Latency.", labelNames: ["daemon"] })
        .observe({ daemon: "a" }, 0.2)
      const text = yield* registry.render
      const check = promtoolCheck(text)
      expect(check.output).toBe("")
      expect(check.code).toBe(0)
      // And promtool does catch a broken exposition, so the check above means something.
      expect(promtoolCheck(`${text}duende_test_events_total{daemon="a\n`).code).not.toBe(0)
    }))
})
