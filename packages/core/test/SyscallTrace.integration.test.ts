// Tracing a real daemon under the native adapter with the real strace: a request's accept4/read/write,
// a summary's counts, children followed (and not without followChildren), a detach that leaves the
// daemon serving with the same pid, and clear refusals: a pid that is not the daemon any more, a user
// who may not trace it (strace run as nobody against a root daemon, the kernel's own refusal included).
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { get } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeSync } from "../src/DaemonConfigSchema.js"
import * as NativeAdapter from "../src/NativeAdapter.js"
import type { DaemonHandle, PlatformAdapter } from "../src/PlatformAdapter.js"
import * as ProcessTree from "../src/ProcessTree.js"
import * as SyscallTrace from "../src/SyscallTrace.js"
import { fixture } from "./helpers/process.js"

const strace = ["/usr/bin/strace", "/bin/strace"].find(existsSync)
const isRoot = process.getuid?.() === 0
const missing = [strace === undefined ? "strace (apt-get install strace)" : undefined, isRoot ? undefined : "root (to trace as another user)"]
  .filter((m): m is string => m !== undefined)
if (missing.length > 0 && process.env.DUENDE_REQUIRE_INTEGRATION === "1") throw new Error(`missing: ${missing.join(", ")}`)
if (missing.length > 0) process.stderr.write(`\n[duende] SKIPPING syscall trace suite: ${missing.join(", ")}\n`)

const logDirectory = mkdtempSync(join(tmpdir(), "duende-trace-"))
const port = 21_000 + Math.floor(Math.random() * 20_000)
let count = 0

const fetchText = (path: string) =>
  Effect.async<string, Error>((resume) => {
    const req = get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (c: string) => (body += c))
      res.on("end", () => resume(Effect.succeed(body)))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    req.setTimeout(20_000, () => req.destroy(new Error(`GET ${path}: no answer in 20s`)))
  })

/** The adapter with the fixture server started; its handle and pid. */
const started = Effect.gen(function*() {
  const adapter = yield* NativeAdapter.make({ logDirectory, readyGrace: "300 millis" })
  const handle = yield* adapter.install(decodeSync({
    name: `traced${++count}`,
    command: [process.execPath, fixture("traced-server.mjs")],
    env: { FIXTURE_PORT: String(port) },
    shutdownTimeout: "5s",
    platform: { native: { ready: "notify" } }
  }))
  yield* adapter.start(handle)
  const pid = (yield* adapter.status(handle)).pid!
  return { adapter, handle, pid }
})

const attach = (adapter: PlatformAdapter, handle: DaemonHandle, options?: SyscallTrace.Input) =>
  SyscallTrace.ofAdapter(adapter, handle, options)

/** Consumes the stream in the background, keeping what it sees; `stop` ends it and returns what was seen. */
const record = (events: Stream.Stream<SyscallTrace.Event, SyscallTrace.TracerFailed>) =>
  Effect.gen(function*() {
    const seen: Array<SyscallTrace.Event> = []
    const fiber = yield* Effect.fork(Stream.runForEach(events, (e) => Effect.sync(() => void seen.push(e))))
    const until = (found: (seen: ReadonlyArray<SyscallTrace.Event>) => boolean) =>
      Effect.gen(function*() {
        const end = Date.now() + 30_000
        while (!found(seen)) {
          if (Date.now() > end) return yield* Effect.dieMessage(`not seen in 30s; last events: ${JSON.stringify(seen.slice(-5))}`)
          yield* Effect.sleep("50 millis")
        }
        return seen
      })
    return { seen, until, stop: Effect.as(Fiber.interrupt(fiber), seen) }
  })

/** What Node's http writes an answer with: write, or writev for the head and the body. */
const writes = (seen: ReadonlyArray<SyscallTrace.Event>) => [...calls(seen, "write"), ...calls(seen, "writev")]

const calls = (seen: ReadonlyArray<SyscallTrace.Event>, name: string) =>
  seen.filter((e): e is Extract<SyscallTrace.Event, { _tag: "Syscall" }> => e._tag === "Syscall" && e.name === name)

