// npm run bench entry for systemd: start.ts is TypeScript (it shares the nspawn helper with
// the package's tests), so run it through tsx.
//   node bench/systemd/run.mjs [--rounds 15] [--json]
import { spawn } from "node:child_process"
import { constants } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const child = spawn(process.execPath, ["--import", "tsx", join(here, "start.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  cwd: join(here, "..", "..")
})
// start.ts powers its machine off on a signal, which takes seconds: pass signals on and wait for
// it, rather than die first and hand the prompt back while a container is still going down.
// (Ctrl-C reaches both of us through the terminal; start.ts ignores the repeat.)
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal))
}
child.once("error", (error) => {
  console.error(error)
  process.exit(1)
})
child.once("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)))
