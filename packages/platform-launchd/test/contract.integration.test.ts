// @duende/testing's adapter contract against LaunchdAdapter, end to end: through the launchctl
// STAND-IN (test/stand-in/launchctl: plistlib reads the plist, a supervisor runs the job with
// launchd's semantics), or, with DUENDE_LAUNCHD_REAL=1 on macOS (the macOS workflow), through
// the real launchctl in the user's gui domain.
import { Behavior, Integration } from "@duende/testing"
import * as AdapterContract from "@duende/testing/AdapterContract"
import { afterAll } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as LaunchdAdapter from "../src/LaunchdAdapter.js"
import * as StandIn from "./helpers/standIn.js"

const real = process.env.DUENDE_LAUNCHD_REAL === "1"
const gate = real
  ? Integration.check(
    () => (process.platform === "darwin" ? undefined : "DUENDE_LAUNCHD_REAL=1 needs macOS"),
    Integration.tool("launchctl", "launchctl ships with macOS")
  )
  : Integration.check(Integration.tool("python3", "apt-get install python3"))

const daemon = (name: string, behavior: Behavior.Behavior) => ({
  name,
  command: ["node", join(__dirname, "fixtures", "contract-daemon.mjs")],
  env: Behavior.toEnv(behavior)
})

if (gate.ok && real) {
  const root = mkdtempSync(join(tmpdir(), "duende-launchd-real-"))
  afterAll(() => rmSync(root, { recursive: true, force: true }))
  AdapterContract.run("LaunchdAdapter (real launchctl, gui domain)", {
    layer: LaunchdAdapter.layer({
      scope: "agent",
      // gui/<uid> needs a logged-in session; DUENDE_LAUNCHD_DOMAIN=user uses user/<uid> (e.g. over SSH).
      agentDomain: process.env.DUENDE_LAUNCHD_DOMAIN === "user" ? "user" : "gui",
      directories: { plists: join(root, "LaunchAgents"), logs: join(root, "Logs"), state: join(root, "records") }
    }),
    clock: "live",
    workingDirectory: join(__dirname, "fixtures"),
    daemon
  })
} else if (gate.ok) {
  const standIn = StandIn.make()
  afterAll(() => standIn.cleanup(), 120_000)
  AdapterContract.run("LaunchdAdapter (launchctl stand-in)", {
    // A program that writes no "hello" line within readyGrace counts as ready; on a loaded
    // 2-core machine Node alone can take longer than the default 2s to get to that line.
    layer: LaunchdAdapter.layer({ scope: "agent", env: standIn.env, directories: standIn.directories, readyGrace: "15 seconds" }),
    clock: "live",
    workingDirectory: join(__dirname, "fixtures"),
    daemon
  })
}
