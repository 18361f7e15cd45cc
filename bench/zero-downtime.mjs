// Restarts under load, side by side: the example (examples/http-counter, HttpDrain) on 127.0.0.1
//   - under Duende with `listen` (the supervisor holds the socket; `restart` is a rolling restart:
//     the new process is started, waited for READY, then the old one is stopped gracefully),
//   - the same with `instances: 2` (two processes on the one held socket, restarted one at a time:
//     the like of PM2's two cluster workers),
//   - under Duende without `listen` (the same `restart`: stop, then start; the port is closed meanwhile),
//   - under systemd 252 (PID 1 in systemd-nspawn, as root; skipped with a note otherwise) with the
//     same `listen` rendered as a .socket unit: `restart` through Duende's systemd adapter restarts
//     the service only, while systemd keeps the socket listening (the kernel queues connections),
//   - under PM2 in cluster mode, 2 instances, `pm2 reload` (its rolling reload; Node's cluster module
//     shares the example's `server.listen(port)`; kill_timeout set to Duende's shutdownTimeout, 10 s),
// each under two loads of 50 closed-loop clients: keep-alive (http.Agent keepAlive) and a fresh
// connection per request. Per case: 0.3 s of warm-up, a steady-state second, N restarts back to
// back (each once the one before has answered), 0.3 s more. Counted from the first restart on:
// failed requests (ECONNREFUSED, ECONNRESET, aborted responses, timeouts after 5 s, non-200);
// the time each restart/reload took (the control request / PM2 API call, until it answered);
// throughput and latency p50/p99 of the successful requests sent during the restarts, against
// the steady second before. A client whose request failed waits 10 ms before its next one (a tight
// retry loop against a refused port would count the client's speed, not the downtime); "failing"
// is the number of 10 ms slots with at least one failure: how long clients saw errors. The load
// generator runs in this process (warmed up first); PM2 runs 2 workers, Duende 1 process (or 2 with
// instances), on the same cores, so throughput is what a client sees, not per-process speed. Duende is driven over
// its control socket, PM2 through its programmatic API (installed into a temporary directory at
// run time, as in native.mjs). Each case stops restarting after --scenario-seconds (default 60).
//
//   node bench/zero-downtime.mjs [--restarts 20] [--clients 50] [--scenario-seconds 60] [--json]
import { rmSync, readFileSync } from "node:fs"
import { Agent, request } from "node:http"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { freePort, installPm2, median, option, percentile, startDuende } from "./lib.mjs"

const restarts = option("restarts", 20)
const clients = option("clients", 50)
const scenarioCapMs = option("scenario-seconds", 60) * 1_000 // each case stops restarting after this
const json = process.argv.includes("--json")
const failurePauseMs = 10
const requestTimeoutMs = 5_000
const slotMs = 10
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (line) => process.stderr.write(`${line}\n`)

const exampleDir = new URL("../examples/http-counter/", import.meta.url).pathname
const script = join(exampleDir, "dist", "main.js")
const exampleConfig = JSON.parse(readFileSync(join(exampleDir, "duende.json"), "utf8"))
delete exampleConfig.$schema

