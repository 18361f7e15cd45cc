// The runtime half against a real AF_UNIX datagram socket (path and abstract), as
// systemd's manager receives it. (The systemd-notify fallback is tested against the real
// systemd in systemd.integration.test.ts: it waits for the manager's barrier reply.)
import { HealthStatus, PlatformRuntime } from "@duende/core"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as SystemdRuntime from "../src/SystemdRuntime.js"
import { receiver, type Receiver } from "./helpers/receiver.js"

const open: Array<Receiver> = []
const listen = (kind: "path" | "abstract") => {
  const r = receiver(kind)
  open.push(r)
  return r
}
afterEach(() => {
  for (const r of open.splice(0)) r.close()
})

const wait = (r: Receiver, test: (d: string) => boolean) => Effect.promise(() => r.waitFor(test))

describe("SystemdRuntime over $NOTIFY_SOCKET", () => {
  for (const kind of ["path", "abstract"] as const) {
    it.scoped(`speaks sd_notify to a ${kind} socket`, () =>
      Effect.gen(function*() {
        const r = listen(kind)
        const systemd = yield* SystemdRuntime.make({ env: { NOTIFY_SOCKET: r.address } })
        expect(systemd.transport).toBe("socket")
        const runtime = systemd.runtime
        expect(runtime.platform).toBe("systemd")
        yield* runtime.ready
        expect(yield* wait(r, () => true)).toBe("READY=1")
        yield* runtime.status("serving 3 clients")
        expect(yield* wait(r, () => true)).toBe("STATUS=serving 3 clients")
        const before = process.hrtime.bigint() / 1000n
        yield* runtime.reloading
        const reloading = yield* wait(r, () => true)
        const after = process.hrtime.bigint() / 1000n
        const match = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(reloading)
        expect(match).not.toBeNull()
        expect(BigInt(match![1]!)).toBeGreaterThanOrEqual(before)
        expect(BigInt(match![1]!)).toBeLessThanOrEqual(after)
        yield* runtime.stopping
        expect(yield* wait(r, () => true)).toBe("STOPPING=1")
        yield* runtime.extendTimeout(Duration.seconds(5))
        expect(yield* wait(r, () => true)).toBe("EXTEND_TIMEOUT_USEC=5000000")
        yield* runtime.watchdogPing
        expect(yield* wait(r, () => true)).toBe("WATCHDOG=1")
        yield* systemd.errno(98)
        expect(yield* wait(r, () => true)).toBe("ERRNO=98")
        yield* systemd.mainPid(4242)
        expect(yield* wait(r, () => true)).toBe("MAINPID=4242")
        yield* systemd.watchdogTrigger
        expect(yield* wait(r, () => true)).toBe("WATCHDOG=trigger")
      }))
  }

  it.scoped("no text can add an assignment: newlines and NULs in values become spaces, bad keys are dropped", () =>
    Effect.gen(function*() {
      const r = listen("abstract")
      const systemd = yield* SystemdRuntime.make({ env: { NOTIFY_SOCKET: r.address } })
      yield* systemd.runtime.status("half\nREADY=1\0MAINPID=1")
      expect(yield* wait(r, () => true)).toBe("STATUS=half READY=1 MAINPID=1")
      yield* systemd.notify([["lower", "x"], ["READY\nX", "1"], ["BUSERROR", "org.example.Failed"], ["X_1", 7]])
      expect(yield* wait(r, () => true)).toBe("BUSERROR=org.example.Failed\nX_1=7")
    }))

  it.scoped("health: an unhealthy report shows in STATUS until healthy again, then the last status returns", () =>
    Effect.gen(function*() {
      const r = listen("path")
      const systemd = yield* SystemdRuntime.make({ env: { NOTIFY_SOCKET: r.address } })
      const runtime = systemd.runtime
      yield* runtime.status("running")
      yield* wait(r, (d) => d === "STATUS=running")
      const report = (state: PlatformRuntime.HealthReport["state"], status: HealthStatus.HealthStatus) => ({
        state,
        status,
        consecutiveFailures: state === "unhealthy" ? 3 : 0,
        latencyMs: 1
      })
      yield* runtime.health(report("unhealthy", HealthStatus.unhealthy("database unreachable")))
      expect(yield* wait(r, () => true)).toBe("STATUS=unhealthy: main: database unreachable")
      yield* runtime.status("running (12 clients)")
      yield* runtime.health(report("healthy", HealthStatus.healthy()))
      expect(yield* wait(r, () => true)).toBe("STATUS=running (12 clients)")
      yield* runtime.health(report("healthy", HealthStatus.healthy()))
      yield* runtime.ready
      expect(yield* wait(r, () => true)).toBe("READY=1")
    }))

  it.scoped("reads and then removes the variables, so children do not inherit them", () =>
    Effect.gen(function*() {
      const r = listen("abstract")
      const env: Record<string, string | undefined> = {
        NOTIFY_SOCKET: r.address,
        WATCHDOG_USEC: "4000000",
        WATCHDOG_PID: "77",
        LISTEN_PID: "77",
        LISTEN_FDS: "2",
        LISTEN_FDNAMES: "http:admin",
        JOURNAL_STREAM: "8:123",
        PATH: "/usr/bin"
      }
      const systemd = yield* SystemdRuntime.make({ env, pid: 77 })
      expect(Option.map(systemd.runtime.watchdogTimeout, Duration.toMillis)).toEqual(Option.some(4000))
      expect(systemd.runtime.listenSockets).toEqual([{ fd: 3, name: "http" }, { fd: 4, name: "admin" }])
      expect(env).toEqual({ JOURNAL_STREAM: "8:123", PATH: "/usr/bin" })
      const kept: Record<string, string | undefined> = { NOTIFY_SOCKET: r.address }
      yield* SystemdRuntime.make({ env: kept, unsetEnvironment: false })
      expect(kept).toEqual({ NOTIFY_SOCKET: r.address })
    }))

  it.scoped("the watchdog is honoured only for this pid", () =>
    Effect.gen(function*() {
      const timeout = (env: Record<string, string>) =>
        Effect.map(SystemdRuntime.make({ env: { ...env }, pid: 10 }), (s) => Option.map(s.runtime.watchdogTimeout, Duration.toMillis))
      expect(yield* timeout({ WATCHDOG_USEC: "3000000" })).toEqual(Option.some(3000))
      expect(yield* timeout({ WATCHDOG_USEC: "3000000", WATCHDOG_PID: "10" })).toEqual(Option.some(3000))
      expect(yield* timeout({ WATCHDOG_USEC: "3000000", WATCHDOG_PID: "11" })).toEqual(Option.none())
      expect(yield* timeout({ WATCHDOG_USEC: "0" })).toEqual(Option.none())
      expect(yield* timeout({ WATCHDOG_USEC: "soon" })).toEqual(Option.none())
      expect(yield* timeout({})).toEqual(Option.none())
    }))

  it.scoped("listen sockets are only taken when LISTEN_PID is this process", () =>
    Effect.gen(function*() {
      const sockets = (env: Record<string, string>) =>
        Effect.map(SystemdRuntime.make({ env: { ...env }, pid: 10 }), (s) => s.runtime.listenSockets)
      expect(yield* sockets({ LISTEN_PID: "10", LISTEN_FDS: "1" })).toEqual([{ fd: 3, name: "unknown" }])
      expect(yield* sockets({ LISTEN_PID: "9", LISTEN_FDS: "1" })).toEqual([])
      expect(yield* sockets({ LISTEN_PID: "10", LISTEN_FDS: "2", LISTEN_FDNAMES: "only-one" })).toEqual([
        { fd: 3, name: "unknown" },
        { fd: 4, name: "unknown" }
      ])
      expect(yield* sockets({ LISTEN_PID: "10", LISTEN_FDS: "x" })).toEqual([])
    }))

  it.scoped("without $NOTIFY_SOCKET (or with one it cannot use) it tells nobody and never fails", () =>
    Effect.gen(function*() {
      const none = yield* SystemdRuntime.make({ env: {} })
      expect(none.transport).toBe("none")
      yield* none.runtime.ready
      yield* none.runtime.status("x")
      const relative = yield* SystemdRuntime.make({ env: { NOTIFY_SOCKET: "run/notify" } })
      expect(relative.transport).toBe("none")
      yield* relative.runtime.ready
    }))

  it.scoped("a socket nobody listens on any more costs a warning, not the daemon", () =>
    Effect.gen(function*() {
      const r = receiver("path")
      const systemd = yield* SystemdRuntime.make({ env: { NOTIFY_SOCKET: r.address } })
      r.close()
      yield* systemd.runtime.ready
      yield* systemd.runtime.watchdogPing
    }))

  it.scoped("the layer provides core's PlatformRuntime and SystemdRuntime from one runtime", () =>
    Effect.gen(function*() {
      const r = listen("abstract")
      const env = { NOTIFY_SOCKET: r.address }
      yield* Effect.gen(function*() {
        const platform = yield* PlatformRuntime.PlatformRuntime
        const systemd = yield* SystemdRuntime.SystemdRuntime
        expect(platform).toBe(systemd.runtime)
        yield* platform.ready
        expect(yield* wait(r, () => true)).toBe("READY=1")
      }).pipe(Effect.provide(SystemdRuntime.layerWith({ env })))
    }))
})
