// A daemon outlives its supervisor: after `kill -9` of the supervisor, a Duende
// daemon that keeps writing to stdout and logging does not die of EPIPE, and
// its lines keep reaching its log file without the supervisor.
import { afterAll, describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bin = join(__dirname, "..", "bin", "duende.js")
const chatty = join(__dirname, "fixtures", "chatty-daemon.mjs")
const ticker = join(__dirname, "fixtures", "ticker.mjs")
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

  it("a kill -9 right after a spawn leaves neither an orphan nor, later, a duplicate: the next supervisor takes the process over", async () => {
    const home = mkdtempSync(join(tmpdir(), "duende-survival-"))
    // Readiness the test controls: not ready until it says so.
    let ready = false
    const server = createServer((_, response) => response.writeHead(ready ? 200 : 503).end())
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
    const port = (server.address() as { port: number }).port
    try {
      const config = join(home, "slow.json")
      writeFileSync(
        config,
        JSON.stringify({
          name: "slow",
          command: ["node", ticker],
          env: { TICK_MS: "3600000" },
          initTimeout: "60s",
          platform: { native: { ready: { http: `http://127.0.0.1:${port}/` } } }
        })
      )
      const starting = duende(home, "start", config)
      const children = (parent: number) =>
        readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => {
          try {
            const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
            return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent &&
              readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(ticker)
          } catch {
            return false
          }
        })
      let orphan: number | undefined
      const end = Date.now() + 30_000
      while (orphan === undefined && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 10))
        try {
          orphan = children(Number(readFileSync(join(home, "supervisor.pid"), "utf8")))[0]
        } catch {
          // no supervisor yet
        }
      }
      expect(orphan).toBeDefined()
      pids.add(orphan!)
      process.kill(Number(readFileSync(join(home, "supervisor.pid"), "utf8")), "SIGKILL")
      await starting
      // The intent reached the disk before the spawn.
      const registry = JSON.parse(readFileSync(join(home, "registry.json"), "utf8"))
      expect(registry.daemons).toEqual([expect.objectContaining({ name: "slow", desired: "running" })])
      const id = registry.daemons[0].id as string
      // The worst moment for the kill: after the spawn, before the pid was saved.
      for (const entry of registry.daemons) {
        delete entry.lastPid
        delete entry.lastPidStartedAt
      }
      writeFileSync(join(home, "registry.json"), JSON.stringify(registry))

      ready = true
      const back = await duende(home, "resurrect", "--json")
      expect(back.code).toBe(0)
      const daemons = JSON.parse(back.stdout) as Array<{ name: string; status: string; pid: number }>
      // Found by its DUENDE_DAEMON_ID though its pid never reached the registry, and taken over
      // as it is: the same process, supervised once, not a second copy.
      expect(daemons).toEqual([expect.objectContaining({ name: "slow", status: "running", pid: orphan })])
      expect(alive(orphan!)).toBe(true)
      // Exactly one process runs for this daemon.
      const copies = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).filter((n) => {
        try {
          return alive(Number(n)) && readFileSync(`/proc/${n}/environ`, "utf8").split("\0").includes(`DUENDE_DAEMON_ID=${id}`)
        } catch {
          return false
        }
      })
      expect(copies).toEqual([String(daemons[0]!.pid)])
      expect(readFileSync(join(home, "supervisor.log"), "utf8")).toMatch(
        new RegExp(`slow: pid ${orphan} was left running by a previous supervisor; taking it over \\(no restart\\)`)
      )
    } finally {
      server.close()
      await duende(home, "shutdown")
    }
  }, 90_000)

  it("is taken over by the next supervisor: same pid, no restart, its log followed, then stopped and restarted by it", async () => {
    const home = mkdtempSync(join(tmpdir(), "duende-survival-"))
    const config = join(home, "chatty.json")
    writeFileSync(config, JSON.stringify({ name: "chatty", command: ["node", chatty], shutdownTimeout: "5s" }))
    try {
      expect((await duende(home, "start", config)).code).toBe(0)
      const before = JSON.parse((await duende(home, "status", "chatty", "--json")).stdout) as { pid: number }
      pids.add(before.pid)
      process.kill(Number(readFileSync(join(home, "supervisor.pid"), "utf8")), "SIGKILL")
      await new Promise((resolve) => setTimeout(resolve, 500))

      const back = await duende(home, "resurrect", "--json")
      expect(back.code).toBe(0)
      expect(JSON.parse(back.stdout)).toEqual([expect.objectContaining({ name: "chatty", status: "running", pid: before.pid, restarts: 0 })])
      // Its output, which it now writes to its log file itself, reaches a follower.
      const follower = execFile(process.execPath, [bin, "logs", "chatty", "-f", "-n", "0"], { env: { ...process.env, DUENDE_HOME: home } })
      let followed = ""
      follower.stdout!.on("data", (chunk) => (followed += chunk))
      await new Promise((resolve) => setTimeout(resolve, 2_000))
      follower.kill()
      expect(followed.split("\n").filter((line) => / out \d+$/.test(line)).length).toBeGreaterThan(5)
      // It found the new supervisor's notify socket and said again what it had said: its status text.
      let text: string | null = null
      for (let i = 0; i < 50 && text !== "chatting"; i++) {
        text = (JSON.parse((await duende(home, "status", "chatty", "--json")).stdout) as { statusText: string | null }).statusText
        if (text !== "chatting") await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(text).toBe("chatting")

      // Stopped gracefully by the new supervisor, which then starts it as its own child.
      const stopped = await duende(home, "stop", "chatty")
      expect(stopped.code).toBe(0)
      expect(alive(before.pid)).toBe(false)
      const status = JSON.parse((await duende(home, "status", "chatty", "--json")).stdout) as { status: string; lastExit: string }
      expect(status.status).toBe("stopped")
      expect(status.lastExit).toMatch(/exit status is unknown: it was adopted/)
      expect((await duende(home, "start", "chatty")).code).toBe(0)
      const after = JSON.parse((await duende(home, "status", "chatty", "--json")).stdout) as { pid: number; status: string }
      pids.add(after.pid)
      expect(after).toMatchObject({ status: "running" })
      expect(after.pid).not.toBe(before.pid)
    } finally {
      await duende(home, "shutdown")
    }
  }, 90_000)
})