// --- clean-up, on every way out ----------------------------------------------------------
let duende
let pm2
let machine
let cleaning
const cleanup = () =>
  (cleaning ??= (async () => {
    const within = (promise, ms) => Promise.race([promise.catch(() => {}), sleep(ms)])
    if (duende !== undefined) {
      // The supervisor still writes its registry after answering: wait for it to exit, then remove its home.
      let supervisor
      try {
        supervisor = Number(readFileSync(join(duende.home, "supervisor.pid"), "utf8").trim())
      } catch {}
      await within(duende.send({ method: "shutdown" }), 30_000)
      const alive = () => {
        try {
          return supervisor > 0 && process.kill(supervisor, 0)
        } catch {
          return false
        }
      }
      for (let i = 0; i < 300 && alive(); i++) await sleep(100)
      rmSync(duende.home, { recursive: true, force: true })
    }
    if (machine !== undefined) await within(machine.shutdown(), 30_000)
    if (pm2 !== undefined) {
      await within(pm2.call("delete", "all"), 20_000)
      await within(pm2.call("killDaemon"), 10_000)
      pm2.pm2.disconnect()
      rmSync(pm2.home, { recursive: true, force: true })
    }
  })())
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    log(`\n${signal}: cleaning up …`)
    void cleanup().finally(() => process.exit(130))
  })
}
// Bounded in time whatever happens (a wedged daemon, a reload that never answers).
const overall = setTimeout(() => {
  log("zero-downtime: over 10 minutes, giving up")
  void cleanup().finally(() => process.exit(1))
}, 10 * 60_000)
overall.unref()

// --- load ---------------------------------------------------------------------------------
/** One GET /: when it started (ms, performance clock), how long it took, and its failure, if any. */
const once = (port, agent) =>
  new Promise((resolve) => {
    const start = performance.now()
    let settled = false
    const done = (failure) => {
      if (settled) return
      settled = true
      const end = performance.now()
      resolve({ start, end, ms: end - start, failure })
    }
    const req = request({ host: "127.0.0.1", port, path: "/", agent, timeout: requestTimeoutMs }, (res) => {
      res.resume()
      res.on("error", () => {})
      res.on("close", () => {
        if (!res.complete) done("aborted")
        else done(res.statusCode === 200 ? undefined : `status ${res.statusCode}`)
      })
    })
    req.on("timeout", () => {
      done("timeout")
      req.destroy()
    })
    req.on("error", (error) => done(error.code ?? error.message))
    req.end()
  })

/** `clients` loops of back-to-back requests until stopped; every result. */
const load = (port, keepAlive) => {
  const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: clients, maxFreeSockets: clients }) : false
  const results = []
  let stopped = false
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) {
      const result = await once(port, agent)
      results.push(result)
      if (result.failure !== undefined) await sleep(failurePauseMs)
    }
  })
  return {
    results,
    stop: async () => {
      stopped = true
      await Promise.all(loops)
      if (agent) agent.destroy()
      return results
    }
  }
}

const untilServing = async (port) => {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if ((await once(port, false)).failure === undefined) return
    await sleep(50)
  }
  throw new Error(`port ${port} never answered 200`)
}

// --- targets ------------------------------------------------------------------------------
const { encode, decodeSync } = await import("@duende/core/DaemonConfigSchema")

const duendeTarget = async (label, name, withListen, instances = 1) => {
  const port = await freePort()
  const config = {
    ...exampleConfig,
    name,
    command: [process.execPath, script],
    workingDirectory: exampleDir,
    env: { HOST: "127.0.0.1", PORT: String(port) },
    ...(withListen ? { listen: [{ name: "http", port }] } : {}),
    ...(instances > 1 ? { instances } : {})
  }
  await duende.send({ method: "add", config: encode(decodeSync(config)), start: true })
  const pids = async () => {
    const info = await duende.send({ method: "status", name })
    return info.instances === undefined ? [info.pid] : info.instances.map((each) => each.pid).sort()
  }
  return {
    label,
    port,
    pids,
    restart: () => duende.send({ method: "restart", name }),
    remove: () => duende.send({ method: "remove", name })
  }
}

