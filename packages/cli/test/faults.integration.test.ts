// Seeded fault injection against the background supervisor: 30 `kill -9`s of it at random
// moments — during a burst of starts, a restart, a crash loop's restart, a stop, an install (a
// registry save) — each followed by `duende resurrect`. After each, checked against /proc and
// the registry: the registry parses and says what was asked; every daemon meant to run runs
// exactly once and is the one the new supervisor reports (taken over, or started by it: no
// duplicate, no orphan), nothing meant to be stopped runs, no zombie of ours stays. The daemons
// are Duende daemons (they survive their supervisor's death); every one alive at a kill must be
// taken over with its pid: zero restarts caused. The seed is fixed: a failing run fails the same
// way again.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runner } from "./helpers/cli.js"
import { afterAll, describe, expect, it } from "vitest"

const ticker = join(__dirname, "fixtures", "ticker.mjs")
const chatty = join(__dirname, "fixtures", "chatty-daemon.mjs")
const home = mkdtempSync(join(tmpdir(), "duende-faults-"))

const duende = runner({ DUENDE_HOME: home }, 120_000)

/** A small seeded generator (a failing run fails the same way again). */
const seeded = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
  return seed / 2 ** 31
}

interface Proc {
  readonly pid: number
  readonly ppid: number
  readonly state: string
  readonly daemonId: string | undefined
}

/**
 * Every process, with the Duende daemon id of those started by this test's supervisors (their
 * DUENDE_LOG_FILE is under this test's home: other test files run daemons at the same time).
 */
const processes = (): Array<Proc> =>
  readdirSync("/proc").filter((name) => /^\d+$/.test(name)).flatMap((name) => {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      let environ = ""
      try {
        environ = readFileSync(`/proc/${name}/environ`, "utf8")
      } catch {
        // a zombie has none
      }
      const ours = /(?:^|\0)DUENDE_LOG_FILE=([^\0]*)/.exec(environ)?.[1]?.startsWith(`${home}/`) === true
      const daemonId = ours ? /(?:^|\0)DUENDE_DAEMON_ID=([^\0]*)/.exec(environ)?.[1] : undefined
      return [{ pid: Number(name), ppid: Number(fields[1]), state: fields[0]!, daemonId }]
    } catch {
      return []
    }
  })

const supervisorPid = () => Number(readFileSync(join(home, "supervisor.pid"), "utf8"))

const configOf = (name: string, extra: object = {}) => {
  const path = join(home, `${name}.json`)
  writeFileSync(path, JSON.stringify({ name, command: ["node", chatty], shutdownTimeout: "3s", ...extra }))
  return path
}

afterAll(async () => {
  await duende("shutdown")
  for (const p of processes()) if (p.daemonId !== undefined) {
    try {
      process.kill(p.pid, "SIGKILL")
    } catch {
      // gone
    }
  }
  rmSync(home, { recursive: true, force: true })
}, 120_000)

