// Soak: 100 daemons crashing and restarting under one supervisor for 10
// minutes, its RSS sampled every 10 s. Reports the least-squares slope of RSS
// over time (MiB per hour) after the first minute (warm-up: code loaded, JIT,
// buffers grown to their working size): a slope that is not about 0 is a leak.
//
//   node bench/soak.mjs [--daemons 100] [--minutes 10] [--every 10] [--json]
import { option, startDuende } from "./lib.mjs"

const count = option("daemons", 100)
const minutes = option("minutes", 10)
const every = option("every", 10)
const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
process.env.DUENDE_RESTART_BREAKER = "off"
const duende = await startDuende()
const { encode, decodeSync } = await import("@duende/core/DaemonConfigSchema")
const crasher = (i) => ({
  name: `soak-${i}`,
  // Writes a few lines (the log path is exercised too), lives 1–3 s, crashes.
  command: ["sh", "-c", `echo start; echo to stderr >&2; sleep ${1 + (i % 3)}; exit 1`],
  platform: { native: { ready: "started" } },
  restart: { policy: "always", backoff: { initial: "100ms", max: "1s", jitter: 0.3 }, minUptime: "500ms", crashLoop: { burst: 10_000, interval: "1m" } },
  shutdownTimeout: "2s"
})
for (let i = 0; i < count; i += 25) {
  await Promise.all(
    Array.from({ length: Math.min(25, count - i) }, (_, k) => duende.send({ method: "add", config: encode(decodeSync(crasher(i + k))), start: true }))
  )
}
const samples = []
const started = Date.now()
const restartsOf = async () => (await duende.send({ method: "list" })).reduce((n, d) => n + d.restarts, 0)
while (Date.now() - started < minutes * 60_000) {
  await settle(every * 1_000)
  const stats = await duende.send({ method: "stats" })
  samples.push({ at: (Date.now() - started) / 1000, rssMiB: stats.rssBytes / 2 ** 20 })
}
const restarts = await restartsOf()
await duende.send({ method: "shutdown" })

const fit = samples.filter((s) => s.at >= 60)
const meanT = fit.reduce((n, s) => n + s.at, 0) / fit.length
const meanR = fit.reduce((n, s) => n + s.rssMiB, 0) / fit.length
const slopePerSecond = fit.reduce((n, s) => n + (s.at - meanT) * (s.rssMiB - meanR), 0) /
  fit.reduce((n, s) => n + (s.at - meanT) ** 2, 0)
const result = {
  benchmark: "soak",
  daemons: count,
  minutes,
  restarts,
  rssMiB: { first: samples[0].rssMiB, last: samples[samples.length - 1].rssMiB, max: Math.max(...samples.map((s) => s.rssMiB)) },
  slopeMiBPerHour: slopePerSecond * 3600,
  samples
}
if (process.argv.includes("--json")) console.log(JSON.stringify(result))
else {
  console.log(`\nSoak: ${count} daemons crashing and restarting for ${minutes} min (${restarts} restarts), RSS every ${every}s`)
  console.log(`  rss first ${result.rssMiB.first.toFixed(1)} MiB, last ${result.rssMiB.last.toFixed(1)} MiB, max ${result.rssMiB.max.toFixed(1)} MiB`)
  console.log(`  slope after the first minute: ${result.slopeMiBPerHour.toFixed(2)} MiB/hour`)
}
process.exit(0)
