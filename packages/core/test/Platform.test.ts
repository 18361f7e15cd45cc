import { describe, expect, it } from "@effect/vitest"
import * as Platform from "../src/Platform.js"

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
      kind: "container",
      markers: ["/proc/1/cgroup mentions kubepods"]
    })
    expect(Platform.detect(probe({ NOTIFY_SOCKET: "/run/systemd/notify" })).kind).toBe("systemd")
    expect(Platform.detect(probe({ INVOCATION_ID: "abc" })).kind).toBe("systemd")
    expect(Platform.detect(probe({ XPC_SERVICE_NAME: "com.example.api" }, {}, "darwin")).kind).toBe("launchd")
    expect(Platform.detect(probe({ DUENDE_NOTIFY_FD: "3" })).kind).toBe("native")
  })

  it("ignores markers that do not mean what they seem", () => {
    // LISTEN_PID for another process, XPC_SERVICE_NAME=0 (a Terminal session), XPC off macOS
    expect(Platform.detect(probe({ LISTEN_PID: "1" })).kind).toBe("native")
    expect(Platform.detect(probe({ XPC_SERVICE_NAME: "0" }, {}, "darwin")).kind).toBe("native")
    expect(Platform.detect(probe({ XPC_SERVICE_NAME: "x" }, {}, "linux")).kind).toBe("native")
    expect(Platform.detect(probe({ LISTEN_PID: "4242" })).kind).toBe("systemd")
  })

  it("detects in the order WOS, pepita, container, systemd, launchd, native", () => {
    const everything = probe(
      { WOS_PID: "3", NOTIFY_SOCKET: "/n", DUENDE_NOTIFY_FD: "3", XPC_SERVICE_NAME: "a" },
      { "/.dockerenv": "", "/dev/virtio-ports/org.duende.agent.0": "" },
      "darwin"
    )
    expect(Platform.detect(everything).kind).toBe("wos")
    expect(Platform.survey(everything).map((d) => d.kind)).toEqual([
      "wos",
      "pepita",
      "container",
      "systemd",
      "launchd",
      "native"
    ])
    expect(Platform.detect(probe({ NOTIFY_SOCKET: "/n" }, { "/.dockerenv": "" })).kind).toBe("container")
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
