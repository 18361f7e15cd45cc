/**
 * Core's `PlatformAdapter` for Kubernetes, through the official client
 * (`@kubernetes/client-node` 1.x). The kubeconfig comes from the usual
 * places (the `kubeconfig` option, else `KUBECONFIG`, `~/.kube/config`, or
 * the in-cluster service account); `context` and `namespace` pick the
 * cluster and where daemons go.
 *
 * - **install** applies the daemon's objects (see `KubernetesManifests`)
 *   with server-side apply, field manager `duende` and `force` (Duende owns
 *   what it applies), the workload with 0 replicas (a Job suspended) the
 *   first time, so installed is not yet running; a re-install keeps the
 *   replicas the workload has.
 * - **start** scales the workload to its configured replicas (the
 *   `duende.dev/replicas` annotation; a Job is resumed) and returns once
 *   every pod is ready — or fails at once when a container exits before it
 *   is ready, or cannot be pulled or created.
 * - **stop** scales to 0 (a Job is suspended) and waits until the pods are
 *   gone. The kubelet sends SIGTERM and kills at the pods'
 *   `terminationGracePeriodSeconds`; a `timeout` shorter than that deletes
 *   the pods with that grace period instead. How the last container ended
 *   (seen through a watch of the pods) is kept in the workload's
 *   `duende.dev/last-exit` annotation.
 * - **restart** is a rollout restart (the `kubectl.kubernetes.io/restartedAt`
 *   annotation of the pod template, as `kubectl rollout restart` sets it):
 *   new pods come up before old ones go. A stopped daemon is started; a Job
 *   is stopped and started.
 * - **status** comes from the workload and its pods: ready replicas,
 *   restarts, the last termination and a crash loop (`CrashLoopBackOff`) or
 *   pull failure as Failed. The API reports no pids.
 * - **logs** and **followLogs** read the pods' logs (the previous container's
 *   too, after a restart), merged by their timestamps. The API does not
 *   separate stdout from stderr: every line is reported as stdout. Logs go
 *   with their pods: a stopped daemon has none.
 * - **events** come from a watch of the pods.
 * - **uninstall** deletes the workload with foreground propagation (its
 *   pods first), then its Service, PodDisruptionBudget and ServiceAccount.
 * - **reload** and **signal**: the API cannot signal a container (only exec
 *   into it), so they are `OperationUnsupported`.
 *
 * Kubernetes restarts crashed containers itself (`restarts: "platform"`).
 * Handles carry the platform kind "kubernetes" and a `ref` of the form
 * `kubernetes:<namespace>/<Kind>/<name>`.
 *
 * @since 0.1.0
 */
import { type DaemonConfig, DaemonId } from "@duende/core"
import {
  type AdapterError,
  DaemonAlreadyRunning,
  DaemonNotFound,
  OperationUnsupported,
  PlatformAdapter,
  PlatformCommandFailed,
  StartFailed,
  SyscallTrace
} from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { connect, type Client } from "./internal/client.js"
import * as PodState from "./internal/podState.js"
import * as KubernetesArtifacts from "./KubernetesArtifacts.js"
import * as KubernetesManifests from "./KubernetesManifests.js"
import type * as KubernetesSection from "./KubernetesSection.js"

/**
 * Options of the Kubernetes adapter.
 *
 * @since 0.1.0
 */
export interface Options {
  /** A kubeconfig file; default `KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account. */
  readonly kubeconfig?: string
  /** The kubeconfig context; default its current one. */
  readonly context?: string
  /** Where daemons go when their config names no namespace; default the context's, else "default". */
  readonly namespace?: string
  /** Defaults under each daemon's own `platform.kubernetes` (an image, labels, …). */
  readonly section?: KubernetesSection.Input
  /** How often the pods are looked at while waiting and for events (default 1s). */
  readonly pollInterval?: Duration.DurationInput
  /**
   * How long `start` waits for ready pods beyond the startup probe's window,
   * for scheduling and pulling the image (default 5 minutes).
   */
  readonly scheduleTimeout?: Duration.DurationInput
}

