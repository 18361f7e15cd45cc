/**
 * A daemon as Kubernetes objects: a Deployment (or a StatefulSet, or a Job
 * for `restart.policy: "never"`), a Service for its ports, a
 * PodDisruptionBudget when it runs more than one pod, and a ServiceAccount
 * whose token is not mounted — as plain objects, checked once, that the
 * renderer writes as YAML and the adapter applies.
 *
 * What comes from the config:
 *
 * - the container runs the daemon's real command (`command`/`args`), its
 *   `env` (plus `DUENDE_PLATFORM=kubernetes`, the state directory, and the pod's
 *   name and namespace from the downward API) and `workingDir`;
 * - `terminationGracePeriodSeconds` is `shutdownTimeout` plus
 *   {@link graceMarginSeconds}: the daemon's own deadline (exit 4) comes
 *   first, the kubelet's SIGKILL only after it;
 * - probes from `health`: a startupProbe that allows `initTimeout` +
 *   `health.startPeriod` + one `health.interval`, then readiness and liveness
 *   every `health.interval` with `health.timeout`. As exec probes they run
 *   `duende health`, which answers from the daemon's state file (its READY
 *   and its own health loop, which already counts `health.retries`), so the
 *   readiness probe fails at once (failureThreshold 1) and the liveness probe
 *   after 2 (one spare for a probe process that could not start in time). As
 *   HTTP probes (`platform.kubernetes.probe`) both take `health.retries`.
 *   With `health.enabled: false` there is no liveness probe;
 * - limits from `resources` (memory, cpuQuota as millicores), requests from
 *   `platform.kubernetes.requests` (memory defaults to the limit);
 * - the restart policy: Deployments and StatefulSets always restart their
 *   pods, so `on-failure` (the default) and `always` both become one, and
 *   `never` becomes a Job with `restartPolicy: Never` (a Job with `kind: "Job"`
 *   and `on-failure` gets `restartPolicy: OnFailure` and `backoffLimit` from
 *   `restart.crashLoop.burst`).
 *
 * Secure by default, each with an opt-out in `platform.kubernetes.security`:
 * `runAsNonRoot`, a non-zero `runAsUser`/`runAsGroup` (the config's numeric
 * `user`/`group`, else 65532), `readOnlyRootFilesystem`,
 * `allowPrivilegeEscalation: false`, every capability dropped,
 * `seccompProfile: RuntimeDefault`, and emptyDirs for `/tmp` and the state
 * directory — what the "restricted" Pod Security Standard asks for.
 *
 * Every object has the `app.kubernetes.io/*` recommended labels; the pod
 * template carries `duende.dev/config-hash`, so a changed config rolls the pods.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import { encode } from "@duende/core/DaemonConfigSchema"
import { StateFile } from "@duende/platform-container"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { createHash } from "node:crypto"
import * as KubernetesSection from "./KubernetesSection.js"

/**
 * A JSON value, as the Kubernetes API takes it.
 *
 * @since 0.1.0
 */
export type Json = string | number | boolean | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * A Kubernetes object.
 *
 * @since 0.1.0
 */
export interface Manifest {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly labels: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
  }
  readonly [field: string]: Json
}

/**
 * The workload kinds.
 *
 * @since 0.1.0
 */
export type WorkloadKind = "Deployment" | "StatefulSet" | "Job"

/**
 * A daemon's objects.
 *
 * @since 0.1.0
 */
export interface Manifests {
  readonly name: string
  /** The namespace of every object; undefined leaves it to `kubectl`'s context. */
  readonly namespace: string | undefined
  readonly kind: WorkloadKind
  readonly workload: Manifest
  readonly service: Manifest | undefined
  readonly podDisruptionBudget: Manifest | undefined
  readonly serviceAccount: Manifest | undefined
  /** The labels that select the daemon's pods. */
  readonly selector: Readonly<Record<string, string>>
  /** Pods when it runs (`platform.kubernetes.replicas`). */
  readonly replicas: number
  /** The `duende.dev/config-hash` of the pod template. */
  readonly configHash: string
  /** Settings of the config Kubernetes cannot apply, for a warning. */
  readonly ignored: ReadonlyArray<string>
}

