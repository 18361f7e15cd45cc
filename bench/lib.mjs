// Shared helpers for the benchmarks: interleaved runs, medians, percentiles, ratios, output.
import { spawn } from "node:child_process"

export const median = (xs) => percentile(xs, 50)

export const percentile = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.ceil(rank)
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low)
}

/** Runs each case once per round, in rotating order, so machine drift hits all alike. */
export const interleave = async (cases, rounds, warmup = 2) => {
  const samples = Object.fromEntries(cases.map((c) => [c.name, []]))
  for (let round = -warmup; round < rounds; round++) {
    const order = cases.map((_, i) => cases[(i + Math.max(round, 0)) % cases.length])
    for (const c of order) {
      const value = await c.run()
      if (round >= 0) samples[c.name].push(value)
    }
  }
  return samples
}

/** ms from spawn until a line of stdout matches. */
export const timeToLine = (command, args, pattern, env = {}) =>
  new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, ...env } })
    let out = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${args.join(" ")}: no ${pattern} within 30s`))
    }, 30_000)
    child.stdout.on("data", (chunk) => {
      out += chunk
      if (pattern.test(out)) {
        clearTimeout(timer)
        const ms = Number(process.hrtime.bigint() - started) / 1e6
        child.once("exit", () => resolve(ms))
        child.kill("SIGKILL")
      }
    })
    child.once("error", reject)
  })

export const report = (title, samples, baseline, unit = "ms") => {
  const rows = Object.entries(samples).map(([name, xs]) => ({
    name,
    median: median(xs),
    p95: percentile(xs, 95),
    ratio: median(xs) / median(samples[baseline])
  }))
  if (process.argv.includes("--json")) {
    process.stdout.write(`${JSON.stringify({ benchmark: title, unit, baseline, runs: samples[baseline].length, rows })}\n`)
    return rows
  }
  console.log(`\n${title} (${samples[baseline].length} interleaved runs; ratios against ${baseline})`)
  const width = Math.max(...rows.map((r) => r.name.length))
  for (const r of rows) {
    console.log(
      `  ${r.name.padEnd(width)}  median ${r.median.toFixed(1).padStart(7)} ${unit}  p95 ${r.p95.toFixed(1).padStart(7)} ${unit}  ${r.ratio.toFixed(2)}x`
    )
  }
  return rows
}

/**
 * Where the time of a measurement goes: median and p95 per phase, no ratios (the phases of one
 * measurement are parts of a whole, not alternatives). `--json` prints one line like `report`.
 */
export const breakdown = (title, samples, unit = "ms") => {
  const rows = Object.entries(samples).map(([name, xs]) => ({ name, median: median(xs), p95: percentile(xs, 95) }))
  const runs = Math.max(0, ...Object.values(samples).map((xs) => xs.length))
  if (process.argv.includes("--json")) {
    process.stdout.write(`${JSON.stringify({ benchmark: title, unit, runs, rows })}\n`)
    return rows
  }
  console.log(`\n${title} (${runs} runs)`)
  const width = Math.max(...rows.map((r) => r.name.length))
  for (const r of rows) {
    console.log(`  ${r.name.padEnd(width)}  median ${r.median.toFixed(1).padStart(7)} ${unit}  p95 ${r.p95.toFixed(1).padStart(7)} ${unit}`)
  }
  return rows
}

export const option = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

/** ms until a TCP port accepts a connection (polled every millisecond). */
export const untilPortAccepts = async (port, started = process.hrtime.bigint(), timeoutMs = 30_000) => {
  const { connect } = await import("node:net")
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const socket = connect({ port, host: "127.0.0.1" })
      socket.once("connect", () => {
        socket.destroy()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
    if (ok) return Number(process.hrtime.bigint() - started) / 1e6
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  throw new Error(`port ${port} did not accept within ${timeoutMs}ms`)
}

/** GET a path on 127.0.0.1:port; resolves to the body (or undefined on failure). */
export const get = async (port, path) => {
  try {
    return await (await fetch(`http://127.0.0.1:${port}${path}`)).text()
  } catch {
    return undefined
  }
}

/** A free TCP port. */
export const freePort = async () => {
  const { createServer } = await import("node:net")
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * PM2, installed into a temporary directory at run time (it is AGPL: never a
 * dependency of Duende). Returns its programmatic API bound to a private PM2_HOME.
 */
export const installPm2 = async (version = "6") => {
  const { execFileSync } = await import("node:child_process")
  const { mkdtempSync, existsSync } = await import("node:fs")
  const { createRequire } = await import("node:module")
  const { join } = await import("node:path")
  const { tmpdir } = await import("node:os")
  const prefix = process.env.DUENDE_BENCH_PM2_DIR ?? join(tmpdir(), "duende-bench-pm2")
  if (!existsSync(join(prefix, "node_modules", "pm2"))) {
    process.stderr.write(`installing pm2@${version} into ${prefix} …\n`)
    execFileSync("npm", ["install", "--prefix", prefix, "--no-audit", "--no-fund", `pm2@${version}`], { stdio: "ignore" })
  }
  process.env.PM2_HOME = mkdtempSync(join(tmpdir(), "duende-bench-pm2-home-"))
  const pm2 = createRequire(join(prefix, "package.json"))("pm2")
  const call = (method, ...args) =>
    new Promise((resolve, reject) => pm2[method](...args, (error, result) => (error ? reject(error) : resolve(result))))
  await call("connect")
  const version_ = createRequire(join(prefix, "package.json"))("pm2/package.json").version
  return { pm2, call, version: version_, home: process.env.PM2_HOME }
}

/** RSS of a pid in bytes, from /proc. */
export const rssOf = async (pid) => {
  const { readFileSync } = await import("node:fs")
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match ? Number(match[1]) * 1024 : Number.NaN
}

/** A Duende supervisor in a private DUENDE_HOME, driven over its control socket. */
export const startDuende = async () => {
  const { mkdtempSync } = await import("node:fs")
  const { join } = await import("node:path")
  const { tmpdir } = await import("node:os")
  const cli = await import("@duende/cli")
  const { Effect } = await import("effect")
  const home = mkdtempSync(join(tmpdir(), "duende-bench-home-"))
  const paths = cli.Paths.resolve({ DUENDE_HOME: home })
  const entry = new URL("../node_modules/@duende/cli/bin/duende.js", import.meta.url).pathname
  process.env.DUENDE_HOME = home
  await Effect.runPromise(cli.ControlClient.ensureSupervisor(paths, entry))
  const send = (request) => Effect.runPromise(cli.ControlClient.request(paths, request))
  return { home, paths, send }
}
