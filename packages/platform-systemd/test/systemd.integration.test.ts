// The example HTTP daemon (@duende/core + this runtime) under a real systemd, booted as
// PID 1 in systemd-nspawn, managed through SystemdAdapter in the system scope.
import { DaemonConfig } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import type { PlatformAdapter } from "@duende/core/manager"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as SystemdAdapter from "../src/SystemdAdapter.js"
import { boot, gate, type Machine, repositoryRoot } from "./helpers/nspawn.js"

const fixture = join(__dirname, "fixtures", "http-daemon.mjs")
const basePort = 20_000 + Math.floor(Math.random() * 20_000)
let nextPort = basePort
const config = (name: string, input: Partial<DaemonConfig.Input> = {}, env: Record<string, string> = {}) => {
  const port = nextPort++
  return {
    port,
    config: decodeSync({
      name,
      command: ["node", fixture],
      env: { PORT: String(port), ...env },
      shutdownTimeout: "10s",
      restart: { policy: "on-failure", backoff: { initial: "300ms" } },
      ...input
    })
  }
}

const fetchText = (port: number) =>
  Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/`).then((response) => response.text()))

/** Polls until `check` holds (generous bound: these are real processes on a busy machine). */
const eventually = <A, E>(effect: Effect.Effect<A, E>, check: (a: A) => boolean, what: string) =>
  effect.pipe(
    Effect.filterOrFail(check, (a) => new Error(`not yet ${what}: ${JSON.stringify(a)}`)),
    Effect.retry(Schedule.intersect(Schedule.spaced(Duration.millis(100)), Schedule.recurs(300)))
  )

const journalText = (adapter: SystemdAdapter.SystemdAdapter, handle: PlatformAdapter.DaemonHandle) =>
  Effect.map(adapter.logs(handle, { lines: 200 }), (lines) => lines.map((l) => l.text).join("\n"))

describe.skipIf(!gate.ok)(`SystemdAdapter against systemd in nspawn (system scope)${gate.label}`, () => {
  let machine: Machine
  let adapter: SystemdAdapter.SystemdAdapter

  beforeAll(async () => {
    machine = await boot()
    adapter = await Effect.runPromise(
      SystemdAdapter.make({ prefix: machine.prefix, root: machine.root, pollInterval: Duration.millis(100) })
    )
  }, 90_000)
  afterAll(() => machine?.shutdown(), 60_000)

  it.live("systemctl start returns only after READY=1; STATUS shows in StatusText; the daemon serves", () =>
    Effect.gen(function*() {
      const { config: c, port } = config("ready-late", {}, { FIXTURE_INIT_DELAY_MS: "1500" })
      const handle = yield* adapter.install(c)
      expect(existsSync(join(machine.root, "etc/systemd/system/ready-late.service"))).toBe(true)
      const before = yield* adapter.status(handle)
      expect(before.status._tag).toBe("Created")
      const started = Date.now()
      yield* adapter.start(handle)
      // init waited 1.5s before READY=1, and start did not return before it.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500)
      const state = yield* adapter.status(handle)
      expect(state.status._tag).toBe("Running")
      expect(state.pid).toBeGreaterThan(1)
      expect(yield* fetchText(port)).toMatch(/^hello from \d+/)
      const serving = yield* eventually(adapter.status(handle), (s) => s.statusText === "serving", "serving")
      expect(serving.statusText).toBe("serving")
      const log = yield* journalText(adapter, handle)
      // The runtime removed NOTIFY_SOCKET from the environment before init ran.
      expect(log).toMatch(/event:init pid=\d+ notify=unset/)
      expect(log.indexOf("event:listening")).toBeLessThan(log.indexOf("] ready"))
      const again = yield* Effect.flip(adapter.start(handle))
      expect(again._tag).toBe("DaemonAlreadyRunning")
      yield* adapter.stop(handle, Duration.seconds(10))
      yield* adapter.uninstall(handle)
    }), 60_000)

  it.live("the project's example daemon (examples/http-counter) runs under its default, hardened unit", () =>
    Effect.gen(function*() {
      const loaded = yield* DaemonConfig.load(join(repositoryRoot, "examples", "http-counter", "duende.json"))
      const port = nextPort++
      // The example depends on this package: its layerDetect finds it and reports READY to systemd.
      const c = { ...loaded, env: { ...loaded.env, PORT: String(port) } }
      const handle = yield* adapter.install(c)
      yield* adapter.start(handle)
      expect(yield* fetchText(port)).toBe("1\n")
      expect(yield* fetchText(port)).toBe("2\n")
      const state = yield* adapter.status(handle)
      expect(state.status._tag).toBe("Running")
      expect(state.statusText).toBe(`serving http://127.0.0.1:${port}`)
      const props = yield* adapter.systemctl.show(handle.ref, ["DynamicUser", "ProtectSystem", "WatchdogUSec", "Type"])
      expect(props).toEqual({ DynamicUser: "yes", ProtectSystem: "strict", WatchdogUSec: "30s", Type: "notify" })
      yield* adapter.stop(handle, Duration.seconds(15))
      const log = yield* journalText(adapter, handle)
      expect(log).toMatch(/shutting down after 2 requests/)
      yield* adapter.uninstall(handle)
    }), 60_000)

  it.live("stop delivers SIGTERM, the daemon's shutdown runs (the journal shows it), the unit ends inactive", () =>
    Effect.gen(function*() {
      const { config: c, port } = config("graceful")
      const handle = yield* adapter.install(c)
      yield* adapter.start(handle)
      yield* fetchText(port)
      yield* adapter.stop(handle, Duration.seconds(10))
      const state = yield* adapter.status(handle)
      expect(state.status._tag).toBe("Stopped")
      expect(state.lastExit?.code).toBe(143)
      const log = yield* journalText(adapter, handle)
      expect(log).toMatch(/SIGTERM received: shutting down/)
      expect(log).toMatch(/event:shutdown reason=Signal requests=1/)
      expect(log).toMatch(/exit 143: stopped by SIGTERM/)
      // Stopping a stopped daemon does nothing.
      yield* adapter.stop(handle, Duration.seconds(10))
      yield* adapter.uninstall(handle)
      expect(existsSync(join(machine.root, "etc/systemd/system/graceful.service"))).toBe(false)
      expect((yield* Effect.flip(adapter.status(handle)))._tag).toBe("DaemonNotFound")
    }), 60_000)

  it.live("reload: systemctl reload runs the daemon's reload; systemd sees reloading, then ready again", () =>
    Effect.gen(function*() {
      const { config: c } = config("reloader")
      const handle = yield* adapter.install(c)
      yield* adapter.start(handle)
      yield* Effect.scoped(Effect.gen(function*() {
        const events = yield* adapter.events(handle)
        const collected = yield* Effect.fork(Stream.runCollect(Stream.take(Stream.filter(events, (e) => e._tag === "Reloading" || e._tag === "Ready"), 2)))
        yield* adapter.reload(handle)
        const seen = Chunk.toReadonlyArray(yield* Fiber.join(collected).pipe(Effect.timeout(Duration.seconds(20))))
        expect(seen.map((e) => e._tag)).toEqual(["Reloading", "Ready"])
      }))
      const log = yield* eventually(journalText(adapter, handle), (t) => t.includes("reloaded"), "reloaded")
      expect(log).toMatch(/event:reload/)
      expect((yield* adapter.status(handle)).status._tag).toBe("Running")
      yield* adapter.stop(handle, Duration.seconds(10))
      yield* adapter.uninstall(handle)
    }), 60_000)

  it.live("a blocked event loop misses the watchdog; systemd kills and restarts it", () =>
    Effect.gen(function*() {
      const { config: c, port } = config("hung", { watchdogInterval: "2s" }, { FIXTURE_BLOCK_MS: "8000" })
      const handle = yield* adapter.install(c)
      yield* adapter.start(handle)
      const first = yield* adapter.status(handle)
      yield* Effect.scoped(Effect.gen(function*() {
        const events = yield* adapter.events(handle)
        const missed = yield* Effect.fork(Stream.runHead(Stream.filter(events, (e) => e._tag === "WatchdogMissed")))
        yield* adapter.signal(handle, "SIGUSR2")
        const event = yield* Fiber.join(missed).pipe(Effect.timeout(Duration.seconds(30)))
        expect(event._tag).toBe("Some")
      }))
      const restarted = yield* eventually(
        adapter.status(handle),
        (s) => s.restarts >= 1 && s.status._tag === "Running" && s.pid !== first.pid,
        "restarted"
      )
      expect(restarted.lastExit?.description).toMatch(/watchdog/)
      expect(yield* fetchText(port)).toMatch(/^hello/)
      yield* adapter.stop(handle, Duration.seconds(10))
      yield* adapter.uninstall(handle)
    }), 90_000)

  it.live("a crash (SIGKILL) is restarted by systemd and counted in NRestarts", () =>
    Effect.gen(function*() {
      const { config: c, port } = config("crasher")
      const handle = yield* adapter.install(c)
      yield* adapter.start(handle)
      const first = yield* adapter.status(handle)
      yield* adapter.signal(handle, "SIGKILL")
      const after = yield* eventually(
        adapter.status(handle),
        (s) => s.restarts === 1 && s.status._tag === "Running" && s.pid !== first.pid,
        "restarted once"
      )
      expect(after.lastExit).toMatchObject({ code: null, signal: "SIGKILL" })
      expect(yield* fetchText(port)).toMatch(/^hello/)
      yield* adapter.stop(handle, Duration.seconds(10))
      yield* adapter.uninstall(handle)
    }), 60_000)

  it.live("the crash-loop limit: after burst restarts systemd gives up (StartLimitBurst) and the daemon stays Failed", () =>
    Effect.gen(function*() {
      const { config: c } = config(
        "looper",
        { restart: { policy: "always", backoff: { initial: "100ms" }, crashLoop: { burst: 2, interval: "10m" } } },
        { FIXTURE_EXIT_AFTER_MS: "100" }
      )
      const handle = yield* adapter.install(c)
      yield* adapter.start(handle)
      const failed = yield* eventually(adapter.status(handle), (s) => s.status._tag === "Failed", "failed")
      expect(failed.status).toEqual({ _tag: "Failed", reason: "exited with code 1" })
      expect(failed.restarts).toBeGreaterThanOrEqual(2)
      const log = yield* journalText(adapter, handle)
      expect(log.match(/event:init/g)?.length).toBe(3)
      yield* Effect.sleep(Duration.seconds(1))
      const later = yield* adapter.status(handle)
      expect(later.status._tag).toBe("Failed")
      expect(later.restarts).toBe(failed.restarts)
      yield* adapter.uninstall(handle)
    }), 60_000)

  it.live("a failing start is a StartFailed carrying systemd's result and the daemon's last output", () =>
    Effect.gen(function*() {
      const { config: c } = config("broken", { command: ["node", "-e", "console.log('cannot open the database'); process.exit(3)"] })
      const handle = yield* adapter.install(c)
      const error = yield* Effect.flip(adapter.start(handle))
      expect(error._tag).toBe("StartFailed")
      expect(error.message).toMatch(/exited with code 3/)
      expect(error.message).toMatch(/cannot open the database/)
      yield* adapter.stop(handle, Duration.seconds(5))
      yield* adapter.uninstall(handle)
    }), 60_000)

  for (const platform of ["explicit", "detect"] as const) {
    it.live(`journald logging: with JournalLogger (${platform}) a warning is stored at priority 4`, () =>
      Effect.gen(function*() {
        const name = `journald-${platform}`
        const { config: c } = config(name, {}, { FIXTURE_PLATFORM: platform })
        const handle = yield* adapter.install(c)
        yield* adapter.start(handle)
        const line = yield* eventually(
          Effect.map(adapter.logs(handle), (lines) => lines.find((l) => l.text.includes("fixture warning"))),
          (l) => l !== undefined,
          "warning logged"
        )
        expect(line).toMatchObject({ stream: "stderr", text: "[http-daemon] fixture warning for the journal" })
        const entries = yield* adapter.systemctl.journal([`_SYSTEMD_UNIT=${name}.service`, "PRIORITY=4"], 10)
        expect(entries.map((e) => e.message)).toContain("[http-daemon] fixture warning for the journal")
        const info = yield* adapter.logs(handle)
        expect(info.find((l) => l.text.endsWith("] ready"))?.stream).toBe("stdout")
        yield* adapter.stop(handle, Duration.seconds(10))
        yield* adapter.uninstall(handle)
      }), 60_000)
  }

  it.live("the systemd-notify fallback sends from another pid: refused under NotifyAccess=main, works with all", () =>
    Effect.gen(function*() {
      const { config: c, port } = config("fallback", { initTimeout: "3s" }, { FIXTURE_PLATFORM: "fallback" })
      const handle = yield* adapter.install(c)
      const refused = yield* Effect.flip(adapter.start(handle))
      expect(refused._tag).toBe("StartFailed")
      expect(refused.message).toMatch(/timed out/)
      yield* adapter.stop(handle, Duration.seconds(10))
      const dropIn = join(machine.root, "etc/systemd/system/fallback.service.d")
      mkdirSync(dropIn, { recursive: true })
      writeFileSync(join(dropIn, "notify-access.conf"), "[Service]\nNotifyAccess=all\n")
      yield* adapter.install(c)
      yield* adapter.start(handle)
      expect((yield* adapter.status(handle)).status._tag).toBe("Running")
      expect(yield* fetchText(port)).toMatch(/^hello/)
      yield* eventually(adapter.status(handle), (s) => s.statusText === "serving", "serving")
      yield* adapter.stop(handle, Duration.seconds(10))
      yield* adapter.uninstall(handle)
    }), 60_000)

  it.live("follows logs from the moment of subscription", () =>
    Effect.gen(function*() {
      const { config: c, port } = config("follower")
      const handle = yield* adapter.install(c)
      yield* Effect.scoped(Effect.gen(function*() {
        const lines = yield* adapter.followLogs(handle)
        const first = yield* Effect.fork(Stream.runHead(Stream.filter(lines, (l) => l.text.startsWith("event:listening"))))
        yield* adapter.start(handle)
        const line = yield* Fiber.join(first).pipe(Effect.timeout(Duration.seconds(20)))
        expect(line._tag === "Some" && line.value.text).toBe(`event:listening port=${port}`)
      }))
      yield* adapter.stop(handle, Duration.seconds(10))
      yield* adapter.uninstall(handle)
    }), 60_000)
})
