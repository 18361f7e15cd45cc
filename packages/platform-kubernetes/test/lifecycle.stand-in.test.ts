// KubernetesAdapter's lifecycle, claim by claim, with a real Duende daemon in the pods: against
// the recording STAND-IN of the API server here (whose kubelet runs each pod's command as a local
// process, see stand-in/cluster.ts), and against a real cluster in the kind workflow
// (DUENDE_K8S_KUBECONFIG, see helpers/target.ts).
//
// These are the claims of @duende/testing's AdapterContract as Kubernetes can meet them. The
// contract itself is not run: it asks for a pid with every Running state, which the Kubernetes
// API does not report (a pod's processes are its containers'), and at its crash-loop limit for
// a platform that stops restarting, where Kubernetes keeps retrying with a growing back-off
// (CrashLoopBackOff, reported as Failed here).
import type { PlatformAdapter } from "@duende/core/manager"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { KubernetesAdapter } from "../src/adapter.js"
import * as Target from "./helpers/target.js"

let target: Target.Target
beforeAll(async () => {
  target = await Target.start()
})
afterAll(() => target.close())

let counter = 0
const configOf = (...args: Parameters<Target.Target["daemon"]>) => decodeSync(target.daemon(...args), "test")
const name = () => `life-${process.pid % 1000}-${++counter}`

/** An adapter for the target, its daemons uninstalled when the test ends. */
const withAdapter = <A, E>(body: (adapter: KubernetesAdapter.KubernetesAdapter, track: (h: PlatformAdapter.DaemonHandle) => PlatformAdapter.DaemonHandle) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.scoped(Effect.gen(function*() {
    const adapter = yield* KubernetesAdapter.make({
      kubeconfig: target.kubeconfig,
      ...(target.context !== undefined ? { context: target.context } : {}),
      namespace: target.namespace,
      pollInterval: "100 millis"
    })
    const handles: Array<PlatformAdapter.DaemonHandle> = []
    yield* Effect.addFinalizer(() =>
      Effect.forEach(handles, (h) => Effect.ignore(adapter.uninstall(h)), { discard: true })
    )
    return yield* body(adapter, (h) => {
      handles.push(h)
      return h
    })
  }))

/** Polls until `check` gives a value. */
const until = <A, E>(check: Effect.Effect<A | undefined, E>, seconds: number, what: string) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    while (true) {
      const value = yield* check
      if (value !== undefined) return value
      if ((yield* Clock.currentTimeMillis) - start > seconds * 1000) return yield* Effect.dieMessage(`${what} did not happen within ${seconds}s`)
      yield* Effect.sleep("50 millis")
    }
  })

const minute = 60_000

