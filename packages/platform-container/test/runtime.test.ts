// The runtime half with Effect's TestClock: the state file, the heartbeat, the PID 1 check, `duende health`.
import { HealthStatus, type Platform, type PlatformRuntime } from "@duende/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as fc from "fast-check"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ContainerEnvironment from "../src/ContainerEnvironment.js"
import * as ContainerRuntime from "../src/ContainerRuntime.js"
import * as Healthcheck from "../src/Healthcheck.js"
import * as StateFile from "../src/StateFile.js"

const fresh = () => mkdtempSync(join(tmpdir(), "duende-state-"))

const probe = (overrides: Partial<Platform.Probe> & { files?: Record<string, string> } = {}): Platform.Probe => ({
  env: {},
  os: "linux",
  pid: 4242,
  exists: (path) => overrides.files?.[path] !== undefined,
  read: (path) => overrides.files?.[path],
  ...overrides
})

const readState = (directory: string) => JSON.parse(readFileSync(join(directory, StateFile.fileName), "utf8")) as StateFile.State

/** Collects log messages of the effect. */
const withLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const messages: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      messages.push(`${logLevel.label} ${(Array.isArray(message) ? message : [message]).join(" ")}`)
    })
    const value = yield* Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))
    return { value, messages }
  })

const report = (state: PlatformRuntime.HealthReport["state"], status: HealthStatus.HealthStatus, failures = 0) => ({
  state,
  status,
  consecutiveFailures: failures,
  latencyMs: 1
})

describe("ContainerRuntime", () => {
  it.effect("writes starting, then what the lifecycle reports, each write atomic and time-stamped by the Clock", () =>
    Effect.gen(function*() {
      const directory = fresh()
      const scope = yield* Scope.make()
      yield* TestClock.setTime(1_000_000)
      const runtime = yield* Scope.extend(ContainerRuntime.make({ directory, probe: probe(), heartbeat: "5 seconds" }), scope)
      expect(runtime.platform).toBe("container")
      expect(readState(directory)).toMatchObject({ v: 1, pid: 4242, phase: "starting", readyCount: 0, startedAt: 1_000_000 })

      yield* runtime.status("serving on :8080")
      yield* runtime.ready
      expect(readState(directory)).toMatchObject({ phase: "ready", readyCount: 1, status: "serving on :8080" })

      yield* TestClock.adjust("1 second")
      yield* runtime.health(report("unhealthy", HealthStatus.unhealthy("db down"), 3))
      expect(readState(directory).health).toEqual({ state: "unhealthy", consecutiveFailures: 3, summary: "main: db down", at: 1_001_000 })

      yield* runtime.reloading
      expect(readState(directory)).toMatchObject({ phase: "reloading", reloadCount: 1 })
      yield* runtime.ready
      expect(readState(directory)).toMatchObject({ phase: "ready", readyCount: 2 })

      yield* runtime.stopping
      expect(readState(directory).phase).toBe("stopping")
      yield* Scope.close(scope, Exit.void)
      expect(readState(directory).phase).toBe("stopped")
    }))

  it.effect("the heartbeat refreshes the file every interval while nothing else happens", () =>
    Effect.gen(function*() {
      const directory = fresh()
      yield* TestClock.setTime(0)
      const runtime = yield* ContainerRuntime.make({ directory, probe: probe(), heartbeat: "2 seconds" })
      yield* runtime.ready
      expect(readState(directory)).toMatchObject({ heartbeatAt: 0, heartbeatMs: 2000 })
      yield* TestClock.adjust("1999 millis")
      expect(readState(directory).heartbeatAt).toBe(0)
      yield* TestClock.adjust("1 millis")
      expect(readState(directory).heartbeatAt).toBe(2000)
      yield* TestClock.adjust("6 seconds")
      expect(readState(directory).heartbeatAt).toBe(8000)
      expect(readState(directory).phase).toBe("ready")
    }).pipe(Effect.scoped))

  it.effect("as PID 1 it warns that orphans will stay zombies and names the init to use; under tini it does not", () =>
    Effect.gen(function*() {
      const asPid1 = yield* withLogs(Effect.scoped(ContainerRuntime.make({
        directory: fresh(),
        probe: probe({ pid: 1, files: { "/.dockerenv": "", "/proc/1/comm": "node\n" } })
      })))
      const warning = asPid1.messages.find((m) => m.startsWith("WARN"))
      expect(warning).toContain("PID 1")
      expect(warning).toContain("zombies")
      expect(warning).toContain("docker run --init")

      const underTini = yield* withLogs(Effect.scoped(ContainerRuntime.make({
        directory: fresh(),
        probe: probe({ pid: 7, files: { "/run/.containerenv": "", "/proc/1/comm": "tini\n" } })
      })))
      expect(underTini.messages.filter((m) => m.startsWith("WARN"))).toEqual([])
    }))

  it.effect("an unusable state directory is warned about once and the daemon runs on", () =>
    Effect.gen(function*() {
      const blocked = join(fresh(), "file")
      writeFileSync(blocked, "not a directory")
      const nowhere = yield* withLogs(Effect.scoped(Effect.gen(function*() {
        const runtime = yield* ContainerRuntime.make({ directory: join(blocked, "x"), probe: probe() })
        yield* runtime.ready
        yield* runtime.status("still running")
        return runtime.platform
      })))
      expect(nowhere.value).toBe("container")
      const warning = nowhere.messages.find((m) => m.startsWith("WARN"))
      expect(warning).toContain("no writable state directory")
      expect(warning).toContain("ENOTDIR")
    }))
})

