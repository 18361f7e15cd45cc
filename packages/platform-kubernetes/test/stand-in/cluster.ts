// The state behind the stand-in API server, and the controllers and kubelet that act on it.
//
// THIS IS A STAND-IN, NOT KUBERNETES. No API server can run on these machines (no
// kube-apiserver in Debian, no container engine for kind, no Go), so the adapter is tested
// against this simulation, named as such everywhere. What it does, and where it is simpler
// than the real thing:
//
// - Objects live in memory with uids, resourceVersions, generations and a few of the
//   defaults the API server fills in. Server-side apply merges the applier's fields into the
//   object and drops the fields the same applier set last time and no longer sets (maps merge
//   key by key, lists are replaced whole — the real merge keys lists by name, which gives the
//   same result for one manager); `spec.replicas` changed through the scale subresource
//   belongs to that update, and applying a different value without `force` is a 409 Conflict.
// - Controllers: a Deployment's pods are created and rolled (maxSurge/maxUnavailable) without
//   ReplicaSet objects (pods carry the pod-template-hash label and a ReplicaSet owner
//   reference); a StatefulSet's pods are `<name>-<ordinal>`, ordered; a Job runs
//   `parallelism` pods, honours `suspend`, `completions` and `backoffLimit`. Deleting with
//   foreground propagation removes the pods before the workload.
// - THE KUBELET RUNS EACH POD'S CONTAINER AS A LOCAL PROCESS: the container's `command` and
//   `args` are executed on this machine (the image is not pulled: the command must exist
//   here), with the container's `env` (downward API `fieldRef`s resolved), `workingDir`, the
//   kubelet's service variables (KUBERNETES_SERVICE_HOST/PORT pointing at the stand-in) and a
//   PATH standing in for the image's (this repository's node_modules/.bin, where `duende`
//   is, before the machine's PATH; the repository's files are the image's). Each emptyDir is a
//   temporary directory; an environment value, a command argument or an exec probe's argument
//   naming a path under a mount (and not in the repository) is rewritten to that directory, and a mount at /tmp becomes the process's TMPDIR — the one
//   liberty taken with the container's definition, since a process cannot be given a mount
//   of its own here.
//   securityContext (uids, read-only root, capabilities, seccomp) and resources are NOT
//   enforced. Output is kept as the pod log with RFC 3339 timestamps (ms precision plus a
//   sequence, where the kubelet has ns), per container instance, so `previous` works.
// - Probes (startup, readiness, liveness; exec and httpGet on 127.0.0.1) run on their
//   periods with their timeouts and thresholds; readiness gates the pod's Ready condition,
//   a failed startup or liveness probe restarts the container. Restarts follow the pod's
//   restartPolicy with the kubelet's back-off: the first at once, then 10 s doubling to
//   5 min (times `backoffScale`), shown as waiting/CrashLoopBackOff with lastState.terminated.
// - Deleting a pod sends SIGTERM to the process, then SIGKILL to its process group after the
//   grace period (a later delete with a shorter grace period shortens it); the terminated
//   state (exit code, or 128+signal as container runtimes report it) is stored, then the pod
//   is removed.
import { type ChildProcess, spawn } from "node:child_process"
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { createInterface } from "node:readline"

export type Obj = Record<string, any>

export interface WatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  readonly object: Obj
}

export interface ClusterOptions {
  /** Namespaces that exist (default: "default"). */
  readonly namespaces?: ReadonlyArray<string>
  /** Multiplies the kubelet's restart back-off (10 s doubling, capped at 5 min); 1 is the kubelet's own. */
  readonly backoffScale?: number
  /** The PATH of pod processes (default: this repository's node_modules/.bin, then this machine's PATH). */
  readonly path?: string
}

export const resourcesByKind: Record<string, { readonly resource: string; readonly apiVersion: string; readonly namespaced: boolean }> = {
  Pod: { resource: "pods", apiVersion: "v1", namespaced: true },
  Service: { resource: "services", apiVersion: "v1", namespaced: true },
  ServiceAccount: { resource: "serviceaccounts", apiVersion: "v1", namespaced: true },
  Namespace: { resource: "namespaces", apiVersion: "v1", namespaced: false },
  Deployment: { resource: "deployments", apiVersion: "apps/v1", namespaced: true },
  StatefulSet: { resource: "statefulsets", apiVersion: "apps/v1", namespaced: true },
  Job: { resource: "jobs", apiVersion: "batch/v1", namespaced: true },
  PodDisruptionBudget: { resource: "poddisruptionbudgets", apiVersion: "policy/v1", namespaced: true }
}

export const kindOfResource = (resource: string): string | undefined =>
  Object.entries(resourcesByKind).find(([, r]) => r.resource === resource)?.[0]

/** This repository: it stands in for every pod's image. */
const repository = fileURLToPath(new URL("../../../..", import.meta.url)).replace(/\/$/, "")

const clone = <A>(value: A): A => structuredClone(value)
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z")
const isObject = (value: unknown): value is Obj => value !== null && typeof value === "object" && !Array.isArray(value)

/** RFC 7386 merge patch. */
export const mergePatch = (target: unknown, patch: unknown): unknown => {
  if (!isObject(patch)) return clone(patch)
  const out: Obj = isObject(target) ? clone(target) : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else out[key] = mergePatch(out[key], value)
  }
  return out
}

/** Removes from `object` the fields `applied` set (maps key by key, anything else whole). */
const strip = (object: Obj, applied: Obj): void => {
  for (const [key, value] of Object.entries(applied)) {
    if (isObject(value) && isObject(object[key])) {
      strip(object[key], value)
      if (Object.keys(object[key]).length === 0) delete object[key]
    } else delete object[key]
  }
}

const merge = (object: Obj, applied: Obj): Obj => {
  const out = clone(object)
  for (const [key, value] of Object.entries(applied)) {
    out[key] = isObject(value) && isObject(out[key]) ? merge(out[key], value) : clone(value)
  }
  return out
}

