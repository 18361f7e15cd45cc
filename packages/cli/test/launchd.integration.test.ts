// `duende … --platform launchd` as a user runs it, each command a new process, through the
// launchctl STAND-IN (packages/platform-launchd/test/stand-in/launchctl: python3's plistlib reads
// the installed plist and a supervisor runs the job with launchd's semantics; real launchctl
// needs macOS, see .github/workflows/macos.yml). Install writes the plist into the user's
// LaunchAgents, start returns once the example daemon serves, status/logs read it back, restart
// gives a new pid, stop ends it gracefully, rm removes the plist.
import { Integration } from "@duende/testing"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { bin, runner } from "./helpers/cli.js"
import { afterAll, describe, expect, it } from "vitest"

const gate = Integration.check(Integration.tool("python3", "apt-get install python3"))

const repository = resolve(__dirname, "..", "..", "..")
const standIn = join(repository, "packages", "platform-launchd", "test", "stand-in")
const example = join(repository, "examples", "http-counter")
const root = mkdtempSync(join(tmpdir(), "duende-cli-launchd-"))
const home = join(root, "home")
const port = 20_000 + Math.floor(Math.random() * 20_000)

/** The real python3 behind PATH's (a pyenv shim costs seconds per call). */
const python = gate.ok ? execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim() : "python3"

const env = {
  ...process.env,
  HOME: home,
  DUENDE_HOME: join(root, "duende"),
  LAUNCHD_STAND_IN_STATE: join(root, "stand-in-state"),
  PATH: `${standIn}:${dirname(python)}:${process.env.PATH ?? "/usr/bin:/bin"}`
}

const duende = runner(env, 120_000)

const plist = join(home, "Library", "LaunchAgents", "duende.cli-agent.plist")

afterAll(async () => {
  if (existsSync(plist)) await duende("rm", "cli-agent", "--platform", "launchd", "--timeout", "20")
  await duende("startup", "launchd", "--remove")
  await duende("shutdown")
  rmSync(root, { recursive: true, force: true })
}, 60_000)