/**
 * Why a config cannot become Kubernetes objects: one line per problem, each naming its field.
 *
 * @since 0.1.0
 */
export class ManifestError extends Data.TaggedError("ManifestError")<{
  readonly problems: ReadonlyArray<string>
}> {
  override get message(): string {
    return this.problems.join("; ")
  }
}

/**
 * Labels and annotations Duende sets.
 *
 * @since 0.1.0
 */
export const keys = {
  name: "app.kubernetes.io/name",
  instance: "app.kubernetes.io/instance",
  version: "app.kubernetes.io/version",
  managedBy: "app.kubernetes.io/managed-by",
  daemonId: "duende.dev/daemon-id",
  configHash: "duende.dev/config-hash",
  replicas: "duende.dev/replicas",
  lastExit: "duende.dev/last-exit",
  /** The annotation `kubectl rollout restart` sets on the pod template. */
  restartedAt: "kubectl.kubernetes.io/restartedAt"
} as const

/**
 * Seconds between the daemon's own shutdown deadline and the kubelet's SIGKILL.
 *
 * @since 0.1.0
 */
export const graceMarginSeconds = 5

/**
 * Where the daemon's state file lives in the pod (an emptyDir).
 *
 * @since 0.1.0
 */
export const stateDirectory = StateFile.containerDirectory

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The daemon id in the `duende.dev/daemon-id` annotation. */
  readonly id: string
  /** Defaults under the config's own `platform.kubernetes` (`--image`, `--namespace`). */
  readonly section?: KubernetesSection.Input
  /**
   * What the workload asks for now, when it is not {@link Manifests.replicas}: the adapter installs
   * with 0 replicas (a Job suspended) and scales on start.
   */
  readonly running?: { readonly replicas: number } | undefined
}

