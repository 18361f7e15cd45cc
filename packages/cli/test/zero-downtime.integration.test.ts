// Sockets held by the supervisor (config `listen`): passed by systemd's exact protocol, open
// while the daemon crashes and restarts (the kernel's backlog holds new connections, so none is
// refused), and `duende restart` as a rolling restart that a broken release cannot take down.
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { Agent, request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runner } from "./helpers/cli.js"

const home = mkdtempSync(join(tmpdir(), "duende-zero-downtime-"))
const duende = runner({ DUENDE_HOME: home }, 60_000)
const server = join(__dirname, "fixtures", "listen-server.mjs")
const failFlag = join(home, "broken")

afterAll(async () => {
  await duende("shutdown")
  rmSync(home, { recursive: true, force: true })
}, 60_000)

/** One request (on a fresh connection, or the agent's keep-alive ones): the body, or the error's code. */
const get = (port: number, agent: Agent | false = false): Promise<string> =>
  new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent, timeout: 10_000 }, (res) => {
      let body = ""
      res.on("data", (chunk) => (body += chunk))
      res.on("end", () => resolve(res.statusCode === 200 ? body.trim() : `status ${res.statusCode}`))
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`))
    req.end()
  })

/** Requests back to back (16 at a time) until `stop` resolves: every answer. */
const load = async (port: number, stop: Promise<unknown>, agent: Agent | false = false) => {
  const answers: Array<string> = []
  let done = false
  void stop.then(() => (done = true))
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (!done) answers.push(await get(port, agent))
  }))
  return answers
}

const freePort = () => 20_000 + Math.floor(Math.random() * 20_000)
const port = freePort()
const admin = freePort() + 1

const config = join(home, "web.json")
writeFileSync(config, JSON.stringify({
  name: "web",
  command: ["node", server],
  env: { FAIL_FLAG: failFlag },
  listen: [{ name: "http", port }, { name: "admin", port: admin, backlog: 64 }],
  shutdownTimeout: "5s",
  restart: { policy: "always", backoff: { initial: "100ms", max: "200ms", jitter: 0 }, crashLoop: { burst: 100, interval: "1m" } },
  platform: { native: { ready: "auto" } }
}))

interface Info {
  readonly pid: number | null
  readonly restarts: number
  readonly status: string
}
const status = async (): Promise<Info> => JSON.parse((await duende("status", "web", "--json")).stdout)
/** The status once it runs (after a crash, the restart takes its backoff). */
const running = async (): Promise<Info & { readonly pid: number }> => {
  for (let i = 0; i < 100; i++) {
    const info = await status()
    if (info.pid !== null && info.status === "running") return info as Info & { readonly pid: number }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error("web never got back to running")
}

describe("sockets held by the native supervisor", () => {
  it("passes them by systemd's protocol: fds 3 and 4, LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID of the daemon itself", async () => {
    expect((await duende("start", config)).code).toBe(0)
    const { pid } = await status()
    const logs = (await duende("logs", "web", "-n", "50")).stdout
    expect(logs).toContain(`LISTEN_PID=${pid} pid=${pid} LISTEN_FDS=2 LISTEN_FDNAMES=http:admin sockets=true,true notify=5`)
    expect(await get(port)).toBe(`http ${pid}`)
    expect(await get(admin)).toBe(`admin ${pid}`)
    // The supervisor holds them (it listens; the daemon accepts).
    const supervisor = Number(execFileSync("cat", [join(home, "supervisor.pid")]).toString().trim())
    const listening = execFileSync("ss", ["-Hltnp", `sport = :${port}`]).toString()
    expect(listening).toContain(`pid=${supervisor},`)
  })

  it("a crash refuses no connection: the socket stays open and the backlog waits for the next process", async () => {
    const before = await status()
    let stop!: () => void
    const stopped = new Promise<void>((resolve) => (stop = resolve))
    const answers = load(port, stopped)
    for (let i = 0; i < 3; i++) {
      const { pid } = await running()
      process.kill(pid, "SIGKILL")
      await new Promise((resolve) => setTimeout(resolve, 1_500))
    }
    stop()
    const all = await answers
    const after = await status()
    expect(after.restarts).toBeGreaterThanOrEqual(before.restarts + 3)
    // Refused: none — the socket never closed. Reset: only requests the killed process had
    // accepted already (a SIGKILL ends them), at most the 16 in flight per kill.
    const failed = all.filter((answer) => !answer.startsWith("http "))
    expect(failed.filter((answer) => answer !== "error ECONNRESET")).toEqual([])
    expect(failed.length).toBeLessThanOrEqual(3 * 16)
    expect(all.length).toBeGreaterThan(50)
  }, 60_000)

  it("duende restart is a rolling restart: a new pid, no failed request, the old one stopped gracefully", async () => {
    const { pid: old } = await running()
    let stop!: () => void
    const stopped = new Promise<void>((resolve) => (stop = resolve))
    const answers = load(port, stopped)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const restarted = await duende("restart", "web")
    await new Promise((resolve) => setTimeout(resolve, 300))
    stop()
    expect(restarted.code).toBe(0)
    const all = await answers
    const { pid: fresh, status: now } = await status()
    expect(now).toBe("running")
    expect(fresh).not.toBe(old)
    expect(all.filter((answer) => !answer.startsWith("http "))).toEqual([])
    expect(new Set(all)).toEqual(new Set([`http ${old}`, `http ${fresh}`]))
    expect((await duende("logs", "web", "-n", "100")).stdout).toContain(`[duende] pid ${old} replaced: exited gracefully`)
  }, 60_000)

  it("a new release that never gets ready is stopped; the old one keeps serving and the restart says why", async () => {
    const { pid: old } = await running()
    writeFileSync(failFlag, "")
    const restarted = await duende("restart", "web")
    rmSync(failFlag)
    expect(restarted.code).not.toBe(0)
    expect(restarted.stderr).toMatch(/the new process did not get ready \(failed \(exit 1\) before it was ready\); the old one \(pid \d+\) keeps serving/)
    const after = await status()
    expect(after.pid).toBe(old)
    expect(after.status).toBe("running")
    expect(await get(port)).toBe(`http ${old}`)
  }, 60_000)

  it("reload: \"replace\" makes duende reload a rolling restart (new code): a new pid ready before the old one stops", async () => {
    const worker = join(home, "worker.json")
    writeFileSync(worker, JSON.stringify({
      name: "worker",
      command: ["node", "-e", "console.log('worker ' + process.pid); process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)"],
      reload: "replace",
      shutdownTimeout: "5s"
    }))
    expect((await duende("start", worker)).code).toBe(0)
    const before = JSON.parse((await duende("status", "worker", "--json")).stdout) as { pid: number }
    const reloaded = await duende("reload", "worker")
    expect(reloaded.code).toBe(0)
    const after = JSON.parse((await duende("status", "worker", "--json")).stdout) as { pid: number; status: string; restarts: number }
    expect(after.status).toBe("running")
    expect(after.pid).not.toBe(before.pid)
    expect((await duende("logs", "worker", "-n", "50")).stdout).toContain(`[duende] pid ${before.pid} replaced: exited gracefully`)
    expect((await duende("rm", "worker")).code).toBe(0)
  }, 60_000)

  it("a Duende daemon (the example) takes the held socket as ctx.listenSockets; a rolling restart under keep-alive load fails nothing", async () => {
    const examplePort = freePort() + 2
    const example = join(home, "counter.json")
    writeFileSync(example, JSON.stringify({
      name: "counter",
      command: ["node", join(__dirname, "..", "..", "..", "examples", "http-counter", "dist", "main.js")],
      env: { PORT: "1" }, // not used: the held socket comes first
      listen: [{ name: "http", port: examplePort }],
      shutdownTimeout: "10s",
      platform: { native: { ready: "notify" } }
    }))
    expect((await duende("start", example)).code).toBe(0)
    const before = JSON.parse((await duende("status", "counter", "--json")).stdout) as { pid: number; statusText: string }
    expect(before.statusText).toBe("serving on the held socket, fd 3 (http)")
    const agent = new Agent({ keepAlive: true, maxSockets: 16 })
    let stop!: () => void
    const stopped = new Promise<void>((resolve) => (stop = resolve))
    const answers = load(examplePort, stopped, agent)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const started = Date.now()
    const restarted = await duende("restart", "counter")
    const restartMs = Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 300))
    stop()
    const all = await answers
    agent.destroy()
    expect(restarted.code).toBe(0)
    // The old process drained its busy keep-alive connections (Connection: close) instead of running into its deadline.
    expect(restartMs).toBeLessThan(8_000)
    expect(all.filter((answer) => !/^\d+$/.test(answer))).toEqual([])
    const after = JSON.parse((await duende("status", "counter", "--json")).stdout) as { pid: number }
    expect(after.pid).not.toBe(before.pid)
    expect((await duende("rm", "counter")).code).toBe(0)
  }, 60_000)
})
