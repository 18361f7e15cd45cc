// The adapter with real runc: bundles whose root binds the host's /usr and /etc run a Node daemon built on @duende/core.
import { Integration } from "@duende/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { hostileValues } from "./helpers/hostile.js"
import { afterAll } from "vitest"
import * as ContainerAdapter from "../src/ContainerAdapter.js"
import type * as ContainerSection from "../src/ContainerSection.js"
import {
  capabilityCount,
  daemonConfig,
  duendeHealth,
  eventually,
  exactly,
  findIdentity,
  hostileIdentity,
  fixture,
  identityConfig,
  isExit,
  netBindService,
  repoMount,
  subscribe,
  tool
} from "./helpers/containers.js"

const gate = Integration.check(Integration.tool("runc"), Integration.root())

const base = mkdtempSync(join(tmpdir(), "duende-runc-"))
const stateDirectory = join(base, "state")
const runtimeRoot = join(base, "runc")
const control = join(base, "control")
mkdirSync(control, { recursive: true })

/** Per-daemon container settings, as core's config schema does not carry them yet. */
const sections: Record<string, ContainerSection.Input> = {
  "orphans-init": { init: true },
  broken: { mounts: [{ source: join(base, "does-not-exist"), target: "/data" }] },
  "identity-opened": {
    user: "0",
    capabilities: ["CAP_NET_BIND_SERVICE"],
    readOnlyRootFilesystem: false,
    noNewPrivileges: false,
    protectKernelPaths: false
  }
}

const adapter = ContainerAdapter.make({
  stateDirectory,
  driver: "runc",
  runtimeRoot,
  readyGrace: "500 millis",
  pollInterval: "200 millis",
  section: (config) => ({
    // The fixture is a Duende daemon: wait for its READY, however slowly node starts on a busy machine.
    ready: config.name === "sleeper" || config.name.startsWith("identity") ? "auto" : "notify",
    ...sections[config.name],
    mounts: [repoMount, { source: control, target: "/control", readOnly: true }, ...(sections[config.name]?.mounts ?? [])]
  })
})

const runc = (...args: Array<string>) => tool("runc", ["--root", runtimeRoot, ...args])

afterAll(() => {
  // Whatever a failed test left: every container under this runtime root, then the files.
  const listed = runc("list", "--quiet").stdout.split("\n").filter((id) => id !== "")
  for (const id of listed) runc("delete", "--force", id)
  rmSync(base, { recursive: true, force: true })
})

