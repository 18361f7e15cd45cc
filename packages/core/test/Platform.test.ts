import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as Platform from "../src/Platform.js"
import * as PlatformRuntime from "../src/PlatformRuntime.js"

const require = createRequire(import.meta.url)

const probe = (
  env: Record<string, string> = {},
  files: Record<string, string> = {},
  os: NodeJS.Platform = "linux"
): Platform.Probe => ({
  env,
  os,
  pid: 4242,
  exists: (path) => path in files,
  read: (path) => files[path]
})

describe("Platform.detect", () => {
  it("falls back to native with no markers", () => {
    expect(Platform.detect(probe())).toEqual({ kind: "native", markers: [] })
  })

  it("finds each platform from its real markers", () => {
    expect(Platform.detect(probe({ WOS_PID: "7" })).kind).toBe("wos")
    expect(Platform.detect(probe({}, { "/dev/virtio-ports/org.duende.agent.0": "" })).kind).toBe("pepita")
    expect(Platform.detect(probe({}, { "/.dockerenv": "" })).kind).toBe("container")
    expect(Platform.detect(probe({}, { "/run/.containerenv": "" })).kind).toBe("container")
    expect(Platform.detect(probe({ container: "podman" })).kind).toBe("container")
    expect(Platform.detect(probe({}, { "/proc/1/cgroup": "0::/kubepods/besteffort/pod1\n" }))).toEqual({
      kind: "kubernetes",
      markers: ["/proc/1/cgroup mentions kubepods"]
    })
    expect(Platform.detect(probe({ KUBERNETES_SERVICE_HOST: "10.96.0.1" }, { "/.dockerenv": "" }))).toEqual({
      kind: "kubernetes",
      markers: ["env KUBERNETES_SERVICE_HOST"]
    })
    expect(Platform.detect(probe({}, { "/var/run/secrets/kubernetes.io/serviceaccount": "" })).kind).toBe("kubernetes")
    expect(Platform.detect(probe({ NOTIFY_SOCKET: "/run/systemd/notify" })).kind).toBe("systemd")
    expect(Platform.detect(probe({ INVOCATION_ID: "abc" })).kind).toBe("systemd")
    expect(Platform.detect(probe({ XPC_SERVICE_NAME: "com.example.api" }, {}, "darwin")).kind).toBe("launchd")
    expect(Platform.detect(probe({ DUENDE_NOTIFY_FD: "3" })).kind).toBe("native")
  })

  it("finds WOS from the duende ABI its host declares (DUENDE_WOS_ABI), with or without WOS_PID, over any surroundings", () => {
    const docker = { "/.dockerenv": "", "/proc/1/cgroup": "0::/docker/abc\n" }
    expect(Platform.detect(probe({ WOS_PID: "2", DUENDE_WOS_ABI: "1" }, docker))).toEqual({
      kind: "wos",
      markers: ["env WOS_PID", "env DUENDE_WOS_ABI=1"]
    })
    expect(Platform.detect(probe({ DUENDE_WOS_ABI: "1" }, docker))).toEqual({
      kind: "wos",
      markers: ["env DUENDE_WOS_ABI=1"]
    })
    // A value that is no ABI version is no marker.
    for (const value of ["", "0", "yes", "1.0", "-1", "12345"]) {
      expect(Platform.detect(probe({ DUENDE_WOS_ABI: value }, docker)).kind).toBe("container")
    }
  })

  it("ignores markers that do not mean what they seem", () => {
    // LISTEN_PID for another process, XPC_SERVICE_NAME=0 (a Terminal session), XPC off macOS
    expect(Platform.detect(probe({ LISTEN_PID: "1" })).kind).toBe("native")
    expect(Platform.detect(probe({ XPC_SERVICE_NAME: "0" }, {}, "darwin")).kind).toBe("native")
    expect(Platform.detect(probe({ XPC_SERVICE_NAME: "x" }, {}, "linux")).kind).toBe("native")
    expect(Platform.detect(probe({ LISTEN_PID: "4242" })).kind).toBe("systemd")
  })

  it("detects in the order WOS, pepita, kubernetes, container, systemd, launchd, native within a tier", () => {
    const everything = probe(
      { WOS_PID: "3", NOTIFY_SOCKET: "/n", DUENDE_NOTIFY_FD: "3", XPC_SERVICE_NAME: "a", KUBERNETES_SERVICE_HOST: "k" },
      { "/.dockerenv": "", "/dev/virtio-ports/org.duende.agent.0": "" },
      "darwin"
    )
    expect(Platform.detect(everything).kind).toBe("wos")
    expect(Platform.survey(everything).map((d) => d.kind)).toEqual([
      "wos",
      "pepita",
      "kubernetes",
      "container",
      "systemd",
      "launchd",
      "native"
    ])
  })

  it("lets a protocol variable beat the markers of the surroundings (systemd inside a container sends READY=1)", () => {
    const docker = { "/.dockerenv": "", "/proc/1/cgroup": "0::/docker/abc\n" }
    expect(Platform.detect(probe({ NOTIFY_SOCKET: "/run/systemd/notify", INVOCATION_ID: "i" }, docker))).toEqual({
      kind: "systemd",
      markers: ["env NOTIFY_SOCKET"]
    })
    expect(Platform.detect(probe({ LISTEN_PID: "4242", LISTEN_FDS: "1" }, docker))).toEqual({
      kind: "systemd",
      markers: ["env LISTEN_FDS"]
    })
    expect(Platform.detect(probe({ WATCHDOG_USEC: "1000000" }, docker)).kind).toBe("systemd")
    expect(Platform.detect(probe({ DUENDE_NOTIFY_FD: "3" }, docker))).toEqual({
      kind: "native",
      markers: ["env DUENDE_NOTIFY_FD"]
    })
    // Variables meant for another process are no protocol: the surroundings decide.
    expect(Platform.detect(probe({ LISTEN_PID: "1", LISTEN_FDS: "1" }, docker)).kind).toBe("container")
    expect(Platform.detect(probe({ WATCHDOG_USEC: "1000000", WATCHDOG_PID: "1" }, docker)).kind).toBe("container")
    // INVOCATION_ID is inherited by everything a unit starts: only an ambient marker, after the container's.
    expect(Platform.detect(probe({ INVOCATION_ID: "i" }, docker)).kind).toBe("container")
    expect(Platform.detect(probe({ DUENDE_PLATFORM: "container", NOTIFY_SOCKET: "/n" })).kind).toBe("container")
  })

  it("explains what decided, and what it overruled", () => {
    expect(Platform.explain(probe({ NOTIFY_SOCKET: "/n" }, { "/.dockerenv": "" }))).toBe(
      "systemd: protocol variable (env NOTIFY_SOCKET); overruled: container (/.dockerenv)"
    )
    expect(Platform.explain(probe({ INVOCATION_ID: "i" }, { "/.dockerenv": "" }))).toBe(
      "container: ambient marker (/.dockerenv); overruled: systemd (env INVOCATION_ID)"
    )
    expect(Platform.explain(probe({ DUENDE_PLATFORM: "native" }))).toBe("native: override (env DUENDE_PLATFORM=native)")
    expect(Platform.explain(probe())).toBe("native: no markers")
  })

  it("names each platform's runtime package in one table", () => {
    expect(Platform.kinds).toEqual(Platform.table.map((row) => row.kind))
    expect(Platform.runtimePackage("systemd")).toBe("@duende/platform-systemd")
    expect(Platform.runtimePackage("container")).toBe("@duende/platform-container")
    expect(Platform.runtimePackage("native")).toBeUndefined()
  })

  it("lets DUENDE_PLATFORM override, and reports a value that is no platform", () => {
    expect(Platform.detect(probe({ DUENDE_PLATFORM: "native" }, { "/.dockerenv": "" }))).toEqual({
      kind: "native",
      markers: ["env DUENDE_PLATFORM=native"]
    })
    expect(Platform.detect(probe({ DUENDE_PLATFORM: "windows" }, { "/.dockerenv": "" })).kind).toBe("container")
    expect(Platform.invalidOverride({ DUENDE_PLATFORM: "windows" })).toBe("windows")
    expect(Platform.invalidOverride({ DUENDE_PLATFORM: "systemd" })).toBeUndefined()
  })
})

