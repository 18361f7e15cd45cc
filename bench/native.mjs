// The native platform side by side: bare node, Duende's supervisor and PM2,
// the same HTTP daemon script, interleaved rounds.
//   1. time to ready: start request → the port accepts connections
//   2. crash → ready again: GET /crash → a new process accepts connections
//   3. graceful stop: stop request → the process is gone
// Duende is driven over its control socket and PM2 through its programmatic
// API, so neither pays for its CLI's start-up; bare node is spawned directly.
//
//   node bench/native.mjs [--runs 15] [--json]
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort, get, installPm2, interleave, option, report, startDuende, untilPortAccepts } from "./lib.mjs"

const script = new URL("fixtures/duende-http.mjs", import.meta.url).pathname
const runs = option("runs", 15)
const duende = await startDuende()
const pm2 = await installPm2()

// --- 1. time to ready ----------------------------------------------------------
const bareReady = async () => {
  const port = await freePort()
  const started = process.hrtime.bigint()
  const child = spawn(process.execPath, [script], { env: { ...process.env, PORT: String(port) }, stdio: "ignore" })
  const ms = await untilPortAccepts(port, started)
  await new Promise((resolve) => {
    child.once("exit", resolve)
    child.kill("SIGTERM")
  })
  return ms
}

let n = 0
const duendeReady = async () => {
  const port = await freePort()
  const name = `ready-${++n}`
  const config = join(duende.home, `${name}.json`)
  writeFileSync(config, JSON.stringify({ name, command: [process.execPath, script], env: { PORT: String(port) }, shutdownTimeout: "5s" }))
  const { DaemonConfig } = await import("@duende/core")
  const { encode } = await import("@duende/core/DaemonConfigSchema")
  const { Effect } = await import("effect")
  const decoded = await Effect.runPromise(DaemonConfig.load(config))
  await duende.send({ method: "add", config: encode(decoded), configPath: config, start: false })
  const started = process.hrtime.bigint()
  const answer = duende.send({ method: "start", name })
  const ms = await untilPortAccepts(port, started)
  await answer
  await duende.send({ method: "remove", name })
  return ms
}

const pm2Ready = async () => {
  const port = await freePort()
  const name = `ready-${++n}`
  const started = process.hrtime.bigint()
  await pm2.call("start", { script, name, env: { PORT: String(port) }, autorestart: false })
  const ms = await untilPortAccepts(port, started)
  await pm2.call("delete", name)
  return ms
}

const ready = await interleave(
  [
    { name: "bare node", run: bareReady },
    { name: "duende", run: duendeReady },
    { name: `pm2 ${pm2.version}`, run: pm2Ready }
  ],
  runs
)
const readyRows = report("Time to ready: start → port accepts", ready, "bare node")

// --- 2. crash → ready again ----------------------------------------------------
const crashPort = { duende: await freePort(), pm2: await freePort() }
{
  const { DaemonConfig } = await import("@duende/core")
  const { encode } = await import("@duende/core/DaemonConfigSchema")
  const { Effect } = await import("effect")
  const config = join(duende.home, "crashy.json")
  writeFileSync(config, JSON.stringify({
    name: "crashy",
    command: [process.execPath, script],
    env: { PORT: String(crashPort.duende) },
    restart: { policy: "always", backoff: { initial: 0, jitter: 0 }, crashLoop: { burst: 10_000, interval: "1m" }, minUptime: 0 }
  }))
  await duende.send({ method: "add", config: encode(await Effect.runPromise(DaemonConfig.load(config))), start: true })
  await pm2.call("start", { script, name: "crashy", env: { PORT: String(crashPort.pm2) }, autorestart: true, restart_delay: 0, min_uptime: 0, max_restarts: 100_000 })
  await untilPortAccepts(crashPort.duende)
  await untilPortAccepts(crashPort.pm2)
}
const crashThenReady = (port) => async () => {
  const before = await get(port, "/pid")
  const started = process.hrtime.bigint()
  await get(port, "/crash")
  while (true) {
    const ms = await untilPortAccepts(port, started)
    const now = await get(port, "/pid")
    if (now !== undefined && now !== before) return ms
  }
}
const crash = await interleave(
  [
    { name: "bare node start (reference)", run: bareReady },
    { name: "duende", run: crashThenReady(crashPort.duende) },
    { name: `pm2 ${pm2.version}`, run: crashThenReady(crashPort.pm2) }
  ],
  runs
)
const crashRows = report("Crash → ready again", crash, "bare node start (reference)")
await duende.send({ method: "remove", name: "crashy" })
await pm2.call("delete", "crashy")

// --- 3. graceful stop ------------------------------------------------------------
const bareStop = async () => {
  const port = await freePort()
  const child = spawn(process.execPath, [script], { env: { ...process.env, PORT: String(port) }, stdio: "ignore" })
  await untilPortAccepts(port)
  const started = process.hrtime.bigint()
  await new Promise((resolve) => {
    child.once("exit", resolve)
    child.kill("SIGTERM")
  })
  return Number(process.hrtime.bigint() - started) / 1e6
}
const duendeStop = async () => {
  const port = await freePort()
  const name = `stop-${++n}`
  const { encode, decodeSync } = await import("@duende/core/DaemonConfigSchema")
  await duende.send({ method: "add", config: encode(decodeSync({ name, command: [process.execPath, script], env: { PORT: String(port) } })), start: true })
  await untilPortAccepts(port)
  const started = process.hrtime.bigint()
  await duende.send({ method: "stop", name })
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  await duende.send({ method: "remove", name })
  return ms
}
const pm2Stop = async () => {
  const port = await freePort()
  const name = `stop-${++n}`
  await pm2.call("start", { script, name, env: { PORT: String(port) }, autorestart: false })
  await untilPortAccepts(port)
  const started = process.hrtime.bigint()
  await pm2.call("stop", name)
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  await pm2.call("delete", name)
  return ms
}
const stop = await interleave(
  [
    { name: "bare node (SIGTERM)", run: bareStop },
    { name: "duende", run: duendeStop },
    { name: `pm2 ${pm2.version}`, run: pm2Stop }
  ],
  runs
)
const stopRows = report("Graceful stop: request → process gone", stop, "bare node (SIGTERM)")

const duendeVsPm2 = (rows) => rows[2].median / rows[1].median
if (!process.argv.includes("--json")) {
  console.log(`\nDuende against PM2 (PM2's median / Duende's): ready ${duendeVsPm2(readyRows).toFixed(2)}x, crash → ready ${duendeVsPm2(crashRows).toFixed(2)}x, stop ${duendeVsPm2(stopRows).toFixed(2)}x faster`)
}
await duende.send({ method: "shutdown" })
await pm2.call("killDaemon")
pm2.pm2.disconnect()
process.exit(0)