describe.skipIf(missing.length > 0)("SyscallTrace with the native adapter and real strace", () => {
  it.scopedLive("sees the daemon accept, read and write a request; detaching leaves it serving with the same pid", () =>
    Effect.gen(function*() {
      const { adapter, handle, pid } = yield* started
      const traceScope = yield* Scope.make()
      const events = yield* Scope.extend(attach(adapter, handle), traceScope)
      const trace = yield* record(events)
      expect(yield* fetchText("/")).toBe("hello\n")
      const seen = yield* trace.until((s) =>
        calls(s, "accept4").length > 0 && calls(s, "read").some((e) => e.args.includes("GET / HTTP/1.1")) &&
        writes(s).some((e) => e.args.includes("HTTP/1.1 200 OK"))
      )
      const accept = calls(seen, "accept4").find((e) => Number(e.result) >= 0)!
      expect(accept.pid).toBe(pid)
      expect(accept.durationUs).toBeGreaterThanOrEqual(0)
      expect(accept.at).toBeGreaterThan(Date.now() - 120_000)
      // Events of the daemon's threads (libuv's pool) carry the daemon's pid and their own tid.
      expect(seen.every((e) => e.pid === pid)).toBe(true)
      yield* Scope.close(traceScope, Exit.void)
      expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^TracerPid:\s+0$/m)
      expect(yield* fetchText("/healthz")).toBe(`ok ${pid}\n`)
      const after = yield* adapter.status(handle)
      expect(after.status._tag).toBe("Running")
      expect(after.pid).toBe(pid)
      yield* adapter.stop(handle, Duration.seconds(5))
      expect((yield* adapter.status(handle)).lastExit?.code).toBe(143)
    }))

  it.scopedLive("a duration ends the trace by itself, and the daemon runs on", () =>
    Effect.gen(function*() {
      const { adapter, handle, pid } = yield* started
      const events = yield* attach(adapter, handle, { duration: "1500ms" })
      const fiber = yield* Effect.fork(Stream.runCount(events))
      for (let i = 0; i < 3; i++) yield* fetchText("/")
      const count = yield* Fiber.join(fiber).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("the trace did not end") }))
      expect(count).toBeGreaterThan(0)
      expect(yield* fetchText("/healthz")).toBe(`ok ${pid}\n`)
    }))

  it.scopedLive("the stream ends when the daemon does, with its exit and the SIGTERM that ended it", () =>
    Effect.gen(function*() {
      const { adapter, handle, pid } = yield* started
      const events = yield* attach(adapter, handle, { filter: ["signal", "process"] })
      const fiber = yield* Effect.fork(Stream.runCollect(events))
      yield* adapter.stop(handle, Duration.seconds(5))
      const seen = [...(yield* Fiber.join(fiber).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("the trace did not end") })))]
      expect(seen.some((e) => e._tag === "Signal" && e.pid === pid && e.signal === "SIGTERM")).toBe(true)
      expect(seen.find((e) => e._tag === "Exited" && e.tid === pid)).toMatchObject({ _tag: "Exited", pid, code: 143 })
    }))

  it.scopedLive("a tracer killed under it fails the stream (the trace was lost), and the daemon runs on", () =>
    Effect.gen(function*() {
      const { adapter, handle, pid } = yield* started
      const events = yield* attach(adapter, handle)
      const fiber = yield* Effect.fork(Stream.runDrain(events))
      const tracer = Number(/^TracerPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1])
      expect(readFileSync(`/proc/${tracer}/cmdline`, "utf8").split("\0")[0]).toBe("strace")
      process.kill(tracer, "SIGKILL")
      const failed = yield* Effect.flip(Fiber.join(fiber))
      expect(failed.message).toMatch(new RegExp(`^trace failed: strace ended \\(SIGKILL\\) while tracing pid ${pid}`))
      expect(yield* fetchText("/healthz")).toBe(`ok ${pid}\n`)
    }))

  it.scopedLive("summarizes: counts per call, errors, time, without keeping events", () =>
    Effect.gen(function*() {
      const { adapter, handle, pid } = yield* started
      const events = yield* attach(adapter, handle, { filter: ["network", "read", "write", "writev"] })
      const done = yield* Deferred.make<void>()
      const summary = yield* Effect.fork(SyscallTrace.summarize(Stream.interruptWhenDeferred(events, done)))
      for (let i = 0; i < 5; i++) expect(yield* fetchText("/")).toBe("hello\n")
      yield* Effect.sleep("300 millis")
      yield* Deferred.succeed(done, undefined)
      const totals = yield* Fiber.join(summary)
      const accept = totals.calls.find((c) => c.name === "accept4")
      expect(accept?.calls).toBeGreaterThanOrEqual(5)
      expect(totals.calls.find((c) => c.name === "read")?.calls).toBeGreaterThanOrEqual(5)
      const written = totals.calls.filter((c) => c.name === "write" || c.name === "writev").reduce((n, c) => n + c.calls, 0)
      expect(written).toBeGreaterThanOrEqual(5)
      // Only the filter's calls: no file system calls, no futex.
      expect(totals.calls.map((c) => c.name)).not.toContain("openat")
      expect(totals.calls.map((c) => c.name)).not.toContain("futex")
      expect(totals.totalCalls).toBe(totals.calls.reduce((n, c) => n + c.calls, 0))
      expect(totals.pids).toEqual([pid])
      // accept4 on the non-blocking listener fails with EAGAIN once the backlog is empty: errors are counted.
      expect(totals.totalErrors).toBe(totals.calls.reduce((n, c) => n + c.errors, 0))
    }))

  it.scopedLive("follows the daemon's children with followChildren, and only then", () =>
    Effect.gen(function*() {
      const { adapter, handle, pid } = yield* started
      const without = yield* Effect.scoped(Effect.gen(function*() {
        const trace = yield* record(yield* attach(adapter, handle, { filter: ["process"] }))
        expect(yield* fetchText("/child")).toBe("child done\n")
        yield* trace.until((s) => s.some((e) => e._tag === "Signal" && e.signal === "SIGCHLD"))
        return yield* trace.stop
      }))
      expect(without.every((e) => e.pid === pid)).toBe(true)
      const trace = yield* record(yield* attach(adapter, handle, { filter: ["process"], followChildren: true }))
      expect(yield* fetchText("/child")).toBe("child done\n")
      const seen = yield* trace.until((s) => s.some((e) => e._tag === "Exited" && e.pid !== pid))
      const exec = calls(seen, "execve").find((e) => e.args.startsWith(`"/bin/sh"`))
      expect(exec).toBeDefined()
      expect(exec!.pid).not.toBe(pid)
      expect(seen.find((e) => e._tag === "Exited" && e.pid === exec!.pid)).toMatchObject({ code: 0 })
      // The daemon reaped it: its wait4 returned the child's pid.
      yield* trace.until((s) => calls(s, "wait4").some((e) => e.pid === pid && Number(e.result) === exec!.pid))
    }))

  it.scopedLive("refuses a pid that is not the daemon any more, a daemon that is not running, and bad options", () =>
    Effect.gen(function*() {
      const { adapter, handle, pid } = yield* started
      const started1 = ProcessTree.startTime(pid)!
      const reused = yield* Effect.flip(SyscallTrace.attach({ pid, startedAt: started1 - 60_000 }))
      expect(reused._tag).toBe("TracerFailed")
      expect(reused.message).toMatch(new RegExp(`pid ${pid} is no longer the daemon.*reused`))
      const bad = yield* Effect.flip(SyscallTrace.attach({ pid, startedAt: started1 }, { filter: ["file", "Bad Name!"], stringLimit: -1, duration: "soon" }))
      expect(bad._tag).toBe("InvalidTraceOptions")
      expect(bad.message).toMatch(/filter\[1\]/)
      expect(bad.message).toMatch(/stringLimit/)
      expect(bad.message).toMatch(/duration: expected a trace's duration such as "30s"/)
      yield* adapter.stop(handle, Duration.seconds(5))
      const stopped = yield* Effect.flip(attach(adapter, handle))
      expect(stopped.message).toBe(`trace failed: ${handle.name} is not running`)
    }))

  it.scopedLive("a user who may not trace the daemon gets a clear error, from Duende and from the kernel", () =>
    Effect.gen(function*() {
      const { pid } = yield* started
      const asNobody = (args: ReadonlyArray<string>) =>
        spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", ...args], {
          encoding: "utf8",
          timeout: 60_000,
          cwd: join(__dirname, "..")
        })
      // Duende's own check, before strace runs (the built package, as a user runs it).
      const dist = join(__dirname, "..", "dist", "manager.js")
      const script = `import { SyscallTrace } from ${JSON.stringify(dist)}
import { Effect } from "effect"
const pid = ${pid}
Effect.runPromise(Effect.scoped(Effect.flip(SyscallTrace.attach({ pid, startedAt: ${ProcessTree.startTime(pid)} }))))
  .then((e) => console.log(JSON.stringify({ tag: e._tag, message: e.message })))`
      const ours = asNobody([process.execPath, "--input-type=module", "-e", script])
      expect(ours.stderr).toBe("")
      const refused = JSON.parse(ours.stdout) as { tag: string; message: string }
      expect(refused.tag).toBe("TraceNotPermitted")
      expect(refused.message).toBe(
        `not permitted to trace pid ${pid}: it runs as uid 0, this process as uid 65534 without CAP_SYS_PTRACE (run the trace as root (sudo) or as the daemon's user)`
      )
      // What the kernel says when strace tries anyway, and how it reads.
      const kernel = asNobody(["strace", "-p", String(pid)])
      expect(kernel.status).not.toBe(0)
      const line = kernel.stderr.split("\n").find((l) => l.startsWith("strace: attach:"))!
      expect(line).toBe(`strace: attach: ptrace(PTRACE_SEIZE, ${pid}): Operation not permitted`)
      const { attachMessage } = yield* Effect.promise(() => import("../src/internal/straceRunner.js"))
      const read = attachMessage(pid, line)
      expect(read?._tag === "Refused" && read.error._tag).toBe("TraceNotPermitted")
      expect(read?._tag === "Refused" && read.error.message).toMatch(/Operation not permitted.*CAP_SYS_PTRACE/)
      // The daemon was left alone.
      expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^TracerPid:\s+0$/m)
    }))
})