/** systemd in nspawn (root only): the adapter's install, start and restart; MainPID for the pids. */
const systemdTarget = async (label, name) => {
  const { register } = await import("tsx/esm/api")
  register()
  const { boot } = await import("../packages/platform-systemd/test/helpers/nspawn.ts")
  const SystemdAdapter = await import("../packages/platform-systemd/src/SystemdAdapter.ts")
  const Effect = await import("effect/Effect")
  const Duration = await import("effect/Duration")
  machine = await boot()
  const adapter = await Effect.runPromise(SystemdAdapter.make({ prefix: machine.prefix, root: machine.root }))
  const port = await freePort()
  const config = decodeSync({
    ...exampleConfig,
    name,
    command: [process.execPath, script],
    workingDirectory: exampleDir,
    env: { HOST: "127.0.0.1", PORT: String(port) },
    listen: [{ name: "http", port }]
  })
  const handle = await Effect.runPromise(adapter.install(config))
  await Effect.runPromise(adapter.start(handle))
  return {
    label,
    port,
    pids: async () => [(await Effect.runPromise(adapter.status(handle))).pid ?? null],
    restart: () => Effect.runPromise(adapter.restart(handle, Duration.seconds(30))),
    remove: () => Effect.runPromise(Effect.zipRight(adapter.stop(handle, Duration.seconds(30)), adapter.uninstall(handle)))
  }
}
const systemdGate = () => {
  if (process.getuid?.() !== 0) return "not root"
  for (const dir of (process.env.PATH ?? "").split(":")) {
    try {
      readFileSync(join(dir, "systemd-nspawn"))
      return undefined
    } catch {}
  }
  return "no systemd-nspawn (apt-get install systemd-container)"
}

const pm2Target = async (label, name) => {
  const port = await freePort()
  await pm2.call("start", {
    script,
    name,
    cwd: exampleDir,
    exec_mode: "cluster",
    instances: 2,
    env: { HOST: "127.0.0.1", PORT: String(port) },
    kill_timeout: 10_000,
    autorestart: true
  })
  return {
    label,
    port,
    pids: async () => (await pm2.call("list")).filter((p) => p.name === name).map((p) => p.pid).sort(),
    restart: () => pm2.call("reload", name),
    remove: () => pm2.call("delete", name)
  }
}

// --- one case: a target under one load ------------------------------------------------------
const stats = (xs, from, to) => {
  const inWindow = xs.filter((r) => r.start >= from && r.start < to && r.failure === undefined)
  const ms = inWindow.map((r) => r.ms)
  return { requests: inWindow.length, rps: inWindow.length / ((to - from) / 1_000), p50: percentile(ms, 50), p99: percentile(ms, 99) }
}

const where = (failures, windows) => {
  const kinds = {}
  for (const f of failures) {
    // When the failure came; a timeout's, when the request was sent (it hung from then on).
    const at = f.failure === "timeout" ? f.start : f.end
    let i = windows.length - 1
    while (i > 0 && windows[i][0] > at) i--
    const k = (kinds[f.failure] ??= { offsets: [], afterAnswer: 0 })
    k.offsets.push(at - windows[i][0])
    if (at >= windows[i][1]) k.afterAnswer++
  }
  return Object.fromEntries(Object.entries(kinds).map(([kind, { offsets, afterAnswer }]) => [
    kind,
    { count: offsets.length, msAfterRestartStart: { min: Math.min(...offsets), median: median(offsets), max: Math.max(...offsets) }, afterAnswer }
  ]))
}

