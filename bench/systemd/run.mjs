// npm run bench entry for systemd: start.ts is TypeScript (it shares the nspawn helper with
// the package's tests), so run it through tsx.
//   node bench/systemd/run.mjs [--rounds 15] [--json]
import { spawnSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const result = spawnSync(process.execPath, ["--import", "tsx", join(here, "start.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  cwd: join(here, "..", "..")
})
process.exit(result.status ?? 1)
