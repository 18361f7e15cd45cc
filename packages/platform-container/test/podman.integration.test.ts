// The adapter with real podman (and runc) on an image imported from a rootfs: its restart policy,
// healthchecks that run `duende health`, stop with the exit code, logs from both streams.
import { Integration } from "@duende/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { hostileValues } from "./helpers/hostile.js"
import { afterAll } from "vitest"
import * as ContainerAdapter from "../src/ContainerAdapter.js"
import {
  capabilityCount,
  daemonConfig,
  duendeHealth,
  eventually,
  exactly,
  findIdentity,
  hostileIdentity,
  identityConfig,
  isExit,
  netBindService,
  repoMount,
  subscribe
} from "./helpers/containers.js"
import { makePodman } from "./helpers/podman.js"

const gate = Integration.check(Integration.tool("podman"), Integration.tool("runc"), Integration.root())

const podman = gate.ok ? makePodman("podman") : undefined
const control = podman ? join(podman.base, "control") : ""
if (podman) mkdirSync(control)

afterAll(() => podman?.cleanup())

const adapter = Effect.suspend(() =>
  ContainerAdapter.make({
    stateDirectory: join(podman!.base, "state"),
    driver: "podman",
    runtimeArgs: podman!.args,
    env: podman!.env,
    initPath: "/usr/bin/tini-static",
    // No systemd here to run podman's healthcheck timers: the adapter runs them.
    healthchecks: "adapter",
    pollInterval: "200 millis",
    section: (config) => ({
      image: podman!.image,
      network: "none",
      mounts: [
        { source: "/usr", target: "/usr", readOnly: true },
        repoMount,
        { source: control, target: "/control", readOnly: true }
      ],
      healthCommand: duendeHealth,
      init: config.name === "logged",
      ready: config.name.startsWith("identity") ? "auto" : "notify"
    })
  })
)

const inspect = (name: string, format: string) => podman!.run("inspect", "--type=container", `--format=${format}`, name).stdout.trim()