const measure = async (target, loadName, keepAlive) => {
  await untilServing(target.port)
  const running = load(target.port, keepAlive)
  await sleep(300) // warm-up: connections made
  const steadyFrom = performance.now()
  await sleep(1_000)
  const restartsFrom = performance.now()
  const took = []
  const errors = []
  let replaced = 0
  const windows = []
  for (let i = 0; i < restarts && performance.now() - restartsFrom < scenarioCapMs; i++) {
    const before = await target.pids()
    const started = performance.now()
    try {
      await target.restart()
    } catch (error) {
      errors.push(String(error?.message ?? error))
    }
    const ended = performance.now()
    took.push(ended - started)
    windows.push([started, ended])
    const after = await target.pids()
    if (after.every((pid) => pid !== null && !before.includes(pid))) replaced++
  }
  const restartsTo = performance.now()
  await sleep(300)
  const results = await running.stop()
  const failures = results.filter((r) => r.failure !== undefined && r.start >= restartsFrom)
  const byKind = {}
  for (const f of failures) byKind[f.failure] = (byKind[f.failure] ?? 0) + 1
  const slots = new Set(failures.map((f) => Math.floor(f.end / slotMs)))
  const row = {
    target: target.label,
    load: loadName,
    restarts: took.length,
    replaced,
    restartErrors: errors,
    restartMs: { median: median(took), max: Math.max(...took) },
    failed: failures.length,
    failedByKind: byKind,
    failingMs: slots.size * slotMs,
    steadyFailed: results.filter((r) => r.failure !== undefined && r.start < restartsFrom).length,
    steady: stats(results, steadyFrom, restartsFrom),
    during: stats(results, restartsFrom, restartsTo),
    // Where the failures fell: per kind, how many ms after the start of the restart before them they
    // came (min, median, max; a timeout: when it was sent), and how many after that restart had answered.
    failuresInRestart: where(failures, windows)
  }
  log(`  ${row.target} / ${loadName}: ${row.restarts} restarts, ${row.failed} failed`)
  return row
}

// --- run ------------------------------------------------------------------------------------
const rows = []
let failed = false
try {
  duende = await startDuende()
  pm2 = await installPm2()
  const targets = [
    await duendeTarget("duende listen (rolling)", "zd-listen", true),
    await duendeTarget("duende listen x2 instances (rolling)", "zd-two", true, 2),
    await duendeTarget("duende no listen (stop+start)", "zd-plain", false),
    await pm2Target(`pm2 ${pm2.version} cluster x2 (reload)`, "zd-pm2")
  ]
  const noSystemd = systemdGate()
  if (noSystemd === undefined) targets.push(await systemdTarget("systemd 252 .socket (restart)", "zd-systemd"))
  else log(`systemd: skipped (${noSystemd})`)
  const loads = [
    ["keep-alive", true],
    ["new connection per request", false]
  ]
  // Warm-up of this process's HTTP client (discarded), so the first case does not pay for it.
  await untilServing(targets[0].port)
  for (const [, keepAlive] of loads) {
    const warm = load(targets[0].port, keepAlive)
    await sleep(1_500)
    await warm.stop()
  }
  for (const [loadName, keepAlive] of loads) {
    log(`${loadName}: ${clients} clients, ${restarts} restarts per target …`)
    for (const target of targets) rows.push(await measure(target, loadName, keepAlive))
  }
  for (const target of targets) await target.remove()
} catch (error) {
  failed = true
  log(`zero-downtime failed: ${error?.stack ?? error}`)
} finally {
  await cleanup()
}
if (failed) process.exit(1)

