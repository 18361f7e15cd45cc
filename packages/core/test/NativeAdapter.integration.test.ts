// The native adapter with real child processes, signals, pipes and files.
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Input } from "../src/DaemonConfig.js"
import { decodeSync } from "../src/DaemonConfigSchema.js"
import * as NativeAdapter from "../src/NativeAdapter.js"
import type { DaemonEvent, DaemonHandle } from "../src/PlatformAdapter.js"
import { scanProcesses } from "../src/internal/procfs.js"
import { fixture } from "./helpers/process.js"

const logDirectory = mkdtempSync(join(tmpdir(), "duende-native-"))
let counter = 0
const config = (script: string, extra: Partial<Input> = {}) =>
  decodeSync({
    name: `n${++counter}`,
    command: [process.execPath, fixture(script)],
    shutdownTimeout: "5s",
    ...extra
  })
const adapter = NativeAdapter.make({ logDirectory, readyGrace: "300 millis" })

/** The traceparent line of a run under an adapter without traceContext, started inside a span. */
const untracedTraceparent = Effect.gen(function*() {
    const native = yield* adapter
    const handle = yield* native.install(config("plain.mjs", { platform: { native: { ready: "started" } } }))
    yield* native.start(handle).pipe(Effect.withSpan("supervisor"))
    const line = yield* waitFor(() => Effect.runSync(native.logs(handle)).find((l) => l.text.startsWith("traceparent="))?.text)
    yield* native.stop(handle, Duration.seconds(5))
    return line
  })

/** Processes of a session still alive (not zombies) and zombies anywhere that belonged to it. */
const sessionProcesses = (sid: number) => scanProcesses().filter((p) => p.sid === sid)
const waitFor = <A>(f: () => A | undefined, ms = 10_000) =>
  Effect.gen(function*() {
    const end = Date.now() + ms
    while (Date.now() < end) {
      const value = f()
      if (value !== undefined) return value
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.dieMessage("condition not met in time")
  })

/** Subscribes now (inside the scope) and returns a function taking events until one matches. */
const subscribe = <A, E, R>(subscription: Effect.Effect<Stream.Stream<A>, E, R>) =>
  Effect.flatMap(Effect.flatMap(subscription, Stream.toPull), (pull) => Effect.succeed( (until: (a: A) => boolean) =>
    Effect.gen(function*() {
      const seen: Array<A> = []
      while (true) {
        const chunk = yield* pull.pipe(Effect.orDie)
        for (const a of chunk) {
          seen.push(a)
          if (until(a)) return seen
        }
      }
    }).pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("no such event in 20s") }))))

