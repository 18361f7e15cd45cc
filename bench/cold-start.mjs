// Cold start of a minimal HTTP daemon: bare node against the same server as a
// Duende daemon, unbundled (ESM from node_modules) and bundled into one file
// (as deployed), from spawn until "ready" (listening / READY reported).
//
//   node bench/cold-start.mjs [--runs 15] [--json]
import { build } from "esbuild"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { interleave, option, report, timeToLine } from "./lib.mjs"

const here = dirname(fileURLToPath(import.meta.url))
const bare = join(here, "fixtures", "bare-http.mjs")
const duende = join(here, "fixtures", "duende-http.mjs")
const out = mkdtempSync(join(tmpdir(), "duende-bench-"))
await build({
  entryPoints: [duende],
  bundle: true,
  platform: "node",
  format: "esm",
  splitting: true,
  outdir: out,
  logLevel: "error"
})
const bundled = join(out, "duende-http.js")

const ready = /ready/
const samples = await interleave(
  [
    { name: "bare node", run: () => timeToLine(process.execPath, [bare], ready) },
    { name: "duende (bundled)", run: () => timeToLine(process.execPath, [bundled], ready, { DUENDE_LOG_LEVEL: "error" }) },
    { name: "duende (unbundled)", run: () => timeToLine(process.execPath, [duende], ready, { DUENDE_LOG_LEVEL: "error" }) }
  ],
  option("runs", 15)
)
report("Cold start to ready", samples, "bare node")
