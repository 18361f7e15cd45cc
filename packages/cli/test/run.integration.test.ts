// `duende run` never outlives itself through its daemons: SIGKILL of it (or of its
// whole process group) ends every process of every daemon's tree, including
// children that left the daemon's session; the port is free for the next run; a
// port taken by a leftover is reported with its holder; PORT from the environment
// moves the example daemon.
import { Integration } from "@duende/testing"
import { afterAll, describe, expect, it } from "vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

const gate = Integration.check(Integration.command("test", ["-r", "/proc/self/stat"], "no /proc here (not Linux)"))

const root = join(__dirname, "..", "..", "..")
const bin = join(__dirname, "..", "bin", "duende.js")
const example = join(root, "examples", "http-counter", "duende.json")
const exampleMain = join(root, "examples", "http-counter", "dist", "main.js")
const leftovers = new Set<number>()
const runs = new Set<ChildProcess>()

afterAll(() => {
  for (const child of runs) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  for (const pid of leftovers) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone
    }
  }
})

const newHome = () => mkdtempSync(join(tmpdir(), "duende-run-"))
const freePort = () => 20_000 + Math.floor(Math.random() * 30_000)

interface Proc {
  readonly pid: number
  readonly ppid: number
  readonly sid: number
  readonly state: string
}
const processes = (): Array<Proc> =>
  readdirSync("/proc").filter((n) => /^\d+$/.test(n)).flatMap((n) => {
    try {
      const text = readFileSync(`/proc/${n}/stat`, "utf8")
      const f = text.slice(text.lastIndexOf(")") + 2).split(" ")
      return [{ pid: Number(n), state: f[0]!, ppid: Number(f[1]), sid: Number(f[3]) }]
    } catch {
      return []
    }
  })
/** The daemon's tree as the test sees it: its session and every descendant of its pid (zombies excluded). */
const treeOf = (pid: number): Array<number> => {
  const all = processes()
  const found = new Set(all.filter((p) => p.sid === pid || p.pid === pid).map((p) => p.pid))
  let grew = true
  while (grew) {
    grew = false
    for (const p of all) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.add(p.pid)
        grew = true
      }
    }
  }
  const running = new Set(all.filter((p) => p.state !== "Z" && p.state !== "X").map((p) => p.pid))
  return [...found].filter((p) => running.has(p))
}
const living = (pids: ReadonlyArray<number>) => {
  const running = new Set(processes().filter((p) => p.state !== "Z" && p.state !== "X").map((p) => p.pid))
  return pids.filter((p) => running.has(p))
}

const until = async <A>(f: () => A | undefined | Promise<A | undefined>, ms = 20_000): Promise<A> => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const value = await f()
    if (value !== undefined) return value
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error("condition not met in time")
}

/** Starts `duende run` in a process group of its own (as a shell would), collecting its output. */
const run = (home: string, configs: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, [bin, "run", ...configs], {
    env: { ...process.env, DUENDE_HOME: home, ...env },
    detached: true,
    cwd: root
  })
  runs.add(child)
  const output = { text: "" }
  child.stdout!.on("data", (d) => (output.text += d))
  child.stderr!.on("data", (d) => (output.text += d))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const ready = until(() => (output.text.includes("Ctrl-C stops gracefully") ? true : undefined))
  return { child, output, exited, ready }
}

const pidOf = (text: string, name: string) => Number(new RegExp(`${name}\\s*\\| running \\(pid (\\d+)\\)`).exec(text)![1])

