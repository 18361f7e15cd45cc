// Supervisor memory: the RSS of Duende's supervisor and of PM2's daemon, each
// managing 1, 100 and 1,000 idle processes (the benchmark weighs the
// supervisor, not the daemons, so the daemons are `sleep infinity`).
//
//   node bench/supervisor-memory.mjs [--counts 1,100,1000] [--json]
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { installPm2, median, rssOf, startDuende } from "./lib.mjs"

const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const idle = (name) => ({ name, command: ["sleep", "infinity"], platform: { native: { ready: "started" } }, shutdownTimeout: "5s" })

const duendeRss = async (count) => {
  const duende = await startDuende()
  const { encode, decodeSync } = await import("@duende/core/DaemonConfigSchema")
  for (let i = 0; i < count; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, count - i) }, (_, k) =>
        duende.send({ method: "add", config: encode(decodeSync(idle(`idle-${i + k}`))), start: true }))
    )
  }
  await settle(5_000)
  const samples = []
  for (let i = 0; i < 5; i++) {
    samples.push((await duende.send({ method: "stats" })).rssBytes)
    await settle(500)
  }
  const running = (await duende.send({ method: "stats" })).running
  await duende.send({ method: "shutdown" })
  await settle(2_000)
  return { rss: median(samples), running }
}

const pm2Rss = async (pm2, count) => {
  for (let i = 0; i < count; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, count - i) }, (_, k) =>
        pm2.call("start", { script: "sleep", args: ["infinity"], interpreter: "none", name: `idle-${i + k}`, autorestart: false }))
    )
  }
  await settle(5_000)
  const pid = Number(readFileSync(join(pm2.home, "pm2.pid"), "utf8"))
  const samples = []
  for (let i = 0; i < 5; i++) {
    samples.push(await rssOf(pid))
    await settle(500)
  }
  const running = (await pm2.call("list")).filter((p) => p.pm2_env.status === "online").length
  await pm2.call("delete", "all")
  await settle(1_000)
  return { rss: median(samples), running }
}

const pm2 = await installPm2()
const rows = []
const counts = process.argv.includes("--counts")
  ? process.argv[process.argv.indexOf("--counts") + 1].split(",").map(Number)
  : [1, 100, 1000]
for (const count of counts) {
  const duende = await duendeRss(count)
  const peer = await pm2Rss(pm2, count)
  rows.push({ daemons: count, duendeMiB: duende.rss / 2 ** 20, pm2MiB: peer.rss / 2 ** 20, ratio: duende.rss / peer.rss, running: [duende.running, peer.running] })
}
await pm2.call("killDaemon")
pm2.pm2.disconnect()
if (process.argv.includes("--json")) console.log(JSON.stringify({ benchmark: "supervisor RSS", pm2: pm2.version, rows }))
else {
  console.log(`\nSupervisor RSS (median of 5 samples; PM2 ${pm2.version})`)
  for (const r of rows) {
    console.log(`  ${String(r.daemons).padStart(4)} daemons  duende ${r.duendeMiB.toFixed(1)} MiB  pm2 ${r.pm2MiB.toFixed(1)} MiB  ${r.ratio.toFixed(2)}x  (running: ${r.running.join(" / ")})`)
  }
}
process.exit(0)