describe("the supervisor under seeded kill -9s", () => {
  it("30 kills at random moments: registry current, every daemon supervised exactly once, no orphan, no duplicate, no zombie", async () => {
    const random = seeded(20261203)
    const names = ["alpha", "beta", "gamma", "delta"]
    for (const name of names) configOf(name)
    // One crash-looping daemon: it exits every 700 ms and is restarted (with back-off) by the supervisor.
    configOf("crashy", { command: ["node", ticker], env: { TICK_MS: "500", EXIT_AFTER_MS: "700", EXIT_CODE: "1" }, platform: { native: { ready: "started" } }, restart: { backoff: { initial: "100ms", max: "400ms" }, crashLoop: { burst: 1000, interval: "1m" } } })
    expect((await duende("start", join(home, "alpha.json"))).code).toBe(0)
    expect((await duende("start", join(home, "crashy.json"))).code).toBe(0)
    const crashyId = (JSON.parse(readFileSync(join(home, "registry.json"), "utf8")).daemons as Array<{ id: string; name: string }>)
      .find((d) => d.name === "crashy")!.id

    const actions = ["burst", "restart", "stop", "install", "crash-loop"] as const
    let restartsCaused = 0
    const kinds: Record<string, number> = {}
    for (let round = 0; round < 30; round++) {
      const action = actions[Math.floor(random() * actions.length)]!
      kinds[action] = (kinds[action] ?? 0) + 1
      const name = names[Math.floor(random() * names.length)]!
      // Daemons alive at the kill, but the crash loop (it replaces its process on its own) and
      // the daemon a restart or stop is asked of (replaced or ended on purpose).
      const targetId = action === "restart" || action === "stop"
        ? (JSON.parse(readFileSync(join(home, "registry.json"), "utf8")).daemons as Array<{ id: string; name: string }>)
          .find((d) => d.name === name)?.id
        : undefined
      const before = new Set(
        processes().filter((p) =>
          p.daemonId !== undefined && p.daemonId !== crashyId && p.daemonId !== targetId && p.state !== "Z"
        ).map((p) => p.pid)
      )
      const work = action === "burst"
        ? Promise.all(names.map((n) => duende("start", join(home, `${n}.json`))))
        : action === "restart"
        ? duende("restart", name)
        : action === "stop"
        ? duende("stop", name)
        : action === "install"
        ? duende("install", configOf(`extra${round}`))
        : new Promise((resolve) => setTimeout(resolve, 300)) // a crash loop restarts on its own
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 400)))
      const killed = supervisorPid()
      process.kill(killed, "SIGKILL")
      await work

      const back = await duende("resurrect", "--json")
      expect(back.code, back.stderr).toBe(0)
      const supervisor = supervisorPid()
      expect(supervisor).not.toBe(killed)

      // The registry parses and is what the new supervisor runs.
      const registry = JSON.parse(readFileSync(join(home, "registry.json"), "utf8")) as {
        daemons: Array<{ id: string; name: string; desired: string }>
      }
      const listed = JSON.parse((await duende("ls", "--json")).stdout) as Array<{ id: string; name: string; desired: string; pid: number | null }>
      expect(listed.map((d) => d.name).sort()).toEqual(registry.daemons.map((d) => d.name).sort())

      // Let crash-loop restarts and starts settle, then look at /proc.
      await new Promise((resolve) => setTimeout(resolve, 300))
      const ours = processes()
      // What the supervisor reports around the look at /proc (a start may land between the two).
      const relisted = JSON.parse((await duende("ls", "--json")).stdout) as Array<{ name: string; pid: number | null }>
      const running = ours.filter((p) => p.daemonId !== undefined && p.state !== "Z")
      // A daemon's main process, as against its children (chatty has none; the ids are inherited).
      const supervised = new Map([...listed, ...relisted].filter((d) => d.pid !== null).map((d) => [d.pid!, d.name]))
      for (const daemon of registry.daemons) {
        const copies = running.filter((p) => p.daemonId === daemon.id)
        if (daemon.name === "crashy") {
          expect(copies.length, "crashy runs at most once").toBeLessThanOrEqual(1)
        } else if (daemon.desired === "running") {
          expect(copies.length, `${daemon.name}: one copy`).toBe(1)
          expect(supervised.get(copies[0]!.pid), `${daemon.name}: the copy the new supervisor reports`).toBe(daemon.name)
        } else {
          expect(copies, `${daemon.name} is stopped`).toEqual([])
        }
      }
      // No process of a daemon the registry does not know, none the new supervisor does not report.
      const known = new Set(registry.daemons.map((d) => d.id))
      const orphans = running.filter((p) => !known.has(p.daemonId!) || (p.daemonId !== crashyId && !supervised.has(p.pid)))
      expect(
        orphans.map((p) => ({ ...p, daemon: registry.daemons.find((d) => d.id === p.daemonId)?.name, round, action })),
        `orphans (supervised: ${JSON.stringify([...supervised])})`
      ).toEqual([])
      // A child that has just ended is a zombie until its parent reaps it: only one that stays is a leak.
      const candidates = ours.filter((p) => p.state === "Z" && (p.ppid === supervisor || p.daemonId !== undefined))
      if (candidates.length > 0) await new Promise((resolve) => setTimeout(resolve, 2_000))
      const zombies = candidates.filter((z) => processes().some((p) => p.pid === z.pid && p.state === "Z" && p.ppid === z.ppid))
      expect(zombies, "zombies").toEqual([])
      restartsCaused += [...before].filter((pid) => !running.some((p) => p.pid === pid)).length
    }
    process.stdout.write(
      `fault injection: 30 supervisor kill -9s survived (${Object.entries(kinds).map(([k, n]) => `${k} ${n}`).join(", ")}); ` +
        `daemons alive at a kill and restarted after it: ${restartsCaused}; orphans 0, duplicates 0, zombies 0\n`
    )
    expect(restartsCaused).toBe(0)
    expect(existsSync(join(home, "registry.json"))).toBe(true)
  }, 600_000)
})
