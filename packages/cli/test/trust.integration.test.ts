// A state directory prepared by another local user is refused before anything
// is read, written or signalled; a pid in the registry is signalled only if it
// runs as this user and started when the registry says. Runs as root, with
// `nobody` (uid 65534) as the other user, which is the case the issue describes.
import { Integration } from "@duende/testing"
import { ProcessTree } from "@duende/core/manager"
import { afterAll, describe, expect, it } from "vitest"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const gate = Integration.check(
  Integration.root(),
  Integration.command("id", ["nobody"], "no user nobody here"),
  Integration.command("test", ["-r", "/proc/self/status"], "no /proc here (not Linux)")
)

const bin = join(__dirname, "..", "bin", "duende.js")
const ticker = join(__dirname, "fixtures", "ticker.mjs")
const nobody = 65_534
const victims = new Set<ChildProcess>()
const homes: Array<string> = []

afterAll(async () => {
  for (const victim of victims) victim.kill("SIGKILL")
  for (const home of homes) {
    await duende(home, "shutdown")
    const pidFile = join(home, "supervisor.pid")
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL")
      } catch {
        // gone
      }
    }
  }
})

const duende = (home: string, ...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, DUENDE_HOME: home, DUENDE_METRICS_PORT: "off" }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr })
    )
  })

const victim = (uid?: number) => {
  const child = spawn("sleep", ["1000"], { stdio: "ignore", ...(uid === undefined ? {} : { uid, gid: uid }) })
  victims.add(child)
  return child.pid!
}
const running = (pid: number) => {
  try {
    return !/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

/** A registry naming `pid` (with its real start time) as the last run of a daemon that should run. */
const registry = (pid: number) =>
  JSON.stringify({
    version: 1,
    daemons: [{
      id: "d-1",
      name: "ticker",
      config: { name: "ticker", command: ["node", ticker], platform: { native: { ready: "started" } } },
      desired: "running",
      addedAt: 1,
      lastPid: pid,
      lastPidStartedAt: ProcessTree.startTime(pid)
    }]
  })

describe.skipIf(!gate.ok)(`a state directory it does not own${gate.label}`, () => {
  it("refuses a DUENDE_HOME prepared by nobody (0777, a registry naming a root process, logs linked elsewhere) before acting", async () => {
    const home = mkdtempSync(join(tmpdir(), "duende-trust-"))
    const elsewhere = mkdtempSync(join(tmpdir(), "duende-elsewhere-"))
    const target = victim()
    await new Promise((r) => setTimeout(r, 100))
    writeFileSync(join(home, "registry.json"), registry(target))
    symlinkSync(elsewhere, join(home, "logs"))
    chownSync(join(home, "registry.json"), nobody, nobody)
    chownSync(home, nobody, nobody)
    chmodSync(home, 0o777)

    const result = await duende(home, "resurrect")
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`refusing to use ${home}: ${home} belongs to uid ${nobody}, not to this user (uid 0)`)
    await new Promise((r) => setTimeout(r, 1_000))
    expect(running(target)).toBe(true)
    expect(readdirSync(elsewhere)).toEqual([])
    expect(readdirSync(home).sort()).toEqual(["logs", "registry.json"])

    // Its own directory, but open to everyone, or with a link where the logs go: refused too.
    const open = mkdtempSync(join(tmpdir(), "duende-trust-"))
    chmodSync(open, 0o777)
    expect((await duende(open, "resurrect")).stderr).toContain(`${open} can be written by every user (mode 777)`)
    const linked = mkdtempSync(join(tmpdir(), "duende-trust-"))
    symlinkSync(elsewhere, join(linked, "logs"))
    expect((await duende(linked, "resurrect")).stderr).toContain(`${join(linked, "logs")} is a symbolic link`)
    const plantedLog = mkdtempSync(join(tmpdir(), "duende-trust-"))
    mkdirSync(join(plantedLog, "logs"), { mode: 0o700 })
    symlinkSync("/etc/passwd-duende-test", join(plantedLog, "logs", "ticker.log"))
    expect((await duende(plantedLog, "resurrect")).stderr).toContain(`${join(plantedLog, "logs", "ticker.log")} is a symbolic link`)
    expect(existsSync("/etc/passwd-duende-test")).toBe(false)
  }, 60_000)

  it("never signals a registry's pid that runs as another user, even with the right start time", async () => {
    const home = mkdtempSync(join(tmpdir(), "duende-trust-"))
    homes.push(home)
    const other = victim(nobody)
    await new Promise((r) => setTimeout(r, 100))
    expect(ProcessTree.ownerOf(other)).toBe(nobody)
    writeFileSync(join(home, "registry.json"), registry(other), { mode: 0o600 })
    const result = await duende(home, "resurrect", "--json")
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual([expect.objectContaining({ name: "ticker", status: "running" })])
    await new Promise((r) => setTimeout(r, 1_000))
    expect(running(other)).toBe(true)
    expect(readFileSync(join(home, "supervisor.log"), "utf8")).not.toMatch(/was left running by a previous supervisor/)
  }, 60_000)
})
