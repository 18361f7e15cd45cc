// `duende … --platform container --driver runc` as a user runs it: each command a new process, the
// container outliving them (the adapter finds it again by name from its state directory). Install,
// start (returns after the daemon's READY, read from its state file), status, logs, reload, stop
// with the daemon's graceful shutdown, rm — on the project's example daemon, the host's node in a
// runc container whose root binds the host's /usr, /etc and the repository read-only.
import { Integration } from "@duende/testing"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { runner } from "./helpers/cli.js"
import { afterAll, describe, expect, it } from "vitest"

const gate = Integration.check(Integration.tool("runc", "apt-get install runc"), Integration.root())

const repository = resolve(__dirname, "..", "..", "..")
const example = join(repository, "examples", "http-counter")
const home = mkdtempSync(join(tmpdir(), "duende-cli-container-"))
const port = 20_000 + Math.floor(Math.random() * 20_000)

const duende = runner({ DUENDE_HOME: home }, 120_000)

afterAll(async () => {
  // Whatever the test left running goes with it.
  if (existsSync(join(home, "platforms", "container", "cli-box"))) await duende("rm", "cli-box", "--platform", "container", "--timeout", "20")
  rmSync(home, { recursive: true, force: true })
}, 60_000)

describe.skipIf(!gate.ok)(`duende --platform container --driver runc${gate.label}`, () => {
  it("installs, starts, reports, shows the log, reloads, stops and removes the example daemon", async () => {
    const config = join(home, "box.json")
    writeFileSync(
      config,
      JSON.stringify({
        name: "cli-box",
        command: [process.execPath, "dist/main.js"],
        workingDirectory: example,
        env: { PORT: String(port), HOST: "127.0.0.1" },
        shutdownTimeout: "10s",
        platform: { container: { mounts: [{ type: "bind", source: repository, target: repository, readOnly: true }] } }
      })
    )
    const on = ["--platform", "container", "--driver", "runc"]

    const installed = await duende("install", config, ...on)
    expect(installed).toMatchObject({
      code: 0,
      stdout: "cli-box: installed as duende-cli-box (`duende start cli-box --platform container --driver runc` starts it)\n"
    })

    // A new process finds the installed daemon by name and starts it; start returns after READY.
    const started = await duende("start", "cli-box", ...on)
    expect(started.code).toBe(0)
    expect(started.stdout).toMatch(
      // The status text may follow READY by a moment.
      new RegExp(`^cli-box: running under container \\(duende-cli-box, pid \\d+\\)( — serving http://127\\.0\\.0\\.1:${port})?\\n$`)
    )
    const pid = Number(/pid (\d+)/.exec(started.stdout)![1])
    // The container outlived the command that started it.
    expect(existsSync(`/proc/${pid}`)).toBe(true)

    const status = await duende("status", "cli-box", ...on, "--json")
    expect(status.code).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({
      name: "cli-box",
      platform: "container",
      ref: "duende-cli-box",
      status: { _tag: "Running" },
      pid,
      statusText: `serving http://127.0.0.1:${port}`
    })

    expect((await duende("reload", "cli-box", ...on)).code).toBe(0)
    const again = await duende("start", "cli-box", ...on)
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/^duende: .*cli-box.*\n$/)

    const stopped = await duende("stop", "cli-box", ...on)
    expect(stopped).toMatchObject({ code: 0, stdout: "cli-box: stopped under container (duende-cli-box)\n" })
    expect(existsSync(`/proc/${pid}`)).toBe(false)

    // The daemon's own log lines, each with its one time and its level.
    const logs = await duende("logs", "cli-box", ...on, "-n", "200")
    expect(logs.code).toBe(0)
    expect(logs.stdout).toMatch(/^\S+Z info \[http-counter\] ready$/m)
    expect(logs.stdout).toMatch(/^\S+Z info \[http-counter\] reloaded/m)
    expect(logs.stdout).toMatch(/^\S+Z info \[http-counter\] shutting down after 0 requests$/m)
    expect(logs.stdout).not.toMatch(/ err \S+Z /)

    const removed = await duende("rm", "cli-box", ...on)
    expect(removed).toMatchObject({ code: 0, stdout: "cli-box: removed\n" })
    expect(existsSync(join(home, "platforms", "container", "cli-box"))).toBe(false)
    const gone = await duende("status", "cli-box", ...on)
    expect(gone).toMatchObject({ code: 1, stderr: 'duende: no daemon named "cli-box" is installed on container\n' })
  }, 300_000)
})
