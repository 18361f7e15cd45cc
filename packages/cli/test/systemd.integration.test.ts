// `duende … --platform systemd` as a user runs it, inside a real systemd (PID 1 in systemd-nspawn,
// see packages/platform-systemd/test/helpers/nspawn.ts): render, install, start (returns after
// READY=1), status from `systemctl show`, the journal, reload, stop with the daemon's graceful
// shutdown, rm — on the project's example daemon.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { boot, gate, type Machine, repositoryRoot } from "../../platform-systemd/test/helpers/nspawn.js"

const bin = join(repositoryRoot, "packages", "cli", "bin", "duende.js")
const example = join(repositoryRoot, "examples", "http-counter")
const port = 20_000 + Math.floor(Math.random() * 20_000)

describe.skipIf(!gate.ok)(`duende --platform systemd against systemd in nspawn${gate.label}`, () => {
  let machine: Machine
  const duende = (...args: Array<string>) => machine.exec([process.execPath, bin, ...args])

  beforeAll(async () => {
    machine = await boot()
    // The config lives in the machine's own /tmp; the repository is bound at the same path inside.
    writeFileSync(
      join(machine.root, "tmp", "counter.json"),
      JSON.stringify({
        name: "cli-counter",
        command: ["node", "dist/main.js"],
        workingDirectory: example,
        env: { PORT: String(port), HOST: "127.0.0.1" },
        shutdownTimeout: "10s",
        restart: { policy: "on-failure", backoff: { initial: "300ms" } }
      })
    )
  }, 120_000)

  afterAll(async () => {
    await machine?.shutdown()
  }, 60_000)

  it("renders, installs, starts, reports, reloads, stops and removes the example daemon", async () => {
    const rendered = await duende("render", "systemd", "/tmp/counter.json")
    expect(rendered.code).toBe(0)
    expect(rendered.stdout).toMatch(/^Type=notify$/m)
    // Absolute paths, resolved at render time: node from PATH, the script from the working directory.
    expect(rendered.stdout).toContain(`\nExecStart="${process.execPath}" "${example}/dist/main.js"\n`)
    expect(rendered.stdout).toMatch(/^DynamicUser=yes$/m)

    const installed = await duende("install", "/tmp/counter.json", "--platform", "systemd")
    expect(installed).toMatchObject({ code: 0, stdout: expect.stringContaining("installed as cli-counter.service") })
    expect((await machine.exec(["systemctl", "is-enabled", "cli-counter.service"])).stdout.trim()).toBe("enabled")

    // Type=notify: start returns once the daemon said READY=1, so it answers at once.
    const started = await duende("start", "cli-counter", "--platform", "systemd")
    expect(started).toMatchObject({ code: 0, stdout: expect.stringMatching(/^cli-counter: running under systemd \(cli-counter\.service, pid \d+\)/) })
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("1\n")

    const status = await duende("status", "cli-counter", "--platform", "systemd", "--json")
    expect(status.code).toBe(0)
    const state = JSON.parse(status.stdout)
    expect(state).toMatchObject({ name: "cli-counter", ref: "cli-counter.service", status: { _tag: "Running" }, restarts: 0 })
    expect(state.statusText).toBe(`serving http://127.0.0.1:${port}`)
    expect(Number(state.pid)).toBeGreaterThan(1)

    const reloaded = await duende("reload", "cli-counter", "--platform", "systemd")
    expect(reloaded.code).toBe(0)

    const stopped = await duende("stop", "cli-counter", "--platform", "systemd")
    expect(stopped).toMatchObject({ code: 0, stdout: expect.stringMatching(/^cli-counter: stopped under systemd/) })

    // The journal has the daemon's own lines: the reload and the graceful shutdown after SIGTERM.
    const logs = await duende("logs", "cli-counter", "--platform", "systemd", "-n", "200")
    expect(logs.code).toBe(0)
    expect(logs.stdout).toContain("reloaded (1 requests so far)")
    expect(logs.stdout).toContain("shutting down after 1 requests")

    const removed = await duende("rm", "cli-counter", "--platform", "systemd")
    expect(removed).toMatchObject({ code: 0, stdout: "cli-counter: removed\n" })
    const gone = await duende("status", "cli-counter", "--platform", "systemd")
    expect(gone.code).toBe(1)
    expect(gone.stderr).toMatch(/^duende: .*cli-counter/)
  }, 120_000)

  it("refuses --user without --platform systemd, as bad usage", async () => {
    const result = await duende("status", "x", "--user")
    expect(result).toMatchObject({ code: 2, stderr: "duende: --user goes with --platform systemd\n" })
  })
})
