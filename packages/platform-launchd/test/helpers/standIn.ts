// The launchctl stand-in (test/stand-in/launchctl) set up for one test file: a temporary
// directory for its state and for the adapter's plists, logs and records, and an environment
// that puts the stand-in first on PATH. cleanup() unloads every job it still has and removes
// the directory.
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"

export const standInDirectory = join(__dirname, "..", "stand-in")

/** The real python3 behind PATH's (a pyenv shim costs seconds per call). */
const python = (): string =>
  execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim()

export interface StandIn {
  readonly root: string
  readonly env: Record<string, string | undefined>
  readonly directories: { readonly plists: string; readonly logs: string; readonly state: string }
  /** Runs the stand-in directly. */
  readonly launchctl: (...args: ReadonlyArray<string>) => string
  readonly cleanup: () => void
}

export const make = (): StandIn => {
  const root = mkdtempSync(join(tmpdir(), "duende-launchd-"))
  const state = join(root, "stand-in-state")
  const env = {
    ...process.env,
    PATH: `${standInDirectory}:${dirname(python())}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    LAUNCHD_STAND_IN_STATE: state
  }
  const launchctl = (...args: ReadonlyArray<string>) =>
    execFileSync(join(standInDirectory, "launchctl"), args, { env, encoding: "utf8", timeout: 120_000 })
  const cleanup = () => {
    let names: Array<string> = []
    try {
      names = readdirSync(state).filter((n) => n.endsWith(".json") && !n.includes(".spawn."))
    } catch {
      // nothing was ever loaded
    }
    for (const name of names) {
      try {
        const job = JSON.parse(readFileSync(join(state, name), "utf8")) as { domain: string; label: string; supervisor: number }
        try {
          launchctl("bootout", `${job.domain}/${job.label}`)
        } catch {
          // a supervisor that does not answer is ended below
        }
        try {
          process.kill(job.supervisor, "SIGKILL")
        } catch {
          // already gone
        }
      } catch {
        // a state file cut short
      }
    }
    rmSync(root, { recursive: true, force: true })
  }
  return {
    root,
    env,
    directories: { plists: join(root, "LaunchAgents"), logs: join(root, "Logs"), state: join(root, "records") },
    launchctl,
    cleanup
  }
}
