// npm run bench: every benchmark, one after another, side by side with its peers.
//   node bench/run.mjs [--json] [--only cold-start,native,...]
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const all = [
  ["cold-start", "cold-start.mjs"],
  ["native", "native.mjs"],
  ["supervisor-memory", "supervisor-memory.mjs"],
  ["crash-storm", "crash-storm.mjs"],
  ["soak", "soak.mjs"],
  ["zero-downtime", "zero-downtime.mjs"],
  ["test-platform", "test-platform.mjs"],
  ["observe", "observe/run.mjs"],
  ["policy", "policy.mjs"],
  ["systemd", "systemd/run.mjs"],
  ["launchd-render", "launchd-render.mjs"],
  ["container", "container/run.mjs"],
  ["wos", "wos.mjs"],
  ["trace", "trace.mjs"]
]
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1].split(",") : undefined
const passthrough = process.argv.includes("--json") ? ["--json"] : []
let failed = 0
// Ctrl-C reaches the running benchmark too (same process group); wait for it to clean up
// (stop its machines and containers) instead of giving the prompt back while it still works.
let interrupted = false
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => void (interrupted = true))
for (const [name, file] of all) {
  if (interrupted) break
  if (only && !only.includes(name)) continue
  const path = join(here, file)
  if (!existsSync(path)) continue
  if (!passthrough.length) console.log(`\n=== ${name}`)
  const result = spawnSync(process.execPath, [path, ...passthrough], { stdio: "inherit" })
  if (result.status !== 0) {
    failed++
    console.error(`${name} failed (exit ${result.status ?? result.signal})`)
  }
}
process.exit(interrupted ? 130 : failed === 0 ? 0 : 1)
