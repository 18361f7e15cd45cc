// Real daemon processes, real signals, real files: Daemon.runMain as users run it.
import { afterEach, describe, expect, it } from "@effect/vitest"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fixture, killAll, spawnNode } from "./helpers/process.js"

const daemon = fixture("daemon.mjs")
const dir = mkdtempSync(join(tmpdir(), "duende-runmain-"))
const withConfig = (config: object, env: Record<string, string> = {}) =>
  spawnNode(daemon, { FIXTURE_CONFIG: JSON.stringify(config), ...env })
const events = (lines: ReadonlyArray<string>) => lines.filter((l) => l.startsWith("event:") || l.startsWith("notify:"))

afterEach(killAll)

describe("Daemon.runMain as a real process", () => {
  it("runs init, ready, run; SIGTERM runs shutdown then releases; exit 143", async () => {
    const d = withConfig({ shutdownTimeout: "5s" })
    await d.waitFor("event:run")
    d.signal("SIGTERM")
    const { code } = await d.exit
    expect(code).toBe(143)
    expect(events(d.stdout())).toEqual([
      "event:init",
      "notify:READY",
      "event:run",
      "notify:STOPPING",
      expect.stringMatching(/^event:shutdown:Signal:\d+$/),
      "event:release"
    ])
    const left = Number(d.stdout().find((l) => l.startsWith("event:shutdown"))!.split(":")[3])
    expect(left).toBeGreaterThan(4_000)
    expect(left).toBeLessThanOrEqual(5_000)
    expect(d.stderr()).toMatch(/SIGTERM received: shutting down \(deadline 5s\)/)
    expect(d.stderr()).toMatch(/exit 143: stopped by SIGTERM, shutdown completed/)
  })

  it("SIGINT (Ctrl-C) stops gracefully with exit 130", async () => {
    const d = withConfig({})
    await d.waitFor("event:run")
    d.signal("SIGINT")
    expect((await d.exit).code).toBe(130)
    expect(d.stdout()).toContain("event:release")
  })

  it("a shutdown that hangs is forced at the deadline: exit 4", async () => {
    const d = withConfig({ shutdownTimeout: "1s" }, { FIXTURE_SHUTDOWN: "hang" })
    await d.waitFor("event:run")
    const sent = Date.now()
    d.signal("SIGTERM")
    const { code } = await d.exit
    const took = Date.now() - sent
    expect(code).toBe(4)
    expect(took).toBeGreaterThanOrEqual(900)
    expect(took).toBeLessThan(10_000)
    expect(d.stderr()).toMatch(/shutdown deadline of 1s passed while running shutdown: forcing exit/)
    expect(d.stdout()).not.toContain("event:release")
  })

  it("a second SIGTERM forces the exit at once: exit 5", async () => {
    const d = withConfig({ shutdownTimeout: "60s" }, { FIXTURE_SHUTDOWN: "hang" })
    await d.waitFor("event:run")
    d.signal("SIGTERM")
    await d.waitFor(/^event:shutdown/)
    const sent = Date.now()
    d.signal("SIGTERM")
    const { code } = await d.exit
    expect(code).toBe(5)
    expect(Date.now() - sent).toBeLessThan(5_000)
    expect(d.stderr()).toMatch(/second SIGTERM during shutdown: forcing exit/)
  })

  it("SIGHUP reloads: RELOADING then READY, and the daemon keeps serving", async () => {
    const d = withConfig({})
    await d.waitFor("event:run")
    d.signal("SIGHUP")
    await d.waitFor("event:reload")
    d.signal("SIGHUP")
    await d.waitFor(/reloaded/)
    expect(d.child.exitCode).toBeNull()
    d.signal("SIGTERM")
    expect((await d.exit).code).toBe(143)
    const log = events(d.stdout())
    expect(log.slice(0, 5)).toEqual(["event:init", "notify:READY", "event:run", "notify:RELOADING", "event:reload"])
    expect(log.filter((l) => l === "notify:READY").length).toBeGreaterThanOrEqual(2)
  })

  it("SIGHUP without a reload hook is logged and ignored", async () => {
    const d = withConfig({}, { FIXTURE_RELOAD: "no" })
    await d.waitFor("event:run")
    d.signal("SIGHUP")
    await d.waitFor(/SIGHUP received but fixture has no reload: ignored/)
    expect(d.child.exitCode).toBeNull()
    d.signal("SIGTERM")
    expect((await d.exit).code).toBe(143)
    expect(d.stdout()).not.toContain("notify:RELOADING")
  })

  it("init failure exits 3 and never reports ready", async () => {
    const d = withConfig({}, { FIXTURE_INIT: "fail" })
    const { code } = await d.exit
    expect(code).toBe(3)
    expect(events(d.stdout())).toEqual(["event:init", "notify:STOPPING", "event:release"])
    expect(d.stderr()).toMatch(/exit 3: init failed: cannot open the database/)
  })

  it("init that outlives initTimeout exits 3", async () => {
    const d = withConfig({ initTimeout: "500ms" }, { FIXTURE_INIT: "hang" })
    const { code } = await d.exit
    expect(code).toBe(3)
    expect(d.stderr()).toMatch(/init did not finish within 500ms/)
  })

  it("a run that completes exits 0; one that fails exits 1 after its shutdown", async () => {
    const done = withConfig({}, { FIXTURE_RUN: "complete:100" })
    expect((await done.exit).code).toBe(0)
    expect(done.stdout().some((l) => /^event:shutdown:Graceful:\d+$/.test(l))).toBe(true)
    const failed = withConfig({}, { FIXTURE_RUN: "fail:100" })
    expect((await failed.exit).code).toBe(1)
    expect(failed.stdout().some((l) => l.startsWith("event:shutdown:Error"))).toBe(true)
    expect(failed.stderr()).toMatch(/exit 1: failed: run failed: lost the connection/)
  })

  it("an uncaught exception shuts down gracefully and exits 1", async () => {
    const d = withConfig({}, { FIXTURE_RUN: "throw-async:100" })
    const { code } = await d.exit
    expect(code).toBe(1)
    expect(d.stdout()).toContain("event:release")
    expect(d.stderr()).toMatch(/uncaught error: Error: boom from a timer/)
  })

  it("reports health failures as they happen and turns unhealthy after `retries`", async () => {
    const d = withConfig({ health: { interval: "100ms", retries: 2 } }, { FIXTURE_HEALTH: "fail" })
    await d.waitFor("notify:HEALTH=unhealthy/2")
    d.signal("SIGTERM")
    expect((await d.exit).code).toBe(143)
    expect(d.stderr()).toMatch(/health check failed \(1\/2\): main: queue is stuck/)
    expect(d.stderr()).toMatch(/health check failed \(2\/2\): main: queue is stuck/)
    expect(d.stderr()).toMatch(/health: starting → unhealthy/)
  })

  it("runs a Promise-facade daemon on the same lifecycle", async () => {
    const d = withConfig({ shutdownTimeout: "4s" }, { FIXTURE_PROMISE: "1" })
    await d.waitFor("event:run")
    d.signal("SIGTERM")
    expect((await d.exit).code).toBe(143)
    const log = events(d.stdout())
    expect(log.slice(0, 4)).toEqual(["event:init", "notify:READY", "event:run", "notify:STOPPING"])
    expect(log[4]).toBe("event:run-returned")
    const left = Number(log[5]!.split(":")[2])
    expect(left).toBeGreaterThan(3_000)
    expect(left).toBeLessThanOrEqual(4_000)
  })
})