describe.skipIf(!gate.ok)(`duende run dies with its daemons${gate.label}`, () => {
  it("SIGKILL of `duende run` stops each daemon's whole tree, even children that left its session", async () => {
    const home = newHome()
    const port = freePort()
    const tree = join(home, "tree.json")
    writeFileSync(
      tree,
      JSON.stringify({
        name: "tree",
        // A plain command with a child in its group, a grandchild, and one that left the session.
        command: ["sh", "-c", "setsid sleep 1001 & sleep 1002 & sh -c 'sleep 1003 & wait' & wait"],
        platform: { native: { ready: "started" } },
        shutdownTimeout: "3s"
      })
    )
    // One whose child leaves the session and is orphaned at once: re-parented to `duende run` (a subreaper).
    const orphaner = join(home, "orphaner.json")
    writeFileSync(
      orphaner,
      JSON.stringify({
        name: "orphaner",
        command: ["sh", "-c", "sh -c 'setsid sleep 1004 &'; exec sleep 1005"],
        platform: { native: { ready: "started" } },
        shutdownTimeout: "3s"
      })
    )
    const counter = join(home, "counter.json")
    writeFileSync(counter, JSON.stringify({ ...JSON.parse(readFileSync(example, "utf8")), $schema: undefined, command: ["node", exampleMain] }))
    const first = run(home, [tree, orphaner, counter], { PORT: String(port) })
    await first.ready
    const roots = [pidOf(first.output.text, "tree"), pidOf(first.output.text, "orphaner"), pidOf(first.output.text, "http-counter")]
    const members = await until(() => {
      const all = roots.flatMap(treeOf)
      return all.length >= 7 ? all : undefined // sh, 3 sleeps, inner sh; sleep 1005; the counter
    })
    // The orphan is no longer in any daemon's tree: only the subreaper knows it.
    const orphan = await until(() =>
      processes().find((p) =>
        p.ppid === first.child.pid && p.sid === p.pid && readFileSync(`/proc/${p.pid}/cmdline`, "utf8").startsWith("sleep\u00001004")
      )
    )
    expect(roots.flatMap(treeOf)).not.toContain(orphan.pid)
    members.push(orphan.pid)
    // The adapter hands the orphans it adopted to the warden once a second.
    await new Promise((r) => setTimeout(r, 2_500))
    expect(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text())).toBe("1\n")

    process.kill(first.child.pid!, "SIGKILL")
    await first.exited
    // Generous: the warden gives each daemon its shutdownTimeout before SIGKILL.
    await until(() => (living(members).length === 0 ? true : undefined), 30_000)
    expect(living(members)).toEqual([])

    // The port is free again: a second run serves on it.
    const second = run(home, [counter], { PORT: String(port) })
    await second.ready
    expect(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text())).toBe("1\n")
    process.kill(-second.child.pid!, "SIGINT")
    await second.exited
  }, 90_000)

  it("SIGKILL of its whole process group (a terminal closing hard) leaves nothing running either", async () => {
    const home = newHome()
    const port = freePort()
    const first = run(home, [example], { PORT: String(port) })
    await first.ready
    const daemon = pidOf(first.output.text, "http-counter")
    const members = treeOf(daemon)
    expect(members).toContain(daemon)
    process.kill(-first.child.pid!, "SIGKILL")
    await first.exited
    await until(() => (living(members).length === 0 ? true : undefined), 30_000)

    const second = run(home, [example], { PORT: String(port) })
    await second.ready
    expect(second.output.text).toMatch(new RegExp(`running \\(pid \\d+\\) on http://127.0.0.1:${port} — serving http://127.0.0.1:${port}`))
    process.kill(-second.child.pid!, "SIGKILL")
    await second.exited
    await until(() => (living(treeOf(pidOf(second.output.text, "http-counter"))).length === 0 ? true : undefined), 30_000)
  }, 90_000)

  it("PORT in the environment moves the example daemon, and the printed URL is the real one", async () => {
    const home = newHome()
    const port = freePort()
    const started = run(home, [example], { PORT: String(port) })
    await started.ready
    expect(started.output.text).toMatch(
      new RegExp(`^http-counter \\| running \\(pid \\d+\\) on http://127.0.0.1:${port} — serving http://127.0.0.1:${port}$`, "m")
    )
    expect(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status)).toBe(200)
    process.kill(-started.child.pid!, "SIGINT")
    await started.exited
  }, 60_000)

  it("says who holds a port it cannot bind: a Duende daemon left by an earlier supervisor, or another program", async () => {
    const port = freePort()
    // A Duende daemon a dead background supervisor left running (kill -9 of the supervisor).
    const earlier = newHome()
    const start = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [bin, "start", example], {
        env: { ...process.env, DUENDE_HOME: earlier, PORT: String(port), DUENDE_METRICS_PORT: "off" },
        cwd: root
      })
      let out = ""
      child.stdout!.on("data", (d) => (out += d))
      child.once("exit", () => resolve(out))
    })
    const leftover = Number(/\(pid (\d+)\)/.exec(start)![1])
    leftovers.add(leftover)
    process.kill(Number(readFileSync(join(earlier, "supervisor.pid"), "utf8")), "SIGKILL")

    const home = newHome()
    const blocked = run(home, [example], { PORT: String(port) })
    await blocked.exited
    expect(blocked.output.text).toContain(
      `http-counter | port ${port} is taken by pid ${leftover}, Duende daemon "http-counter" left running by an earlier run (nothing supervises it now): stop it (\`kill ${leftover}\`) or use another port`
    )
    process.kill(leftover, "SIGTERM")
    await until(() => (living([leftover]).length === 0 ? true : undefined))

    // Another program on the port.
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()))
    try {
      const other = run(home, [example], { PORT: String(port) })
      await other.exited
      expect(other.output.text).toContain(`http-counter | port ${port} is taken by pid ${process.pid} (`)
      expect(other.output.text).toContain(`), not a Duende daemon: stop it (\`kill ${process.pid}\`) or use another port`)
    } finally {
      server.close()
    }
  }, 90_000)
})
