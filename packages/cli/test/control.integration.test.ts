// Hostile and broken clients of the control socket against a real supervisor:
// it answers each with an error (or drops it) and keeps supervising.
import { afterAll, describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { connect, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bin = join(__dirname, "..", "bin", "duende.js")
const ticker = join(__dirname, "fixtures", "ticker.mjs")
const homes: Array<string> = []

const duende = (home: string, ...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, DUENDE_HOME: home, DUENDE_METRICS_PORT: "off" }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr })
    )
  })

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

/** A supervisor with one running daemon. */
const supervised = async () => {
  const home = mkdtempSync(join(tmpdir(), "duende-control-"))
  homes.push(home)
  const config = join(home, "ticker.json")
  writeFileSync(config, JSON.stringify({ name: "ticker", command: ["node", ticker], env: { TICK_MS: "1000" }, platform: { native: { ready: "started" } } }))
  expect((await duende(home, "start", config)).code).toBe(0)
  const status = JSON.parse((await duende(home, "status", "ticker", "--json")).stdout) as { pid: number }
  const supervisor = Number(readFileSync(join(home, "supervisor.pid"), "utf8"))
  return { home, daemonPid: status.pid, supervisor, socket: join(home, "supervisor.sock") }
}

/** Sends raw text and collects what comes back until the server closes or `ms` pass. */
const exchange = (socket: string, text: string, options: { readonly untilClose?: boolean; readonly ms?: number } = {}) =>
  new Promise<{ replies: Array<unknown>; closed: boolean }>((resolve) => {
    const client: Socket = connect(socket)
    let data = ""
    let closed = false
    const done = () => {
      client.destroy()
      resolve({ replies: data.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l)), closed })
    }
    const timer = setTimeout(done, options.ms ?? 5_000)
    client.on("connect", () => client.write(text))
    client.on("data", (d) => {
      data += d
      if (data.endsWith("\n") && options.untilClose !== true) {
        clearTimeout(timer)
        done()
      }
    })
    client.on("error", () => undefined)
    client.on("close", () => {
      closed = true
      clearTimeout(timer)
      done()
    })
  })