describe("PID file", () => {
  it("exists while the daemon runs, refuses a second instance (exit 6), and is removed on exit", async () => {
    const pidFile = join(dir, "fixture.pid")
    const first = withConfig({ pidFile })
    await first.waitFor("event:run")
    expect(readFileSync(pidFile, "utf8")).toBe(`${first.pid}\n`)
    const second = withConfig({ pidFile })
    const { code } = await second.exit
    expect(code).toBe(6)
    expect(second.stderr()).toMatch(new RegExp(`another instance is running as pid ${first.pid}`))
    expect(second.stdout()).not.toContain("event:init")
    first.signal("SIGTERM")
    expect((await first.exit).code).toBe(143)
    expect(existsSync(pidFile)).toBe(false)
  })

  it("is removed even when the exit is forced", async () => {
    const pidFile = join(dir, "forced.pid")
    const d = withConfig({ pidFile, shutdownTimeout: "300ms" }, { FIXTURE_SHUTDOWN: "hang" })
    await d.waitFor("event:run")
    expect(existsSync(pidFile)).toBe(true)
    d.signal("SIGTERM")
    expect((await d.exit).code).toBe(4)
    expect(existsSync(pidFile)).toBe(false)
  })

  it("replaces a stale file left by a dead process", async () => {
    const pidFile = join(dir, "stale.pid")
    writeFileSync(pidFile, "999999\n")
    const d = withConfig({ pidFile })
    await d.waitFor("event:run")
    expect(readFileSync(pidFile, "utf8")).toBe(`${d.pid}\n`)
    expect(d.stderr()).toMatch(/replaced stale PID file .*: pid 999999 is not running/)
    d.signal("SIGTERM")
    await d.exit
  })
})

describe("config errors", () => {
  it("exit 78 with every bad field named and no stack trace", async () => {
    const file = join(dir, "bad.json")
    writeFileSync(
      file,
      JSON.stringify({ name: "fixture", command: ["node"], shutdownTimeout: "soon", health: { retrys: 3 } })
    )
    const d = spawnNode(daemon, { DUENDE_CONFIG: file })
    const { code } = await d.exit
    expect(code).toBe(78)
    expect(d.stderr()).toContain(`Invalid daemon config (${file}):`)
    expect(d.stderr()).toContain(`- shutdownTimeout: expected a duration such as "30s"`)
    expect(d.stderr()).toContain(`- health.retrys: unknown field; did you mean "retries"?`)
    expect(d.stderr()).not.toMatch(/\n\s+at /)
    expect(d.stdout()).toEqual([])
  })

  it("exit 78 for a config file that is not JSON", async () => {
    const file = join(dir, "broken.json")
    writeFileSync(file, "{ name: fixture }")
    const d = spawnNode(daemon, { DUENDE_CONFIG: file })
    expect((await d.exit).code).toBe(78)
    expect(d.stderr()).toMatch(/not valid JSON at line 1, column 3/)
  })

  it("loads a good config file from DUENDE_CONFIG", async () => {
    const file = join(dir, "good.json")
    writeFileSync(file, JSON.stringify({ name: "fixture", command: ["node"], shutdownTimeout: "2s" }))
    const d = spawnNode(daemon, { DUENDE_CONFIG: file })
    await d.waitFor("event:run")
    d.signal("SIGTERM")
    expect((await d.exit).code).toBe(143)
    expect(d.stderr()).toMatch(/deadline 2s/)
  })
})
