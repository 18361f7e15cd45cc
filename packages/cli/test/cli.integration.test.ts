// The duende command as users run it: real supervisor, real socket, real daemons.
import { afterAll, describe, expect, it } from "vitest"
import { execFile, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bin = join(__dirname, "..", "bin", "duende.js")
const ticker = join(__dirname, "fixtures", "ticker.mjs")
const counter = join(__dirname, "..", "..", "..", "examples", "http-counter", "duende.json")
const homes: Array<string> = []

const newHome = () => {
  const home = mkdtempSync(join(tmpdir(), "duende-cli-"))
  homes.push(home)
  return home
}

const duende = (home: string, ...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, DUENDE_HOME: home }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }))
  })

const config = (home: string, name: string, extra: object = {}) => {
  const path = join(home, `${name}.json`)
  writeFileSync(
    path,
    JSON.stringify({ name, command: ["node", ticker], platform: { native: { ready: "started" } }, shutdownTimeout: "3s", ...extra })
  )
  return path
}

const statusOf = async (home: string, name: string) => JSON.parse((await duende(home, "status", name, "--json")).stdout)
const alive = (pid: number) => {
  try {
    return !/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}
const until = async <A>(f: () => Promise<A | undefined>, ms = 20_000): Promise<A> => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const value = await f()
    if (value !== undefined) return value
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error("condition not met in time")
}