/**
 * The adapter: core's `PlatformAdapter`, and `find` for daemons installed by an earlier process.
 *
 * @since 0.1.0
 */
export interface KubernetesAdapter extends PlatformAdapter.PlatformAdapter {
  /** The handle of a daemon Duende installed in the adapter's namespace (or `namespace`). */
  readonly find: (name: string, namespace?: string) => Effect.Effect<PlatformAdapter.DaemonHandle, AdapterError>
}

/**
 * The service tag of the adapter with `find`.
 *
 * @example
 * ```ts
 * import { KubernetesAdapter } from "@duende/platform-kubernetes/adapter"
 * import { Effect } from "effect"
 *
 * const status = Effect.flatMap(KubernetesAdapter.KubernetesAdapter, (adapter) =>
 *   Effect.flatMap(adapter.find("api"), adapter.status))
 * ```
 *
 * @since 0.1.0
 */
export const KubernetesAdapter: Context.Tag<KubernetesAdapter, KubernetesAdapter> = Context.GenericTag<KubernetesAdapter>(
  "@duende/platform-kubernetes/KubernetesAdapter"
)

const apiVersions: Record<KubernetesManifests.WorkloadKind, string> = {
  Deployment: "apps/v1",
  StatefulSet: "apps/v1",
  Job: "batch/v1"
}
const workloadKinds: ReadonlyArray<KubernetesManifests.WorkloadKind> = ["Deployment", "StatefulSet", "Job"]

interface Target {
  readonly namespace: string
  readonly kind: KubernetesManifests.WorkloadKind
  readonly name: string
}

const refPattern = /^kubernetes:([a-z0-9-]{1,63})\/(Deployment|StatefulSet|Job)\/([a-z0-9-]{1,63})$/

/**
 * The `ref` of a daemon's handle.
 *
 * @example
 * ```ts
 * import { KubernetesAdapter } from "@duende/platform-kubernetes/adapter"
 *
 * KubernetesAdapter.refOf({ namespace: "prod", kind: "Deployment", name: "api" }) // "kubernetes:prod/Deployment/api"
 * ```
 *
 * @since 0.1.0
 */
export const refOf = (target: Target): string => `kubernetes:${target.namespace}/${target.kind}/${target.name}`

const targetOf = (handle: PlatformAdapter.DaemonHandle): Effect.Effect<Target, DaemonNotFound> => {
  const match = refPattern.exec(handle.ref)
  return match === null
    ? Effect.fail(new DaemonNotFound({ name: handle.name, platform: "kubernetes" }))
    : Effect.succeed({ namespace: match[1]!, kind: match[2] as KubernetesManifests.WorkloadKind, name: match[3]! })
}

const selectorOf = (name: string) =>
  `${KubernetesManifests.keys.name}=${name},${KubernetesManifests.keys.instance}=${name}`

const isDuende = (workload: PodState.Workload) =>
  workload.metadata?.labels?.[KubernetesManifests.keys.managedBy] === "duende"

/** A log line's RFC 3339 timestamp as a key that sorts (nanoseconds padded), and its epoch ms. */
const stampOf = (stamp: string): { readonly key: string; readonly at: number } | undefined => {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(stamp)
  if (match === null) return undefined
  const at = Date.parse(stamp)
  if (!Number.isFinite(at)) return undefined
  return { key: `${new Date(Math.floor(at / 1000) * 1000).toISOString().slice(0, 19)}.${(match[2] ?? "").padEnd(9, "0")}`, at }
}

interface Stamped {
  readonly key: string
  readonly line: PlatformAdapter.LogLine
}

const parseLog = (text: string): ReadonlyArray<Stamped> =>
  text.split("\n").filter((line) => line !== "").map((line) => {
    const space = line.indexOf(" ")
    const stamp = space > 0 ? stampOf(line.slice(0, space)) : undefined
    return stamp === undefined
      ? { key: "", line: { at: 0, stream: "stdout" as const, text: line } }
      : { key: stamp.key, line: { at: stamp.at, stream: "stdout" as const, text: line.slice(space + 1) } }
  })