describe.skipIf(!gate.ok)(`runc containers${gate.label}`, () => {
  it.scopedLive("secure by default: uid 65534, no capabilities, no_new_privs, a read-only root, a writable /tmp, kernel paths masked; each opt-out works", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const identityOf = (config: ReturnType<typeof identityConfig>) =>
        Effect.gen(function*() {
          const handle = yield* containers.install(config)
          yield* containers.start(handle)
          const identity = yield* eventually(Effect.map(containers.logs(handle), findIdentity))
          yield* containers.stop(handle, Duration.seconds(5))
          expect((yield* containers.status(handle)).lastExit?.code).toBe(0)
          yield* containers.uninstall(handle)
          return identity
        })

      const locked = yield* identityOf(identityConfig("identity-locked"))
      expect([locked.uid, locked.gid]).toEqual([65534, 65534])
      for (const mask of Object.values(locked.capabilities)) expect(capabilityCount(mask)).toBe(0)
      expect(locked.noNewPrivileges).toBe(true)
      expect(locked.rootWritable).toBe("EROFS")
      expect(locked.tmpWritable).toBe(true)
      expect(locked.kernelPaths["/proc/keys"]).not.toBeNull()
      expect(locked.kernelPaths["/sys/firmware"]).not.toBeNull()
      expect(locked.kernelPaths["/proc/sys"]?.split(",")).toContain("ro")

      const opened = yield* identityOf(identityConfig("identity-opened"))
      expect([opened.uid, opened.gid]).toEqual([0, 0])
      expect(opened.capabilities).toEqual({
        effective: netBindService,
        permitted: netBindService,
        bounding: netBindService,
        inheritable: netBindService,
        ambient: netBindService
      })
      expect(opened.noNewPrivileges).toBe(false)
      expect(opened.rootWritable).toBe(true)
      expect(opened.kernelPaths).toEqual({ "/proc/keys": null, "/proc/timer_list": null, "/proc/acpi": null, "/sys/firmware": null, "/proc/sys": null })

      // A user other than root keeps a listed capability across exec (ambient).
      const granted = yield* identityOf(identityConfig("identity-granted", { platform: { container: { capabilities: ["CAP_NET_BIND_SERVICE"] } } }))
      expect(granted.uid).toBe(65534)
      expect(granted.capabilities.effective).toBe(netBindService)
      expect(granted.capabilities.bounding).toBe(netBindService)
    }))

  it.scopedLive("the program path, arguments, environment and working directory reach the process byte for byte", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const hostile = hostileIdentity("identity-hostile", { ...hostileValues, CRLF: "a\r\nb" })
      const handle = yield* containers.install(hostile.config)
      yield* containers.start(handle)
      const identity = yield* eventually(Effect.map(containers.logs(handle), findIdentity))
      exactly(identity, hostile)
      yield* containers.stop(handle, Duration.seconds(5))
      yield* containers.uninstall(handle)
    }))

  it.scopedLive("a Duende daemon as PID 1: ready through the state file, SIGTERM is a graceful stop with exit 143", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const handle = yield* containers.install(daemonConfig("graceful"))
      expect(containers.restarts).toBe("manager")
      const events = yield* subscribe(containers.events(handle))
      yield* containers.start(handle)
      const running = yield* containers.status(handle)
      expect(running.status._tag).toBe("Running")
      expect(running.pid).toBeGreaterThan(1)
      expect(runc("state", handle.ref).stdout).toContain(`"status": "running"`)
      yield* events((e) => e._tag === "Ready")
      const healthy = yield* eventually(Effect.map(containers.status(handle), (s) => (s.health === "healthy" ? s : undefined)))
      expect(healthy.statusText).toBe("running")

      yield* containers.stop(handle, Duration.seconds(5))
      const seen = yield* events(isExit)
      expect(seen.map((e) => e._tag)).toEqual(expect.arrayContaining(["Stopping", "Exited"]))
      const stopped = yield* containers.status(handle)
      expect(stopped.status._tag).toBe("Stopped")
      expect(stopped.lastExit).toMatchObject({ code: 143, description: "stopped by SIGTERM" })
      const lines = (yield* containers.logs(handle)).map((l) => `${l.stream}:${l.text}`)
      expect(lines).toContain("stdout:event:init pid=1")
      expect(lines).toContain("stdout:event:shutdown:Signal")
      expect(lines.some((l) => l.startsWith("stderr:") && l.includes("PID 1") && l.includes("zombies"))).toBe(true)
      expect(runc("state", handle.ref).code).not.toBe(0) // runc run deleted it on exit

      yield* containers.uninstall(handle)
      expect(existsSync(join(stateDirectory, "graceful"))).toBe(false)
    }))

  it.scopedLive("signal SIGKILL (exit status 137) is a death by SIGKILL (Failed); a second start runs again; reload is RELOADING then READY", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const handle = yield* containers.install(daemonConfig("killed"))
      yield* containers.start(handle)
      const events = yield* subscribe(containers.events(handle))
      yield* containers.reload(handle)
      const reloaded = yield* events((e) => e._tag === "Ready")
      expect(reloaded.map((e) => e._tag)).toContain("Reloading")

      yield* containers.signal(handle, "SIGKILL")
      const [exited] = (yield* events(isExit)).filter(isExit)
      expect(exited).toMatchObject({ exit: { code: null, signal: "SIGKILL", description: "killed by SIGKILL" } })
      const failed = yield* containers.status(handle)
      expect(failed.status._tag).toBe("Failed")
      expect(failed.pid).toBeUndefined()
      const error = yield* Effect.flip(containers.signal(handle, "SIGTERM"))
      expect(error.message).toContain("not running")

      yield* containers.start(handle)
      expect((yield* containers.status(handle)).status._tag).toBe("Running")
      yield* containers.stop(handle, Duration.seconds(5))
      yield* containers.uninstall(handle)
    }))

  it.scopedLive("`duende health` inside the container answers from the daemon's real health (runc exec)", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const flag = join(control, "healthy")
      writeFileSync(flag, "")
      const handle = yield* containers.install(daemonConfig("health", { env: { FIXTURE_HEALTH_FILE: "/control/healthy" } }))
      yield* containers.start(handle)
      yield* eventually(Effect.map(containers.status(handle), (s) => (s.health === "healthy" ? s : undefined)))
      const health = () => runc("exec", handle.ref, ...duendeHealth)
      const ok = health()
      expect(ok).toMatchObject({ code: 0 })
      expect(ok.stdout).toContain("healthy (running)")

      rmSync(flag)
      yield* eventually(Effect.map(containers.status(handle), (s) => (s.health === "unhealthy" ? s : undefined)))
      const bad = health()
      expect(bad.code).toBe(1)
      expect(bad.stdout).toMatch(/^unhealthy after \d+ consecutive failures: main: the health file is gone/)

      yield* containers.stop(handle, Duration.seconds(5))
      const stopped = health()
      expect(stopped.code).not.toBe(0) // nothing runs: runc exec itself fails
      yield* containers.uninstall(handle)
    }))

  it.scopedLive("zombies: Node as PID 1 keeps orphans as zombies and warns; under the init (tini) none are left", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const bare = yield* containers.install(daemonConfig("orphans-bare", { env: { FIXTURE_ORPHANS: "3" } }))
      const init = yield* containers.install(daemonConfig("orphans-init", { env: { FIXTURE_ORPHANS: "3" } }))
      yield* containers.start(bare)
      yield* containers.start(init)
      const zombies = (handle: typeof bare) =>
        eventually(Effect.map(containers.status(handle), (s) => s.statusText?.startsWith("zombies:") ? s.statusText : undefined))
      // The status text is set during init (before READY), so read it from the running daemon's state.
      expect(Number((yield* zombies(bare)).slice("zombies:".length))).toBeGreaterThanOrEqual(1)
      expect(yield* zombies(init)).toBe("zombies:0")

      const initLogs = (yield* containers.logs(init)).map((l) => l.text)
      expect(initLogs.some((l) => l.includes("PID 1"))).toBe(false)
      // tini is PID 1, the daemon one of its children.
      expect(initLogs.some((l) => /^event:init pid=([2-9]|\d\d+)$/.test(l))).toBe(true)

      // tini forwards SIGTERM: the daemon takes the graceful path and tini exits with its code.
      yield* containers.stop(init, Duration.seconds(5))
      expect((yield* containers.status(init)).lastExit?.code).toBe(143)
      expect((yield* containers.logs(init)).map((l) => l.text)).toContain("event:shutdown:Signal")
      yield* containers.stop(bare, Duration.seconds(5))
      yield* containers.uninstall(bare)
      yield* containers.uninstall(init)
    }))

  it.scopedLive("a plain command is ready after the grace and killed after the stop timeout; runtime failures carry runc's message", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const sleeper = yield* containers.install(
        daemonConfig("sleeper", { extra: { command: ["/usr/bin/sleep", "600"], health: { enabled: false } } })
      )
      const started = Date.now()
      yield* containers.start(sleeper)
      expect(Date.now() - started).toBeGreaterThanOrEqual(400)
      expect((yield* containers.status(sleeper)).status._tag).toBe("Running")
      // sleep as PID 1 has no SIGTERM handler, so the kernel drops SIGTERM: only the kill after the timeout ends it.
      yield* containers.stop(sleeper, Duration.seconds(1))
      const stopped = yield* containers.status(sleeper)
      expect(stopped.lastExit).toMatchObject({ code: null, signal: "SIGKILL" })
      expect(stopped.status._tag).toBe("Stopped")
      yield* containers.uninstall(sleeper)

      const broken = yield* containers.install(daemonConfig("broken"))
      const failure = yield* Effect.flip(containers.start(broken))
      expect(failure._tag).toBe("PlatformCommandFailed")
      expect(failure.message).toContain("does-not-exist")
      expect((yield* containers.status(broken)).status._tag).toBe("Failed")

      const crashing = yield* containers.install(
        daemonConfig("crashing", { extra: { command: [process.execPath, join(base, "missing.mjs")] } })
      )
      const crash = yield* Effect.flip(containers.start(crashing))
      expect(crash._tag).toBe("StartFailed")
      expect(crash.message).toContain("before it was ready")
      expect(crash.message).toContain("Cannot find module")
      yield* containers.uninstall(broken)
      yield* containers.uninstall(crashing)
    }))

  it.scopedLive("render shows the bundle's config.json; a second start of a running daemon is refused", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const config = daemonConfig("twice")
      const handle = yield* containers.install(config)
      const [artifact] = yield* containers.render(config)
      expect(artifact!.name).toBe("config.json")
      expect(JSON.parse(artifact!.content).process.args).toEqual([process.execPath, fixture("daemon.mjs")])
      yield* containers.start(handle)
      const again = yield* Effect.flip(containers.start(handle))
      expect(again._tag).toBe("DaemonAlreadyRunning")
      expect((yield* containers.status(handle)).status._tag).toBe("Running")
      const refused = yield* Effect.flip(containers.uninstall(handle))
      expect(refused._tag).toBe("OperationUnsupported")
      yield* containers.stop(handle, Duration.seconds(5))
      expect((yield* containers.status(handle)).lastExit?.code).toBe(143)
      yield* containers.uninstall(handle)
    }))
  it.scopedLive("a new adapter adopts a running container Duende made, and refuses one it did not", () =>
    Effect.gen(function*() {
      const first = yield* adapter
      const handle = yield* first.install(daemonConfig("adopted"))
      yield* first.start(handle)
      // A second adapter on the same directories: the manager came back.
      const second = yield* adapter
      const again = yield* second.install(daemonConfig("adopted"))
      expect(again.id).toBe(handle.id)
      const state = yield* eventually(Effect.map(second.status(again), (s) => (s.statusText === "running" ? s : undefined)))
      expect(state.status._tag).toBe("Running")
      expect(state.pid).toBe((yield* first.status(handle)).pid)
      yield* second.stop(again, Duration.seconds(5))
      expect((yield* second.status(again)).status._tag).toBe("Stopped")
      yield* second.uninstall(again)

      // A container of the same name that Duende did not make (no duende.daemon.id annotation).
      const foreign = join(base, "foreign")
      mkdirSync(join(foreign, "rootfs"), { recursive: true })
      expect(tool("runc", ["spec", "--bundle", foreign]).code).toBe(0)
      const oci = JSON.parse(readFileSync(join(foreign, "config.json"), "utf8"))
      Object.assign(oci.process, { terminal: false, args: ["/usr/bin/sleep", "60"] })
      oci.mounts.push({ destination: "/usr", type: "bind", source: "/usr", options: ["rbind", "ro"] })
      for (const [name, target] of [["bin", "usr/bin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"]]) {
        symlinkSync(target!, join(foreign, "rootfs", name!))
      }
      writeFileSync(join(foreign, "config.json"), JSON.stringify(oci))
      // Detached, the container keeps its stdio: give it none, or the spawn waits for it.
      const detached = spawnSync("runc", ["--root", runtimeRoot, "run", "--detach", "--bundle", foreign, "duende-foreign"], {
        stdio: "ignore"
      })
      expect(detached.status).toBe(0)
      const refused = yield* Effect.flip(first.install(daemonConfig("foreign")))
      expect(refused._tag).toBe("OperationUnsupported")
      expect(refused.message).toContain("Duende did not create it")
      runc("delete", "--force", "duende-foreign")
    }))
})
