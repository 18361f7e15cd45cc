// A daemon outlives its supervisor: after `kill -9` of the supervisor, a Duende
// daemon that keeps writing to stdout and logging does not die of EPIPE, and
// its lines keep reaching its log file without the supervisor.
import { afterAll, describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bin = join(__dirname, "..", "bin", "duende.js")
const chatty = join(__dirname, "fixtures", "chatty-daemon.mjs")
const pids = new Set<number>()
afterAll(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone
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
const alive = (pid: number) => {
  try {
    return !/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

describe("a daemon whose supervisor is killed", () => {
  it("keeps running and logging to its file (no EPIPE death)", async () => {
    const home = mkdtempSync(join(tmpdir(), "duende-survival-"))
    const config = join(home, "chatty.json")
    writeFileSync(config, JSON.stringify({ name: "chatty", command: ["node", chatty], platform: { native: { ready: "notify" } } }))
    const started = await duende(home, "start", config)
    expect(started.stdout).toMatch(/^chatty: running \(pid \d+\)/)
    const pid = Number(/\(pid (\d+)\)/.exec(started.stdout)![1])
    pids.add(pid)
    const supervisor = Number(readFileSync(join(home, "supervisor.pid"), "utf8"))
    pids.add(supervisor)
    process.kill(supervisor, "SIGKILL")
    const killedAt = Date.now()
    await new Promise((r) => setTimeout(r, 3_000))
    expect(alive(pid)).toBe(true)
    const after = readFileSync(join(home, "logs", "chatty.log"), "utf8").split("\n").filter((line) => {
      const at = Date.parse(line.slice(0, 24))
      return at > killedAt + 500
    })
    // Both streams, in the adapter's format, written by the daemon itself.
    expect(after.filter((l) => / out out \d+$/.test(l)).length).toBeGreaterThan(5)
    expect(after.filter((l) => / err .* INFO  \[chatty\] log \d+$/.test(l)).length).toBeGreaterThan(5)
    // Lines lost at the switch: those written to the dead pipe before the first failed write was noticed.
    const outs = readFileSync(join(home, "logs", "chatty.log"), "utf8").split("\n").flatMap((l) => {
      const m = / out out (\d+)$/.exec(l)
      return m ? [Number(m[1])] : []
    })
    const lost = Math.max(...outs) - new Set(outs).size
    process.stdout.write(`after the supervisor's kill -9: ${after.length} lines written by the daemon itself; ${lost} stdout line(s) lost at the switch\n`)
    expect(lost).toBeLessThanOrEqual(5)
  }, 60_000)
})
