// `duende startup systemd` inside a real systemd (PID 1 in systemd-nspawn, with root's user
// manager, see packages/platform-systemd/test/helpers/nspawn.ts): the supervisor becomes
// duende.service of the user's manager; its daemons are resurrected by it; a kill -9 of the
// supervisor is answered by systemd restarting it, which takes its daemon over (same pid); the user
// manager starting again (as at boot) brings it back; `duende shutdown` stops the unit instead
// of racing Restart=always; `--remove` removes it.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { boot, gate, type Machine, repositoryRoot } from "../../platform-systemd/test/helpers/nspawn.js"

const bin = join(repositoryRoot, "packages", "cli", "bin", "duende.js")
const chatty = join(repositoryRoot, "packages", "cli", "test", "fixtures", "chatty-daemon.mjs")
const user = { HOME: "/root", XDG_RUNTIME_DIR: "/run/user/0", DUENDE_HOME: "" }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.skipIf(!gate.ok)(`duende startup systemd, in nspawn${gate.label}`, () => {
  let machine: Machine
  const duende = (...args: Array<string>) => machine.exec([process.execPath, bin, ...args], user)
  const systemctl = (...args: Array<string>) => machine.exec(["systemctl", "--user", ...args], user)
  const mainPid = async () => Number((await systemctl("show", "-p", "MainPID", "--value", "duende.service")).stdout.trim())
  /** The ticker processes running in the machine (by their Duende daemon id). */
  const tickers = async () =>
    (await machine.exec(["sh", "-c", "grep -l -a DUENDE_DAEMON_ID= /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3"])).stdout
      .split("\n").filter((pid) => pid !== "")
  const waitFor = async <A>(what: string, check: () => Promise<A | undefined>, ms = 60_000): Promise<A> => {
    const end = Date.now() + ms
    while (Date.now() < end) {
      const value = await check()
      if (value !== undefined) return value
      await sleep(200)
    }
    throw new Error(`${what}: not within ${ms / 1000}s`)
  }
  const tickerRunning = async () => {
    const ls = await duende("ls", "--json")
    if (ls.code !== 0) return undefined
    const daemon = (JSON.parse(ls.stdout) as Array<{ name: string; status: string; pid: number | null }>).find((d) => d.name === "tick")
    return daemon?.status === "running" ? daemon.pid! : undefined
  }

  beforeAll(async () => {
    machine = await boot({ userManager: true })
    writeFileSync(
      join(machine.root, "tmp", "tick.json"),
      JSON.stringify({ name: "tick", command: [process.execPath, chatty] })
    )
  }, 120_000)

  afterAll(async () => {
    await machine?.shutdown()
  }, 60_000)

  it("installs the supervisor as a user unit that systemd restarts after a kill -9 and starts with the user's manager", async () => {
    expect((await duende("start", "/tmp/tick.json")).code).toBe(0) // a supervisor outside any unit
    const unit = await duende("startup", "--print")
    expect(unit.stdout).toContain(`\nExecStart="${process.execPath}" "${bin}" "supervisor"\n`)
    expect(unit.stdout).toMatch(/^Restart=always$/m)
    // systemd's own parser accepts it.
    writeFileSync(join(machine.root, "tmp", "duende.service"), unit.stdout)
    const verify = await machine.exec(["systemd-analyze", "verify", "--user", "/tmp/duende.service"], user)
    expect(verify, verify.stderr).toMatchObject({ code: 0 })

    const installed = await duende("startup")
    expect(installed.code, installed.stderr).toBe(0)
    expect(installed.stdout).toContain("stopping the supervisor that runs outside the service")
    expect(installed.stdout).toContain("runs as duende.service")
    expect((await systemctl("is-enabled", "duende.service")).stdout.trim()).toBe("enabled")
    const first = await mainPid()
    expect(first).toBeGreaterThan(1)
    // The unit's supervisor resurrected the daemon the registry says should run.
    const daemonPid = await waitFor("tick running under the unit's supervisor", tickerRunning)
    expect(await tickers()).toHaveLength(1)

    // kill -9: systemd restarts the supervisor (KillMode=process: the daemon lives on), which takes the daemon over.
    await machine.exec(["kill", "-9", String(first)])
    const second = await waitFor("a new supervisor", async () => {
      const pid = await mainPid()
      return pid > 1 && pid !== first ? pid : undefined
    })
    expect(await waitFor("tick running again", tickerRunning)).toBe(daemonPid) // the same process: not restarted
    await sleep(1_000)
    expect(await tickers()).toHaveLength(1)

    // The user's manager starting again, as at boot, starts it (WantedBy=default.target).
    expect((await machine.exec(["systemctl", "stop", "user@0.service"])).code).toBe(0)
    expect((await machine.exec(["systemctl", "start", "user@0.service"])).code).toBe(0)
    const third = await waitFor("the supervisor after the manager's start", async () => {
      const pid = await mainPid()
      return pid > 1 && pid !== second ? pid : undefined
    })
    expect(third).toBeGreaterThan(1)
    await waitFor("tick running after the manager's start", tickerRunning)

    // shutdown stops the unit (Restart=always would otherwise start it again at once).
    const down = await duende("shutdown")
    expect(down.stdout).toContain("duende.service stopped")
    await sleep(3_000)
    expect((await systemctl("is-active", "duende.service")).stdout.trim()).toBe("inactive")
    expect(await tickers()).toHaveLength(0)

    const removed = await duende("startup", "--remove")
    expect(removed.code, removed.stderr).toBe(0)
    expect((await systemctl("is-enabled", "duende.service")).code).not.toBe(0)
  }, 300_000)
})