// --- report ----------------------------------------------------------------------------------
const ratio = (a, b) => (b === 0 ? (a === 0 ? "1.00x" : "n/a") : `${(a / b).toFixed(2)}x`)
if (json) {
  process.stdout.write(
    `${JSON.stringify({ benchmark: "zero-downtime restarts", unit: "ms", clients, restartsAsked: restarts, failurePauseMs, requestTimeoutMs, rows })}\n`
  )
} else {
  const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : "-")
  for (const loadName of [...new Set(rows.map((r) => r.load))]) {
    const these = rows.filter((r) => r.load === loadName)
    console.log(`\nRestarts under load: ${clients} clients, ${loadName} (127.0.0.1; the steady second before → during the restarts)`)
    const width = Math.max(...these.map((r) => r.target.length))
    console.log(
      `  ${"".padEnd(width)}  ${"restarts".padStart(8)}  ${"failed".padStart(7)}  ${"failing".padStart(8)}  ${"restart median/max".padStart(19)}  ${"req/s steady → during".padStart(22)}  ${"p50 ms".padStart(13)}  ${"p99 ms".padStart(15)}`
    )
    for (const r of these) {
      const kinds = Object.entries(r.failedByKind).map(([k, n]) => `${k} ${n}`).join(", ")
      console.log(
        `  ${r.target.padEnd(width)}  ${`${r.replaced}/${r.restarts}`.padStart(8)}  ${String(r.failed).padStart(7)}  ${`${r.failingMs} ms`.padStart(8)}  ${`${r.restartMs.median.toFixed(0)} / ${r.restartMs.max.toFixed(0)} ms`.padStart(19)}  ${`${r.steady.rps.toFixed(0)} → ${r.during.rps.toFixed(0)}`.padStart(22)}  ${`${f1(r.steady.p50)} → ${f1(r.during.p50)}`.padStart(13)}  ${`${f1(r.steady.p99)} → ${f1(r.during.p99)}`.padStart(15)}${kinds ? `   (${kinds})` : ""}`
      )
      if (r.steadyFailed > 0) console.log(`  ${"".padEnd(width)}  ${r.steadyFailed} failed in the steady second (before any restart)`)
      if (r.restartErrors.length > 0) console.log(`  ${"".padEnd(width)}  restart errors: ${[...new Set(r.restartErrors)].join("; ")}`)
    }
    const [listen, two, plain, pm, systemd] = these
    console.log(`  ratios (each against duende listen): restart median: x2 ${ratio(two.restartMs.median, listen.restartMs.median)}, no listen ${ratio(plain.restartMs.median, listen.restartMs.median)}, pm2 ${ratio(pm.restartMs.median, listen.restartMs.median)};`)
    console.log(`    req/s during restarts: x2 ${ratio(two.during.rps, listen.during.rps)}, no listen ${ratio(plain.during.rps, listen.during.rps)}, pm2 ${ratio(pm.during.rps, listen.during.rps)}; p99 during: x2 ${ratio(two.during.p99, listen.during.p99)}, no listen ${ratio(plain.during.p99, listen.during.p99)}, pm2 ${ratio(pm.during.p99, listen.during.p99)}`)
    if (systemd !== undefined) {
      console.log(`  systemd socket activation against duende listen: restart ${ratio(systemd.restartMs.median, listen.restartMs.median)}, req/s during ${ratio(systemd.during.rps, listen.during.rps)}, p99 during ${ratio(systemd.during.p99, listen.during.p99)}`)
    }
    console.log(`  two processes each (duende x2 instances against pm2 cluster x2): restart ${ratio(pm.restartMs.median, two.restartMs.median)} faster, req/s during ${ratio(two.during.rps, pm.during.rps)}, p99 during ${ratio(two.during.p99, pm.during.p99)}`)
    console.log(`    during/steady: ${these.map((r) => `${r.target.split(" (")[0]} req/s ${ratio(r.during.rps, r.steady.rps)}, p99 ${ratio(r.during.p99, r.steady.p99)}`).join("; ")}`)
  }
  console.log(`\n  failed: requests that errored (refused, reset, aborted, ${requestTimeoutMs / 1000} s timeout, non-200) from the first restart to 0.3 s after the last;`)
  console.log(`  failing: 10 ms slots with a failure (a failed client waits ${failurePauseMs} ms); restarts: replaced (every pid new) / made; latency of successful requests.`)
  console.log("\n  Where the failures fell (ms after the start of the restart before them, min / median / max; a timeout: when it was sent):")
  for (const r of rows.filter((r) => r.failed > 0)) {
    for (const [kind, k] of Object.entries(r.failuresInRestart)) {
      const { min, median: mid, max } = k.msAfterRestartStart
      console.log(`    ${r.target} / ${r.load}: ${kind} ${k.count}, at ${min.toFixed(0)} / ${mid.toFixed(0)} / ${max.toFixed(0)} ms${k.afterAnswer ? `, ${k.afterAnswer} after the restart had answered` : ""}`)
    }
  }
}
process.exit(0)
