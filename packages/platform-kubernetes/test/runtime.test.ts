// The runtime half, inside a pod: detection, and the state file the pod's exec probes read —
// checked with the probe command the manifests render, run for real (`duende health --state-dir`).
import type { Platform } from "@duende/core"
import { HealthStatus } from "@duende/core"
import { checkHealth } from "@duende/platform-container"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { KubernetesEnvironment, KubernetesRuntime } from "../src/index.js"
import { KubernetesSection } from "../src/adapter.js"

const probeOf = (env: Record<string, string>, files: Record<string, string> = {}): Platform.Probe => ({
  env,
  os: "linux",
  pid: 42,
  exists: (path) => path in files || Object.keys(files).some((f) => f.startsWith(`${path}/`)),
  read: (path) => files[path]
})

const duende = fileURLToPath(new URL("../../../node_modules/.bin/duende", import.meta.url))

const runProbe = (command: ReadonlyArray<string>) =>
  new Promise<{ code: number; output: string }>((done) => {
    execFile(command[0] === "duende" ? duende : command[0]!, command.slice(1), (error, stdout, stderr) =>
      done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, output: `${stdout}${stderr}`.trim() }))
  })

describe("inside a pod", () => {
  it("detects the pod from the kubelet's variable or the service-account mount, and names it", () => {
    expect(KubernetesEnvironment.detect(probeOf({ HOSTNAME: "laptop" }))).toEqual({ inPod: false, markers: [], podName: undefined, namespace: undefined })
    expect(KubernetesEnvironment.detect(probeOf({
      KUBERNETES_SERVICE_HOST: "10.96.0.1",
      HOSTNAME: "api-5d8f-x2",
      DUENDE_POD_NAME: "api-5d8f-x2k9q",
      DUENDE_POD_NAMESPACE: "prod"
    }))).toEqual({ inPod: true, markers: ["env KUBERNETES_SERVICE_HOST"], podName: "api-5d8f-x2k9q", namespace: "prod" })
    const mounted = KubernetesEnvironment.detect(probeOf(
      { HOSTNAME: "api-0" },
      { [`${KubernetesEnvironment.serviceAccountDirectory}/namespace`]: "staging\n" }
    ))
    expect(mounted).toEqual({ inPod: true, markers: [KubernetesEnvironment.serviceAccountDirectory], podName: "api-0", namespace: "staging" })
  })

  it.scopedLive("publishes readiness and health where the rendered probe command reads them", () =>
    Effect.gen(function*() {
      const directory = mkdtempSync(join(tmpdir(), "k8s-runtime-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(directory, { recursive: true, force: true })))
      const command = KubernetesSection.defaultProbeCommand.map((part) => (part === "/run/duende" ? directory : part))
      expect(command).toEqual(["duende", "health", "--state-dir", directory])
      const runtime = yield* KubernetesRuntime.make({
        directory,
        probe: probeOf({ KUBERNETES_SERVICE_HOST: "10.96.0.1", DUENDE_POD_NAME: "api-1", DUENDE_POD_NAMESPACE: "prod" })
      })
      expect(runtime.platform).toBe("kubernetes")
      const starting = yield* Effect.promise(() => runProbe(command))
      expect(starting).toEqual({ code: 1, output: "starting" })
      yield* runtime.ready
      expect(yield* Effect.promise(() => runProbe(command))).toEqual({ code: 0, output: "ready" })
      yield* runtime.health({ state: "unhealthy", status: HealthStatus.unhealthy("database gone"), consecutiveFailures: 3, latencyMs: 4 })
      const unhealthy = yield* Effect.promise(() => runProbe(command))
      expect(unhealthy.code).toBe(1)
      expect(unhealthy.output).toBe("unhealthy after 3 consecutive failures: main: database gone")
      yield* runtime.stopping
      expect((yield* checkHealth({ directory })).exitCode).toBe(1)
    }), 60_000)

  it.scopedLive("says how to fix an unwritable state directory instead of failing the probes silently", () =>
    Effect.gen(function*() {
      const messages: Array<string> = []
      const logger = Logger.make(({ message }) => void messages.push(String(message)))
      // Root may write anywhere: a file in the way of the directory stops it too.
      const blocked = join("/dev/null", "state")
      const runtime = yield* KubernetesRuntime.make({ directory: blocked, probe: probeOf({}) }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      yield* runtime.ready
      expect(messages.join("\n")).toMatch(/the exec probes \(`duende health`\) will fail: no state directory can be written/)
      expect(messages.join("\n")).toMatch(/Mount an emptyDir at \/run\/duende and set DUENDE_STATE_DIR=\/run\/duende/)
    }))
})