/**
 * The Kubernetes adapter as a scoped value.
 *
 * @example
 * ```ts
 * import { KubernetesAdapter } from "@duende/platform-kubernetes/adapter"
 * import { DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const adapter = yield* KubernetesAdapter.make({ context: "kind-duende", namespace: "demo" })
 *   const config = yield* DaemonConfig.load("duende.json")
 *   const handle = yield* adapter.install(config)
 *   yield* adapter.start(handle) // returns once every pod is ready
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<KubernetesAdapter, AdapterError, Scope.Scope> =>
  Effect.gen(function*() {
    const client: Client = yield* connect(options)
    const poll = Duration.decode(options.pollInterval ?? Duration.seconds(1))
    const scheduleMs = Duration.toMillis(Duration.decode(options.scheduleTimeout ?? Duration.minutes(5)))
    const sectionFor = (namespace?: string): KubernetesSection.Input => ({
      ...options.section,
      namespace: options.section?.namespace ?? namespace ?? client.namespace
    })

    const manifestsOf = (config: DaemonConfig.DaemonConfig, id: string, running?: { readonly replicas: number }) =>
      Either.mapLeft(
        KubernetesManifests.make(config, { id, section: sectionFor(), running }),
        (error) => new OperationUnsupported({ operation: `run "${config.name}" on Kubernetes`, platform: "kubernetes", hint: error.message })
      )

    const readWorkload = (target: Target) => client.read(apiVersions[target.kind], target.kind, target.namespace, target.name)

    const workloadOf = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const target = yield* targetOf(handle)
        const workload = yield* readWorkload(target)
        if (workload === undefined || !isDuende(workload)) {
          return yield* new DaemonNotFound({ name: handle.name, platform: `Kubernetes (${target.namespace})` })
        }
        return { target, workload }
      })

    const podsOf = (target: Target) => client.listPods(target.namespace, selectorOf(target.name))

    const snapshot = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const { target, workload } = yield* workloadOf(handle)
        const pods = yield* podsOf(target)
        return { target, workload, pods, state: PodState.stateOf(workload, pods) }
      })

    const setReplicas = (target: Target, replicas: number) =>
      target.kind === "Job"
        ? client.mergePatch("batch/v1", "Job", target.namespace, target.name, { spec: { suspend: replicas === 0 } })
        : client.scale(target.kind, target.namespace, target.name, replicas)

    /** Polls `check` until it gives a value; fails with `onTimeout` after `budgetMs`. */
    const until = <A, E>(
      check: Effect.Effect<A | undefined, E>,
      budgetMs: number,
      onTimeout: () => AdapterError
    ): Effect.Effect<A, E | AdapterError> =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        while (true) {
          const value = yield* check
          if (value !== undefined) return value
          if ((yield* Clock.currentTimeMillis) - start > budgetMs) return yield* Effect.fail(onTimeout())
          yield* Effect.sleep(poll)
        }
      })

    const startupWindowMs = (workload: PodState.Workload) => {
      const probe = workload.spec?.template?.spec?.containers?.[0]?.startupProbe
      return ((probe?.periodSeconds ?? 10) * (probe?.failureThreshold ?? 3) + 10) * 1000
    }

    /** The last lines the previous container of a pod wrote, for a start failure's reason. */
    const lastWords = (target: Target, pods: ReadonlyArray<PodState.Pod>) =>
      Effect.gen(function*() {
        const pod = pods.find((p) => (p.status?.containerStatuses ?? []).some((s) => (s.restartCount ?? 0) > 0))
        const name = pod?.metadata?.name
        if (name === undefined) return ""
        const text = yield* Effect.orElseSucceed(client.podLog(target.namespace, name, target.name, { tailLines: 3, previous: true }), () => "")
        const lines = parseLog(text).map((s) => s.line.text)
        return lines.length > 0 ? `; its last output: ${lines.join(" | ")}` : ""
      })

    /** Waits until every pod is ready and up to date; fails when a container exits before it is ready. */
    const awaitReady = (target: Target, name: string, restartsBefore: number, budgetMs: number) =>
      until(
        Effect.gen(function*() {
          const workload = yield* readWorkload(target)
          if (workload === undefined) return yield* new DaemonNotFound({ name, platform: `Kubernetes (${target.namespace})` })
          const pods = yield* podsOf(target)
          const state = PodState.stateOf(workload, pods)
          const live = pods.filter((pod) => !PodState.isDeleting(pod))
          const want = PodState.desired(workload)
          const restarts = live.flatMap((p) => p.status?.containerStatuses ?? []).reduce((n, s) => n + (s.restartCount ?? 0), 0)
          if (state.status._tag === "Failed" || (restarts > restartsBefore && live.filter(PodState.isReady).length < want)) {
            const why = state.status._tag === "Failed"
              ? state.status.reason
              : `a container ${state.lastExit?.description ?? "exited"} before it was ready (Kubernetes restarts it)`
            return yield* new StartFailed({ name, reason: `${why}${yield* lastWords(target, live)}` })
          }
          const status = workload.status ?? {}
          const settled = target.kind === "Job" ||
            ((status.observedGeneration ?? 0) >= (workload.metadata?.generation ?? 0) &&
              (status.updatedReplicas ?? 0) >= want && (status.replicas ?? 0) <= want)
          return settled && live.filter(PodState.isReady).length >= want && state.status._tag === "Running" ? true : undefined
        }),
        budgetMs,
        () => new StartFailed({ name, reason: `its pods were not ready within ${Duration.format(Duration.millis(budgetMs))}` })
      )

    const find = (name: string, namespace?: string) =>
      Effect.gen(function*() {
        const ns = namespace ?? options.section?.namespace ?? client.namespace
        for (const kind of workloadKinds) {
          const workload = yield* client.read(apiVersions[kind], kind, ns, name)
          if (workload === undefined) continue
          if (!isDuende(workload)) {
            return yield* new OperationUnsupported({
              operation: `manage the ${kind} "${name}"`,
              platform: "kubernetes",
              hint: `it exists in ${ns} and Duende did not create it (no app.kubernetes.io/managed-by=duende label)`
            })
          }
          const id = workload.metadata?.annotations?.[KubernetesManifests.keys.daemonId]
          return {
            id: id !== undefined && DaemonId.is(id) ? id : DaemonId.random(),
            name,
            platform: "kubernetes" as const,
            ref: refOf({ namespace: ns, kind, name })
          }
        }
        return yield* new DaemonNotFound({ name, platform: `Kubernetes (${ns})` })
      })

    const stop = (handle: PlatformAdapter.DaemonHandle, timeout: Duration.Duration) =>
      Effect.scoped(Effect.gen(function*() {
        const { target, workload } = yield* workloadOf(handle)
        const before = yield* podsOf(target)
        if (PodState.desired(workload) === 0 && before.length === 0) return
        // Watch first: the pods' last states (their exits) pass by on the way out.
        const exits: Array<PodState.Terminated> = []
        yield* client.watchPods(target.namespace, selectorOf(target.name), (_, pod) => {
          for (const status of pod.status?.containerStatuses ?? []) {
            if (status.state?.terminated !== undefined) exits.push(status.state.terminated)
          }
        }, () => {})
        yield* setReplicas(target, 0)
        const grace = workload.spec?.template?.spec?.terminationGracePeriodSeconds ?? 30
        const timeoutSeconds = Math.max(1, Math.ceil(Duration.toMillis(timeout) / 1000))
        if (timeoutSeconds < grace) {
          for (const pod of before) {
            const name = pod.metadata?.name
            if (name !== undefined) {
              yield* client.remove("v1", "Pod", target.namespace, name, { gracePeriodSeconds: timeoutSeconds })
            }
          }
        }
        const budgetMs = (Math.min(grace, timeoutSeconds) + 30) * 1000
        yield* until(
          Effect.map(podsOf(target), (pods) => (pods.length === 0 ? pods : undefined)),
          budgetMs,
          () =>
            new PlatformCommandFailed({
              command: ["scale", `${target.kind}/${target.name}`, "--replicas=0"],
              exitCode: null,
              stderr: `its pods were still there ${budgetMs / 1000}s later`
            })
        )
        exits.sort((a, b) => (PodState.millis(a.finishedAt) ?? 0) - (PodState.millis(b.finishedAt) ?? 0))
        const now = yield* Clock.currentTimeMillis
        const last = exits.length > 0
          ? PodState.exitOf(exits[exits.length - 1]!)
          : { code: null, signal: null, at: now, description: "stopped (scaled to 0)" }
        yield* client.mergePatch(apiVersions[target.kind], target.kind, target.namespace, target.name, {
          metadata: { annotations: { [KubernetesManifests.keys.lastExit]: JSON.stringify(last) } }
        })
      }))

    const start = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const { pods, state, target, workload } = yield* snapshot(handle)
        const want = PodState.desired(workload)
        if (want > 0 && (state.status._tag === "Running" || state.status._tag === "Starting")) {
          return yield* new DaemonAlreadyRunning({ name: handle.name, pid: undefined })
        }
        if (target.kind === "Job" && state.status._tag === "Stopped" && state.statusText === "completed") {
          return yield* new OperationUnsupported({
            operation: `start the finished Job "${handle.name}" again`,
            platform: "kubernetes",
            hint: "a Job runs once: uninstall it and install it again"
          })
        }
        const replicas = PodState.configured(workload)
        if (replicas === 0) {
          return yield* new OperationUnsupported({
            operation: `start "${handle.name}"`,
            platform: "kubernetes",
            hint: "its platform.kubernetes.replicas is 0: set it to the number of pods to run, and install again"
          })
        }
        const restartsBefore = pods.flatMap((p) => p.status?.containerStatuses ?? []).reduce((n, s) => n + (s.restartCount ?? 0), 0)
        yield* setReplicas(target, replicas)
        yield* awaitReady(target, handle.name, restartsBefore, startupWindowMs(workload) + scheduleMs)
      })

    const adapter: KubernetesAdapter = {
      platform: "kubernetes",
      restarts: "platform",
      attachTracer: () =>
        Effect.fail(
          new SyscallTrace.TraceUnsupported({
            platform: "kubernetes",
            reason:
              "the daemon runs in a pod on a cluster node, out of this host's ptrace: trace it on its node (kubectl debug node/… with strace)"
          })
        ),
      // A config's `instances` is its workload's replicas.
      instances: "replicas",
      find,
      render: (config) =>
        Either.mapLeft(
          KubernetesArtifacts.render(config, { section: sectionFor() }),
          (error) => new OperationUnsupported({ operation: `render "${config.name}" for Kubernetes`, platform: "kubernetes", hint: error.message })
        ),
      install: (config, id) =>
        Effect.gen(function*() {
          const first = yield* manifestsOf(config, id ?? DaemonId.random())
          const namespace = first.namespace ?? client.namespace
          // The same name as another kind (an earlier install with another kind) would select the same pods.
          let existing: PodState.Workload | undefined
          for (const kind of workloadKinds) {
            const found = yield* client.read(apiVersions[kind], kind, namespace, config.name)
            if (found === undefined) continue
            if (!isDuende(found)) {
              return yield* new OperationUnsupported({
                operation: `install "${config.name}"`,
                platform: "kubernetes",
                hint: `a ${kind} named ${config.name} exists in ${namespace} and Duende did not create it`
              })
            }
            if (kind !== first.kind) {
              return yield* new OperationUnsupported({
                operation: `install "${config.name}" as a ${first.kind}`,
                platform: "kubernetes",
                hint: `it is installed as a ${kind}: uninstall it first (duende rm ${config.name} --platform kubernetes)`
              })
            }
            existing = found
          }
          const known = existing?.metadata?.annotations?.[KubernetesManifests.keys.daemonId]
          const daemonId = id ?? (known !== undefined && DaemonId.is(known) ? known : DaemonId.random())
          const running = existing === undefined ? 0 : PodState.desired(existing)
          const manifests = yield* manifestsOf(config, daemonId, { replicas: running })
          if (first.kind === "Job" && existing !== undefined) {
            const template = (existing.spec as { template?: { metadata?: { annotations?: Record<string, string> } } }).template
            if (template?.metadata?.annotations?.[KubernetesManifests.keys.configHash] !== manifests.configHash) {
              return yield* new OperationUnsupported({
                operation: `change the Job "${config.name}"`,
                platform: "kubernetes",
                hint: "a Job's pod template cannot change: uninstall it, then install the new config"
              })
            }
          }
          if (manifests.ignored.length > 0) {
            yield* Effect.logWarning(`${config.name}: not applied on Kubernetes: ${manifests.ignored.join(", ")}`)
          }
          for (const object of KubernetesManifests.objects(manifests)) yield* client.apply(object)
          return {
            id: daemonId as DaemonId.DaemonId,
            name: config.name,
            platform: "kubernetes" as const,
            ref: refOf({ namespace, kind: manifests.kind, name: config.name })
          }
        }),
      start,
      stop,
      restart: (handle, timeout) =>
        Effect.gen(function*() {
          const { state, target, workload } = yield* snapshot(handle)
          if (PodState.desired(workload) === 0 || state.status._tag === "Stopped") return yield* start(handle)
          if (target.kind === "Job") {
            yield* stop(handle, timeout)
            return yield* start(handle)
          }
          const now = yield* Clock.currentTimeMillis
          const pods = yield* podsOf(target)
          const restartsBefore = pods.flatMap((p) => p.status?.containerStatuses ?? []).reduce((n, s) => n + (s.restartCount ?? 0), 0)
          yield* client.mergePatch(apiVersions[target.kind], target.kind, target.namespace, target.name, {
            spec: { template: { metadata: { annotations: { [KubernetesManifests.keys.restartedAt]: new Date(now).toISOString() } } } }
          })
          // The old pods take up to their grace period to go; the new ones their startup window to be ready.
          const grace = workload.spec?.template?.spec?.terminationGracePeriodSeconds ?? 30
          yield* awaitReady(target, handle.name, restartsBefore, startupWindowMs(workload) + grace * 1000 + scheduleMs)
          yield* until(
            Effect.map(podsOf(target), (now) => (now.every((pod) => !PodState.isDeleting(pod)) ? true : undefined)),
            (grace + 30) * 1000,
            () => new PlatformCommandFailed({ command: ["rollout", "restart", `${target.kind}/${target.name}`], exitCode: null, stderr: "old pods did not go" })
          )
        }),
      reload: () =>
        Effect.fail(
          new OperationUnsupported({
            operation: "reload a daemon",
            platform: "kubernetes",
            hint: "the API cannot signal a container: restart it (a rollout), or `kubectl exec POD -- kill -HUP 1`"
          })
        ),
      signal: (_, signal) =>
        Effect.fail(
          new OperationUnsupported({
            operation: `send ${signal}`,
            platform: "kubernetes",
            hint: "the API cannot signal a container: `kubectl exec POD -- kill -s <signal> 1`"
          })
        ),
      status: (handle) => Effect.map(snapshot(handle), ({ state }) => state),
      logs: (handle, logOptions) =>
        Effect.gen(function*() {
          const lines = logOptions?.lines ?? 100
          const { target } = yield* workloadOf(handle)
          const pods = yield* podsOf(target)
          const all: Array<Stamped> = []
          for (const pod of pods) {
            const name = pod.metadata?.name
            if (name === undefined) continue
            const status = pod.status?.containerStatuses?.find((s) => s.name === target.name)
            if (status === undefined) continue
            if ((status.restartCount ?? 0) > 0) {
              const previous = yield* Effect.orElseSucceed(
                client.podLog(target.namespace, name, target.name, { tailLines: lines, previous: true }),
                () => ""
              )
              all.push(...parseLog(previous))
            }
            if (status.state?.waiting === undefined) {
              all.push(...parseLog(yield* client.podLog(target.namespace, name, target.name, { tailLines: lines, previous: false })))
            }
          }
          all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
          return all.slice(-lines).map((s) => s.line)
        }),
      followLogs: (handle) =>
        Effect.gen(function*() {
          const { target } = yield* workloadOf(handle)
          const queue = yield* Effect.acquireRelease(Queue.unbounded<PlatformAdapter.LogLine>(), Queue.shutdown)
          const from = stampOf(new Date(yield* Clock.currentTimeMillis).toISOString())!.key
          /** Per pod: the last line's key, and whether its log is being followed now. */
          const pods = new Map<string, { last: string; following: boolean; partial: string }>()
          const follow = (pod: string) =>
            Effect.gen(function*() {
              const entry = pods.get(pod) ?? { last: from, following: false, partial: "" }
              pods.set(pod, entry)
              if (entry.following) return
              entry.following = true
              const since = `${entry.last.slice(0, 19)}Z`
              yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
                const ended = yield* Effect.makeLatch()
                yield* client.followLog(target.namespace, pod, target.name, since, (text) => {
                  const lines = (entry.partial + text).split("\n")
                  entry.partial = lines.pop() ?? ""
                  for (const stamped of parseLog(lines.join("\n"))) {
                    if (stamped.key !== "" && stamped.key <= entry.last) continue
                    if (stamped.key !== "") entry.last = stamped.key
                    Queue.unsafeOffer(queue, stamped.line)
                  }
                }, () => Effect.runSync(ended.open))
                yield* ended.await
              })).pipe(Effect.ignore, Effect.ensuring(Effect.sync(() => {
                entry.following = false
              }))))
            })
          // Pods come and go (restarts, rollouts): look for ones to follow every poll.
          const scan = Effect.flatMap(Effect.orElseSucceed(podsOf(target), () => [] as ReadonlyArray<PodState.Pod>), (list) =>
            Effect.forEach(
              list.filter((pod) =>
                pod.metadata?.name !== undefined &&
                (pod.status?.containerStatuses ?? []).some((s) => s.name === target.name && s.state?.running !== undefined)
              ),
              (pod) => follow(pod.metadata!.name!),
              { discard: true }
            ))
          yield* scan
          yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(poll), scan)))
          return Stream.fromQueue(queue)
        }),
      events: (handle) =>
        Effect.gen(function*() {
          const { target } = yield* workloadOf(handle)
          const queue = yield* Effect.acquireRelease(Queue.unbounded<PlatformAdapter.DaemonEvent>(), Queue.shutdown)
          type Seen = { ready: boolean; deleting: boolean; started: Map<string, number>; finished: Set<number> }
          const seen = new Map<string, Seen>()
          const observe = (pods: ReadonlyArray<PodState.Pod>, emit: boolean) =>
            Effect.gen(function*() {
              const now = yield* Clock.currentTimeMillis
              const offer = (event: PlatformAdapter.DaemonEvent) => {
                if (emit) Queue.unsafeOffer(queue, event)
              }
              for (const pod of pods) {
                const key = pod.metadata?.uid ?? pod.metadata?.name ?? ""
                const before = seen.get(key) ?? { ready: false, deleting: false, started: new Map(), finished: new Set() }
                for (const status of pod.status?.containerStatuses ?? []) {
                  for (const terminated of [status.lastState?.terminated, status.state?.terminated]) {
                    const at = terminated === undefined ? undefined : PodState.millis(terminated.finishedAt)
                    if (terminated === undefined || at === undefined || before.finished.has(at)) continue
                    before.finished.add(at)
                    offer({ _tag: "Exited", exit: PodState.exitOf(terminated) })
                  }
                  const startedAt = PodState.millis(status.state?.running?.startedAt)
                  if (startedAt !== undefined && before.started.get(status.name) !== startedAt) {
                    before.started.set(status.name, startedAt)
                    offer({ _tag: "Started", pid: undefined, at: startedAt })
                  }
                }
                const ready = PodState.isReady(pod)
                if (ready && !before.ready) {
                  offer({ _tag: "Ready", at: now })
                  offer({ _tag: "Health", state: "healthy", consecutiveFailures: 0, summary: `${pod.metadata?.name} is ready`, at: now })
                }
                if (!ready && before.ready && !PodState.isDeleting(pod)) {
                  offer({ _tag: "Health", state: "unhealthy", consecutiveFailures: 1, summary: `${pod.metadata?.name} is not ready`, at: now })
                }
                if (PodState.isDeleting(pod) && !before.deleting) offer({ _tag: "Stopping", at: now })
                before.ready = ready
                before.deleting = PodState.isDeleting(pod)
                seen.set(key, before)
              }
            })
          // What is there now is the baseline: events are what happens from this moment.
          yield* observe(yield* podsOf(target), false)
          // A watch, not a poll: a pod's last state (its exit) lasts only until the pod is removed.
          const changes = yield* Effect.acquireRelease(Queue.unbounded<PodState.Pod>(), Queue.shutdown)
          const watchOnce = Effect.scoped(Effect.gen(function*() {
            const ended = yield* Effect.makeLatch()
            yield* client.watchPods(target.namespace, selectorOf(target.name), (_, pod) => Queue.unsafeOffer(changes, pod), () =>
              Effect.runSync(ended.open))
            yield* ended.await
          }))
          // The server ends a watch now and then: watch again (after a pause when it failed).
          yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.ignore(watchOnce), Effect.sleep(poll))))
          yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(changes), (pod) => observe([pod], true))))
          return Stream.fromQueue(queue)
        }),
      uninstall: (handle) =>
        Effect.gen(function*() {
          const { target, workload } = yield* workloadOf(handle)
          const account = workload.spec?.template?.spec?.serviceAccountName
          yield* client.remove(apiVersions[target.kind], target.kind, target.namespace, target.name, { propagationPolicy: "Foreground" })
          const owned = [
            ["v1", "Service", target.name],
            ["policy/v1", "PodDisruptionBudget", target.name],
            ...(account !== undefined ? [["v1", "ServiceAccount", account]] : [])
          ] as const
          for (const [apiVersion, kind, name] of owned) {
            const object = yield* client.read(apiVersion, kind, target.namespace, name)
            const labels = object?.metadata?.labels
            if (labels?.[KubernetesManifests.keys.managedBy] === "duende" && labels[KubernetesManifests.keys.instance] === target.name) {
              yield* client.remove(apiVersion, kind, target.namespace, name, { propagationPolicy: "Background" })
            }
          }
          const grace = workload.spec?.template?.spec?.terminationGracePeriodSeconds ?? 30
          yield* until(
            Effect.map(readWorkload(target), (left) => (left === undefined ? true : undefined)),
            (grace + 30) * 1000,
            () => new PlatformCommandFailed({ command: ["DELETE", `${target.kind}/${target.name}`], exitCode: null, stderr: "it was still there" })
          )
        })
    }
    return adapter
  })

/**
 * The Kubernetes adapter as a layer providing core's `PlatformAdapter` and {@link KubernetesAdapter}.
 *
 * @example
 * ```ts
 * import { KubernetesAdapter } from "@duende/platform-kubernetes/adapter"
 * import { PlatformAdapter } from "@duende/core/manager"
 * import { Effect } from "effect"
 *
 * const adapter = KubernetesAdapter.layer({ context: "kind-duende", namespace: "demo" })
 * const program = Effect.flatMap(PlatformAdapter.PlatformAdapter, (a) => Effect.log(a.restarts)).pipe(Effect.provide(adapter))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<PlatformAdapter.PlatformAdapter | KubernetesAdapter, AdapterError> =>
  Layer.scopedContext(
    Effect.map(make(options), (adapter) =>
      Context.make(KubernetesAdapter, adapter).pipe(Context.add(PlatformAdapter.PlatformAdapter, adapter)))
  )