export const matches = (selector: string | undefined, labels: Record<string, string> | undefined): boolean => {
  if (selector === undefined || selector === "") return true
  return selector.split(",").every((term) => {
    const [key, value] = term.split("=")
    return key !== undefined && value !== undefined && labels?.[key] === value
  })
}

/** JSON with sorted keys: the API compares and hashes objects by content, not by key order. */
const canonical = (value: unknown): string =>
  Array.isArray(value)
    ? `[${value.map(canonical).join(",")}]`
    : isObject(value)
    ? `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(",")}}`
    : JSON.stringify(value) ?? "null"
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b)
const hashOf = (value: unknown) => createHash("sha256").update(canonical(value)).digest("hex").slice(0, 10)
const suffix = () => randomBytes(4).toString("hex").slice(0, 5)

let lastStampMs = 0
let stampSeq = 0
/** A log timestamp: RFC 3339 with ms and a 6-digit sequence in place of the ns the kubelet has. */
const logStamp = (): string => {
  const ms = Date.now()
  stampSeq = ms === lastStampMs ? stampSeq + 1 : 0
  lastStampMs = ms
  return `${new Date(ms).toISOString().slice(0, 23)}${String(stampSeq).padStart(6, "0")}Z`
}

interface LogLine {
  readonly stamp: string
  readonly text: string
}

export interface Follower {
  line(line: LogLine): void
  end(): void
}

interface Instance {
  readonly lines: Array<LogLine>
  readonly followers: Set<Follower>
  readonly startedAt: string
  child: ChildProcess | undefined
  ended: boolean
}

interface PodRuntime {
  readonly key: string
  readonly namespace: string
  readonly name: string
  readonly volumes: Map<string, string>
  current: Instance | undefined
  previous: Instance | undefined
  timers: Set<NodeJS.Timeout>
  probes: Set<ChildProcess>
  restarts: number
  lastRunMs: number
  terminating: boolean
  killTimer: NodeJS.Timeout | undefined
  killAt: number
  gone: boolean
}

const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6, SIGQUIT: 3 }

export class Cluster {
  private readonly objects = new Map<string, Obj>()
  private readonly applied = new Map<string, Obj>()
  private readonly replicasByUpdate = new Set<string>()
  private readonly watchers = new Set<{ resource: string; namespace: string; selector: string | undefined; send: (e: WatchEvent) => void }>()
  private readonly pods = new Map<string, PodRuntime>()
  private readonly namespaces: Set<string>
  private readonly interval: NodeJS.Timeout
  private resourceVersion = 1
  private reconcileQueued = false
  private closed = false
  /** Every pod process started (containers and probes), for the tests' leak checks. */
  readonly spawned: Array<number> = []
  readonly backoffScale: number
  readonly path: string
  serviceHost = "127.0.0.1"
  servicePort = 0

  constructor(options: ClusterOptions = {}) {
    this.namespaces = new Set(options.namespaces ?? ["default"])
    this.backoffScale = options.backoffScale ?? 1
    this.path = options.path ?? [join(repository, "node_modules", ".bin"), process.env.PATH ?? "/usr/bin:/bin"].join(":")
    this.interval = setInterval(() => this.reconcile(), 100)
  }

  hasNamespace(namespace: string): boolean {
    return this.namespaces.has(namespace)
  }

  private key(resource: string, namespace: string, name: string) {
    return `${resource}/${namespace}/${name}`
  }

  get(resource: string, namespace: string, name: string): Obj | undefined {
    const object = this.objects.get(this.key(resource, namespace, name))
    return object === undefined ? undefined : clone(object)
  }

  list(resource: string, namespace: string, selector?: string): Array<Obj> {
    return [...this.objects.entries()]
      .filter(([key, object]) => key.startsWith(`${resource}/${namespace}/`) && matches(selector, object.metadata?.labels))
      .map(([, object]) => clone(object))
  }

  get currentResourceVersion(): string {
    return String(this.resourceVersion)
  }

  watch(resource: string, namespace: string, selector: string | undefined, send: (event: WatchEvent) => void): () => void {
    const watcher = { resource, namespace, selector, send }
    for (const object of this.list(resource, namespace, selector)) send({ type: "ADDED", object })
    this.watchers.add(watcher)
    return () => this.watchers.delete(watcher)
  }

  private notify(resource: string, type: WatchEvent["type"], object: Obj) {
    for (const watcher of this.watchers) {
      if (watcher.resource === resource && watcher.namespace === object.metadata.namespace && matches(watcher.selector, object.metadata.labels)) {
        watcher.send({ type, object: clone(object) })
      }
    }
  }

  private save(resource: string, object: Obj): Obj {
    const key = this.key(resource, object.metadata.namespace, object.metadata.name)
    const type = this.objects.has(key) ? "MODIFIED" : "ADDED"
    object.metadata.resourceVersion = String(++this.resourceVersion)
    this.objects.set(key, clone(object))
    this.notify(resource, type, object)
    this.queueReconcile()
    return clone(object)
  }

  private drop(resource: string, object: Obj) {
    const key = this.key(resource, object.metadata.namespace, object.metadata.name)
    if (!this.objects.delete(key)) return
    this.applied.delete(key)
    this.replicasByUpdate.delete(key)
    object.metadata.resourceVersion = String(++this.resourceVersion)
    this.notify(resource, "DELETED", object)
    this.queueReconcile()
  }

  private queueReconcile() {
    if (this.reconcileQueued || this.closed) return
    this.reconcileQueued = true
    setImmediate(() => {
      this.reconcileQueued = false
      this.reconcile()
    })
  }