describe.skipIf(!gate.ok)(`podman containers${gate.label}`, () => {
  it.scopedLive("secure by default: uid 65534, no capabilities, no_new_privs, a read-only root, a writable /tmp, kernel paths masked; each opt-out works", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const identityOf = (config: ReturnType<typeof identityConfig>) =>
        Effect.gen(function*() {
          const handle = yield* containers.install(config)
          yield* containers.start(handle)
          const identity = yield* eventually(Effect.map(containers.logs(handle), findIdentity))
          yield* containers.stop(handle, Duration.seconds(5))
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
      expect(locked.kernelPaths["/proc/sys"]?.split(",")).toContain("ro")

      const opened = yield* identityOf(identityConfig("identity-opened", {
        platform: {
          container: {
            user: "0",
            capabilities: ["CAP_NET_BIND_SERVICE"],
            readOnlyRootFilesystem: false,
            noNewPrivileges: false,
            protectKernelPaths: false
          }
        }
      }))
      expect([opened.uid, opened.gid]).toEqual([0, 0])
      expect(opened.capabilities.effective).toBe(netBindService)
      expect(opened.capabilities.bounding).toBe(netBindService)
      expect(opened.noNewPrivileges).toBe(false)
      expect(opened.rootWritable).toBe(true)
      expect(opened.kernelPaths["/proc/keys"]).toBeNull()
      expect(opened.kernelPaths["/proc/sys"]).toBeNull()
    }))

  it.scopedLive("the program path, arguments, environment and working directory reach the process byte for byte", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const hostile = hostileIdentity("identity-hostile", hostileValues)
      const handle = yield* containers.install(hostile.config)
      yield* containers.start(handle)
      const identity = yield* eventually(Effect.map(containers.logs(handle), findIdentity))
      exactly(identity, hostile)
      yield* containers.stop(handle, Duration.seconds(5))
      yield* containers.uninstall(handle)

      // Podman's --env turns "\r\n" into "\n": such a value is refused, naming it, rather than changed.
      const crlf = yield* containers.install(identityConfig("identity-crlf", { env: { CRLF: "a\r\nb" } }))
      const refused = yield* Effect.flip(containers.start(crlf))
      expect(refused.message).toContain("env.CRLF")
      yield* containers.uninstall(crlf)
    }))

  it.scopedLive("podman's restart policy restarts a failing daemon; the adapter sees every death and start", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      expect(containers.restarts).toBe("platform")
      const handle = yield* containers.install(daemonConfig("flaky", {
        env: { FIXTURE_RUN: "fail:300" },
        extra: { restart: { policy: "on-failure", crashLoop: { burst: 2 } } }
      }))
      const events = yield* subscribe(containers.events(handle))
      yield* containers.start(handle)
      expect(inspect(handle.ref, "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"))
        .toBe("on-failure:2")
      let exits = 0
      const seen = yield* events((e) => e._tag === "Exited" && ++exits === 3, 60)
      expect(seen.filter((e) => e._tag === "Started")).toHaveLength(3)
      expect(seen.filter(isExit).map((e) => e.exit.code)).toEqual([1, 1, 1])
      const final = yield* eventually(Effect.map(containers.status(handle), (s) =>
        s.restarts === 2 && s.status._tag === "Failed" ? s : undefined))
      expect(final.lastExit).toMatchObject({ code: 1, description: "failed (exit 1)" })
      expect(inspect(handle.ref, "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}")).toBe("2 exited 1")
      yield* containers.uninstall(handle)
      expect(podman!.run("container", "exists", handle.ref).code).toBe(1)
    }))

  it.scopedLive("the healthcheck runs `duende health`: podman's status turns healthy, then unhealthy", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const flag = join(control, "healthy")
      writeFileSync(flag, "")
      const handle = yield* containers.install(daemonConfig("checked", {
        env: { FIXTURE_HEALTH_FILE: "/control/healthy" },
        // Generous: node starts slowly on a loaded machine, and the adapter stops a daemon not ready in time.
        extra: { initTimeout: "20s" }
      }))
      yield* containers.start(handle)
      expect(JSON.parse(inspect(handle.ref, "{{json .Config.Healthcheck.Test}}"))).toEqual(["CMD", ...duendeHealth])
      yield* eventually(Effect.sync(() => inspect(handle.ref, "{{.State.Health.Status}}") === "healthy" ? true : undefined))
      expect((yield* containers.status(handle)).health).toBe("healthy")

      rmSync(flag)
      yield* eventually(Effect.sync(() => inspect(handle.ref, "{{.State.Health.Status}}") === "unhealthy" ? true : undefined))
      const log = JSON.parse(inspect(handle.ref, "{{json .State.Health.Log}}")) as Array<{ ExitCode: number; Output: string }>
      // Some check, not necessarily the last: on a loaded machine podman may time one out (ExitCode -1).
      expect(log).toContainEqual(expect.objectContaining({ ExitCode: 1, Output: expect.stringContaining("the health file is gone") }))
      expect((yield* containers.status(handle)).health).toBe("unhealthy")
      yield* containers.stop(handle, Duration.seconds(5))
      yield* containers.uninstall(handle)
    }))

  it.scopedLive("under --init, stop gives the daemon's exit code; logs keep both streams in order; followed logs see new lines", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const handle = yield* containers.install(daemonConfig("logged"))
      yield* containers.start(handle)
      expect(JSON.parse(inspect(handle.ref, "{{json .Config.Labels}}"))).toMatchObject({
        "duende.daemon.id": handle.id,
        "duende.daemon.name": "logged",
        "duende.daemon.version": "1.0.0"
      })
      const followed = yield* containers.followLogs(handle)
      const collected = yield* Effect.fork(Stream.runCollect(Stream.take(
        Stream.filter(followed, (line) => line.text === "event:reload"),
        1
      )))
      yield* containers.reload(handle)
      const [reloadLine] = Chunk.toReadonlyArray(yield* collected.await.pipe(Effect.flatten))
      expect(reloadLine).toMatchObject({ stream: "stdout", text: "event:reload" })

      yield* containers.stop(handle, Duration.seconds(5))
      const stopped = yield* containers.status(handle)
      expect(stopped.status._tag).toBe("Stopped")
      expect(stopped.lastExit).toMatchObject({ code: 143, description: "stopped by SIGTERM" })
      expect(inspect(handle.ref, "{{.State.ExitCode}}")).toBe("143")

      const lines = yield* containers.logs(handle, { lines: 50 })
      const texts = lines.map((l) => `${l.stream}:${l.text}`)
      expect(texts).toContain("stdout:event:run")
      expect(texts).toContain("stdout:event:shutdown:Signal")
      expect(texts.some((t) => t.startsWith("stderr:") && t.includes("SIGTERM received"))).toBe(true)
      expect(lines.every((l) => l.at > 0)).toBe(true)
      expect(texts.indexOf("stdout:event:run")).toBeLessThan(texts.indexOf("stdout:event:shutdown:Signal"))
      // tini (--init-path) is PID 1: the daemon is not, and does not warn.
      expect(texts.some((t) => /^stdout:event:init pid=([2-9]|\d\d+)$/.test(t))).toBe(true)
      expect(texts.some((t) => t.includes("PID 1 of its container"))).toBe(false)
      yield* containers.uninstall(handle)
    }))
})
