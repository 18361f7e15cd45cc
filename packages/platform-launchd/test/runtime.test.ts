import { Platform } from "@duende/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { parseMarker } from "../src/internal/protocol.js"
import * as LaunchdDetection from "../src/LaunchdDetection.js"
import * as LaunchdRuntime from "../src/LaunchdRuntime.js"
import * as SocketActivation from "../src/SocketActivation.js"

describe("LaunchdDetection", () => {
  it("macOS with a job label, or launchd as the parent", () => {
    expect(LaunchdDetection.markers({ os: "darwin", env: { XPC_SERVICE_NAME: "com.example.api" }, ppid: 1 }))
      .toEqual(["env XPC_SERVICE_NAME=com.example.api", "parent pid 1 (launchd)"])
    expect(LaunchdDetection.isLaunchd({ os: "darwin", env: {}, ppid: 1 })).toBe(true)
  })

  it("not a terminal's shell (XPC_SERVICE_NAME 0 or application.*), not Linux, and DUENDE_PLATFORM overrides", () => {
    expect(LaunchdDetection.markers({ os: "darwin", env: { XPC_SERVICE_NAME: "0" }, ppid: 812 })).toEqual([])
    expect(LaunchdDetection.markers({ os: "darwin", env: { XPC_SERVICE_NAME: "application.com.googlecode.iterm2.1" }, ppid: 90 })).toEqual([])
    expect(LaunchdDetection.markers({ os: "linux", env: { XPC_SERVICE_NAME: "com.example.api" }, ppid: 1 })).toEqual([])
    expect(LaunchdDetection.markers({ os: "linux", env: { DUENDE_PLATFORM: "launchd" }, ppid: 5 })).toEqual(["env DUENDE_PLATFORM=launchd"])
    expect(LaunchdDetection.markers({ os: "darwin", env: { DUENDE_PLATFORM: "native", XPC_SERVICE_NAME: "x" }, ppid: 1 })).toEqual([])
  })

  it("the variable the rendered plist sets is what core's detection reads too", () => {
    const probe = { env: { DUENDE_PLATFORM: "launchd" }, os: "linux" as const, pid: 5, exists: () => false, read: () => undefined }
    expect(Platform.detect(probe).kind).toBe("launchd")
  })
})

describe("LaunchdRuntime", () => {
  const run = (options: Partial<LaunchdRuntime.Options> = {}) => {
    const lines: Array<string> = []
    const env: Record<string, string | undefined> = { DUENDE_PLATFORM: "launchd", KEEP: "1", ...options.env }
    return Effect.map(
      LaunchdRuntime.make({ pid: 4242, write: (line) => lines.push(line), exitMarker: false, ...options, env }),
      (runtime) => ({ runtime, lines, env })
    )
  }

  it.effect("logs hello, ready, reloading, stopping and status lines with its pid", () =>
    Effect.gen(function*() {
      const { env, lines, runtime } = yield* run()
      yield* runtime.ready
      yield* runtime.status("serving 3\nclients")
      yield* runtime.reloading
      yield* runtime.stopping
      const markers = lines.map((l) => parseMarker(l.replace(/\n$/, "")))
      expect(markers.map((m) => [m?.event, m?.pid, m?.text])).toEqual([
        ["hello", 4242, undefined],
        ["ready", 4242, undefined],
        ["status", 4242, "serving 3\nclients"],
        ["reloading", 4242, undefined],
        ["stopping", 4242, undefined]
      ])
      expect(lines.every((l) => l.endsWith("\n") && l.indexOf("\n") === l.length - 1)).toBe(true)
      expect(runtime.platform).toBe("launchd")
      // The daemon's children do not inherit what was meant for it.
      expect(env).toEqual({ KEEP: "1" })
    }))

  it.effect("health: an unhealthy state shows as status text until it recovers", () =>
    Effect.gen(function*() {
      const { lines, runtime } = yield* run()
      yield* runtime.status("serving")
      const status = { checks: [{ name: "db", passed: false, message: "down" }] } as any
      yield* runtime.health({ state: "unhealthy", status, consecutiveFailures: 3, latencyMs: 1 })
      yield* runtime.status("ignored while unhealthy")
      yield* runtime.health({ state: "healthy", status: { checks: [] } as any, consecutiveFailures: 0, latencyMs: 1 })
      expect(lines.slice(1).map((l) => parseMarker(l.trimEnd())?.text)).toEqual(["serving", "unhealthy: db: down", "ignored while unhealthy"])
    }))

  it.effect("socket activation: the plist's names are collected; a failure is a warning, not a crash", () =>
    Effect.gen(function*() {
      const activated = yield* run({
        env: { DUENDE_LAUNCHD_SOCKETS: "http,admin" },
        activator: (name) => (name === "http" ? { fds: [5, 6] } : { fds: [7] })
      })
      expect(activated.runtime.listenSockets).toEqual([{ fd: 5, name: "http" }, { fd: 6, name: "http" }, { fd: 7, name: "admin" }])
      const off = yield* run({ env: { DUENDE_LAUNCHD_SOCKETS: "http" }, activator: "launch_activate_socket exists on macOS only" })
      expect(off.runtime.listenSockets).toEqual([])
    }))
})

describe("SocketActivation", () => {
  it("names from the environment, only well-formed ones", () => {
    expect(SocketActivation.names({ DUENDE_LAUNCHD_SOCKETS: "http, admin,,bad name,ok.1" })).toEqual(["http", "admin", "ok.1"])
    expect(SocketActivation.names({})).toEqual([])
  })

  it("launch_activate_socket's errors, by what they mean", () => {
    const error = (errno: number) => {
      const result = SocketActivation.activate(["http"], () => ({ errno }))
      return Either.isLeft(result) ? result.left.message : "no error"
    }
    expect(error(2)).toBe(`launchd socket "http": no such socket in the job's plist (ENOENT)`)
    expect(error(3)).toMatch(/not managed by launchd \(ESRCH\)/)
    expect(error(37)).toMatch(/already activated/)
    expect(error(12)).toMatch(/errno 12/)
  })

  it("off macOS there is no launch_activate_socket, and it says so", () => {
    expect(SocketActivation.native("linux")).toBe("launch_activate_socket exists on macOS only (this is linux)")
    const result = SocketActivation.activate(["http"], SocketActivation.native("linux"))
    expect(Either.isLeft(result) && result.left.message).toMatch(/macOS only/)
  })
})