describe(`KubernetesAdapter lifecycle, real daemons in pods (${Target.real ? "a real cluster" : "stand-in API server"})`, () => {
  it.live("installs without starting (Created), then starts to Running once its pod is ready; the API reports no pid", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), {})))
        expect(handle.ref).toBe(`kubernetes:${target.namespace}/Deployment/${handle.name}`)
        expect((yield* adapter.status(handle)).status._tag).toBe("Created")
        yield* adapter.start(handle)
        const state = yield* adapter.status(handle)
        expect(state).toMatchObject({ status: { _tag: "Running" }, statusText: "1/1 pods ready", health: "healthy", pid: undefined, restarts: 0 })
        expect(state.startedAt).toBeGreaterThan(0)
        yield* adapter.stop(handle, Duration.seconds(20))
      })), 3 * minute)

  it.live("stops gracefully within the timeout: scaled to 0, the daemon's shutdown runs, exit 143", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), { shutdownMs: 500 })))
        yield* adapter.start(handle)
        const before = yield* Clock.currentTimeMillis
        yield* adapter.stop(handle, Duration.seconds(20))
        const took = (yield* Clock.currentTimeMillis) - before
        const state = yield* adapter.status(handle)
        expect(state.status._tag).toBe("Stopped")
        expect(state.lastExit).toMatchObject({ code: 143, signal: null })
        expect(took).toBeGreaterThanOrEqual(450)
        expect(took).toBeLessThan(40_000)
      })), 3 * minute)

  it.live("forces a stop at the timeout when the daemon does not end: the pods go with that grace period, SIGKILL", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), { ignoreTerm: true }, { shutdownTimeout: "60s" })))
        yield* adapter.start(handle)
        const before = yield* Clock.currentTimeMillis
        yield* adapter.stop(handle, Duration.seconds(2))
        const took = (yield* Clock.currentTimeMillis) - before
        const state = yield* adapter.status(handle)
        expect(state.status._tag).toBe("Stopped")
        expect(state.lastExit).toMatchObject({ code: null, signal: "SIGKILL" })
        expect(took).toBeGreaterThanOrEqual(1_500)
        expect(took).toBeLessThan(50_000)
      })), 3 * minute)

  it.live("Kubernetes restarts a crashed daemon itself, with its back-off; status counts the restarts and the last exit", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        expect(adapter.restarts).toBe("platform")
        const handle = track(yield* adapter.install(configOf(name(), { exitAfterMs: 10_000, exitCode: 1 })))
        yield* adapter.start(handle)
        const state = yield* until(
          Effect.map(adapter.status(handle), (s) => (s.restarts >= 2 && s.status._tag === "Running" ? s : undefined)),
          150,
          "two restarts by Kubernetes"
        )
        expect(state.lastExit).toMatchObject({ code: 1, signal: null })
        yield* adapter.stop(handle, Duration.seconds(20))
      })), 4 * minute)

  it.live("a daemon that keeps crashing is Failed (CrashLoopBackOff), with the restarts and its last exit", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), { exitAfterMs: 200, exitCode: 2 })))
        yield* Effect.ignore(adapter.start(handle))
        const failed = yield* until(
          Effect.map(adapter.status(handle), (s) => (s.status._tag === "Failed" ? s : undefined)),
          150,
          "a crash loop"
        )
        expect(failed.status).toMatchObject({ reason: expect.stringMatching(/^crash loop: .* restarted \d+ times, last exited with 2 \(Error\)/) })
        expect(failed.restarts).toBeGreaterThanOrEqual(1)
        expect(failed.lastExit?.code).toBe(2)
        yield* adapter.stop(handle, Duration.seconds(20))
      })), 4 * minute)

  it.live("a start fails at once, with the daemon's last words, when its container exits before it is ready", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), { failInit: true })))
        const error = yield* Effect.flip(adapter.start(handle))
        expect(error._tag).toBe("StartFailed")
        expect(error.message).toMatch(/before it was ready/)
        expect(error.message).toMatch(/init failed on purpose/)
        yield* adapter.stop(handle, Duration.seconds(20))
      })), 3 * minute)

  it.live("refuses a double start; a double stop does nothing", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), {})))
        yield* adapter.start(handle)
        const error = yield* Effect.flip(adapter.start(handle))
        expect(error._tag).toBe("DaemonAlreadyRunning")
        yield* adapter.stop(handle, Duration.seconds(20))
        yield* adapter.stop(handle, Duration.seconds(20))
        expect((yield* adapter.status(handle)).status._tag).toBe("Stopped")
      })), 3 * minute)

  it.live("reports a valid status in every phase: Created, Starting, Running, Stopping, Stopped", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), { readyAfterMs: 3_000, shutdownMs: 3_000 })))
        const seen = [(yield* adapter.status(handle)).status._tag]
        const starting = yield* Effect.fork(adapter.start(handle))
        yield* until(Effect.map(adapter.status(handle), (s) => (s.status._tag === "Starting" ? true : undefined)), 60, "Starting")
        seen.push("Starting")
        yield* Fiber.join(starting)
        seen.push((yield* adapter.status(handle)).status._tag)
        const stopping = yield* Effect.fork(adapter.stop(handle, Duration.seconds(20)))
        yield* until(Effect.map(adapter.status(handle), (s) => (s.status._tag === "Stopping" ? true : undefined)), 60, "Stopping")
        seen.push("Stopping")
        yield* Fiber.join(stopping)
        seen.push((yield* adapter.status(handle)).status._tag)
        expect(seen).toEqual(["Created", "Starting", "Running", "Stopping", "Stopped"])
      })), 3 * minute)

  it.live("honours the environment and the working directory; the pod knows its name and namespace", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(
          configOf(name(), {}, { env: { DUENDE_TEST_ECHO: "a value: with # hostile 'bits' and no" }, workingDirectory: target.workingDirectory })
        ))
        yield* adapter.start(handle)
        const texts = yield* until(
          Effect.map(adapter.logs(handle, { lines: 50 }), (logs) => {
            const t = logs.map((l) => l.text)
            return t.some((x) => x.startsWith("pod=")) ? t : undefined
          }),
          30,
          "the echo lines"
        )
        expect(texts).toContain("echo=a value: with # hostile 'bits' and no")
        expect(texts).toContain(`cwd=${target.workingDirectory}`)
        expect(texts.find((t) => t.startsWith("pod="))).toMatch(new RegExp(`^pod=${target.namespace}/${handle.name}-[a-z0-9]+-[a-z0-9]+$`))
        yield* adapter.stop(handle, Duration.seconds(20))
      })), 3 * minute)

  it.live("logs come in order from the pods; followLogs delivers what new pods write (a rollout restart)", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), { lines: ["first line", "second line"] })))
        yield* adapter.start(handle)
        const logs = yield* until(
          Effect.map(adapter.logs(handle, { lines: 50 }), (lines) => (lines.some((l) => l.text === "second line") ? lines : undefined)),
          30,
          "the lines"
        )
        const texts = logs.map((l) => l.text)
        expect(texts.indexOf("first line")).toBeLessThan(texts.indexOf("second line"))
        expect(logs.find((l) => l.text === "first line")).toMatchObject({ stream: "stdout", at: expect.any(Number) })
        expect(yield* adapter.logs(handle, { lines: 1 })).toHaveLength(1)
        const followed: Array<string> = []
        const stream = yield* adapter.followLogs(handle)
        yield* Effect.forkScoped(Stream.runForEach(stream, (line) => Effect.sync(() => void followed.push(line.text))))
        const podsBefore = target.standIn?.cluster.list("pods", target.namespace).map((p) => p.metadata.name)
        yield* adapter.restart(handle, Duration.seconds(20))
        yield* until(Effect.sync(() => (followed.includes("second line") ? true : undefined)), 60, "the new pod's lines")
        // Subscribed from that moment: the old pod's lines were not replayed.
        expect(followed.filter((t) => t === "first line")).toHaveLength(1)
        if (podsBefore !== undefined) {
          const podsAfter = target.standIn!.cluster.list("pods", target.namespace).map((p) => p.metadata.name)
          expect(podsAfter.some((p) => podsBefore.includes(p))).toBe(false)
        }
        yield* adapter.stop(handle, Duration.seconds(20))
      })), 4 * minute)

  it.live("a rollout restart keeps a ready pod all along (maxUnavailable 0) and rolls to new pods", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), {})))
        yield* adapter.start(handle)
        let lowest = Number.POSITIVE_INFINITY
        const watching = yield* Effect.fork(Effect.forever(Effect.zipRight(
          Effect.map(adapter.status(handle), (s) => {
            const ready = Number(/^(\d+)\//.exec(s.statusText ?? "")?.[1] ?? 0)
            lowest = Math.min(lowest, ready)
          }),
          Effect.sleep("50 millis")
        )))
        yield* adapter.restart(handle, Duration.seconds(20))
        yield* Fiber.interrupt(watching)
        expect(lowest).toBe(1)
        const state = yield* adapter.status(handle)
        expect(state.status._tag).toBe("Running")
        yield* adapter.stop(handle, Duration.seconds(20))
      })), 4 * minute)

  it.live("events: Started and Ready when a pod comes up, Stopping and Exited when it goes", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const handle = track(yield* adapter.install(configOf(name(), {})))
        const events: Array<PlatformAdapter.DaemonEvent> = []
        const stream = yield* adapter.events(handle)
        yield* Effect.forkScoped(Stream.runForEach(stream, (event) => Effect.sync(() => void events.push(event))))
        yield* adapter.start(handle)
        yield* adapter.stop(handle, Duration.seconds(20))
        yield* until(Effect.sync(() => (events.some((e) => e._tag === "Exited") ? true : undefined)), 30, "the Exited event")
        const tags = events.map((e) => e._tag)
        for (const tag of ["Started", "Ready", "Stopping", "Exited"]) expect(tags).toContain(tag)
        expect(tags.indexOf("Started")).toBeLessThan(tags.indexOf("Ready"))
        expect(tags.indexOf("Ready")).toBeLessThan(tags.indexOf("Stopping"))
        expect(events.find((e) => e._tag === "Exited")).toMatchObject({ exit: { code: 143 } })
      })), 3 * minute)

  it.live("a StatefulSet's pods come up in order and are named by ordinal; a Job runs and stops by suspension", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const set = track(yield* adapter.install(configOf(name(), {}, { platform: { kubernetes: { kind: "StatefulSet", replicas: 2 } } } as any)))
        expect(set.ref).toMatch(/\/StatefulSet\//)
        yield* adapter.start(set)
        expect(yield* adapter.status(set)).toMatchObject({ status: { _tag: "Running" }, statusText: "2/2 pods ready" })
        if (target.standIn !== undefined) {
          expect(target.standIn.cluster.list("pods", target.namespace).map((p) => p.metadata.name).filter((n) => n.startsWith(set.name)).sort())
            .toEqual([`${set.name}-0`, `${set.name}-1`])
        }
        yield* adapter.stop(set, Duration.seconds(20))
        expect((yield* adapter.status(set)).status._tag).toBe("Stopped")

        const job = track(yield* adapter.install(configOf(name(), {}, { restart: { policy: "never" } })))
        expect(job.ref).toMatch(/\/Job\//)
        expect((yield* adapter.status(job)).status._tag).toBe("Created")
        yield* adapter.start(job)
        expect((yield* adapter.status(job)).status._tag).toBe("Running")
        yield* adapter.stop(job, Duration.seconds(20))
        expect(yield* adapter.status(job)).toMatchObject({ status: { _tag: "Stopped" }, lastExit: { code: 143 } })
      })), 4 * minute)

  it.live("another adapter finds an installed daemon by name; uninstall removes its objects, pods first", () =>
    withAdapter((adapter, track) =>
      Effect.gen(function*() {
        const config = configOf(name(), {}, { platform: { kubernetes: { ports: [{ port: 8080 }], replicas: 2 } } } as any)
        const handle = track(yield* adapter.install(config))
        yield* adapter.start(handle)
        const found = yield* Effect.scoped(Effect.flatMap(
          KubernetesAdapter.make({ kubeconfig: target.kubeconfig, namespace: target.namespace, ...(target.context ? { context: target.context } : {}) }),
          (other) => other.find(config.name)
        ))
        expect(found).toEqual(handle)
        yield* adapter.uninstall(handle)
        expect((yield* Effect.flip(adapter.status(handle)))._tag).toBe("DaemonNotFound")
        expect((yield* Effect.flip(adapter.find(config.name)))._tag).toBe("DaemonNotFound")
        if (target.standIn !== undefined) {
          const cluster = target.standIn.cluster
          for (const resource of ["pods", "services", "poddisruptionbudgets", "serviceaccounts", "deployments"]) {
            expect(cluster.list(resource, target.namespace).filter((o) => o.metadata.name.startsWith(config.name)), resource).toEqual([])
          }
        }
      })), 3 * minute)

  it.live.skipIf(Target.real)("the stand-in's pods leave no process behind once their daemons are uninstalled", () =>
    Effect.gen(function*() {
      const alive = (pid: number) => {
        try {
          process.kill(pid, 0)
          return true
        } catch {
          return false
        }
      }
      const spawned = target.standIn!.cluster.spawned
      expect(spawned.length).toBeGreaterThan(20)
      const left = yield* until(
        Effect.sync(() => {
          const running = spawned.filter(alive)
          return running.length === 0 ? running : undefined
        }),
        20,
        "every pod process to end"
      )
      expect(left).toEqual([])
      expect(target.standIn!.cluster.list("pods", target.namespace)).toEqual([])
    }), minute)
})