const state = (overrides: Partial<StateFile.State> = {}): StateFile.State => ({
  v: 1,
  pid: 1,
  startedAt: 0,
  phase: "ready",
  readyCount: 1,
  reloadCount: 0,
  status: "serving",
  health: undefined,
  heartbeatAt: 10_000,
  heartbeatMs: 5_000,
  ...overrides
})

describe("duende health", () => {
  it("exits 0 only for a ready daemon with a fresh heartbeat that its own health loop does not call unhealthy", () => {
    expect(Healthcheck.judge(state(), 10_000)).toEqual({ exitCode: 0, reason: "ready (serving)" })
    expect(Healthcheck.judge(state({ phase: "reloading" }), 10_000).exitCode).toBe(0)
    const healthy = { state: "healthy" as const, consecutiveFailures: 0, summary: "healthy", at: 1 }
    expect(Healthcheck.judge(state({ health: healthy }), 10_000)).toEqual({ exitCode: 0, reason: "healthy (serving)" })
    // Failures below the retries keep the daemon healthy: its health loop decides, not one probe.
    expect(Healthcheck.judge(state({ health: { ...healthy, consecutiveFailures: 2, summary: "db: slow" } }), 10_000).exitCode)
      .toBe(0)
    expect(Healthcheck.judge(state({ health: { state: "unhealthy", consecutiveFailures: 3, summary: "db: down", at: 1 } }), 10_000))
      .toEqual({ exitCode: 1, reason: "unhealthy after 3 consecutive failures: db: down" })
    expect(Healthcheck.judge(state({ health: { state: "starting", consecutiveFailures: 0, summary: "warming", at: 1 } }), 10_000))
      .toEqual({ exitCode: 1, reason: "not healthy yet: warming" })
    expect(Healthcheck.judge(state({ phase: "starting", status: undefined }), 10_000)).toEqual({ exitCode: 1, reason: "starting" })
    expect(Healthcheck.judge(state({ phase: "stopping" }), 10_000).exitCode).toBe(1)
    expect(Healthcheck.judge(state({ phase: "stopped" }), 10_000).exitCode).toBe(1)
  })

  it("a heartbeat older than three intervals (plus a second) means a blocked event loop or a dead daemon", () => {
    expect(Healthcheck.judge(state(), 10_000 + 16_000).exitCode).toBe(0)
    const stale = Healthcheck.judge(state(), 10_000 + 16_001)
    expect(stale.exitCode).toBe(1)
    expect(stale.reason).toContain("no heartbeat from pid 1 for 16s")
  })

  it.effect("checkHealth reads the first directory with a state file and judges it at the Clock's time", () =>
    Effect.gen(function*() {
      const empty = fresh()
      const directory = fresh()
      StateFile.write(directory, state({ heartbeatAt: 50_000 }))
      yield* TestClock.setTime(51_000)
      const verdict = yield* Healthcheck.checkHealth({ env: { DUENDE_STATE_DIR: empty }, directory })
      expect(verdict).toEqual({ exitCode: 0, reason: "ready (serving)", directory })
      const viaEnv = yield* Healthcheck.checkHealth({ env: { DUENDE_STATE_DIR: directory } })
      expect(viaEnv.directory).toBe(directory)
      yield* TestClock.setTime(80_000)
      expect((yield* Healthcheck.checkHealth({ directory })).exitCode).toBe(1)

      const missing = yield* Healthcheck.checkHealth({ directory: empty })
      expect(missing.exitCode).toBe(1)
      expect(missing.reason).toContain("no daemon state in")
      writeFileSync(join(empty, StateFile.fileName), "{ half a docu")
      const broken = yield* Healthcheck.checkHealth({ directory: empty })
      expect(broken).toMatchObject({ exitCode: 1 })
      expect(broken.reason).toContain("cannot be read")
    }))

  it("parse accepts exactly what write produces and rejects anything else", () => {
    const directory = fresh()
    fc.assert(fc.property(
      fc.record({
        pid: fc.nat(),
        startedAt: fc.nat(),
        phase: fc.constantFrom<StateFile.Phase>("starting", "ready", "reloading", "stopping", "stopped"),
        readyCount: fc.nat(),
        reloadCount: fc.nat(),
        status: fc.option(fc.string({ unit: "binary" }), { nil: undefined }),
        health: fc.option(
          fc.record({
            state: fc.constantFrom("starting" as const, "healthy" as const, "unhealthy" as const),
            consecutiveFailures: fc.nat(),
            summary: fc.string({ unit: "binary" }),
            at: fc.nat()
          }),
          { nil: undefined }
        ),
        heartbeatAt: fc.nat(),
        heartbeatMs: fc.nat()
      }),
      (fields) => {
        const written: StateFile.State = { v: 1, ...fields }
        expect(StateFile.write(directory, written)).toBeUndefined()
        const read = StateFile.read(directory)
        expect(read).toEqual({ state: written })
      }
    ), { numRuns: 200 })
    fc.assert(fc.property(fc.json(), (text) => {
      const parsed = StateFile.parse(text)
      if (parsed !== undefined) expect(parsed.v).toBe(1)
    }))
    expect(StateFile.parse(JSON.stringify({ ...state(), phase: "dancing" }))).toBeUndefined()
    expect(StateFile.parse(JSON.stringify({ ...state(), pid: -1 }))).toBeUndefined()
    expect(StateFile.parse(JSON.stringify({ ...state(), health: { state: "fine" } }))).toBeUndefined()
  })
})