describe.skipIf(!gate.ok)(`duende --platform launchd (launchctl stand-in)${gate.label}`, () => {
  it("installs a LaunchAgent, starts, reports, shows the log, restarts, stops and removes the example daemon", async () => {
    mkdirSync(home, { recursive: true })
    const config = join(root, "agent.json")
    writeFileSync(
      config,
      JSON.stringify({
        name: "cli-agent",
        command: [process.execPath, "dist/main.js"],
        workingDirectory: example,
        env: { PORT: String(port), HOST: "127.0.0.1", GREETING: "a & b <c> ]]> $HOME 100%" },
        shutdownTimeout: "10s"
      })
    )
    const on = ["--platform", "launchd"]

    expect(await duende("install", config, ...on)).toMatchObject({
      code: 0,
      stdout: "cli-agent: installed as duende.cli-agent (`duende start cli-agent --platform launchd` starts it)\n"
    })
    // The plist, read by a real parser: the daemon's real command, its environment byte-exact.
    const job = JSON.parse(
      execFileSync(python, ["-c", "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))", plist], {
        encoding: "utf8"
      })
    )
    expect(job).toMatchObject({
      Label: "duende.cli-agent",
      ProgramArguments: [process.execPath, join(example, "dist", "main.js")],
      WorkingDirectory: example,
      EnvironmentVariables: { PORT: String(port), GREETING: "a & b <c> ]]> $HOME 100%" }
    })
    expect(job).not.toHaveProperty("UserName")

    const started = await duende("start", "cli-agent", ...on)
    expect(started).toMatchObject({ code: 0 })
    const pid = Number(/^cli-agent: running under launchd \(duende\.cli-agent, pid (\d+)\)\n$/.exec(started.stdout)?.[1])
    expect(pid).toBeGreaterThan(1)
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toMatch(/^\d+/)

    const status = await duende("status", "cli-agent", ...on, "--json")
    expect(JSON.parse(status.stdout)).toMatchObject({ name: "cli-agent", platform: "launchd", status: { _tag: "Running" }, pid })

    const logs = await duende("logs", "cli-agent", ...on, "-n", "20")
    expect(logs.code).toBe(0)
    expect(logs.stdout).toMatch(/\[http-counter\] ready/)

    const restarted = await duende("restart", "cli-agent", ...on)
    expect(restarted.code).toBe(0)
    const next = Number(/pid (\d+)/.exec(restarted.stdout)?.[1])
    expect(next).toBeGreaterThan(1)
    expect(next).not.toBe(pid)

    expect(await duende("stop", "cli-agent", ...on)).toMatchObject({
      code: 0,
      stdout: "cli-agent: stopped under launchd (duende.cli-agent)\n"
    })
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow()

    expect(await duende("rm", "cli-agent", ...on)).toMatchObject({ code: 0, stdout: "cli-agent: removed\n" })
    expect(existsSync(plist)).toBe(false)
    expect(await duende("status", "cli-agent", ...on)).toMatchObject({
      code: 1,
      stderr: "duende: no daemon named \"cli-agent\" is installed on launchd\n"
    })
  }, 240_000)

  it("duende startup launchd: the supervisor as a LaunchAgent that launchd restarts after a kill -9", async () => {
    mkdirSync(home, { recursive: true })
    const config = join(root, "tick.json")
    const ticker = join(repository, "packages", "cli", "test", "fixtures", "ticker.mjs")
    writeFileSync(config, JSON.stringify({ name: "tick", command: [process.execPath, ticker], env: { TICK_MS: "1000" }, platform: { native: { ready: "started" } } }))
    expect((await duende("start", config)).code).toBe(0) // a supervisor outside any agent
    const tickPid = async () => {
      const ls = await duende("ls", "--json")
      const tick = ls.code === 0 ? (JSON.parse(ls.stdout) as Array<{ name: string; status: string; pid: number }>).find((d) => d.name === "tick") : undefined
      return tick?.status === "running" ? tick.pid : undefined
    }
    const waitFor = async <A>(what: string, check: () => Promise<A | undefined>): Promise<A> => {
      const end = Date.now() + 60_000
      while (Date.now() < end) {
        const value = await check()
        if (value !== undefined) return value
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      throw new Error(`${what}: not within 60s`)
    }

    const installed = await duende("startup", "launchd")
    expect(installed.code, installed.stderr).toBe(0)
    expect(installed.stdout).toContain("runs as the LaunchAgent dev.duende.supervisor")
    const agent = join(home, "Library", "LaunchAgents", "dev.duende.supervisor.plist")
    const parsed = JSON.parse(
      execFileSync(python, ["-c", "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))", agent], { encoding: "utf8" })
    )
    expect(parsed).toMatchObject({
      Label: "dev.duende.supervisor",
      ProgramArguments: [process.execPath, bin, "supervisor"],
      EnvironmentVariables: { HOME: home, DUENDE_HOME: env.DUENDE_HOME },
      RunAtLoad: true,
      KeepAlive: true,
      AbandonProcessGroup: true
    })
    const first = await waitFor("tick under the agent's supervisor", tickPid)

    const supervisor = Number(readFileSync(join(env.DUENDE_HOME, "supervisor.pid"), "utf8"))
    process.kill(supervisor, "SIGKILL")
    await waitFor("a supervisor started again by launchd", async () => {
      try {
        const pid = Number(readFileSync(join(env.DUENDE_HOME, "supervisor.pid"), "utf8"))
        return pid !== supervisor && (await duende("ls")).code === 0 ? pid : undefined
      } catch {
        return undefined
      }
    })
    const second = await waitFor("tick running again", tickPid)
    expect(second).toBeGreaterThan(1)
    expect(first).toBeGreaterThan(1)

    const down = await duende("shutdown")
    expect(down.stdout, down.stderr).toContain("dev.duende.supervisor unloaded")
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect((await duende("ls")).code).toBe(3) // not started again

    expect(await duende("startup", "launchd", "--remove")).toMatchObject({ code: 0 })
    expect(existsSync(agent)).toBe(false)
  }, 240_000)
})