  private create(resource: string, object: Obj): Obj {
    const metadata = object.metadata
    metadata.uid = randomUUID()
    metadata.creationTimestamp = now()
    if (["deployments", "statefulsets", "jobs"].includes(resource)) metadata.generation = 1
    if (resource === "deployments") {
      object.spec.replicas ??= 1
      object.spec.revisionHistoryLimit ??= 10
      object.spec.progressDeadlineSeconds ??= 600
      object.spec.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } }
    }
    if (resource === "statefulsets") {
      object.spec.replicas ??= 1
      object.spec.podManagementPolicy ??= "OrderedReady"
      object.spec.updateStrategy ??= { type: "RollingUpdate", rollingUpdate: { partition: 0 } }
    }
    if (resource === "jobs") {
      object.spec.parallelism ??= 1
      object.spec.completions ??= object.spec.parallelism
      object.spec.backoffLimit ??= 6
      object.spec.suspend ??= false
      const uid = metadata.uid
      object.spec.selector = { matchLabels: { "batch.kubernetes.io/controller-uid": uid } }
      object.spec.template.metadata.labels = {
        ...object.spec.template.metadata.labels,
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": metadata.name,
        "controller-uid": uid,
        "job-name": metadata.name
      }
    }
    if (resource === "services") {
      object.spec.type ??= "ClusterIP"
      object.spec.clusterIP ??= `10.96.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`
      object.spec.sessionAffinity ??= "None"
      for (const port of object.spec.ports ?? []) port.targetPort ??= port.port
    }
    return this.save(resource, object)
  }

  /** Server-side apply by `manager`; returns the object, or a conflict's field. */
  apply(resource: string, namespace: string, name: string, body: Obj, manager: string, force: boolean): { object: Obj } | { conflict: string } {
    const key = this.key(resource, namespace, name)
    const existing = this.objects.get(key)
    const config = clone(body)
    config.metadata = { ...config.metadata, namespace }
    const entry = { manager, operation: "Apply", apiVersion: body.apiVersion, time: now(), fieldsType: "FieldsV1" }
    if (existing === undefined) {
      const object = clone(config)
      object.metadata.managedFields = [entry]
      this.applied.set(key, config)
      return { object: this.create(resource, object) }
    }
    if (this.replicasByUpdate.has(key) && config.spec?.replicas !== undefined && config.spec.replicas !== existing.spec?.replicas) {
      if (!force) return { conflict: ".spec.replicas" }
      this.replicasByUpdate.delete(key)
    }
    const next = clone(existing)
    const previous = this.applied.get(key)
    if (previous !== undefined) {
      const { metadata: previousMetadata, ...previousRest } = previous
      strip(next, previousRest)
      if (previousMetadata?.labels !== undefined) strip(next.metadata, { labels: previousMetadata.labels })
      if (previousMetadata?.annotations !== undefined) strip(next.metadata, { annotations: previousMetadata.annotations })
    }
    const { metadata: appliedMetadata, ...rest } = config
    let object = merge(next, rest)
    object.metadata = merge(object.metadata, { labels: appliedMetadata.labels ?? {}, annotations: appliedMetadata.annotations ?? {} })
    object.metadata.managedFields = [
      ...(existing.metadata.managedFields ?? []).filter((f: Obj) => !(f.manager === manager && f.operation === "Apply")),
      entry
    ]
    if (!same(object.spec, existing.spec) && object.metadata.generation !== undefined) {
      object.metadata.generation += 1
    }
    this.applied.set(key, config)
    object = this.save(resource, object)
    return { object }
  }

  /** A merge patch by `manager` (an Update): of the object, or of its scale subresource. */
  patch(resource: string, namespace: string, name: string, body: Obj, manager: string, subresource?: "scale"): Obj | undefined {
    const key = this.key(resource, namespace, name)
    const existing = this.objects.get(key)
    if (existing === undefined) return undefined
    let object: Obj
    if (subresource === "scale") {
      object = clone(existing)
      object.spec.replicas = body.spec.replicas
      this.replicasByUpdate.add(key)
    } else {
      // Only labels and annotations of metadata are the client's to patch.
      const { metadata, ...rest } = body
      const meta: Obj = {}
      if (metadata?.labels !== undefined) meta.labels = metadata.labels
      if (metadata?.annotations !== undefined) meta.annotations = metadata.annotations
      object = mergePatch(existing, { ...rest, metadata: meta }) as Obj
    }
    object.metadata.managedFields = [
      ...(existing.metadata.managedFields ?? []).filter((f: Obj) => !(f.manager === manager && f.operation === "Update" && (f.subresource ?? "") === (subresource ?? ""))),
      { manager, operation: "Update", apiVersion: existing.apiVersion, time: now(), fieldsType: "FieldsV1", ...(subresource ? { subresource } : {}) }
    ]
    if (!same(object.spec, existing.spec) && object.metadata.generation !== undefined) {
      object.metadata.generation += 1
    }
    return this.save(resource, object)
  }

  scaleOf(object: Obj): Obj {
    return {
      kind: "Scale",
      apiVersion: "autoscaling/v1",
      metadata: { name: object.metadata.name, namespace: object.metadata.namespace, uid: object.metadata.uid, resourceVersion: object.metadata.resourceVersion, creationTimestamp: object.metadata.creationTimestamp },
      spec: { replicas: object.spec.replicas },
      status: {
        replicas: object.status?.replicas ?? 0,
        selector: Object.entries(object.spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(",")
      }
    }
  }

  /** Deletes an object; pods go gracefully, workloads with their pods (foreground: pods first). */
  remove(resource: string, namespace: string, name: string, options: { propagationPolicy?: string; gracePeriodSeconds?: number }): Obj | undefined {
    const existing = this.get(resource, namespace, name)
    if (existing === undefined) return undefined
    if (resource === "pods") return this.deletePod(existing, options.gracePeriodSeconds)
    const owned = ["deployments", "statefulsets", "jobs"].includes(resource)
    const policy = options.propagationPolicy ?? (resource === "jobs" ? "Orphan" : "Background")
    if (owned && policy === "Foreground") {
      existing.metadata.deletionTimestamp ??= now()
      existing.metadata.deletionGracePeriodSeconds = 0
      existing.metadata.finalizers = [...new Set([...(existing.metadata.finalizers ?? []), "foregroundDeletion"])]
      const saved = this.save(resource, existing)
      for (const pod of this.podsOf(existing)) this.deletePod(pod, undefined)
      return saved
    }
    const pods = owned && policy === "Background" ? this.podsOf(existing) : []
    this.drop(resource, existing)
    for (const pod of pods) this.deletePod(pod, undefined)
    return existing
  }

  private podsOf(workload: Obj): Array<Obj> {
    const selector = Object.entries(workload.spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(",")
    return this.list("pods", workload.metadata.namespace, selector).filter((pod) =>
      (pod.metadata.ownerReferences ?? []).some((ref: Obj) => ref.name === workload.metadata.name || ref.name.startsWith(`${workload.metadata.name}-`))
    )
  }

  // ---- controllers --------------------------------------------------------------------------

  private reconcile() {
    if (this.closed) return
    for (const [key, object] of [...this.objects]) {
      const resource = key.split("/")[0]!
      if (resource === "deployments") this.reconcileDeployment(clone(object))
      else if (resource === "statefulsets") this.reconcileStatefulSet(clone(object))
      else if (resource === "jobs") this.reconcileJob(clone(object))
    }
  }

  private finishForeground(resource: string, workload: Obj, pods: Array<Obj>): boolean {
    if (workload.metadata.deletionTimestamp === undefined) return false
    if (pods.length === 0) this.drop(resource, workload)
    return true
  }

  private newPod(workload: Obj, name: string, owner: Obj, extraLabels: Record<string, string>): void {
    const template = clone(workload.spec.template)
    const pod: Obj = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace: workload.metadata.namespace,
        labels: { ...template.metadata?.labels, ...extraLabels },
        annotations: { ...template.metadata?.annotations },
        ownerReferences: [{ ...owner, controller: true, blockOwnerDeletion: true }]
      },
      spec: {
        ...template.spec,
        restartPolicy: template.spec.restartPolicy ?? "Always",
        nodeName: "stand-in-node",
        dnsPolicy: template.spec.dnsPolicy ?? "ClusterFirst",
        schedulerName: "default-scheduler",
        containers: template.spec.containers.map((c: Obj) => ({
          terminationMessagePath: "/dev/termination-log",
          terminationMessagePolicy: "File",
          imagePullPolicy: c.image?.endsWith(":latest") ? "Always" : "IfNotPresent",
          ...c
        }))
      },
      status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "True", lastTransitionTime: now() }] }
    }
    const saved = this.create("pods", pod)
    this.startPod(saved)
  }

  private setStatus(resource: string, workload: Obj, status: Obj) {
    const current = this.objects.get(this.key(resource, workload.metadata.namespace, workload.metadata.name))
    if (current === undefined || same(current.status, status)) return
    const next = clone(current)
    next.status = status
    this.save(resource, next)
  }

  private percent(value: unknown, of: number, roundUp: boolean): number {
    if (typeof value === "number") return value
    if (typeof value === "string" && value.endsWith("%")) {
      const n = (Number(value.slice(0, -1)) / 100) * of
      return roundUp ? Math.ceil(n) : Math.floor(n)
    }
    return roundUp ? 1 : 0
  }

  private reconcileDeployment(deployment: Obj) {
    const pods = this.podsOf(deployment)
    if (this.finishForeground("deployments", deployment, pods)) return
    const desired = deployment.spec.replicas ?? 1
    const hash = hashOf(deployment.spec.template)
    const live = pods.filter((p) => p.metadata.deletionTimestamp === undefined)
    const fresh = live.filter((p) => p.metadata.labels["pod-template-hash"] === hash)
    const old = live.filter((p) => p.metadata.labels["pod-template-hash"] !== hash)
    const ready = (p: Obj) => p.status?.conditions?.some((c: Obj) => c.type === "Ready" && c.status === "True") === true
    const rolling = deployment.spec.strategy?.rollingUpdate ?? {}
    const maxSurge = this.percent(rolling.maxSurge, desired, true)
    const maxUnavailable = this.percent(rolling.maxUnavailable, desired, false)
    const owner = { apiVersion: "apps/v1", kind: "ReplicaSet", name: `${deployment.metadata.name}-${hash}`, uid: hashOf(deployment.metadata.uid + hash) }
    if (fresh.length > desired) {
      for (const pod of fresh.slice(desired)) this.deletePod(pod, undefined)
    }
    if (desired === 0) {
      for (const pod of old) this.deletePod(pod, undefined)
    } else {
      const total = live.length
      for (let n = fresh.length; n < desired && n + old.length < desired + maxSurge && total + (n - fresh.length) < desired + maxSurge; n++) {
        this.newPod(deployment, `${deployment.metadata.name}-${hash}-${suffix()}`, owner, { "pod-template-hash": hash })
      }
      let available = live.filter(ready).length
      for (const pod of old) {
        // An old pod may go when what stays available is enough; unready old pods go at once.
        if (!ready(pod)) this.deletePod(pod, undefined)
        else if (available - 1 >= desired - maxUnavailable && fresh.length + old.length > desired - maxUnavailable) {
          available -= 1
          this.deletePod(pod, undefined)
        }
      }
    }
    const after = this.podsOf(deployment).filter((p) => p.metadata.deletionTimestamp === undefined)
    const readyCount = after.filter(ready).length
    const updated = after.filter((p) => p.metadata.labels["pod-template-hash"] === hash).length
    this.setStatus("deployments", deployment, {
      observedGeneration: deployment.metadata.generation,
      replicas: after.length,
      updatedReplicas: updated,
      readyReplicas: readyCount,
      availableReplicas: readyCount,
      ...(after.length - readyCount > 0 ? { unavailableReplicas: after.length - readyCount } : {}),
      conditions: [
        { type: "Available", status: readyCount >= desired - maxUnavailable ? "True" : "False", reason: readyCount >= desired - maxUnavailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable" },
        { type: "Progressing", status: "True", reason: updated === desired && readyCount === desired ? "NewReplicaSetAvailable" : "ReplicaSetUpdated" }
      ]
    })
  }

  private reconcileStatefulSet(set: Obj) {
    const pods = this.podsOf(set)
    if (this.finishForeground("statefulsets", set, pods)) return
    const desired = set.spec.replicas ?? 1
    const revision = `${set.metadata.name}-${hashOf(set.spec.template)}`
    const ready = (p: Obj) => p.status?.conditions?.some((c: Obj) => c.type === "Ready" && c.status === "True") === true
    const byOrdinal = new Map(pods.map((p) => [Number(p.metadata.name.slice(set.metadata.name.length + 1)), p]))
    const owner = { apiVersion: "apps/v1", kind: "StatefulSet", name: set.metadata.name, uid: set.metadata.uid }
    let busy = pods.some((p) => p.metadata.deletionTimestamp !== undefined)
    // Scale down from the highest ordinal, one at a time.
    const extra = [...byOrdinal.keys()].filter((i) => i >= desired).sort((a, b) => b - a)
    if (extra.length > 0 && !busy) {
      this.deletePod(byOrdinal.get(extra[0]!)!, undefined)
      busy = true
    }
    // Scale up in order: pod i once 0..i-1 are ready.
    for (let i = 0; i < desired && !busy; i++) {
      const pod = byOrdinal.get(i)
      if (pod === undefined) {
        this.newPod(set, `${set.metadata.name}-${i}`, owner, {
          "controller-revision-hash": revision,
          "statefulset.kubernetes.io/pod-name": `${set.metadata.name}-${i}`,
          "apps.kubernetes.io/pod-index": String(i)
        })
        busy = true
      } else if (!ready(pod)) busy = true
    }
    // Rolling update from the highest ordinal once all are ready.
    if (!busy) {
      const stale = [...byOrdinal.entries()].filter(([i, p]) => i < desired && p.metadata.labels["controller-revision-hash"] !== revision)
        .sort((a, b) => b[0] - a[0])
      if (stale.length > 0) this.deletePod(stale[0]![1], undefined)
    }
    const after = this.podsOf(set).filter((p) => p.metadata.deletionTimestamp === undefined)
    this.setStatus("statefulsets", set, {
      observedGeneration: set.metadata.generation,
      replicas: after.length,
      readyReplicas: after.filter(ready).length,
      availableReplicas: after.filter(ready).length,
      currentReplicas: after.filter((p) => p.metadata.labels["controller-revision-hash"] === revision).length,
      updatedReplicas: after.filter((p) => p.metadata.labels["controller-revision-hash"] === revision).length,
      currentRevision: revision,
      updateRevision: revision,
      collisionCount: 0
    })
  }

  private reconcileJob(job: Obj) {
    const pods = this.podsOf(job)
    if (this.finishForeground("jobs", job, pods)) return
    const spec = job.spec
    const finished = (job.status?.conditions ?? []).some((c: Obj) => (c.type === "Complete" || c.type === "Failed") && c.status === "True")
    const live = pods.filter((p) => p.metadata.deletionTimestamp === undefined)
    const active = live.filter((p) => p.status.phase !== "Succeeded" && p.status.phase !== "Failed")
    const succeeded = pods.filter((p) => p.status.phase === "Succeeded").length
    const failedPods = pods.filter((p) => p.status.phase === "Failed").length
    const restarts = pods.reduce((n, p) => n + (p.status.containerStatuses?.[0]?.restartCount ?? 0), 0)
    const failures = failedPods + (spec.template.spec.restartPolicy === "OnFailure" ? restarts : 0)
    const conditions: Array<Obj> = [...(job.status?.conditions ?? [])]
    if (!finished) {
      if (failures > spec.backoffLimit) {
        conditions.push({ type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit", lastTransitionTime: now() })
        for (const pod of active) this.deletePod(pod, undefined)
      } else if (succeeded >= spec.completions) {
        conditions.push({ type: "Complete", status: "True", lastTransitionTime: now() })
      } else if (spec.suspend === true) {
        for (const pod of active) this.deletePod(pod, undefined)
      } else {
        const want = Math.min(spec.parallelism, spec.completions - succeeded)
        const owner = { apiVersion: "batch/v1", kind: "Job", name: job.metadata.name, uid: job.metadata.uid }
        for (let n = active.length; n < want; n++) this.newPod(job, `${job.metadata.name}-${suffix()}`, owner, {})
      }
    }
    const suspended = spec.suspend === true
    const after = this.podsOf(job).filter((p) => p.metadata.deletionTimestamp === undefined && p.status.phase !== "Succeeded" && p.status.phase !== "Failed")
    this.setStatus("jobs", job, {
      ...(job.status?.startTime !== undefined || !suspended ? { startTime: job.status?.startTime ?? now() } : {}),
      active: after.length,
      succeeded,
      failed: failures,
      ready: after.filter((p) => p.status?.conditions?.some((c: Obj) => c.type === "Ready" && c.status === "True")).length,
      conditions: suspended && !finished
        ? [...conditions.filter((c) => c.type !== "Suspended"), { type: "Suspended", status: "True", reason: "JobSuspended" }]
        : conditions.filter((c) => c.type !== "Suspended")
    })
  }

  // ---- the kubelet ---------------------------------------------------------------------------

  private updatePod(runtime: PodRuntime, change: (pod: Obj) => void) {
    const pod = this.get("pods", runtime.namespace, runtime.name)
    if (pod === undefined) return
    change(pod)
    const ready = (pod.status.containerStatuses ?? []).length > 0 && pod.status.containerStatuses.every((s: Obj) => s.ready)
    const conditions = (pod.status.conditions ?? []).filter((c: Obj) => c.type !== "Ready" && c.type !== "ContainersReady" && c.type !== "Initialized")
    const was = (pod.status.conditions ?? []).find((c: Obj) => c.type === "Ready")
    const transition = was?.status === (ready ? "True" : "False") ? was.lastTransitionTime : now()
    pod.status.conditions = [
      ...conditions,
      { type: "Initialized", status: "True", lastTransitionTime: pod.metadata.creationTimestamp },
      { type: "ContainersReady", status: ready ? "True" : "False", lastTransitionTime: transition },
      { type: "Ready", status: ready ? "True" : "False", lastTransitionTime: transition }
    ]
    this.save("pods", pod)
  }

  private containerStatus(runtime: PodRuntime, change: (status: Obj) => void) {
    this.updatePod(runtime, (pod) => {
      const container = pod.spec.containers[0]
      const status = pod.status.containerStatuses?.[0] ?? {
        name: container.name,
        image: container.image,
        imageID: `stand-in://${container.image}`,
        restartCount: 0,
        ready: false,
        started: false,
        state: { waiting: { reason: "ContainerCreating" } }
      }
      change(status)
      pod.status.containerStatuses = [status]
    })
  }

  private startPod(pod: Obj) {
    const volumes = new Map<string, string>()
    for (const volume of pod.spec.volumes ?? []) {
      if (volume.emptyDir !== undefined) volumes.set(volume.name, mkdtempSync(join(tmpdir(), `stand-in-${pod.metadata.name}-${volume.name}-`)))
    }
    const runtime: PodRuntime = {
      key: pod.metadata.uid,
      namespace: pod.metadata.namespace,
      name: pod.metadata.name,
      volumes,
      current: undefined,
      previous: undefined,
      timers: new Set(),
      probes: new Set(),
      restarts: 0,
      lastRunMs: 0,
      terminating: false,
      killTimer: undefined,
      killAt: 0,
      gone: false
    }
    this.pods.set(runtime.key, runtime)
    this.updatePod(runtime, (p) => {
      p.status.phase = "Pending"
      p.status.hostIP = "127.0.0.1"
      p.status.podIP = "127.0.0.1"
      p.status.startTime = now()
    })
    this.runContainer(runtime)
  }

  /** The container's environment, and how a path under one of its mounts becomes the directory standing in for it. */
  private environment(runtime: PodRuntime, pod: Obj): { readonly env: Record<string, string>; readonly rewrite: (value: string) => string } {
    const container = pod.spec.containers[0]
    const mounts: Array<[string, string]> = (container.volumeMounts ?? [])
      .filter((m: Obj) => runtime.volumes.has(m.name))
      .map((m: Obj) => [m.mountPath, runtime.volumes.get(m.name)!])
    const rewrite = (value: string) => {
      // The repository stands in for the image (its files are the image's), so a path inside it
      // is never a mount's, even when the checkout itself lies under one (/tmp).
      if (value === repository || value.startsWith(`${repository}/`)) return value
      for (const [mountPath, dir] of mounts) {
        if (value === mountPath || value.startsWith(`${mountPath}/`)) return dir + value.slice(mountPath.length)
      }
      return value
    }
    const tmp = mounts.find(([mountPath]) => mountPath === "/tmp")
    const env: Record<string, string> = {
      PATH: this.path,
      // A mount at /tmp is where the process's temporary files go.
      ...(tmp !== undefined ? { TMPDIR: tmp[1] } : {}),
      HOSTNAME: pod.metadata.name,
      KUBERNETES_SERVICE_HOST: this.serviceHost,
      KUBERNETES_SERVICE_PORT: String(this.servicePort),
      KUBERNETES_PORT: `tcp://${this.serviceHost}:${this.servicePort}`
    }
    const fields: Record<string, string> = {
      "metadata.name": pod.metadata.name,
      "metadata.namespace": pod.metadata.namespace,
      "metadata.uid": pod.metadata.uid,
      "spec.nodeName": pod.spec.nodeName,
      "spec.serviceAccountName": pod.spec.serviceAccountName ?? "default",
      "status.podIP": "127.0.0.1",
      "status.hostIP": "127.0.0.1"
    }
    for (const entry of container.env ?? []) {
      if (entry.value !== undefined) env[entry.name] = rewrite(entry.value)
      else if (entry.valueFrom?.fieldRef !== undefined) env[entry.name] = fields[entry.valueFrom.fieldRef.fieldPath] ?? ""
      else env[entry.name] = ""
    }
    return { env, rewrite }
  }

  private runContainer(runtime: PodRuntime) {
    if (runtime.gone || runtime.terminating || this.closed) return
    const pod = this.get("pods", runtime.namespace, runtime.name)
    if (pod === undefined) return
    const container = pod.spec.containers[0]
    const { env, rewrite } = this.environment(runtime, pod)
    const argv: Array<string> = [...(container.command ?? []), ...(container.args ?? [])].map(rewrite)
    const instance: Instance = { lines: [], followers: new Set(), startedAt: now(), child: undefined, ended: false }
    if (runtime.current !== undefined) runtime.previous = runtime.current
    runtime.current = instance
    const startedMs = Date.now()
    let child: ChildProcess
    try {
      child = spawn(argv[0] ?? "/nonexistent", argv.slice(1), {
        env,
        cwd: container.workingDir ?? "/",
        detached: true,
        stdio: ["ignore", "pipe", "pipe"]
      })
    } catch (error) {
      this.containerExited(runtime, instance, startedMs, 128, null, `StartError: ${(error as Error).message}`)
      return
    }
    instance.child = child
    if (child.pid !== undefined) this.spawned.push(child.pid)
    const keep = (text: string) => {
      const line = { stamp: logStamp(), text }
      instance.lines.push(line)
      for (const follower of instance.followers) follower.line(line)
    }
    createInterface({ input: child.stdout! }).on("line", keep)
    createInterface({ input: child.stderr! }).on("line", keep)
    let failed: string | undefined
    child.on("error", (error) => {
      failed = `StartError: ${error.message}`
    })
    child.on("close", (code, signal) => this.containerExited(runtime, instance, startedMs, code, signal, failed))
    const hasStartup = container.startupProbe !== undefined
    this.containerStatus(runtime, (status) => {
      status.state = { running: { startedAt: instance.startedAt } }
      status.ready = false
      status.started = !hasStartup
      status.restartCount = runtime.restarts
      status.containerID = `stand-in://${child.pid ?? 0}`
    })
    this.updatePod(runtime, (p) => {
      p.status.phase = "Running"
    })
    this.startProbes(runtime, instance, pod, env, rewrite)
  }

  private containerExited(runtime: PodRuntime, instance: Instance, startedMs: number, code: number | null, signal: NodeJS.Signals | null, failed: string | undefined) {
    if (instance.ended) return
    instance.ended = true
    instance.child = undefined
    for (const timer of runtime.timers) clearTimeout(timer)
    runtime.timers.clear()
    for (const probe of runtime.probes) probe.kill("SIGKILL")
    runtime.probes.clear()
    for (const follower of instance.followers) follower.end()
    instance.followers.clear()
    runtime.lastRunMs = Date.now() - startedMs
    const exitCode = failed !== undefined ? 128 : code ?? 128 + (signalNumbers[signal ?? "SIGKILL"] ?? 9)
    const terminated = {
      exitCode,
      reason: failed !== undefined ? "StartError" : exitCode === 0 ? "Completed" : "Error",
      ...(failed !== undefined ? { message: failed } : {}),
      startedAt: instance.startedAt,
      finishedAt: now(),
      containerID: "stand-in://exited"
    }
    if (runtime.terminating || runtime.gone) {
      this.containerStatus(runtime, (status) => {
        status.state = { terminated }
        status.ready = false
        status.started = false
      })
      this.finishPod(runtime)
      return
    }
    const pod = this.get("pods", runtime.namespace, runtime.name)
    if (pod === undefined) return
    const policy = pod.spec.restartPolicy ?? "Always"
    const again = policy === "Always" || (policy === "OnFailure" && exitCode !== 0)
    if (!again) {
      this.containerStatus(runtime, (status) => {
        status.state = { terminated }
        status.ready = false
        status.started = false
      })
      this.updatePod(runtime, (p) => {
        p.status.phase = exitCode === 0 ? "Succeeded" : "Failed"
      })
      return
    }
    // The kubelet's back-off: none the first time, then 10 s doubling to 5 min; reset after 10 min of running.
    if (runtime.lastRunMs >= 600_000 * this.backoffScale) runtime.restarts = Math.min(runtime.restarts, 0)
    const delayS = runtime.restarts === 0 ? 0 : Math.min(300, 10 * 2 ** (runtime.restarts - 1))
    const delayMs = delayS * 1000 * this.backoffScale
    this.containerStatus(runtime, (status) => {
      status.lastState = { terminated }
      status.ready = false
      status.started = false
      status.state = delayMs > 0
        ? { waiting: { reason: "CrashLoopBackOff", message: `back-off ${delayS}s restarting failed container=${pod.spec.containers[0].name} pod=${pod.metadata.name}` } }
        : { waiting: { reason: "ContainerCreating" } }
    })
    const timer = setTimeout(() => {
      runtime.timers.delete(timer)
      runtime.restarts += 1
      this.runContainer(runtime)
    }, delayMs)
    runtime.timers.add(timer)
  }

  private startProbes(runtime: PodRuntime, instance: Instance, pod: Obj, env: Record<string, string>, rewrite: (value: string) => string) {
    const container = pod.spec.containers[0]
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30
    const schedule = (ms: number, run: () => void) => {
      const timer = setTimeout(() => {
        runtime.timers.delete(timer)
        if (!instance.ended && !runtime.terminating) run()
      }, ms)
      runtime.timers.add(timer)
    }
    const loop = (probe: Obj, onResult: (ok: boolean, failures: number, successes: number) => boolean) => {
      let failures = 0
      let successes = 0
      const tick = () =>
        this.runProbe(runtime, probe, container, env, rewrite).then((ok) => {
          if (instance.ended || runtime.terminating) return
          failures = ok ? 0 : failures + 1
          successes = ok ? successes + 1 : 0
          if (onResult(ok, failures, successes)) schedule((probe.periodSeconds ?? 10) * 1000, tick)
        })
      schedule((probe.initialDelaySeconds ?? 0) * 1000, tick)
    }
    const kill = (why: string) => {
      const child = instance.child
      if (child?.pid === undefined) return
      this.updatePod(runtime, (p) => {
        p.status.message = why
      })
      child.kill("SIGTERM")
      const timer = setTimeout(() => {
        runtime.timers.delete(timer)
        if (!instance.ended && child.pid !== undefined) this.killGroup(child.pid)
      }, grace * 1000)
      runtime.timers.add(timer)
    }
    const afterStartup = () => {
      this.containerStatus(runtime, (status) => {
        status.started = true
        if (container.readinessProbe === undefined) status.ready = true
      })
      if (container.readinessProbe !== undefined) {
        loop(container.readinessProbe, (ok, failures, successes) => {
          const threshold = container.readinessProbe.failureThreshold ?? 3
          if (ok && successes >= (container.readinessProbe.successThreshold ?? 1)) this.containerStatus(runtime, (s) => void (s.ready = true))
          if (!ok && failures >= threshold) this.containerStatus(runtime, (s) => void (s.ready = false))
          return true
        })
      }
      if (container.livenessProbe !== undefined) {
        loop(container.livenessProbe, (ok, failures) => {
          if (!ok && failures >= (container.livenessProbe.failureThreshold ?? 3)) {
            kill("Container failed liveness probe, will be restarted")
            return false
          }
          return true
        })
      }
    }
    if (container.startupProbe !== undefined) {
      loop(container.startupProbe, (ok, failures) => {
        if (ok) {
          afterStartup()
          return false
        }
        if (failures >= (container.startupProbe.failureThreshold ?? 3)) {
          kill("Container failed startup probe, will be restarted")
          return false
        }
        return true
      })
    } else afterStartup()
  }

  private runProbe(runtime: PodRuntime, probe: Obj, container: Obj, env: Record<string, string>, rewrite: (value: string) => string): Promise<boolean> {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000
    if (probe.exec !== undefined) {
      return new Promise((done) => {
        const [program, ...args] = (probe.exec.command as Array<string>).map(rewrite)
        let child: ChildProcess
        try {
          child = spawn(program!, args, { env, cwd: container.workingDir ?? "/", stdio: "ignore" })
        } catch {
          done(false)
          return
        }
        if (child.pid !== undefined) this.spawned.push(child.pid)
        runtime.probes.add(child)
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
        child.on("error", () => undefined)
        child.on("close", (code) => {
          clearTimeout(timer)
          runtime.probes.delete(child)
          done(code === 0)
        })
      })
    }
    if (probe.httpGet !== undefined) {
      const port = typeof probe.httpGet.port === "number"
        ? probe.httpGet.port
        : (container.ports ?? []).find((p: Obj) => p.name === probe.httpGet.port)?.containerPort
      return new Promise((done) => {
        const req = request({ host: "127.0.0.1", port, path: probe.httpGet.path ?? "/", timeout: timeoutMs }, (res) => {
          res.resume()
          done((res.statusCode ?? 500) >= 200 && (res.statusCode ?? 500) < 400)
        })
        req.on("timeout", () => req.destroy())
        req.on("error", () => done(false))
        req.end()
      })
    }
    return Promise.resolve(false)
  }

  private killGroup(pid: number) {
    try {
      process.kill(-pid, "SIGKILL")
    } catch {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // gone
      }
    }
  }

  /** A graceful pod delete: deletionTimestamp set, SIGTERM, SIGKILL after the grace period, then removed. */
  private deletePod(pod: Obj, gracePeriodSeconds: number | undefined): Obj {
    const runtime = this.pods.get(pod.metadata.uid)
    const grace = gracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30
    const current = this.get("pods", pod.metadata.namespace, pod.metadata.name)
    if (current === undefined) return pod
    const deadline = Date.now() + grace * 1000
    if (current.metadata.deletionTimestamp !== undefined) {
      // Already going: a shorter grace period shortens it.
      if (runtime !== undefined && runtime.killTimer !== undefined && deadline < runtime.killAt) this.armKill(runtime, deadline)
      return current
    }
    current.metadata.deletionTimestamp = new Date(deadline).toISOString().replace(/\.\d{3}Z$/, "Z")
    current.metadata.deletionGracePeriodSeconds = grace
    const saved = this.save("pods", current)
    if (runtime === undefined) {
      this.drop("pods", current)
      return saved
    }
    runtime.terminating = true
    for (const timer of runtime.timers) clearTimeout(timer)
    runtime.timers.clear()
    for (const probe of runtime.probes) probe.kill("SIGKILL")
    runtime.probes.clear()
    this.containerStatus(runtime, (status) => void (status.ready = false))
    const child = runtime.current?.child
    if (child?.pid === undefined || runtime.current?.ended !== false) {
      this.finishPod(runtime)
      return saved
    }
    child.kill("SIGTERM")
    this.armKill(runtime, deadline)
    return saved
  }

  private armKill(runtime: PodRuntime, deadline: number) {
    if (runtime.killTimer !== undefined) clearTimeout(runtime.killTimer)
    runtime.killAt = deadline
    runtime.killTimer = setTimeout(() => {
      const pid = runtime.current?.child?.pid
      if (pid !== undefined) this.killGroup(pid)
    }, Math.max(0, deadline - Date.now()))
  }

  private finishPod(runtime: PodRuntime) {
    if (runtime.gone) return
    runtime.gone = true
    if (runtime.killTimer !== undefined) clearTimeout(runtime.killTimer)
    for (const dir of runtime.volumes.values()) rmSync(dir, { recursive: true, force: true })
    const pod = this.get("pods", runtime.namespace, runtime.name)
    if (pod !== undefined) this.drop("pods", pod)
    this.pods.delete(runtime.key)
  }

  // ---- logs ------------------------------------------------------------------------------------

  /** The log of a pod's container: the current instance, or the previous one; or why there is none. */
  logOf(namespace: string, name: string, container: string | undefined, previous: boolean):
    | { readonly instance: { readonly lines: ReadonlyArray<LogLine>; readonly follow: (f: Follower) => () => void; readonly ended: boolean } }
    | { readonly error: string; readonly code: number } {
    const pod = this.get("pods", namespace, name)
    if (pod === undefined) return { error: `pods "${name}" not found`, code: 404 }
    const containerName = container ?? pod.spec.containers[0].name
    if (!pod.spec.containers.some((c: Obj) => c.name === containerName)) {
      return { error: `container ${containerName} is not valid for pod ${name}`, code: 400 }
    }
    const runtime = this.pods.get(pod.metadata.uid)
    const instance = previous ? runtime?.previous : runtime?.current
    if (instance === undefined) {
      return previous
        ? { error: `previous terminated container "${containerName}" in pod "${name}" not found`, code: 400 }
        : { error: `container "${containerName}" in pod "${name}" is waiting to start: ContainerCreating`, code: 400 }
    }
    return {
      instance: {
        lines: instance.lines,
        ended: instance.ended,
        follow: (follower) => {
          if (instance.ended) {
            follower.end()
            return () => undefined
          }
          instance.followers.add(follower)
          return () => instance.followers.delete(follower)
        }
      }
    }
  }

  /** Stops every process and timer; pods are left as they are. */
  close(): void {
    this.closed = true
    clearInterval(this.interval)
    for (const runtime of this.pods.values()) {
      runtime.gone = true
      for (const timer of runtime.timers) clearTimeout(timer)
      if (runtime.killTimer !== undefined) clearTimeout(runtime.killTimer)
      for (const probe of runtime.probes) probe.kill("SIGKILL")
      const pid = runtime.current?.child?.pid
      if (pid !== undefined && !runtime.current!.ended) this.killGroup(pid)
      for (const dir of runtime.volumes.values()) rmSync(dir, { recursive: true, force: true })
    }
    this.watchers.clear()
  }
}
