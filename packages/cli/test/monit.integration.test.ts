// `duende monit` in a real terminal (tmux 3.3): it draws the daemons' table and their recent log
// lines, follows the keys (↓ selects a daemon and shows its log, q quits with the screen restored),
// redraws as the daemons change, and refuses to run without a terminal.
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { frame } from "../src/internal/monit.js"
import { bin, runner } from "./helpers/cli.js"

const home = mkdtempSync(join(tmpdir(), "duende-monit-"))
const env = { DUENDE_HOME: home, DUENDE_METRICS_PORT: "off" }
const duende = runner(env)
const socket = `duende-monit-${process.pid}`
const tmux = (...args: Array<string>) => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" })

afterAll(async () => {
  try {
    tmux("kill-server")
  } catch {
    // the server ended with its last session
  }
  await duende("shutdown")
  rmSync(home, { recursive: true, force: true })
}, 60_000)

const ticker = (name: string, tickMs: number) => {
  const path = join(home, `${name}.json`)
  writeFileSync(path, JSON.stringify({
    name,
    command: [process.execPath, join(__dirname, "fixtures", "ticker.mjs")],
    env: { TICK_MS: String(tickMs) },
    platform: { native: { ready: "started" } }
  }))
  return path
}

/** The pane's text once `check` holds for it (at most 30 s). */
const screen = async (check: (text: string) => boolean): Promise<string> => {
  const deadline = Date.now() + 30_000
  let text = ""
  while (Date.now() < deadline) {
    text = tmux("capture-pane", "-p", "-t", "monit")
    if (check(text)) return text
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the screen never matched; last:\n${text}`)
}

describe("duende monit", () => {
  it("draws the daemons and their logs in a terminal, follows the keys, and quits restoring the screen", async () => {
    expect((await duende("start", ticker("alpha", 150))).code).toBe(0)
    expect((await duende("start", ticker("beta", 1000))).code).toBe(0)
    // The shell says how monit ended (tmux's own pane_dead_status is not always known when the pane dies).
    const command = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ") +
      ` ${process.execPath} ${bin} monit --interval 200; echo "monit exited $?"; exec sleep 60`
    tmux("new-session", "-d", "-s", "monit", "-x", "120", "-y", "30", command)

    const all = await screen((text) => /alpha +running/.test(text) && /beta +running/.test(text) && /alpha \| .*tick \d+/.test(text))
    expect(all).toMatch(/^duende monit — 2 daemon\(s\), 2 running/)
    expect(all).toMatch(/NAME +STATUS +PID +UPTIME +RESTARTS +CPU +MEMORY +HEALTH/)
    expect(all).toContain("logs of every daemon")

    tmux("send-keys", "-t", "monit", "Down")
    const alpha = await screen((text) => text.includes("logs of alpha"))
    expect(alpha).toMatch(/^> +alpha/m)
    expect(alpha).not.toMatch(/\| .*tick/) // one daemon's lines have no name prefix
    // It follows the daemons: beta stopped shows as stopped without a key pressed.
    expect((await duende("stop", "beta")).code).toBe(0)
    await screen((text) => /beta +stopped/.test(text) && text.includes("1 running"))

    tmux("send-keys", "-t", "monit", "q")
    // The alternate screen is left (the table is gone) and monit ends with exit 0.
    const after = await screen((text) => text.includes("monit exited"))
    expect(after).not.toContain("NAME")
    expect(after).toMatch(/^monit exited 0$/m)
  }, 90_000)

  it("refuses to run without a terminal, saying what to use instead", async () => {
    const result = await duende("monit")
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/needs a terminal .* `duende ls --json` and `duende logs -f`/)
  })

  it("fits the frame to the terminal and shows a daemon's control characters escaped", () => {
    const lines = frame(
      [],
      [{ daemon: "evil", at: 0, stream: "stdout", text: "\u001b[2Jcleared?" }],
      { selected: -1, columns: 40, rows: 10 },
      0
    )
    expect(lines.length).toBeLessThanOrEqual(10)
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(40)
    expect(lines.join("\n")).not.toContain("\u001b")
    expect(lines.join("\n")).toContain("\\x1b[2Jcleared?".slice(0, 10))
  })
})