afterAll(async () => {
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

describe("duende with a background supervisor", () => {
  it("starts a daemon, answers every read command in JSON, and keeps the socket private", async () => {
    const home = newHome()
    const started = await duende(home, "start", config(home, "ticker"))
    expect(started).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ticker: running \(pid \d+\)/) })
    expect(statSync(join(home, "supervisor.sock")).mode & 0o777).toBe(0o600)
    expect(statSync(home).mode & 0o777).toBe(0o700)

    const ls = await duende(home, "ls")
    expect(ls.stdout).toMatch(/^NAME\s+STATUS\s+PID\s+UPTIME\s+RESTARTS\s+CPU\s+MEMORY\nticker\s+running\s+\d+/)
    const list = JSON.parse((await duende(home, "ls", "--json")).stdout)
    expect(list).toEqual([expect.objectContaining({ name: "ticker", status: "running", restarts: 0, desired: "running" })])

    const status = await statusOf(home, "ticker")
    expect(status).toMatchObject({ name: "ticker", statusTag: "Running", command: ["node", ticker] })
    // cpu and memory appear once the supervisor has sampled twice
    const sampled = await until(async () => {
      const s = await statusOf(home, "ticker")
      return s.memoryBytes > 1_000_000 && s.cpuPercent !== null ? s : undefined
    })
    expect(sampled.memoryBytes).toBeGreaterThan(1_000_000)

    const logs = await until(async () => {
      const out = (await duende(home, "logs", "ticker", "-n", "3", "--json")).stdout.trim().split("\n")
      return out.length === 3 ? out.map((l) => JSON.parse(l)) : undefined
    })
    expect(logs[2]).toEqual({ at: expect.any(Number), stream: "stdout", text: expect.stringMatching(/^tick \d+$/) })

    const doctor = JSON.parse((await duende(home, "doctor", "--json")).stdout)
    expect(doctor).toMatchObject({ node: process.version, supervisor: { running: true }, paths: { home } })
    // The supervisor's Prometheus endpoint, on loopback, covers the daemon.
    expect(doctor.supervisor.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const exposition = await fetch(doctor.supervisor.metrics).then((r) => r.text())
    expect(exposition).toMatch(/^duende_daemon_up\{daemon="ticker"\} 1$/m)
    expect(exposition).toMatch(/^duende_daemon_resident_memory_bytes\{daemon="ticker"\} \d+$/m)
    expect(doctor.tools.runc === null || typeof doctor.tools.runc === "string").toBe(true)

    expect((await duende(home, "restart", "ticker")).code).toBe(0)
    expect((await statusOf(home, "ticker")).pid).not.toBe(status.pid)
    expect((await duende(home, "stop", "ticker")).stdout).toBe("ticker: stopped\n")
    expect(alive(status.pid)).toBe(false)
    expect((await duende(home, "rm", "ticker")).stdout).toBe("ticker: removed\n")
    expect(JSON.parse((await duende(home, "ls", "--json")).stdout)).toEqual([])
  }, 180_000) // some twenty commands, each a Node start: slow on a loaded machine

  it("follows logs as they are written", async () => {
    const home = newHome()
    await duende(home, "start", config(home, "chatty", { env: { TICK_MS: "100" } }))
    const follow = spawn(process.execPath, [bin, "logs", "chatty", "-f", "-n", "0"], { env: { ...process.env, DUENDE_HOME: home } })
    let out = ""
    follow.stdout.on("data", (d) => (out += d))
    await until(async () => (out.split("\n").filter((l) => / out tick \d+$/.test(l)).length >= 3 ? true : undefined))
    follow.kill("SIGINT")
  })

  it("fails clearly: unknown names (1), bad configs (78), no supervisor (3), bad usage (2)", async () => {
    const home = newHome()
    const dead = await duende(home, "ls")
    expect(dead.code).toBe(3)
    expect(dead.stderr).toMatch(/the duende supervisor is not running/)
    expect((await duende(home, "status", "x")).code).toBe(3)

    const bad = join(home, "bad.json")
    writeFileSync(bad, JSON.stringify({ name: "Bad Name", command: "node x.js", restart: { polcy: "always" } }))
    const rejected = await duende(home, "start", bad)
    expect(rejected.code).toBe(78)
    expect(rejected.stderr).toContain(`- name: expected lowercase letters`)
    expect(rejected.stderr).toContain(`- command: expected ["program", "arg", ...]`)
    expect(rejected.stderr).toContain(`- restart.polcy: unknown field; did you mean "policy"?`)

    await duende(home, "start", config(home, "known"))
    const unknown = await duende(home, "stop", "nobody")
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toBe(`duende: no daemon named "nobody" (known: known)\n`)
    expect((await duende(home, "frobnicate")).code).toBe(2)
  })

  it("restarts a crashing daemon with backoff and marks a crash loop Failed", async () => {
    const home = newHome()
    await duende(
      home,
      "start",
      config(home, "crashy", {
        env: { EXIT_AFTER_MS: "150", EXIT_CODE: "2" },
        restart: { policy: "on-failure", backoff: { initial: "200ms", multiplier: 2, jitter: 0 }, crashLoop: { burst: 3, interval: "1m" } }
      })
    )
    const failed = await until(async () => {
      const s = await statusOf(home, "crashy")
      return s.status.startsWith("failed: crash loop") ? s : undefined
    })
    expect(failed.restarts).toBe(3)
    expect(failed.status).toBe("failed: crash loop: 3 restarts within 1m (last: exited with 2)")
    expect(readFileSync(join(home, "supervisor.log"), "utf8")).toMatch(/crashy: exited with 2; restarting in 400ms/)
  })

  it("keeps its registry through kill -9 of the supervisor and restores it", async () => {
    const home = newHome()
    // Quiet, so that losing its supervisor (and its stdout pipe) does not end it by itself.
    await duende(home, "start", config(home, "survivor", { env: { TICK_MS: "3600000" } }))
    await duende(home, "start", config(home, "resting"))
    await duende(home, "stop", "resting")
    const before = await statusOf(home, "survivor")
    const supervisor = Number(readFileSync(join(home, "supervisor.pid"), "utf8"))
    process.kill(supervisor, "SIGKILL")
    await until(async () => ((await duende(home, "ls")).code === 3 ? true : undefined))

    const back = await duende(home, "resurrect", "--json")
    expect(back.code).toBe(0)
    const daemons = JSON.parse(back.stdout) as Array<{ name: string; status: string; pid: number | null }>
    expect(daemons.map((d) => [d.name, d.status])).toEqual([["survivor", "running"], ["resting", "stopped"]])
    // The daemon the dead supervisor left running was taken over as it is: same pid, not restarted.
    expect(daemons[0]!.pid).toBe(before.pid)
    expect(alive(before.pid)).toBe(true)
    expect(readFileSync(join(home, "supervisor.log"), "utf8")).toMatch(
      new RegExp(`survivor: pid ${before.pid} was left running by a previous supervisor; taking it over \\(no restart\\)`)
    )
   }, 180_000)

  it("survives a corrupt registry: keeps the file aside and restores the last good copy", async () => {
    const home = newHome()
    await duende(home, "start", config(home, "precious"))
    await duende(home, "start", config(home, "second"))
    await duende(home, "shutdown")
    const registry = join(home, "registry.json")
    expect(existsSync(`${registry}.bak`)).toBe(true)
    writeFileSync(registry, `{"version": 1, "daemons": [ {"id": "trunc`) // a write cut short
    const back = JSON.parse((await duende(home, "resurrect", "--json")).stdout) as Array<{ name: string }>
    expect(back.map((d) => d.name)).toContain("precious")
    const aside = readdirSync(home).filter((f) => f.startsWith("registry.json.corrupt-"))
    expect(aside).toHaveLength(1)
    expect(readFileSync(join(home, aside[0]!), "utf8")).toBe(`{"version": 1, "daemons": [ {"id": "trunc`)
    expect(readFileSync(join(home, "supervisor.log"), "utf8")).toMatch(/registry.json is unreadable \(not valid JSON/)
    // and the registry is whole again
    expect(JSON.parse(readFileSync(registry, "utf8")).daemons.length).toBeGreaterThanOrEqual(1)
  })
})

describe("duende run (foreground)", () => {
  it("runs the example daemon, prints its URL, and stops it gracefully on Ctrl-C", async () => {
    const home = newHome()
    const port = String(20_000 + Math.floor(Math.random() * 20_000))
    const file = join(home, "counter.json")
    const example = JSON.parse(readFileSync(counter, "utf8"))
    writeFileSync(
      file,
      JSON.stringify({
        ...example,
        $schema: undefined,
        command: ["node", join(__dirname, "..", "..", "..", "examples", "http-counter", "dist", "main.js")],
        env: { ...example.env, PORT: port }
      })
    )
    const child = spawn(process.execPath, [bin, "run", file], { env: { ...process.env, DUENDE_HOME: home }, detached: true })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    await until(async () => (out.includes("Ctrl-C stops gracefully") ? true : undefined))
    expect(out).toMatch(new RegExp(`http-counter \\| running \\(pid (\\d+)\\) on http://127.0.0.1:${port} — serving`))
    const daemonPid = Number(/running \(pid (\d+)\)/.exec(out)![1])
    const answer = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text())
    expect(answer).toBe("1\n")
    process.kill(-child.pid!, "SIGINT") // what a terminal does on Ctrl-C
    expect(await exited).toBe(130)
    expect(out).toMatch(/http-counter \| .*shutting down after 1 requests/)
    expect(out).toMatch(/http-counter \| stopped by SIGTERM/)
    expect(alive(daemonPid)).toBe(false)
  })

  it("refuses a bad config with exit 78", async () => {
    const home = newHome()
    const bad = join(home, "bad.json")
    writeFileSync(bad, JSON.stringify({ name: "x", command: ["node"], shutdownTimeout: "forever" }))
    const result = await duende(home, "run", bad)
    expect(result.code).toBe(78)
    expect(result.stderr).toMatch(/shutdownTimeout: expected a duration/)
  })
})