describe("the control socket against bad clients", () => {
  it("answers a 6 KB message nested 3,000 deep with an error and keeps running (it used to crash)", async () => {
    const { daemonPid, home, socket, supervisor } = await supervised()
    const deep = await exchange(socket, `${"[".repeat(3_000)}${"]".repeat(3_000)}\n`)
    expect(deep.replies).toEqual([{ id: -1, error: { tag: "BadRequest", message: "request nested deeper than 32 levels" } }])
    const deepObject = await exchange(socket, `{"id":1,"request":${'{"a":'.repeat(100)}1${"}".repeat(100)}}\n`)
    expect(deepObject.replies).toEqual([{ id: -1, error: { tag: "BadRequest", message: "request nested deeper than 32 levels" } }])
    // Brackets inside strings do not count.
    const inString = await exchange(socket, `${JSON.stringify({ id: 7, request: { method: "signal", name: "ticker", signal: "[".repeat(5_000) } })}\n`)
    expect(inString.replies).toEqual([{ id: 7, error: { tag: "BadRequest", message: `unknown signal "${"[".repeat(5_000)}"` } }])
    // A line that never ends is cut off at the bound: an error, and the connection is closed.
    const endless = await exchange(socket, "x".repeat(1024 * 1024 + 10), { untilClose: true, ms: 20_000 })
    expect(endless).toEqual({ replies: [{ id: -1, error: { tag: "BadRequest", message: "request larger than 1048576 bytes" } }], closed: true })
    const garbage = await exchange(socket, "\u0000\u0001{{{\n")
    expect(garbage.replies).toEqual([{ id: -1, error: { tag: "BadRequest", message: "not JSON" } }])

    // Still the same supervisor, still supervising the same daemon.
    expect(Number(readFileSync(join(home, "supervisor.pid"), "utf8"))).toBe(supervisor)
    const after = JSON.parse((await duende(home, "status", "ticker", "--json")).stdout) as { pid: number; status: string }
    expect(after).toMatchObject({ pid: daemonPid, status: "running" })
  }, 60_000)

  it("applies backpressure to a client that sends requests and never reads: bounded memory, others served, the client dropped", async () => {
    const { daemonPid, home, socket, supervisor } = await supervised()
    const rss = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${supervisor}/status`, "utf8"))![1]) * 1024
    const before = rss()
    const greedy = connect(socket)
    let closedByServer = false
    let offered = 0
    const closed = new Promise<void>((resolve) => greedy.once("close", () => resolve()))
    greedy.on("error", () => undefined)
    greedy.on("close", () => (closedByServer = true))
    greedy.pause() // never reads a reply
    const batch = Array.from({ length: 1_000 }, (_, i) => JSON.stringify({ id: i, request: { method: "list" } })).join("\n") + "\n"
    let writing = true
    const pushMore = () => {
      while (writing && !greedy.destroyed) {
        offered += 1_000
        if (!greedy.write(batch)) return void greedy.once("drain", pushMore)
      }
    }
    greedy.once("connect", pushMore)
    let peak = before
    const lsTimes: Array<number> = []
    const end = Date.now() + 6_000
    while (Date.now() < end && !closedByServer) {
      const started = Date.now()
      const ls = await duende(home, "ls", "--json")
      lsTimes.push(Date.now() - started)
      expect(ls.code).toBe(0)
      peak = Math.max(peak, rss())
    }
    writing = false
    process.stdout.write(
      `greedy client: offered ${offered} requests; supervisor RSS grew ${((peak - before) / 1048576).toFixed(1)} MiB; slowest ls ${Math.max(...lsTimes)} ms\n`
    )
    // The supervisor stopped reading the greedy client: its requests pile up on its own side.
    expect(closedByServer || greedy.writableLength > 0).toBe(true)
    expect(offered).toBeGreaterThan(1_000)
    // Memory stayed bounded (an unbounded supervisor buffers every reply: hundreds of MB within seconds).
    expect(peak - before).toBeLessThan(150 * 1024 * 1024)
    // Other clients were answered meanwhile (generous: a loaded 2-core machine).
    expect(Math.max(...lsTimes)).toBeLessThan(15_000)
    // The client that never drains is dropped.
    await Promise.race([closed, new Promise((r) => setTimeout(r, 60_000))])
    expect(closedByServer).toBe(true)
    const after = JSON.parse((await duende(home, "status", "ticker", "--json")).stdout) as { pid: number; status: string }
    expect(after).toMatchObject({ pid: daemonPid, status: "running" })
    expect(Number(readFileSync(join(home, "supervisor.pid"), "utf8"))).toBe(supervisor)
  }, 120_000)

  it("answers a thousand clients that connect at once, even while it is busy (none sees EAGAIN)", async () => {
    const { socket, supervisor } = await supervised()
    const one = (i: number) =>
      new Promise<"ok" | string>((resolve) => {
        const client = connect(socket)
        let data = ""
        client.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
        client.on("data", (chunk) => {
          data += chunk.toString()
          if (data.includes("\n")) {
            client.destroy()
            resolve(JSON.parse(data.split("\n")[0]!).id === i ? "ok" : `bad reply ${data}`)
          }
        })
        client.on("connect", () => client.write(`${JSON.stringify({ id: i, request: { method: "ping" } })}\n`))
      })
    // Busy (stopped) while they connect: every connection waits in the listen backlog, none is refused.
    process.kill(supervisor, "SIGSTOP")
    // The kernel caps any backlog at somaxconn (4096 on Linux ≥ 5.4; 128 before, where a burst that large cannot queue).
    const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"))
    const pending = Array.from({ length: Math.min(1_000, somaxconn - 16) }, (_, i) => one(i))
    await new Promise((resolve) => setTimeout(resolve, 500))
    process.kill(supervisor, "SIGCONT")
    const results = await Promise.all(pending)
    const failures = results.filter((result) => result !== "ok")
    expect({ failures: failures.length, first: failures[0] }).toEqual({ failures: 0, first: undefined })
  }, 120_000)
})