describe("ContainerEnvironment", () => {
  it("detects a container from any marker, names the engine, and obeys DUENDE_PLATFORM", () => {
    expect(ContainerEnvironment.detect(probe({ files: { "/.dockerenv": "" } }))).toEqual({
      inContainer: true,
      markers: ["/.dockerenv"],
      engine: "docker"
    })
    expect(ContainerEnvironment.detect(probe({ env: { container: "podman" }, files: { "/run/.containerenv": "" } })))
      .toMatchObject({ inContainer: true, engine: "podman" })
    expect(ContainerEnvironment.detect(probe({ files: { "/proc/1/cgroup": "0::/kubepods/besteffort/pod1\n" } })))
      .toMatchObject({ inContainer: true, markers: ["/proc/1/cgroup mentions kubepods"] })
    expect(ContainerEnvironment.detect(probe())).toMatchObject({ inContainer: false, markers: [] })
    expect(ContainerEnvironment.detect(probe({ env: { DUENDE_PLATFORM: "native" }, files: { "/.dockerenv": "" } })))
      .toMatchObject({ inContainer: false, markers: ["/.dockerenv"] })
    expect(ContainerEnvironment.detect(probe({ env: { DUENDE_PLATFORM: "container" } }))).toMatchObject({ inContainer: true })
  })

  it("tells PID 1 apart: the daemon itself, a known init, or something else", () => {
    expect(ContainerEnvironment.checkInit(probe({ pid: 1, files: { "/proc/1/comm": "node\n" } }))).toMatchObject({
      pid1: "self",
      command: "node"
    })
    expect(ContainerEnvironment.checkInit(probe({ files: { "/proc/1/comm": "duende-init\n" } }))).toEqual({
      pid1: "init",
      command: "duende-init",
      warning: undefined
    })
    expect(ContainerEnvironment.checkInit(probe({ files: { "/proc/1/comm": "bash\n" } })).pid1).toBe("other")
    const podman = ContainerEnvironment.checkInit(probe({ pid: 1, env: { container: "podman" } }))
    expect(podman.warning).toContain("podman run --init")
  })
})

describe("StateFile.prepare", () => {
  it("looks in $DUENDE_STATE_DIR, /run/duende, then the temporary directory", () => {
    expect(StateFile.candidates({ DUENDE_STATE_DIR: "/srv/state" })).toEqual(["/srv/state", "/run/duende", join(tmpdir(), "duende")])
    expect(StateFile.candidates({}, "/x")).toEqual(["/x", "/run/duende", join(tmpdir(), "duende")])
  })

  it("returns the first directory it can create and write", () => {
    const base = fresh()
    const file = join(base, "plain")
    writeFileSync(file, "")
    const good = join(base, "good", "nested")
    const prepared = StateFile.prepare([join(file, "x"), good])
    expect(prepared).toEqual({ directory: good })
    const none = StateFile.prepare([join(file, "x")])
    expect("failures" in none && none.failures[0]).toContain("ENOTDIR")
  })
})