describe("PlatformRuntime.layerDetect", () => {
  it.effect("takes the platform a protocol variable names, and logs at debug what decided", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        lines.push(`${logLevel.label} ${(Array.isArray(message) ? message : [message]).join(" ")}`)
      })
      const systemd = PlatformRuntime.make({ platform: "systemd" })
      const runtime = yield* PlatformRuntime.PlatformRuntime.pipe(
        Effect.provide(PlatformRuntime.layerDetect(
          { systemd: Layer.succeed(PlatformRuntime.PlatformRuntime, systemd) },
          probe({ NOTIFY_SOCKET: "/run/systemd/notify" }, { "/.dockerenv": "" })
        )),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      expect(runtime.platform).toBe("systemd")
      expect(lines).toContain("DEBUG platform: systemd: protocol variable (env NOTIFY_SOCKET); overruled: container (/.dockerenv)")
    }))

  /**
   * Detects the runtime in a real application outside the workspace, without NODE_PATH (pnpm's bin
   * shims set one that sees every package), so no platform package can be found from its main
   * script: `given` is the kind whose runtime the application provides, `env` what the probe sees.
   */
  const detectOutside = (given: string, env: Record<string, string>) => {
    const app = mkdtempSync(join(tmpdir(), "duende-app-"))
    const core = pathToFileURL(join(__dirname, "../dist/index.js")).href
    writeFileSync(
      join(app, "main.mjs"),
      `import { PlatformRuntime } from ${JSON.stringify(core)}
import * as Effect from ${JSON.stringify(pathToFileURL(require.resolve("effect/Effect")).href)}
import * as Layer from ${JSON.stringify(pathToFileURL(require.resolve("effect/Layer")).href)}
import * as Logger from ${JSON.stringify(pathToFileURL(require.resolve("effect/Logger")).href)}
import * as LogLevel from ${JSON.stringify(pathToFileURL(require.resolve("effect/LogLevel")).href)}
const given = { ...PlatformRuntime.make({ platform: ${JSON.stringify(given)} }), marker: "given" }
const probe = { env: ${JSON.stringify(env)}, os: "linux", pid: 1, exists: () => false, read: () => undefined }
const runtime = await Effect.runPromise(PlatformRuntime.PlatformRuntime.pipe(
  Effect.provide(PlatformRuntime.layerDetect({ ${given}: Layer.succeed(PlatformRuntime.PlatformRuntime, given) }, probe)),
  Logger.withMinimumLogLevel(LogLevel.Debug)
))
console.log("runtime", runtime.marker)
`
    )
    const childEnv = { ...process.env }
    delete childEnv.NODE_PATH
    return spawnSync(process.execPath, [join(app, "main.mjs")], { cwd: app, env: childEnv, encoding: "utf8" })
  }

  it("falls back to the container runtime in a pod when the application lacks @duende/platform-kubernetes", () => {
    const result = detectOutside("container", { KUBERNETES_SERVICE_HOST: "10.96.0.1" })
    expect(result.stderr).toBe("")
    expect(result.stdout).toMatch(/without @duende\/platform-kubernetes .*; using the container runtime/)
    expect(result.stdout).toMatch(/^runtime given$/m)
  })

  it("falls back to core's native runtime in a pepita VM when the application lacks @duende/platform-pepita (the agent speaks the native pipe)", () => {
    const result = detectOutside("native", { PEPITA_VM: "1", DUENDE_NOTIFY_FD: "3" })
    expect(result.stderr).toBe("")
    expect(result.stdout).toMatch(/without @duende\/platform-pepita .*; using the native runtime/)
    expect(result.stdout).toMatch(/^runtime given$/m)
  })
})
