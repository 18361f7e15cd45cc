// A daemon's state from the API's own shapes of a workload and its pods (as `kubectl get -o json`
// shows them): ready replicas, restarts, the last termination, crash loops and pull failures.
import { describe, expect, it } from "@effect/vitest"
import * as PodState from "../src/internal/podState.js"

const deployment = (replicas: number, annotations: Record<string, string> = {}): PodState.Workload => ({
  kind: "Deployment",
  metadata: { name: "api", generation: 2, annotations: { "duende.dev/replicas": "2", ...annotations } },
  spec: { replicas },
  status: { observedGeneration: 2, replicas, readyReplicas: replicas, updatedReplicas: replicas }
})

const pod = (name: string, status: Partial<PodState.ContainerStatus>, extra: { ready?: boolean; deleting?: boolean } = {}): PodState.Pod => ({
  metadata: { name, uid: `uid-${name}`, ...(extra.deleting ? { deletionTimestamp: "2026-01-01T00:01:00Z" } : {}) },
  status: {
    phase: "Running",
    conditions: [{ type: "Ready", status: extra.ready ? "True" : "False" }],
    containerStatuses: [{ name: "api", ready: extra.ready ?? false, started: true, restartCount: 0, ...status }]
  }
})

const running = { running: { startedAt: "2026-01-01T00:00:10Z" } }

describe("the daemon's state from the API", () => {
  it("Created before it ever ran, Stopped after, Stopping while pods go", () => {
    expect(PodState.stateOf(deployment(0), []).status._tag).toBe("Created")
    const lastExit = JSON.stringify({ code: 143, signal: null, at: 1767225600000, description: "exited with 143 (Error)" })
    const stopped = PodState.stateOf(deployment(0, { "duende.dev/last-exit": lastExit }), [])
    expect(stopped.status._tag).toBe("Stopped")
    expect(stopped.lastExit).toEqual({ code: 143, signal: null, at: 1767225600000, description: "exited with 143 (Error)" })
    expect(PodState.stateOf(deployment(0), [pod("api-1", { state: running }, { deleting: true })]).status._tag).toBe("Stopping")
  })

  it("Running when the pods are ready: readiness as health, restarts summed, the pods' readiness as text, no pid", () => {
    const state = PodState.stateOf(deployment(2), [
      pod("api-1", { state: running, restartCount: 1, ready: true }, { ready: true }),
      pod("api-2", { state: { running: { startedAt: "2026-01-01T00:00:05Z" } }, restartCount: 2, ready: true }, { ready: true })
    ])
    expect(state).toMatchObject({ status: { _tag: "Running" }, restarts: 3, statusText: "2/2 pods ready", health: "healthy", pid: undefined })
    expect(state.startedAt).toBe(Date.parse("2026-01-01T00:00:05Z"))
    const half = PodState.stateOf(deployment(2), [
      pod("api-1", { state: running, ready: true }, { ready: true }),
      pod("api-2", { state: running, ready: false })
    ])
    expect(half).toMatchObject({ status: { _tag: "Running" }, statusText: "1/2 pods ready", health: "unhealthy" })
  })

  it("Starting until a pod is ready: health starting before the startup probe passed, unhealthy after", () => {
    expect(PodState.stateOf(deployment(1), [pod("api-1", { state: running, started: false })])).toMatchObject({
      status: { _tag: "Starting" },
      health: "starting"
    })
    expect(PodState.stateOf(deployment(1), [pod("api-1", { state: running, started: true })]).health).toBe("unhealthy")
    expect(PodState.stateOf(deployment(1), []).status._tag).toBe("Starting")
  })

  it("a crash loop is Failed with the restarts and the last exit; Kubernetes keeps retrying", () => {
    const state = PodState.stateOf(deployment(1), [
      pod("api-1", {
        restartCount: 4,
        state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting failed container" } },
        lastState: { terminated: { exitCode: 2, reason: "Error", finishedAt: "2026-01-01T00:02:00Z" } }
      })
    ])
    expect(state.status).toEqual({
      _tag: "Failed",
      reason: "crash loop: api-1 restarted 4 times, last exited with 2 (Error) (CrashLoopBackOff: Kubernetes keeps retrying with a growing back-off)"
    })
    expect(state.lastExit).toMatchObject({ code: 2, signal: null, at: Date.parse("2026-01-01T00:02:00Z") })
    expect(state.restarts).toBe(4)
  })

  it("an image that cannot be pulled is Failed with the kubelet's reason", () => {
    const state = PodState.stateOf(deployment(1), [
      pod("api-1", { started: false, state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image \"ghcr.io/acme/api:9\"" } } })
    ])
    expect(state.status).toEqual({ _tag: "Failed", reason: "api-1: ImagePullBackOff: Back-off pulling image \"ghcr.io/acme/api:9\"" })
  })

  it("exits: 137 is SIGKILL (OOMKilled says why), a signal field is honoured, codes are codes", () => {
    expect(PodState.exitOf({ exitCode: 137, reason: "OOMKilled", finishedAt: "2026-01-01T00:00:00Z" })).toEqual({
      code: null,
      signal: "SIGKILL",
      at: Date.parse("2026-01-01T00:00:00Z"),
      description: "killed by SIGKILL (OOMKilled: over its memory limit)"
    })
    expect(PodState.exitOf({ exitCode: 143, reason: "Error" })).toMatchObject({ code: 143, signal: null, description: "exited with 143 (Error)" })
    expect(PodState.exitOf({ exitCode: 0, reason: "Completed" })).toMatchObject({ code: 0, description: "exited with 0 (Completed)" })
    expect(PodState.exitOf({ exitCode: 130, signal: 2 })).toMatchObject({ code: null, signal: "SIGINT" })
    // The latest termination of all the pods is the last exit.
    const state = PodState.stateOf(deployment(1), [
      pod("a", { state: running, lastState: { terminated: { exitCode: 1, finishedAt: "2026-01-01T00:00:09Z" } } }, { ready: true }),
      pod("b", { state: running, lastState: { terminated: { exitCode: 3, finishedAt: "2026-01-01T00:00:01Z" } } }, { ready: true })
    ])
    expect(state.lastExit?.code).toBe(1)
  })

  it("Jobs: suspended is stopped, Complete is Stopped, Failed carries the controller's reason", () => {
    const job = (status: NonNullable<PodState.Workload["status"]>, suspend = false): PodState.Workload => ({
      kind: "Job",
      metadata: { name: "batch", annotations: {} },
      spec: { suspend, parallelism: 1 },
      status
    })
    expect(PodState.desired(job({}, true))).toBe(0)
    expect(PodState.stateOf(job({}, true), []).status._tag).toBe("Created")
    expect(PodState.stateOf(job({ conditions: [{ type: "Complete", status: "True" }] }), [])).toMatchObject({
      status: { _tag: "Stopped" },
      statusText: "completed"
    })
    expect(PodState.stateOf(job({ conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" }] }), []).status)
      .toEqual({ _tag: "Failed", reason: "Job failed: BackoffLimitExceeded: Job has reached the specified backoff limit" })
  })

  it("the configured replicas come from the annotation; a broken one counts as 1", () => {
    expect(PodState.configured(deployment(0))).toBe(2)
    expect(PodState.configured(deployment(0, { "duende.dev/replicas": "x" }))).toBe(1)
    expect(PodState.recordedExit(deployment(0, { "duende.dev/last-exit": "{not json" }))).toBeUndefined()
  })
})
