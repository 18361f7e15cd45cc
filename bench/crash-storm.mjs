// A 1,000-process crash storm, side by side: 1,000 daemons that each live under
// a second, crash, and are restarted with backoff, for 20 seconds, under
// Duende's supervisor (with each of its two spawners: Node's child_process.spawn,
// the default, which forks the supervisor on its own thread, and posix_spawn in
// a worker thread, DUENDE_SPAWNER=posix) and under PM2's God daemon (its exponential
// restart delay, from the same 200 ms). Reports, per manager: how long adding
// and starting the thousand took, its CPU and RSS during the storm, how many
// restarts it achieved, and how long its control RPC took to answer (sampled
// each second; for Duende also its own event-loop delay, p99 per second).
//
//   node bench/crash-storm.mjs [--daemons 1000] [--seconds 20] [--json]
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { installPm2, median, option, percentile, rssOf, startDuende } from "./lib.mjs"

const count = option("daemons", 1000)
const seconds = option("seconds", 20)
const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const script = (i) => `sleep 0.${(i % 9) + 1}; exit 1`
const ticks = 100 // USER_HZ
const cpuMsOf = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks
}
const timed = async (f) => {
  const started = process.hrtime.bigint()
  await f()
  return Number(process.hrtime.bigint() - started) / 1e6
}
const inBatches = async (n, size, f) => {
  for (let i = 0; i < n; i += size) await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => f(i + k)))
}

const duendeStorm = async (spawner) => {
  // The storm itself is measured: without the restart circuit breaker, which would hold the restarts.
  process.env.DUENDE_RESTART_BREAKER = "off"
  process.env.DUENDE_SPAWNER = spawner
  const duende = await startDuende()
  const { encode, decodeSync } = await import("@duende/core/DaemonConfigSchema")
  const crasher = (i) => ({
    name: `storm-${i}`,
    command: ["sh", "-c", script(i)],
    platform: { native: { ready: "started" } },
    restart: { policy: "always", backoff: { initial: "200ms", max: "2s", jitter: 0.3 }, crashLoop: { burst: 10_000, interval: "1m" } },
    shutdownTimeout: "2s"
  })
  const addMs = await timed(() =>
    inBatches(count, 50, (i) => duende.send({ method: "add", config: encode(decodeSync(crasher(i))), start: true })))
  await duende.send({ method: "stats" }) // resets the delay histogram
  const before = await duende.send({ method: "stats" })
  const restartsBefore = (await duende.send({ method: "list" })).reduce((n, d) => n + d.restarts, 0)
  const p99s = []
  const maxes = []
  const rpcs = []
  for (let s = 0; s < seconds; s++) {
    await settle(1_000)
    let stats
    rpcs.push(await timed(async () => (stats = await duende.send({ method: "stats" }))))
    p99s.push(stats.eventLoopDelayMs.p99)
    maxes.push(stats.eventLoopDelayMs.max)
  }
  const after = await duende.send({ method: "stats" })
  const restarts = (await duende.send({ method: "list" })).reduce((n, d) => n + d.restarts, 0) - restartsBefore
  const cpuMs = after.cpuUserMs + after.cpuSystemMs - (before.cpuUserMs + before.cpuSystemMs)
  const result = {
    manager: `duende (${spawner} spawner)`,
    addAndStartMs: addMs,
    restarts,
    cpuPercent: (cpuMs / (after.uptimeMs - before.uptimeMs)) * 100,
    rssMiB: after.rssBytes / 2 ** 20,
    rpcMs: { median: median(rpcs), worst: Math.max(...rpcs) },
    eventLoopDelayP99Ms: { median: median(p99s), worst: Math.max(...p99s), p95: percentile(p99s, 95) },
    eventLoopDelayMaxMs: Math.max(...maxes)
  }
  result.shutdownMs = await timed(() => duende.send({ method: "shutdown" }))
  await settle(2_000)
  return result
}

const pm2Storm = async (pm2) => {
  const pid = Number(readFileSync(join(pm2.home, "pm2.pid"), "utf8"))
  const addMs = await timed(() =>
    inBatches(count, 50, (i) =>
      pm2.call("start", {
        script: "sh",
        args: ["-c", script(i)],
        interpreter: "none",
        name: `storm-${i}`,
        autorestart: true,
        // PM2's own backoff, from the same first delay (it grows to 15 s); no crash-loop stop.
        exp_backoff_restart_delay: 200,
        max_restarts: 1_000_000
      })))
  const restartsOf = async () => (await pm2.call("list")).reduce((n, p) => n + p.pm2_env.restart_time, 0)
  const restartsBefore = await restartsOf()
  const cpuBefore = cpuMsOf(pid)
  const started = Date.now()
  const rpcs = []
  const rss = []
  for (let s = 0; s < seconds; s++) {
    await settle(1_000)
    rpcs.push(await timed(() => pm2.call("list")))
    rss.push(await rssOf(pid))
  }
  const cpuMs = cpuMsOf(pid) - cpuBefore
  const wallMs = Date.now() - started
  const result = {
    manager: `pm2 ${pm2.version}`,
    addAndStartMs: addMs,
    restarts: (await restartsOf()) - restartsBefore,
    cpuPercent: (cpuMs / wallMs) * 100,
    rssMiB: rss[rss.length - 1] / 2 ** 20,
    rpcMs: { median: median(rpcs), worst: Math.max(...rpcs) }
  }
  result.shutdownMs = await timed(() => pm2.call("delete", "all"))
  return result
}

const rows = []
// Each row on stderr as soon as it is measured (a long run interrupted keeps what it had).
const measured = (row) => {
  rows.push(row)
  process.stderr.write(`${JSON.stringify(row)}\n`)
}
measured(await duendeStorm("posix"))
measured(await duendeStorm("node"))
const pm2 = await installPm2()
measured(await pm2Storm(pm2))
await pm2.call("killDaemon")
pm2.pm2.disconnect()

if (process.argv.includes("--json")) console.log(JSON.stringify({ benchmark: "crash storm", daemons: count, seconds, rows }))
else {
  console.log(`\nCrash storm: ${count} daemons crashing and restarting for ${seconds}s, side by side`)
  for (const r of rows) {
    console.log(`  ${r.manager}`)
    console.log(`    add + start ${count}     ${(r.addAndStartMs / 1000).toFixed(1)} s; ${r.restarts} restarts in ${seconds}s`)
    console.log(`    cpu / rss             ${r.cpuPercent.toFixed(1)}% of one core; ${r.rssMiB.toFixed(1)} MiB`)
    console.log(`    control rpc           median ${r.rpcMs.median.toFixed(1)} ms, worst ${r.rpcMs.worst.toFixed(1)} ms; stopping all took ${(r.shutdownMs / 1000).toFixed(1)} s`)
    if (r.eventLoopDelayP99Ms !== undefined) {
      console.log(`    event-loop delay p99  median ${r.eventLoopDelayP99Ms.median.toFixed(1)} ms, worst second ${r.eventLoopDelayP99Ms.worst.toFixed(1)} ms (max ${r.eventLoopDelayMaxMs.toFixed(1)} ms)`)
    }
  }
  const [posix, , peer] = rows
  console.log(`  duende (posix) / pm2: cpu ${(posix.cpuPercent / peer.cpuPercent).toFixed(2)}x, rss ${(posix.rssMiB / peer.rssMiB).toFixed(2)}x, restarts ${(posix.restarts / peer.restarts).toFixed(2)}x`)
}
process.exit(0)
