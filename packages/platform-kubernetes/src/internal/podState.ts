/**
 * A daemon's state from its workload and pods, as the API reports them:
 * desired and ready replicas, the containers' states, restart counts and
 * last terminations. Pure, so it is tested on the API's own shapes.
 *
 * @internal
 */
import { DaemonStatus, Signal } from "@duende/core"
import type { PlatformAdapter } from "@duende/core/manager"
import { keys } from "../KubernetesManifests.js"

type Time = Date | string | undefined

export interface Terminated {
  readonly exitCode?: number
  readonly signal?: number
  readonly reason?: string
  readonly message?: string
  readonly startedAt?: Time
  readonly finishedAt?: Time
}

export interface ContainerState {
  readonly running?: { readonly startedAt?: Time }
  readonly waiting?: { readonly reason?: string; readonly message?: string }
  readonly terminated?: Terminated
}

export interface ContainerStatus {
  readonly name: string
  readonly ready?: boolean
  readonly started?: boolean
  readonly restartCount?: number
  readonly state?: ContainerState
  readonly lastState?: ContainerState
}

export interface Pod {
  readonly metadata?: {
    readonly name?: string
    readonly uid?: string
    readonly deletionTimestamp?: Time
    readonly creationTimestamp?: Time
  }
  readonly status?: {
    readonly phase?: string
    readonly conditions?: ReadonlyArray<{ readonly type?: string; readonly status?: string }>
    readonly containerStatuses?: ReadonlyArray<ContainerStatus>
  }
}

export interface Workload {
  readonly kind?: string
  readonly metadata?: {
    readonly name?: string
    readonly generation?: number
    readonly annotations?: Readonly<Record<string, string>>
    readonly labels?: Readonly<Record<string, string>>
  }
  readonly spec?: {
    readonly replicas?: number
    readonly suspend?: boolean
    readonly parallelism?: number
    readonly template?: {
      readonly spec?: {
        readonly terminationGracePeriodSeconds?: number
        readonly serviceAccountName?: string
        readonly containers?: ReadonlyArray<{
          readonly startupProbe?: { readonly periodSeconds?: number; readonly failureThreshold?: number }
        }>
      }
    }
  }
  readonly status?: {
    readonly observedGeneration?: number
    readonly replicas?: number
    readonly readyReplicas?: number
    readonly updatedReplicas?: number
    readonly availableReplicas?: number
    readonly conditions?: ReadonlyArray<{
      readonly type?: string
      readonly status?: string
      readonly reason?: string
      readonly message?: string
    }>
  }
}

export const millis = (time: Time): number | undefined => {
  if (time === undefined) return undefined
  const ms = time instanceof Date ? time.getTime() : Date.parse(time)
  return Number.isFinite(ms) ? ms : undefined
}

/** Replicas the workload asks for now (a suspended Job asks for none). */
export const desired = (workload: Workload): number =>
  workload.kind === "Job"
    ? (workload.spec?.suspend === true ? 0 : workload.spec?.parallelism ?? 1)
    : workload.spec?.replicas ?? 1

/** Replicas it runs with when started (the `duende.dev/replicas` annotation). */
export const configured = (workload: Workload): number => {
  const text = workload.metadata?.annotations?.[keys.replicas]
  const n = text === undefined ? Number.NaN : Number(text)
  return Number.isSafeInteger(n) && n >= 0 ? n : 1
}

export const isDeleting = (pod: Pod): boolean => pod.metadata?.deletionTimestamp !== undefined

export const isReady = (pod: Pod): boolean =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true

/** How a container's run ended, in core's terms: exit 137 is the runtime's SIGKILL. */
export const exitOf = (terminated: Terminated): PlatformAdapter.ExitInfo => {
  const at = millis(terminated.finishedAt) ?? 0
  const reason = terminated.reason !== undefined && terminated.reason !== "" ? terminated.reason : undefined
  const bySignal = terminated.signal !== undefined && terminated.signal > 0
    ? Signal.fromNumber(terminated.signal)
    : terminated.exitCode === 137
    ? "SIGKILL"
    : undefined
  if (bySignal !== undefined) {
    return {
      code: null,
      signal: bySignal,
      at,
      description: `killed by ${bySignal}${
        reason === "OOMKilled" ? " (OOMKilled: over its memory limit)" : reason !== undefined ? ` (${reason})` : ""
      }`
    }
  }
  const code = terminated.exitCode ?? 0
  return { code, signal: null, at, description: `exited with ${code}${reason !== undefined ? ` (${reason})` : ""}` }
}

