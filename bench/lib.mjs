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

export const option = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