describe("NativeAdapter", () => {
  it.scopedLive("starts a Duende daemon, waits for READY over the notify pipe, stops it gracefully", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(config("native-daemon.mjs", { platform: { native: { ready: "notify" } } }))
      const events = yield* subscribe(native.events(handle))
      yield* native.start(handle)
      const running = yield* native.status(handle)
      expect(running.status._tag).toBe("Running")
      expect(running.pid).toBeGreaterThan(0)
      yield* native.stop(handle, Duration.seconds(5))
      const stopped = yield* native.status(handle)
      expect(stopped.status._tag).toBe("Stopped")
      expect(stopped.lastExit).toMatchObject({ code: 143, signal: null, description: "stopped by SIGTERM" })
      const seen = (yield* events((e) => e._tag === "Exited")).map((e: DaemonEvent) => e._tag)
      expect(seen).toEqual([
        "Started",
        "StatusText", // starting
        "StatusText", // warming up
        "Ready",
        "StatusText", // running
        "StatusText", // serving
        "Stopping",
        "StatusText", // stopping: ...
        "StatusText", // stopped by SIGTERM, ...
        "Exited"
      ])
      const logs = (yield* native.logs(handle, { lines: 50 })).map((l) => l.text)
      expect(logs.some((l) => /\[native-fixture\] ready/.test(l))).toBe(true)
      expect(logs.some((l) => /exit 143: stopped by SIGTERM/.test(l))).toBe(true)
    }))

  it.scopedLive("auto readiness: a Duende daemon is ready on READY, a plain command only after the grace", () =>
    Effect.gen(function*() {
      const native = yield* NativeAdapter.make({ logDirectory, readyGrace: "2 seconds" })
      const duende = yield* native.install(config("native-daemon.mjs"))
      const started = Date.now()
      yield* native.start(duende)
      expect(Date.now() - started).toBeLessThan(1_900) // READY=1, not the grace
      expect((yield* native.status(duende)).status._tag).toBe("Running")
      const plain = yield* native.install(config("plain.mjs"))
      const before = Date.now()
      yield* native.start(plain)
      expect(Date.now() - before).toBeGreaterThanOrEqual(1_950)
      expect((yield* native.status(plain)).status._tag).toBe("Running")
      yield* native.stop(duende, Duration.seconds(5))
      yield* native.stop(plain, Duration.seconds(5))
    }))

  it.scopedLive("honours env and working directory, and logs stdout and stderr", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const cwd = mkdtempSync(join(tmpdir(), "duende-cwd-"))
      const handle = yield* native.install(
        config("plain.mjs", { env: { GREETING: "hello world" }, workingDirectory: cwd, platform: { native: { ready: "started" } } })
      )
      yield* native.start(handle)
      const lines = yield* waitFor(() => {
        const logs = Effect.runSync(native.logs(handle, { lines: 20 }))
        return logs.length >= 4 ? logs : undefined
      })
      expect(lines).toEqual(expect.arrayContaining([
        expect.objectContaining({ stream: "stdout", text: `cwd=${cwd}` }),
        expect.objectContaining({ stream: "stdout", text: "GREETING=hello world" }),
        expect.objectContaining({ stream: "stdout", text: "notify=3" }),
        expect.objectContaining({ stream: "stderr", text: "a line on stderr" })
      ]))
      expect(lines[0]!.at).toBeGreaterThan(Date.now() - 60_000)
      yield* native.stop(handle, Duration.seconds(5))
    }))

  it.scopedLive("probes a TCP port for readiness", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const port = 20_000 + Math.floor(Math.random() * 20_000)
      const handle = yield* native.install(
        config("plain.mjs", { env: { PLAIN_LISTEN: String(port), PLAIN_LISTEN_DELAY: "500" }, platform: { native: { ready: { tcp: port } } } })
      )
      const before = Date.now()
      yield* native.start(handle)
      expect(Date.now() - before).toBeGreaterThanOrEqual(400)
      expect((yield* native.logs(handle)).map((l) => l.text)).toContain("listening")
      yield* native.stop(handle, Duration.seconds(5))
    }))

  it.scopedLive("kills a daemon that ignores SIGTERM at the deadline, and its whole tree, leaving no process and no zombie", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(
        config("plain.mjs", {
          env: { PLAIN_IGNORE_TERM: "1", PLAIN_CHILDREN: "3", PLAIN_ORPHAN: "1" },
          shutdownTimeout: "1s",
          platform: { native: { ready: "started" } }
        })
      )
      yield* native.start(handle)
      const pid = (yield* native.status(handle)).pid!
      const orphan = yield* waitFor(() => {
        const line = Effect.runSync(native.logs(handle)).find((l) => l.text.startsWith("orphan="))
        return line ? Number(line.text.slice(7)) : undefined
      })
      yield* waitFor(() => (sessionProcesses(pid).length >= 5 ? true : undefined)) // node, 3 children, the orphaned sleep
      const before = Date.now()
      yield* native.stop(handle, Duration.seconds(1))
      const took = Date.now() - before
      expect(took).toBeGreaterThanOrEqual(900)
      expect(took).toBeLessThan(10_000)
      const state = yield* native.status(handle)
      expect(state.status._tag).toBe("Stopped")
      expect(state.lastExit).toMatchObject({ code: null, signal: "SIGKILL" })
      expect(sessionProcesses(pid)).toEqual([]) // nothing alive, no zombie of the session anywhere
      expect(existsSync(`/proc/${orphan}`)).toBe(false)
    }))

  it.scopedLive("a stopped daemon's children that were orphaned earlier are reaped, not left as zombies", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(config("plain.mjs", { env: { PLAIN_ORPHAN: "1" }, platform: { native: { ready: "started" } } }))
      yield* native.start(handle)
      const pid = (yield* native.status(handle)).pid!
      const orphan = yield* waitFor(() => {
        const line = Effect.runSync(native.logs(handle)).find((l) => l.text.startsWith("orphan="))
        return line ? Number(line.text.slice(7)) : undefined
      })
      // The orphan's parent shell has exited: it is re-parented to us (the subreaper).
      const parent = yield* waitFor(() => scanProcesses().find((p) => p.pid === orphan && p.ppid === process.pid))
      expect(parent.sid).toBe(pid)
      process.kill(orphan, "SIGKILL")
      yield* waitFor(() => (existsSync(`/proc/${orphan}`) ? undefined : true), 5_000) // reaped by the periodic reaper
      yield* native.stop(handle, Duration.seconds(5))
    }))

  it.scopedLive("processes that left the daemon's session (setsid) die with it: at a crash and at a stop, no process and no zombie left", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const escapedOf = (handle: DaemonHandle) =>
        waitFor(() => {
          const line = Effect.runSync(native.logs(handle)).find((l) => l.text.startsWith("escaped="))
          return line ? Number(line.text.slice("escaped=".length)) : undefined
        })
      const goneEntirely = (pid: number) => waitFor(() => (existsSync(`/proc/${pid}`) ? undefined : true), 15_000)
      for (const escape of ["child", "daemonized"]) {
        // A crash: the main process is killed; what it started elsewhere goes too.
        const crashing = yield* native.install(config("plain.mjs", { env: { PLAIN_ESCAPE: escape }, platform: { native: { ready: "started" } } }))
        yield* native.start(crashing)
        const pid = (yield* native.status(crashing)).pid!
        const escaped = yield* escapedOf(crashing)
        // Once it has called setsid (its pid is printed just after the fork, before that).
        const entry = yield* waitFor(() => scanProcesses().find((p) => p.pid === escaped && p.sid === escaped && p.state !== "Z"))
        expect(entry.sid).not.toBe(pid) // out of the daemon's session and group
        process.kill(pid, "SIGKILL")
        yield* goneEntirely(escaped)
        expect((yield* native.status(crashing)).status._tag).toBe("Failed")

        // A stop.
        const stopped = yield* native.install(config("plain.mjs", { env: { PLAIN_ESCAPE: escape }, platform: { native: { ready: "started" } } }))
        yield* native.start(stopped)
        const other = yield* escapedOf(stopped)
        yield* waitFor(() => scanProcesses().find((p) => p.pid === other && p.sid === other))
        yield* native.stop(stopped, Duration.seconds(5))
        yield* goneEntirely(other)
      }
    }), 60_000)

  it.scopedLive("a daemon whose cleanup hangs ends itself at its own deadline (exit 4) before the supervisor's SIGKILL", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(config("native-daemon.mjs", {
        env: { FIXTURE_SHUTDOWN: "hang" },
        shutdownTimeout: "1s",
        platform: { native: { ready: "notify" } }
      }))
      yield* native.start(handle)
      yield* native.stop(handle, Duration.seconds(1))
      const state = yield* native.status(handle)
      expect(state.lastExit).toMatchObject({ code: 4, signal: null, description: "forced: shutdown deadline (exit 4)" })
    }))

  it.scopedLive("a follower that falls behind a flood is told how many lines it missed, where (never a silent gap)", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(config("plain.mjs", { env: { PLAIN_SPAM: "20000" }, platform: { native: { ready: "started" } } }))
      const pull = yield* Effect.flatMap(native.followLogs(handle), Stream.toPull)
      yield* native.start(handle)
      // Not read while the daemon floods: far more than the follow buffer (512) goes by.
      const logFile = join(logDirectory, `${handle.name}.log`)
      yield* waitFor(() => (readFileSync(logFile, "utf8").includes("19999 x") ? true : undefined), 20_000)
      const got: Array<string> = []
      while (true) {
        const chunk = yield* pull.pipe(Effect.timeout("1 second"), Effect.option)
        if (chunk._tag === "None") break
        for (const line of chunk.value) got.push(line.text)
      }
      const gaps = got.filter((text) => text.startsWith("[duende: "))
      expect(gaps.length).toBeGreaterThan(0)
      const skipped = gaps.reduce((sum, text) => sum + Number(/^\[duende: (\d+) line\(s\) skipped here: the follower did not keep up; (.*) has them\]$/.exec(text)![1]), 0)
      expect(gaps[0]).toContain(logFile)
      // Every line is accounted for: received, or counted in a gap.
      const written = readFileSync(logFile, "utf8").split("\n").filter((line) => line !== "").length
      expect(got.length - gaps.length + skipped).toBe(written)
      yield* native.stop(handle, Duration.seconds(5))
    }).pipe(Effect.scoped), 60_000)

  it.scopedLive("double start is an error; stop of a stopped daemon does nothing", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(config("plain.mjs", { platform: { native: { ready: "started" } } }))
      yield* native.start(handle)
      const second = yield* Effect.flip(native.start(handle))
      expect(second._tag).toBe("DaemonAlreadyRunning")
      expect(second.message).toMatch(/is already running \(pid \d+\)/)
      yield* native.stop(handle, Duration.seconds(5))
      yield* native.stop(handle, Duration.seconds(5))
      expect((yield* native.status(handle)).status._tag).toBe("Stopped")
    }))

  it.scopedLive("fails to start a command that does not exist, or that dies before it is ready", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const missing = yield* native.install(decodeSync({ name: "missing", command: ["no-such-program-xyz"] }))
      const error = yield* Effect.flip(native.start(missing))
      expect(error.message).toMatch(/cannot run "no-such-program-xyz": not found in PATH/)
      const dies = yield* native.install(config("plain.mjs", { env: { PLAIN_EXIT: "7" }, platform: { native: { ready: "notify" } } }))
      const died = yield* Effect.flip(native.start(dies))
      expect(died.message).toMatch(/exited with 7 before it was ready; last stderr: a line on stderr/)
      expect((yield* native.status(dies)).status).toMatchObject({ _tag: "Failed", reason: "exited with 7" })
    }))

  it.scopedLive("gives up on a daemon that is not ready within initTimeout and stops it", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(
        config("plain.mjs", { initTimeout: "600ms", platform: { native: { ready: "notify" } } })
      )
      const error = yield* Effect.flip(native.start(handle))
      expect(error.message).toMatch(/not ready within 600ms/)
      const state = yield* native.status(handle)
      expect(state.pid).toBeUndefined()
      expect(state.lastExit?.description).toMatch(/\(not ready within 600ms\)$/)
    }))

  it.scopedLive("kills a daemon whose event loop blocks past the watchdog interval", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(
        config("native-daemon.mjs", { env: { FIXTURE_RUN: "block-loop:500" }, watchdogInterval: "1s", shutdownTimeout: "1s" })
      )
      const events = yield* subscribe(native.events(handle))
      yield* native.start(handle)
      const seen = (yield* events((e) => e._tag === "Exited")).filter((e) => e._tag === "WatchdogMissed" || e._tag === "Exited")
      expect(seen.map((e) => e._tag)).toEqual(["WatchdogMissed", "Exited"])
      const state = yield* native.status(handle)
      expect(state.status._tag).toBe("Failed")
      expect(state.lastExit?.description).toMatch(/\(watchdog timeout\)$/)
    }))

  it.scopedLive("relays health reports and reloads a Duende daemon", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(
        config("native-daemon.mjs", { env: { FIXTURE_HEALTH: "fail" }, health: { interval: "100ms", retries: 2 } })
      )
      const events = yield* subscribe(native.events(handle))
      yield* native.start(handle)
      const seen = yield* events((e) => e._tag === "Health" && e.state === "unhealthy")
      expect(seen[seen.length - 1]).toMatchObject({ _tag: "Health", consecutiveFailures: 2, summary: "main: told to fail" })
      expect((yield* native.status(handle)).health).toBe("unhealthy")
      yield* native.reload(handle)
      const afterReload = yield* events((e) => e._tag === "Ready")
      expect(afterReload.map((e) => e._tag)).toContain("Reloading")
      // stdout and the notify pipe are separate channels: the log line may come a little later
      yield* waitFor(() => (Effect.runSync(native.logs(handle)).some((l) => l.text === "reloaded") ? true : undefined))
      yield* native.stop(handle, Duration.seconds(5))
    }))

  it.scopedLive("passes its spawn span to the daemon as TRACEPARENT when asked to", () =>
    Effect.gen(function*() {
      const traced = yield* NativeAdapter.make({ logDirectory, traceContext: true })
      const handle = yield* traced.install(config("plain.mjs", { platform: { native: { ready: "started" } } }))
      const outer = yield* Effect.gen(function*() {
        yield* traced.start(handle)
        return yield* Effect.currentSpan
      }).pipe(Effect.withSpan("supervisor"))
      const line = yield* waitFor(() =>
        Effect.runSync(traced.logs(handle)).find((l) => l.text.startsWith("traceparent="))?.text
      )
      const [version, traceId, spanId, flags] = line.slice("traceparent=".length).split("-")
      expect([version, traceId, flags]).toEqual(["00", outer.traceId, "01"])
      expect(spanId).toMatch(/^[0-9a-f]{16}$/)
      expect(spanId).not.toBe(outer.spanId) // the child span: duende.spawn
      yield* traced.stop(handle, Duration.seconds(5))
      // without the option nothing is passed
      expect(yield* untracedTraceparent).toBe("traceparent=none")
    }))

  it.scopedLive("rotates its log file by size and keeps N old files", () =>
    Effect.gen(function*() {
      const native = yield* adapter
      const handle = yield* native.install(
        config("plain.mjs", {
          env: { PLAIN_SPAM: "2000" },
          platform: { native: { ready: "started", logs: { maxSize: "20K", keep: 3 } } }
        })
      )
      yield* native.start(handle)
      yield* waitFor(() => {
        const last = Effect.runSync(native.logs(handle, { lines: 1 }))[0]
        return last?.text.startsWith("1999 ") ? true : undefined
      })
      yield* native.stop(handle, Duration.seconds(5))
      const files = readdirSync(logDirectory).filter((f) => f.startsWith(`${handle.name}.log`)).sort()
      expect(files).toEqual([`${handle.name}.log`, `${handle.name}.log.1`, `${handle.name}.log.2`, `${handle.name}.log.3`])
      for (const file of files) expect(readFileSync(join(logDirectory, file)).length).toBeLessThanOrEqual(20 * 1024)
      const tail = yield* native.logs(handle, { lines: 300 })
      expect(tail).toHaveLength(300)
      expect(tail[tail.length - 1]!.text).toMatch(/^1999 x+$/)
    }))
})
