// @duende/observe's Prometheus registry against prom-client (Node's de facto
// Prometheus library) in one run: counter increments/s, histogram
// observations/s and rendering 1,000 series, each measured in interleaved
// rounds (duende, prom-client, then the other way round) so that machine
// noise hits both alike. Prints the median ops/s of each side and the ratio.
//
//   node bench/observe/run.mjs            (after building packages/observe)
//   ROUNDS=15 node bench/observe/run.mjs
import { createRequire } from "node:module"

// Both libraries are resolved from packages/observe, where prom-client is a devDependency.
const require = createRequire(new URL("../../packages/observe/package.json", import.meta.url))
const prom = require("prom-client")
const { MetricsRegistry } = require("@duende/observe/manager")
const { RedMetrics } = require("@duende/observe")
const Effect = require("effect/Effect")

const rounds = Number(process.env.ROUNDS ?? 9)
const now = () => process.hrtime.bigint()

const registry = Effect.runSync(MetricsRegistry.make({ effectMetrics: false }))
const promRegistry = new prom.Registry()

// ---- the cases -------------------------------------------------------------

const duendeCounter = registry.counter({ name: "bench_requests_total", help: "Requests.", labelNames: ["daemon"] })
const promCounter = new prom.Counter({ name: "bench_requests_total", help: "Requests.", labelNames: ["daemon"], registers: [promRegistry] })
const duendeCounterSeries = duendeCounter.with({ daemon: "orders" })
const promCounterChild = promCounter.labels({ daemon: "orders" })

const duendeHistogram = registry.histogram({ name: "bench_duration_seconds", help: "Durations.", labelNames: ["daemon"] })
const promHistogram = new prom.Histogram({ name: "bench_duration_seconds", help: "Durations.", labelNames: ["daemon"], registers: [promRegistry] })
const duendeHistogramSeries = duendeHistogram.with({ daemon: "orders" })
const promHistogramChild = promHistogram.labels({ daemon: "orders" })

const labels = { daemon: "orders" }
const values = Array.from({ length: 1024 }, (_, i) => ((i * 7919) % 1000) / 100) // 0 to 10 s, spread over the buckets

// 1,000 series in separate registries: 400 counters, 400 gauges, 200 histograms,
// with two labels each, values set.
const renderRegistry = Effect.runSync(MetricsRegistry.make({ effectMetrics: false }))
const promRenderRegistry = new prom.Registry()
{
  const c = renderRegistry.counter({ name: "render_jobs_total", help: "Jobs.", labelNames: ["daemon", "queue"] })
  const g = renderRegistry.gauge({ name: "render_memory_bytes", help: "Memory.", labelNames: ["daemon", "kind"] })
  const h = renderRegistry.histogram({ name: "render_latency_seconds", help: "Latency.", labelNames: ["daemon", "route"] })
  const pc = new prom.Counter({ name: "render_jobs_total", help: "Jobs.", labelNames: ["daemon", "queue"], registers: [promRenderRegistry] })
  const pg = new prom.Gauge({ name: "render_memory_bytes", help: "Memory.", labelNames: ["daemon", "kind"], registers: [promRenderRegistry] })
  const ph = new prom.Histogram({ name: "render_latency_seconds", help: "Latency.", labelNames: ["daemon", "route"], registers: [promRenderRegistry] })
  for (let i = 0; i < 400; i++) {
    const cl = { daemon: `d${i % 40}`, queue: `q${i}` }
    c.inc(cl, i)
    pc.inc(cl, i)
    const gl = { daemon: `d${i % 40}`, kind: `k${i}` }
    g.set(gl, i * 1024)
    pg.set(gl, i * 1024)
  }
  for (let i = 0; i < 200; i++) {
    const hl = { daemon: `d${i % 40}`, route: `/r${i}` }
    for (let j = 0; j < 5; j++) {
      h.observe(hl, values[i * 5 + j])
      ph.observe(hl, values[i * 5 + j])
    }
  }
}

// The Effect Metric path that RedMetrics uses inside a daemon (informational:
// prom-client has no Effect equivalent).
const red = RedMetrics.make("orders")
const trackedLoop = (n) =>
  Effect.runSync(Effect.forEach(Array.from({ length: n }), () => red.track(Effect.void), { discard: true }))

