// Tracing a systemd unit with the real strace from the host: systemd (PID 1 in systemd-nspawn, its own
// pid namespace) names the unit's MainPID in its namespace; the adapter finds that process's host pid
// (NSpid, start time = ExecMainStartTimestamp) and traces it serving a request; detaching leaves it
// running, same MainPID, still answering.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { SyscallTrace } from "@duende/core/manager"
import { Integration } from "@duende/testing"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as SystemdAdapter from "../src/SystemdAdapter.js"
import { boot, gate as nspawnGate, type Machine } from "./helpers/nspawn.js"

const gate = nspawnGate.ok ? Integration.check(Integration.tool("strace")) : nspawnGate
const fixture = join(__dirname, "fixtures", "http-daemon.mjs")
const port = 20_000 + Math.floor(Math.random() * 20_000)
const fetchText = (path: string) => Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.text()))

describe.skipIf(!gate.ok)(`systemd in nspawn: duende trace of a unit by its MainPID${gate.label}`, () => {
  let machine: Machine
  let system: SystemdAdapter.SystemdAdapter

  beforeAll(async () => {
    machine = await boot()
    system = await Effect.runPromise(SystemdAdapter.make({ prefix: machine.prefix, root: machine.root }))
  }, 90_000)
  afterAll(() => machine?.shutdown(), 60_000)

  it.live("traces the unit's main process from the host while it serves, and detaches leaving it running", () =>
    Effect.gen(function*() {
      const handle = yield* system.install(
        decodeSync({ name: "traced", command: ["node", fixture], env: { PORT: String(port) }, shutdownTimeout: "10s" })
      )
      yield* system.start(handle)
      const mainPid = (yield* system.status(handle)).pid!
      const traceScope = yield* Scope.make()
      const events = yield* Scope.extend(system.attachTracer!(handle, { filter: ["network", "read", "write", "writev"] }), traceScope)
      const seen: Array<SyscallTrace.Event> = []
      const consumer = yield* Effect.fork(Stream.runForEach(events, (e) => Effect.sync(() => void seen.push(e))))
      expect(yield* fetchText("/")).toMatch(/^hello from \d+ \(1\)/)
      const named = (name: string) => seen.filter((e) => e._tag === "Syscall" && e.name === name)
      const deadline = Date.now() + 30_000
      while (!(named("accept4").length > 0 && named("read").some((e) => e._tag === "Syscall" && e.args.includes("GET / HTTP/1.1")))) {
        if (Date.now() > deadline) throw new Error(`not seen in 30s: ${JSON.stringify(seen.slice(-5))}`)
        yield* Effect.sleep("50 millis")
      }
      // The events name the host's pid of the process systemd calls MainPID.
      const hostPid = named("accept4")[0]!.pid
      expect(hostPid).not.toBe(mainPid)
      expect(readFileSync(`/proc/${hostPid}/status`, "utf8")).toMatch(new RegExp(`^NSpid:\\s+${hostPid}\\s+${mainPid}$`, "m"))
      expect(readFileSync(`/proc/${hostPid}/status`, "utf8")).toMatch(/^TracerPid:\s+[1-9]\d*$/m)
      yield* Fiber.interrupt(consumer)
      yield* Scope.close(traceScope, Exit.void)
      expect(readFileSync(`/proc/${hostPid}/status`, "utf8")).toMatch(/^TracerPid:\s+0$/m)
      const after = yield* system.status(handle)
      expect(after.status._tag).toBe("Running")
      expect(after.pid).toBe(mainPid)
      expect(yield* fetchText("/")).toMatch(/^hello from \d+ \(2\)/)
      yield* system.stop(handle, Duration.seconds(10))
      const stopped = yield* Effect.flip(system.attachTracer!(handle).pipe(Effect.scoped))
      expect(stopped.message).toBe("trace failed: traced.service has no main process (not running)")
      yield* system.uninstall(handle)
    }), 120_000)
})
