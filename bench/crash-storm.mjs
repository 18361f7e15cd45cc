// A 1,000-process crash storm: 1,000 daemons that each live under a second,
// crash, and are restarted with backoff, for 20 seconds. Reports the
// supervisor's CPU and its event-loop delay (p99, max) sampled each second.
//
//   node bench/crash-storm.mjs [--daemons 1000] [--seconds 20] [--json]
import { median, option, percentile, startDuende } from "./lib.mjs"

const count = option("daemons", 1000)
const seconds = option("seconds", 20)
const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
// The storm itself is measured: without the restart circuit breaker, which would hold the restarts.
process.env.DUENDE_RESTART_BREAKER = "off"
const duende = await startDuende()
const { encode, decodeSync } = await import("@duende/core/DaemonConfigSchema")

const crasher = (i) => ({
  name: `storm-${i}`,
  command: ["sh", "-c", `sleep 0.${(i % 9) + 1}; exit 1`],
  platform: { native: { ready: "started" } },
  restart: { policy: "always", backoff: { initial: "200ms", max: "2s", jitter: 0.3 }, crashLoop: { burst: 10_000, interval: "1m" } },
  shutdownTimeout: "2s"
})
const added = Date.now()
for (let i = 0; i < count; i += 50) {
  await Promise.all(
    Array.from({ length: Math.min(50, count - i) }, (_, k) =>
      duende.send({ method: "add", config: encode(decodeSync(crasher(i + k))), start: true }))
  )
}
const addMs = Date.now() - added
await duende.send({ method: "stats" }) // resets the delay histogram
const before = await duende.send({ method: "stats" })
const p99s = []
const maxes = []
for (let s = 0; s < seconds; s++) {
  await settle(1_000)
  const stats = await duende.send({ method: "stats" })
  p99s.push(stats.eventLoopDelayMs.p99)
  maxes.push(stats.eventLoopDelayMs.max)
}
const after = await duende.send({ method: "stats" })
const cpuMs = after.cpuUserMs + after.cpuSystemMs - (before.cpuUserMs + before.cpuSystemMs)
const wallMs = after.uptimeMs - before.uptimeMs
const restarts = (await duende.send({ method: "list" })).reduce((n, d) => n + d.restarts, 0)
const result = {
  benchmark: "crash storm",
  daemons: count,
  seconds,
  addAndStartMs: addMs,
  restarts,
  supervisorCpuPercent: (cpuMs / wallMs) * 100,
  eventLoopDelayP99Ms: { median: median(p99s), worst: Math.max(...p99s), p95: percentile(p99s, 95) },
  eventLoopDelayMaxMs: Math.max(...maxes),
  rssMiB: after.rssBytes / 2 ** 20
}
const stopped = Date.now()
await duende.send({ method: "shutdown" })
result.shutdownMs = Date.now() - stopped
if (process.argv.includes("--json")) console.log(JSON.stringify(result))
else {
  console.log(`\nCrash storm: ${count} daemons crashing and restarting for ${seconds}s (${restarts} restarts)`)
  console.log(`  supervisor cpu        ${result.supervisorCpuPercent.toFixed(1)}% of one core`)
  console.log(`  event-loop delay p99  median ${result.eventLoopDelayP99Ms.median.toFixed(1)} ms, worst second ${result.eventLoopDelayP99Ms.worst.toFixed(1)} ms (max ${result.eventLoopDelayMaxMs.toFixed(1)} ms)`)
  console.log(`  supervisor rss        ${result.rssMiB.toFixed(1)} MiB; adding and starting took ${addMs} ms`)
}
process.exit(0)