const cases = [
  {
    name: "counter inc (series kept)",
    ops: 2_000_000,
    duende: (n) => { for (let i = 0; i < n; i++) duendeCounterSeries.inc() },
    prom: (n) => { for (let i = 0; i < n; i++) promCounterChild.inc() }
  },
  {
    name: "counter inc (labels each call)",
    ops: 1_000_000,
    duende: (n) => { for (let i = 0; i < n; i++) duendeCounter.inc(labels) },
    prom: (n) => { for (let i = 0; i < n; i++) promCounter.inc(labels) }
  },
  {
    name: "histogram observe (series kept)",
    ops: 1_000_000,
    duende: (n) => { for (let i = 0; i < n; i++) duendeHistogramSeries.observe(values[i & 1023]) },
    prom: (n) => { for (let i = 0; i < n; i++) promHistogramChild.observe(values[i & 1023]) }
  },
  {
    name: "histogram observe (labels each call)",
    ops: 1_000_000,
    duende: (n) => { for (let i = 0; i < n; i++) duendeHistogram.observe(labels, values[i & 1023]) },
    prom: (n) => { for (let i = 0; i < n; i++) promHistogram.observe(labels, values[i & 1023]) }
  },
  {
    name: "render 1,000 series",
    ops: 200,
    duende: async (n) => { for (let i = 0; i < n; i++) renderRegistry.renderNow() },
    prom: async (n) => { for (let i = 0; i < n; i++) await promRenderRegistry.metrics() }
  }
]

// ---- the run ---------------------------------------------------------------

const measure = async (fn, ops) => {
  const start = now()
  await fn(ops)
  return ops / (Number(now() - start) / 1e9)
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const format = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0))

// Both must render the same samples (label order aside: prom-client puts "le" first).
const samples = (text) =>
  text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.replace(/\{([^}]*)\}/, (_, inner) => `{${inner.split(",").sort().join(",")}}`)).sort()
const promText = await promRenderRegistry.metrics()
const duendeText = renderRegistry.renderNow()
const lines = (text) => samples(text).length
if (JSON.stringify(samples(promText)) !== JSON.stringify(samples(duendeText))) {
  throw new Error("the two registries render different samples: the render case would not compare like with like")
}

console.log(`node ${process.version}, prom-client ${require("prom-client/package.json").version}, ${rounds} interleaved rounds`)
console.log(`render case: ${lines(duendeText)} sample lines (${duendeText.length} bytes) from 1,000 series\n`)

const results = []
for (const c of cases) {
  await measure(c.duende, Math.ceil(c.ops / 10)) // warm-up
  await measure(c.prom, Math.ceil(c.ops / 10))
  const duende = []
  const promOps = []
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      duende.push(await measure(c.duende, c.ops))
      promOps.push(await measure(c.prom, c.ops))
    } else {
      promOps.push(await measure(c.prom, c.ops))
      duende.push(await measure(c.duende, c.ops))
    }
  }
  results.push({ name: c.name, duende: median(duende), prom: median(promOps) })
}

trackedLoop(10_000)
const tracked = median(await Promise.all([0, 1, 2, 3, 4].map(() => measure(trackedLoop, 200_000))))

const width = Math.max(...results.map((r) => r.name.length))
console.log(`${"case".padEnd(width)}  ${"duende ops/s".padStart(13)}  ${"prom-client ops/s".padStart(17)}  ratio`)
for (const r of results) {
  console.log(
    `${r.name.padEnd(width)}  ${format(r.duende).padStart(13)}  ${format(r.prom).padStart(17)}  ${(r.duende / r.prom).toFixed(2)}x`
  )
}
console.log(`\ninformational: RedMetrics.track(Effect.void) inside Effect.forEach: ${format(tracked)} requests/s`)
const slower = results.filter((r) => r.duende < r.prom)
if (slower.length > 0) {
  console.log(`\nSLOWER than prom-client on: ${slower.map((r) => r.name).join(", ")}`)
  process.exitCode = 1
}
