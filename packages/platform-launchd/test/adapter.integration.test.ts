// LaunchdAdapter beyond the contract, through the launchctl STAND-IN (test/stand-in): the
// files it installs, launchctl's errors, plain programs (no Duende markers), signals, restart,
// events, following logs, the `launchctl list` fallback, uninstall.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import type { PlatformAdapter } from "@duende/core/manager"
import { Integration } from "@duende/testing"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as LaunchdAdapter from "../src/LaunchdAdapter.js"
import * as StandIn from "./helpers/standIn.js"

const gate = Integration.check(Integration.tool("python3", "apt-get install python3"))
const fixture = join(__dirname, "fixtures", "contract-daemon.mjs")

describe.skipIf(!gate.ok)(`LaunchdAdapter through the launchctl stand-in${gate.label}`, () => {
  const standIn = gate.ok ? StandIn.make() : undefined!
  afterAll(() => standIn?.cleanup(), 120_000)
  const options = (extra: LaunchdAdapter.Options = {}): LaunchdAdapter.Options => ({
    scope: "agent",
    env: standIn.env,
    directories: standIn.directories,
    readyGrace: "1 second",
    ...extra
  })
  const adapter = (extra: LaunchdAdapter.Options = {}) => LaunchdAdapter.make(options(extra))
  let n = 0
  const duende = (env: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
    decodeSync({ name: `extra-${++n}`, command: ["node", fixture], env, ...extra })
  const shell = (script: string, extra: Record<string, unknown> = {}) =>
    decodeSync({ name: `shell-${++n}`, command: ["/bin/sh", "-c", script], ...extra })
  const until = <A>(check: Effect.Effect<A | undefined, unknown>, what: string) =>
    Effect.gen(function*() {
      for (let i = 0; i < 300; i++) {
        const value = yield* check
        if (value !== undefined) return value
        yield* Effect.sleep(Duration.millis(100))
      }
      return yield* Effect.dieMessage(`${what} did not happen within 30s`)
    })

  it.live("install: the plist atomically with mode 0644 whatever the umask, a record, nothing loaded", () =>
    Effect.gen(function*() {
      const a = yield* adapter()
      const old = process.umask(0o077)
      const handle = yield* Effect.ensuring(a.install(duende()), Effect.sync(() => process.umask(old)))
      const plist = join(standIn.directories.plists, `${handle.ref}.plist`)
      expect(statSync(plist).mode & 0o777).toBe(0o644)
      expect(readdirSync(standIn.directories.plists).filter((f) => f.endsWith(".tmp"))).toEqual([])
      expect(readFileSync(plist, "utf8")).toContain(`<key>Label</key>\n\t<string>${handle.ref}</string>`)
      expect((yield* a.status(handle)).status._tag).toBe("Created")
      expect(() => standIn.launchctl("print", `${a.domain}/${handle.ref}`)).toThrow(/Could not find service/)
      // Another adapter (another process) finds it with the same identity.
      expect(yield* Effect.flatMap(adapter(), (b) => b.find(handle.name))).toEqual(handle)
      yield* a.uninstall(handle)
      expect(yield* Effect.flip(Effect.flatMap(adapter(), (b) => b.find(handle.name)))).toMatchObject({ _tag: "DaemonNotFound" })
    }))

  it.live("refuses user on an agent, and a label that belongs to another daemon", () =>
    Effect.gen(function*() {
      const a = yield* adapter()
      const error = yield* Effect.flip(a.install(duende({}, { user: "nobody" })))
      expect(error._tag).toBe("OperationUnsupported")
      expect(error.message).toMatch(/user: a LaunchAgent runs as the logged-in user/)
      yield* a.install(duende({}, { name: "owner-a", platform: { launchd: { label: "com.example.shared" } } }))
      const clash = yield* Effect.flip(a.install(duende({}, { name: "owner-b", platform: { launchd: { label: "com.example.shared" } } })))
      expect(clash.message).toMatch(/belongs to the daemon "owner-a"/)
    }))

  it.live("launchctl's failures become adapter errors carrying what it said", () =>
    Effect.gen(function*() {
      const a = yield* adapter()
      const handle = yield* a.install(duende())
      writeFileSync(join(standIn.directories.plists, `${handle.ref}.plist`), "<plist><dict><key>Label</key></dict></plist>")
      const error = yield* Effect.flip(a.start(handle))
      expect(error._tag).toBe("PlatformCommandFailed")
      expect(error.message).toMatch(/launchctl bootstrap gui\/\d+ .* failed \(exit 5\): .*Bootstrap failed: 5: Input\/output error/)
    }))

  it.live("a plain program: ready after the grace, stopped with SIGTERM while loaded, its exit as launchd recorded it", () =>
    Effect.gen(function*() {
      const a = yield* adapter()
      const handle = yield* a.install(
        shell(`echo "nofile=$(ulimit -n)"; trap 'echo got TERM; exit 7' TERM; while :; do sleep 0.1; done`, {
          restart: { policy: "never" },
          resources: { openFilesMax: 512 }
        })
      )
      yield* a.start(handle)
      const running = yield* a.status(handle)
      expect(running.status._tag).toBe("Running")
      yield* until(Effect.map(a.logs(handle), (lines) => lines.some((l) => l.text === "nofile=512") || undefined), "nofile line")
      yield* a.stop(handle, Duration.seconds(10))
      const stopped = yield* a.status(handle)
      expect(stopped.status._tag).toBe("Stopped")
      expect(stopped.lastExit).toMatchObject({ code: 7, signal: null, description: "exited with 7" })
      expect((yield* a.logs(handle)).map((l) => l.text)).toContain("got TERM")
    }))

  it.live("signal, reload and restart reach the daemon; restart is graceful and the job stays loaded", () =>
    Effect.gen(function*() {
      const a = yield* adapter()
      const handle = yield* a.install(duende({ DUENDE_TEST_SHUTDOWN_MS: "200" }))
      expect(yield* Effect.flip(a.signal(handle, "SIGUSR1"))).toMatchObject({ _tag: "StartFailed", reason: "not running: cannot send SIGUSR1" })
      yield* a.start(handle)
      const first = (yield* a.status(handle)).pid!
      // SIGHUP reached it: the contract daemon has no reload, and says so.
      yield* a.reload(handle)
      yield* until(
        Effect.map(a.logs(handle, { lines: 200 }), (lines) => lines.some((l) => l.text.includes("SIGHUP received but contract has no reload")) || undefined),
        "the reload"
      )
      yield* a.restart(handle, Duration.seconds(10))
      const second = yield* a.status(handle)
      expect(second.status._tag).toBe("Running")
      expect(second.pid).not.toBe(first)
      const lines = (yield* a.logs(handle, { lines: 200 })).map((l) => l.text)
      expect(lines.some((t) => t.includes(`duende-launchd: exit pid=${first} code=143`))).toBe(true)
      yield* a.stop(handle, Duration.seconds(10))
    }))

  it.live("events and followLogs: what happens from the moment of subscribing", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* adapter({ pollInterval: "100 millis" })
      const handle = yield* a.install(duende({ DUENDE_TEST_LINES: JSON.stringify(["hello from the daemon"]) }))
      const events = yield* a.events(handle)
      const lines = yield* a.followLogs(handle)
      const seen = yield* Effect.fork(Stream.runCollect(Stream.take(Stream.filter(events, (e) => e._tag === "Ready" || e._tag === "Started"), 2)))
      const said = yield* Effect.fork(Stream.runCollect(Stream.take(Stream.filter(lines, (l) => l.text === "hello from the daemon"), 1)))
      yield* a.start(handle)
      const tags = Chunk.toArray(yield* Fiber.join(seen)).map((e: PlatformAdapter.DaemonEvent) => e._tag).sort()
      expect(tags).toEqual(["Ready", "Started"])
      expect(Chunk.toArray(yield* Fiber.join(said))[0]).toMatchObject({ stream: "stdout", text: "hello from the daemon" })
      yield* a.stop(handle, Duration.seconds(10))
    })))

  it.live("status from `launchctl list` when print says nothing readable", () =>
    Effect.gen(function*() {
      // A launchctl whose print output is not what the adapter reads (Apple: "not API").
      const wrapper = join(standIn.root, "launchctl-unreadable-print")
      writeFileSync(wrapper, `#!/bin/sh\nif [ "$1" = print ]; then echo "something else entirely"; exit 0; fi\nexec launchctl "$@"\n`)
      chmodSync(wrapper, 0o755)
      const a = yield* adapter({ launchctl: wrapper })
      // ready "notify": start returns at the ready marker even when a loaded machine takes
      // longer than the 2s grace to start node (under "auto" it would be taken for a plain program).
      const handle = yield* a.install(duende({}, { platform: { launchd: { ready: "notify" } } }))
      yield* a.start(handle)
      const state = yield* a.status(handle)
      expect(state.status._tag).toBe("Running")
      expect(state.pid).toBeGreaterThan(0)
      yield* a.stop(handle, Duration.seconds(10))
      expect((yield* a.status(handle)).status._tag).toBe("Stopped")
    }))

  it.live("uninstall refuses a running job, then removes the plist and the record", () =>
    Effect.gen(function*() {
      const a = yield* adapter()
      const handle = yield* a.install(duende())
      yield* a.start(handle)
      expect((yield* Effect.flip(a.uninstall(handle))).message).toMatch(/while it runs: stop it first/)
      yield* a.stop(handle, Duration.seconds(10))
      yield* a.uninstall(handle)
      expect(readdirSync(standIn.directories.plists)).not.toContain(`${handle.ref}.plist`)
      expect((yield* Effect.flip(a.status(handle)))._tag).toBe("DaemonNotFound")
    }))
})