/** The exit recorded by the adapter at the last stop, if any. */
export const recordedExit = (workload: Workload): PlatformAdapter.ExitInfo | undefined => {
  const text = workload.metadata?.annotations?.[keys.lastExit]
  if (text === undefined) return undefined
  try {
    const value = JSON.parse(text) as Partial<PlatformAdapter.ExitInfo>
    if (typeof value.description !== "string" || typeof value.at !== "number") return undefined
    const signal = typeof value.signal === "string" && (Signal.all as ReadonlyArray<string>).includes(value.signal)
      ? value.signal as Signal.Signal
      : null
    return { code: typeof value.code === "number" ? value.code : null, signal, at: value.at, description: value.description }
  } catch {
    return undefined
  }
}

/** Every termination the pods report (their containers' current and last states), latest last. */
export const terminations = (pods: ReadonlyArray<Pod>): ReadonlyArray<Terminated> =>
  pods
    .flatMap((pod) => pod.status?.containerStatuses ?? [])
    .flatMap((status) => [status.lastState?.terminated, status.state?.terminated])
    .filter((t): t is Terminated => t !== undefined)
    .sort((a, b) => (millis(a.finishedAt) ?? 0) - (millis(b.finishedAt) ?? 0))

const waitingFailures = new Set([
  "CrashLoopBackOff",
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError"
])

/** Why the pods cannot run, when a container waits for a reason that will not pass by itself. */
export const failure = (pods: ReadonlyArray<Pod>): string | undefined => {
  for (const pod of pods) {
    for (const status of pod.status?.containerStatuses ?? []) {
      const waiting = status.state?.waiting
      if (waiting?.reason === undefined || !waitingFailures.has(waiting.reason)) continue
      if (waiting.reason === "CrashLoopBackOff") {
        const last = status.lastState?.terminated
        return `crash loop: ${pod.metadata?.name ?? "a pod"} restarted ${status.restartCount ?? 0} times${
          last !== undefined ? `, last ${exitOf(last).description}` : ""
        } (CrashLoopBackOff: Kubernetes keeps retrying with a growing back-off)`
      }
      return `${pod.metadata?.name ?? "a pod"}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`
    }
  }
  return undefined
}

/**
 * The daemon's state. `statusText` is the pods' readiness ("2/3 pods ready"):
 * the daemon's own status text stays in its pod. `pid` is undefined: the API
 * does not report processes.
 */
export const stateOf = (workload: Workload, pods: ReadonlyArray<Pod>): PlatformAdapter.DaemonState => {
  const want = desired(workload)
  const live = pods.filter((pod) => !isDeleting(pod))
  const ready = live.filter(isReady).length
  const restarts = pods.flatMap((pod) => pod.status?.containerStatuses ?? []).reduce((n, s) => n + (s.restartCount ?? 0), 0)
  const seen = terminations(pods)
  const lastExit = seen.length > 0 ? exitOf(seen[seen.length - 1]!) : recordedExit(workload)
  const started = live
    .flatMap((pod) => pod.status?.containerStatuses ?? [])
    .map((s) => millis(s.state?.running?.startedAt))
    .filter((ms): ms is number => ms !== undefined)
  const base = {
    pid: undefined,
    startedAt: started.length > 0 ? Math.min(...started) : undefined,
    lastExit,
    restarts
  }
  const condition = (type: string) => workload.status?.conditions?.find((c) => c.type === type && c.status === "True")
  if (workload.kind === "Job") {
    const failed = condition("Failed")
    if (failed !== undefined) {
      return { ...base, status: DaemonStatus.Failed({ reason: `Job failed: ${failed.reason ?? ""}${failed.message ? `: ${failed.message}` : ""}` }), statusText: undefined, health: undefined }
    }
    if (condition("Complete") !== undefined) {
      return { ...base, status: DaemonStatus.Stopped(), statusText: "completed", health: undefined }
    }
  }
  if (want === 0) {
    const status = pods.length > 0
      ? DaemonStatus.Stopping()
      : recordedExit(workload) === undefined
      ? DaemonStatus.Created()
      : DaemonStatus.Stopped()
    return { ...base, startedAt: undefined, status, statusText: undefined, health: undefined }
  }
  const statusText = `${ready}/${want} pods ready`
  const failing = failure(live)
  if (failing !== undefined && ready === 0) {
    return { ...base, status: DaemonStatus.Failed({ reason: failing }), statusText, health: "unhealthy" }
  }
  if (ready > 0) {
    const unhealthy = live.some((pod) =>
      !isReady(pod) && (pod.status?.containerStatuses ?? []).some((s) => s.started === true && s.ready !== true)
    )
    return { ...base, status: DaemonStatus.Running(), statusText, health: unhealthy || failing !== undefined ? "unhealthy" : "healthy" }
  }
  const unhealthy = live.some((pod) => (pod.status?.containerStatuses ?? []).some((s) => s.started === true && s.ready !== true))
  return { ...base, status: DaemonStatus.Starting(), statusText, health: unhealthy ? "unhealthy" : "starting" }
}