const labelValue = /^(?:(?=.{1,63}$)[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)?$/

const seconds = (duration: Duration.Duration) => Math.max(1, Math.ceil(Duration.toMillis(duration) / 1000))

/**
 * A byte count as a Kubernetes quantity: in Gi, Mi or Ki when it divides, else in bytes.
 *
 * @example
 * ```ts
 * import { KubernetesManifests } from "@duende/platform-kubernetes/adapter"
 *
 * KubernetesManifests.quantity(256 * 1024 * 1024) // "256Mi"
 * KubernetesManifests.quantity(1000) // "1000"
 * ```
 *
 * @since 0.1.0
 */
export const quantity = (bytes: number): string => {
  for (const [suffix, size] of [["Gi", 1024 ** 3], ["Mi", 1024 ** 2], ["Ki", 1024]] as const) {
    if (bytes % size === 0) return `${bytes / size}${suffix}`
  }
  return String(bytes)
}

const millicores = (cores: number) => `${Math.max(1, Math.round(cores * 1000))}m`

const canonical = (value: unknown): string =>
  Array.isArray(value)
    ? `[${value.map(canonical).join(",")}]`
    : value !== null && typeof value === "object"
    ? `{${
      Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
        .join(",")
    }}`
    : JSON.stringify(value) ?? "null"

/**
 * The hash of a config and its resolved section, as the pod template carries it.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { KubernetesManifests } from "@duende/platform-kubernetes/adapter"
 *
 * const hash = KubernetesManifests.configHash(decodeSync({ name: "api", command: ["node", "main.js"] }), {})
 * ```
 *
 * @since 0.1.0
 */
export const configHash = (config: DaemonConfig.DaemonConfig, section: unknown): string =>
  createHash("sha256").update(canonical({ config: encode(config), section })).digest("hex").slice(0, 32)

const numericId = (value: string | undefined) => value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined

/**
 * Builds a daemon's objects, or says what is wrong with its config.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { KubernetesManifests } from "@duende/platform-kubernetes/adapter"
 * import { Either } from "effect"
 *
 * const config = decodeSync({ name: "api", command: ["node", "/app/main.js"], platform: { kubernetes: { image: "ghcr.io/acme/api:1" } } })
 * const manifests = KubernetesManifests.make(config, { id: "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d" })
 * if (Either.isRight(manifests)) console.log(manifests.right.workload.kind) // "Deployment"
 * ```
 *
 * @since 0.1.0
 */
export const make = (config: DaemonConfig.DaemonConfig, options: Options): Either.Either<Manifests, ManifestError> => {
  // The config's `instances` are the workload's replicas, unless the section says how many itself.
  const written = (config.platform.kubernetes as { readonly replicas?: unknown } | undefined)?.replicas
  const instances = config.instances
  const own = typeof instances === "number" && instances > 1 && written === undefined
    ? { ...(config.platform.kubernetes as object | undefined), replicas: instances }
    : config.platform.kubernetes
  const resolved = KubernetesSection.resolve(own, options.section)
  if (Either.isLeft(resolved)) return Either.left(new ManifestError({ problems: resolved.left.split("; ") }))
  const section = resolved.right
  const problems: Array<string> = []
  if (instances === "max") {
    problems.push(`instances: "max" is one per CPU of one machine; for pods write a number, or platform.kubernetes.replicas`)
  } else if (instances > 1 && written !== undefined && written !== instances) {
    problems.push(
      `instances: ${instances} and platform.kubernetes.replicas: ${JSON.stringify(written)} disagree; write one of them (instances become replicas)`
    )
  }
  const ignored: Array<string> = []
  const field = "platform.kubernetes"

  const policy = config.restart.policy
  const kind: WorkloadKind = section.kind ?? (policy === "never" ? "Job" : "Deployment")
  if (kind !== "Job" && policy === "never") {
    problems.push(
      `${field}.kind: a ${kind} restarts its pods after every exit, which restart.policy "never" forbids; ` +
        `leave kind out (or set it to "Job") for a pod that is not restarted, or set restart.policy to "always"`
    )
  }
  if (kind === "Job" && (policy === "always" || policy === "unless-stopped")) {
    problems.push(
      `${field}.kind: a Job's pods are not restarted after they succeed, which restart.policy "${policy}" asks for; ` +
        `use kind "Deployment", or restart.policy "on-failure" or "never"`
    )
  }
  if (kind === "Job" && section.replicas < 1) problems.push(`${field}.replicas: a Job runs at least 1 pod, got 0`)
  if (kind === "StatefulSet" && config.name.length > 52) {
    problems.push(
      `name: a StatefulSet's name is at most 52 characters (its pods' controller-revision-hash label adds 11), got ${config.name.length}`
    )
  }
  if (section.image === undefined) {
    problems.push(`${field}.image: a pod needs an image: set it in the config, or give one (duende render kubernetes --image IMAGE)`)
  }

  // The user: Kubernetes takes numeric ids only.
  const security = section.security
  const userId = security.runAsUser ?? numericId(config.user) ?? (config.user === undefined ? KubernetesSection.defaultUserId : undefined)
  const groupId = security.runAsGroup ?? numericId(config.group) ??
    (config.group === undefined ? (config.user === undefined ? KubernetesSection.defaultUserId : userId) : undefined)
  if (userId === undefined) {
    problems.push(
      `user: Kubernetes runs a container as a numeric uid, and "${config.user}" is a name; ` +
        `set ${field}.security.runAsUser to its uid in the image (or use the uid as user)`
    )
  }
  if (groupId === undefined && config.group !== undefined) {
    problems.push(
      `group: Kubernetes runs a container with a numeric gid, and "${config.group}" is a name; set ${field}.security.runAsGroup to its gid`
    )
  }
  if (userId === 0 && security.runAsNonRoot) {
    problems.push(`user: "0" is root while ${field}.security.runAsNonRoot is on; set runAsNonRoot to false to run as root`)
  }

  // Ports: a Service with several ports needs a name for each, and names are unique.
  const ports = section.ports
  if (ports.length > 1) {
    ports.forEach((port, i) => {
      if (port.name === undefined) problems.push(`${field}.ports[${i}].name: a Service with several ports needs a name for each`)
    })
  }
  const seen = new Set<string>()
  ports.forEach((port, i) => {
    const key = `${port.port}/${port.protocol}`
    if (seen.has(key)) problems.push(`${field}.ports[${i}]: port ${key} is listed twice`)
    seen.add(key)
    if (port.name !== undefined) {
      if (seen.has(`name:${port.name}`)) problems.push(`${field}.ports[${i}].name: "${port.name}" is used twice`)
      seen.add(`name:${port.name}`)
    }
  })
  const probe = section.probe
  if (probe.type === "http" && typeof probe.port === "string" && !ports.some((port) => port.name === probe.port)) {
    problems.push(`${field}.probe.port: no port is named "${probe.port}" in ${field}.ports`)
  }

  // Resources.
  const { resources } = config
  const limits: Record<string, string> = {}
  const requests: Record<string, string> = {}
  if (resources.memory !== undefined) limits.memory = quantity(resources.memory)
  if (resources.cpuQuota !== undefined) limits.cpu = millicores(resources.cpuQuota / 100)
  const memoryRequest = section.requests.memory ?? resources.memory
  if (memoryRequest !== undefined) requests.memory = quantity(memoryRequest)
  if (section.requests.cpu !== undefined) requests.cpu = millicores(section.requests.cpu)
  if (resources.memory !== undefined && memoryRequest !== undefined && memoryRequest > resources.memory) {
    problems.push(`${field}.requests.memory: ${quantity(memoryRequest)} is above the limit resources.memory (${limits.memory})`)
  }
  if (resources.cpuQuota !== undefined && section.requests.cpu !== undefined && section.requests.cpu * 100 > resources.cpuQuota) {
    problems.push(`${field}.requests.cpu: ${section.requests.cpu} cores is above the limit resources.cpuQuota (${resources.cpuQuota}%)`)
  }
  if (resources.memorySwap !== undefined) ignored.push("resources.memorySwap (the node's swap setting decides)")
  if (resources.cpuWeight !== undefined) ignored.push("resources.cpuWeight (use platform.kubernetes.requests.cpu)")
  if (resources.ioReadBandwidth !== undefined) ignored.push("resources.ioReadBandwidth (Kubernetes has no I/O limits)")
  if (resources.ioWriteBandwidth !== undefined) ignored.push("resources.ioWriteBandwidth (Kubernetes has no I/O limits)")
  if (resources.pidsMax !== undefined) ignored.push("resources.pidsMax (the kubelet's podPidsLimit decides)")
  if (resources.openFilesMax !== undefined) ignored.push("resources.openFilesMax (the container runtime's limit decides)")
  if (resources.lockMemory) ignored.push("resources.lockMemory's swap limit (the node's swap setting decides: a Guaranteed pod, requests equal to limits, is never swapped; IPC_LOCK is added)")
  if (config.watchdogInterval !== undefined) ignored.push("watchdogInterval (a stale heartbeat fails `duende health` instead)")
  if (config.pidFile !== undefined) ignored.push("pidFile (a pod's processes are its containers')")
  if (config.after.length > 0) ignored.push("after (Kubernetes starts pods in no order)")

  if (problems.length > 0) return Either.left(new ManifestError({ problems }))

  const name = config.name
  const namespace = section.namespace
  const hash = configHash(config, section)
  const selector = { [keys.name]: name, [keys.instance]: name }
  const labels: Record<string, string> = {
    ...(labelValue.test(config.version) ? { [keys.version]: config.version } : {}),
    ...section.labels,
    ...selector,
    [keys.managedBy]: "duende"
  }
  const annotations = { ...section.annotations, [keys.daemonId]: options.id }
  const metadata = (objectName: string, extra: Record<string, string> = {}) => ({
    name: objectName,
    ...(namespace !== undefined ? { namespace } : {}),
    labels,
    annotations: { ...annotations, ...extra }
  })

  // The container.
  const env: Array<Json> = Object.entries(config.env)
    .filter(([key]) => !["DUENDE_PLATFORM", StateFile.directoryVariable, "DUENDE_POD_NAME", "DUENDE_POD_NAMESPACE"].includes(key))
    .map(([key, value]) => ({ name: key, value }))
  env.push(
    { name: "DUENDE_PLATFORM", value: "kubernetes" },
    { name: StateFile.directoryVariable, value: stateDirectory },
    { name: "DUENDE_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: "DUENDE_POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } }
  )
  const health = config.health
  const interval = seconds(health.interval)
  const probeHandler: Record<string, Json> | undefined = probe.type === "exec"
    ? { exec: { command: [...probe.command] } }
    : probe.type === "http"
    ? { httpGet: { path: probe.path, port: probe.port, scheme: probe.scheme } }
    : undefined
  const timeout = probe.type === "exec" ? Math.max(seconds(health.timeout), 5) : seconds(health.timeout)
  const startupWindow = seconds(Duration.sum(Duration.sum(config.initTimeout, health.startPeriod), health.interval))
  const startupPeriod = startupWindow <= 60 ? 1 : Math.min(interval, Math.ceil(startupWindow / 60))
  const probes: Record<string, Json> = probeHandler === undefined ? {} : {
    startupProbe: {
      ...probeHandler,
      periodSeconds: startupPeriod,
      timeoutSeconds: timeout,
      failureThreshold: Math.ceil(startupWindow / startupPeriod)
    },
    readinessProbe: {
      ...probeHandler,
      periodSeconds: interval,
      timeoutSeconds: timeout,
      failureThreshold: probe.type === "exec" ? 1 : health.retries
    },
    ...(health.enabled
      ? {
        livenessProbe: {
          ...probeHandler,
          periodSeconds: interval,
          timeoutSeconds: timeout,
          failureThreshold: probe.type === "exec" ? 2 : health.retries
        }
      }
      : {})
  }
  const add = [...security.addCapabilities, ...(resources.lockMemory && !security.addCapabilities.includes("IPC_LOCK") ? ["IPC_LOCK"] : [])]
  const capabilities: Record<string, Json> = {
    ...(security.dropAllCapabilities ? { drop: ["ALL"] } : {}),
    ...(add.length > 0 ? { add } : {})
  }
  const container: Record<string, Json> = {
    name,
    image: section.image!,
    ...(section.imagePullPolicy !== undefined ? { imagePullPolicy: section.imagePullPolicy } : {}),
    command: [config.command.program],
    args: [...config.command.args],
    ...(config.workingDirectory !== undefined ? { workingDir: config.workingDirectory } : {}),
    env,
    ...(ports.length > 0
      ? {
        ports: ports.map((port) => ({
          ...(port.name !== undefined ? { name: port.name } : {}),
          containerPort: port.port,
          protocol: port.protocol
        }))
      }
      : {}),
    ...(Object.keys(limits).length + Object.keys(requests).length > 0
      ? {
        resources: {
          ...(Object.keys(limits).length > 0 ? { limits } : {}),
          ...(Object.keys(requests).length > 0 ? { requests } : {})
        }
      }
      : {}),
    securityContext: {
      runAsNonRoot: security.runAsNonRoot,
      runAsUser: userId!,
      runAsGroup: groupId!,
      readOnlyRootFilesystem: security.readOnlyRootFilesystem,
      allowPrivilegeEscalation: security.allowPrivilegeEscalation,
      ...(Object.keys(capabilities).length > 0 ? { capabilities } : {}),
      seccompProfile: { type: security.seccompProfile }
    },
    volumeMounts: [
      { name: "duende-state", mountPath: stateDirectory },
      ...(security.tmpVolume ? [{ name: "tmp", mountPath: "/tmp" }] : [])
    ],
    ...probes
  }
  const serviceAccountName = section.serviceAccount.name ?? name
  const podSpec: Record<string, Json> = {
    serviceAccountName,
    automountServiceAccountToken: section.serviceAccount.automountToken,
    ...(kind === "Job" ? { restartPolicy: policy === "never" ? "Never" : "OnFailure" } : {}),
    terminationGracePeriodSeconds: seconds(config.shutdownTimeout) + graceMarginSeconds,
    ...(section.imagePullSecrets.length > 0 ? { imagePullSecrets: section.imagePullSecrets.map((secret) => ({ name: secret })) } : {}),
    containers: [container],
    volumes: [
      { name: "duende-state", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
      ...(security.tmpVolume ? [{ name: "tmp", emptyDir: {} }] : [])
    ]
  }
  const template = {
    metadata: { labels, annotations: { ...annotations, [keys.configHash]: hash } },
    spec: podSpec
  }
  const replicas = options.running?.replicas ?? section.replicas
  const workloadAnnotations = { [keys.replicas]: String(section.replicas) }
  const workload: Manifest = kind === "Deployment"
    ? {
      apiVersion: "apps/v1",
      kind,
      metadata: metadata(name, workloadAnnotations),
      spec: {
        replicas,
        selector: { matchLabels: selector },
        // A new pod is ready before an old one goes: no gap in service while it rolls.
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template
      }
    }
    : kind === "StatefulSet"
    ? {
      apiVersion: "apps/v1",
      kind,
      metadata: metadata(name, workloadAnnotations),
      spec: { replicas, serviceName: name, selector: { matchLabels: selector }, template }
    }
    : {
      apiVersion: "batch/v1",
      kind,
      metadata: metadata(name, workloadAnnotations),
      spec: {
        completions: section.replicas,
        parallelism: section.replicas,
        backoffLimit: policy === "never" ? 0 : config.restart.crashLoop.burst,
        suspend: replicas === 0,
        template
      }
    }

  const service: Manifest | undefined = kind === "StatefulSet" || (ports.length > 0 && kind !== "Job")
    ? {
      apiVersion: "v1",
      kind: "Service",
      metadata: metadata(name),
      spec: {
        ...(kind === "StatefulSet" ? { clusterIP: "None" } : { type: section.serviceType }),
        selector,
        ...(ports.length > 0
          ? {
            ports: ports.map((port) => ({
              ...(port.name !== undefined ? { name: port.name } : {}),
              port: port.servicePort,
              targetPort: port.name ?? port.port,
              protocol: port.protocol
            }))
          }
          : {})
      }
    }
    : undefined
  if (kind === "Job" && ports.length > 0) ignored.push(`${field}.ports' Service (a Job gets none)`)

  const podDisruptionBudget: Manifest | undefined = kind !== "Job" && section.replicas > 1
    ? {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: metadata(name),
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } }
    }
    : undefined

  const serviceAccount: Manifest | undefined = section.serviceAccount.create
    ? {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: metadata(serviceAccountName),
      automountServiceAccountToken: section.serviceAccount.automountToken
    }
    : undefined

  return Either.right({
    name,
    namespace,
    kind,
    workload,
    service,
    podDisruptionBudget,
    serviceAccount,
    selector,
    replicas: section.replicas,
    configHash: hash,
    ignored
  })
}

/**
 * The objects in the order they are applied: what the pods need first, the workload last.
 *
 * @example
 * ```ts
 * import { KubernetesManifests } from "@duende/platform-kubernetes/adapter"
 *
 * declare const manifests: KubernetesManifests.Manifests
 * KubernetesManifests.objects(manifests).map((o) => o.kind) // ["ServiceAccount", "Service", "Deployment"]
 * ```
 *
 * @since 0.1.0
 */
export const objects = (manifests: Manifests): ReadonlyArray<Manifest> =>
  [manifests.serviceAccount, manifests.service, manifests.podDisruptionBudget, manifests.workload].filter(
    (object): object is Manifest => object !== undefined
  )
