// What a real API server checks of an object before it stores it, as far as it can be checked
// offline: the OpenAPI schemas (kubernetes-models 4.x, generated from Kubernetes' own OpenAPI
// document: types, required fields, formats) and a subset of the API server's hand-written
// validation (names, label keys and values, selectors matching the template, ports, probes,
// restart policies) — the rules a manifest generator can get wrong. Used by the stand-in API
// server (which answers 422 Invalid, as the real one does) and by the render tests.
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1"
import { Job } from "kubernetes-models/batch/v1"
import { Pod, Service, ServiceAccount } from "kubernetes-models/v1"
import { PodDisruptionBudget } from "kubernetes-models/policy/v1"

type Obj = Record<string, any>

const models: Record<string, new(data: any) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "batch/v1/Job": Job,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "v1/Pod": Pod,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget
}

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const qualifiedName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const ianaSvcName = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/
const envName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/

const checkKey = (key: string): string | undefined => {
  const slash = key.lastIndexOf("/")
  const [prefix, name] = slash === -1 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)]
  if (prefix !== undefined && (prefix.length > 253 || !dns1123Subdomain.test(prefix))) return "prefix part must be a DNS subdomain"
  if (name.length === 0 || name.length > 63 || !qualifiedName.test(name)) return "name part must be a qualified name of at most 63 characters"
  return undefined
}

const metadataProblems = (metadata: Obj | undefined, path: string, named: "label" | "subdomain" | "none"): Array<string> => {
  const problems: Array<string> = []
  if (metadata === undefined) return named === "none" ? [] : [`${path}: Required value`]
  const name = metadata.name
  if (named !== "none") {
    if (typeof name !== "string" || name === "") problems.push(`${path}.name: Required value`)
    else if (named === "label" ? name.length > 63 || !dns1123Label.test(name) : name.length > 253 || !dns1123Subdomain.test(name)) {
      problems.push(`${path}.name: Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 ${named === "label" ? "label" : "subdomain"} must consist of lower case alphanumeric characters, '-' or '.'`)
    }
  }
  for (const [key, value] of Object.entries(metadata.labels ?? {})) {
    const bad = checkKey(key)
    if (bad !== undefined) problems.push(`${path}.labels: Invalid value: ${JSON.stringify(key)}: ${bad}`)
    if (typeof value !== "string" || value.length > 63 || !labelValue.test(value)) {
      problems.push(`${path}.labels: Invalid value: ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'`)
    }
  }
  let annotationBytes = 0
  for (const [key, value] of Object.entries(metadata.annotations ?? {})) {
    const bad = checkKey(key.toLowerCase())
    if (bad !== undefined) problems.push(`${path}.annotations: Invalid value: ${JSON.stringify(key)}: ${bad}`)
    annotationBytes += Buffer.byteLength(key) + Buffer.byteLength(String(value))
  }
  if (annotationBytes > 262_144) problems.push(`${path}.annotations: Too long: must have at most 262144 bytes`)
  return problems
}

const portProblems = (port: unknown, path: string): Array<string> =>
  typeof port === "number"
    ? (Number.isInteger(port) && port >= 1 && port <= 65535 ? [] : [`${path}: Invalid value: ${port}: must be between 1 and 65535, inclusive`])
    : typeof port === "string"
    ? (port.length <= 15 && ianaSvcName.test(port) && /[a-z]/.test(port) && !port.includes("--") ? [] : [`${path}: Invalid value: ${JSON.stringify(port)}: must be an IANA_SVC_NAME`])
    : [`${path}: Required value`]

const probeProblems = (probe: Obj | undefined, path: string, ports: ReadonlyArray<Obj>): Array<string> => {
  if (probe === undefined) return []
  const handlers = ["exec", "httpGet", "tcpSocket", "grpc"].filter((h) => probe[h] !== undefined)
  const problems: Array<string> = []
  if (handlers.length !== 1) problems.push(`${path}: Required value: must specify exactly one handler type`)
  if (probe.httpGet !== undefined) {
    problems.push(...portProblems(probe.httpGet.port, `${path}.httpGet.port`))
    if (typeof probe.httpGet.port === "string" && !ports.some((p) => p.name === probe.httpGet.port)) {
      problems.push(`${path}.httpGet.port: Invalid value: ${JSON.stringify(probe.httpGet.port)}: no container port has this name`)
    }
  }
  if (probe.exec !== undefined && (!Array.isArray(probe.exec.command) || probe.exec.command.length === 0)) {
    problems.push(`${path}.exec.command: Required value`)
  }
  for (const field of ["periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"]) {
    if (probe[field] !== undefined && !(Number.isInteger(probe[field]) && probe[field] >= 1)) {
      problems.push(`${path}.${field}: Invalid value: ${probe[field]}: must be greater than or equal to 1`)
    }
  }
  return problems
}

const podSpecProblems = (spec: Obj | undefined, path: string, workload: string): Array<string> => {
  if (spec === undefined) return [`${path}: Required value`]
  const problems: Array<string> = []
  const containers: Array<Obj> = spec.containers ?? []
  if (containers.length === 0) problems.push(`${path}.containers: Required value`)
  const names = new Set<string>()
  containers.forEach((container, i) => {
    const at = `${path}.containers[${i}]`
    if (typeof container.name !== "string" || !dns1123Label.test(container.name) || container.name.length > 63) {
      problems.push(`${at}.name: Invalid value: ${JSON.stringify(container.name)}: a lowercase RFC 1123 label`)
    }
    if (names.has(container.name)) problems.push(`${at}.name: Duplicate value: ${JSON.stringify(container.name)}`)
    names.add(container.name)
    if (typeof container.image !== "string" || container.image.trim() === "") problems.push(`${at}.image: Required value`)
    const envNames = new Set<string>()
    ;(container.env ?? []).forEach((env: Obj, j: number) => {
      if (typeof env.name !== "string" || !envName.test(env.name)) problems.push(`${at}.env[${j}].name: Invalid value: ${JSON.stringify(env.name)}`)
      if (env.value !== undefined && env.valueFrom !== undefined) problems.push(`${at}.env[${j}].valueFrom: Invalid value: may not be specified when value is not empty`)
      if (envNames.has(env.name)) problems.push(`${at}.env[${j}].name: Duplicate value: ${JSON.stringify(env.name)}`)
      envNames.add(env.name)
    })
    const ports: Array<Obj> = container.ports ?? []
    const portNames = new Set<string>()
    ports.forEach((port, j) => {
      problems.push(...portProblems(port.containerPort, `${at}.ports[${j}].containerPort`))
      if (port.name !== undefined) {
        problems.push(...portProblems(port.name, `${at}.ports[${j}].name`))
        if (portNames.has(port.name)) problems.push(`${at}.ports[${j}].name: Duplicate value: ${JSON.stringify(port.name)}`)
        portNames.add(port.name)
      }
      if (port.protocol !== undefined && !["TCP", "UDP", "SCTP"].includes(port.protocol)) {
        problems.push(`${at}.ports[${j}].protocol: Unsupported value: ${JSON.stringify(port.protocol)}`)
      }
    })
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      problems.push(...probeProblems(container[probe], `${at}.${probe}`, ports))
      if (container[probe]?.successThreshold !== undefined && probe !== "readinessProbe" && container[probe].successThreshold !== 1) {
        problems.push(`${at}.${probe}.successThreshold: Invalid value: must be 1`)
      }
    }
    const mounts: Array<Obj> = container.volumeMounts ?? []
    for (const mount of mounts) {
      if (!(spec.volumes ?? []).some((v: Obj) => v.name === mount.name)) problems.push(`${at}.volumeMounts.name: Not found: ${JSON.stringify(mount.name)}`)
      if (typeof mount.mountPath !== "string" || !mount.mountPath.startsWith("/")) problems.push(`${at}.volumeMounts.mountPath: Invalid value`)
    }
    const sc = container.securityContext
    if (sc?.runAsNonRoot === true && sc.runAsUser === 0) problems.push(`${at}.securityContext.runAsNonRoot: Invalid value: true: runAsUser is 0`)
    if (sc?.allowPrivilegeEscalation === false && sc.privileged === true) problems.push(`${at}.securityContext: Invalid value: cannot set allowPrivilegeEscalation to false and privileged to true`)
  })
  const restart = spec.restartPolicy
  if ((workload === "Deployment" || workload === "StatefulSet") && restart !== undefined && restart !== "Always") {
    problems.push(`${path}.restartPolicy: Unsupported value: ${JSON.stringify(restart)}: supported values: "Always"`)
  }
  if (workload === "Job" && restart !== "Never" && restart !== "OnFailure") {
    problems.push(`${path}.restartPolicy: Required value: valid values: "OnFailure", "Never"`)
  }
  if (spec.terminationGracePeriodSeconds !== undefined && !(Number.isInteger(spec.terminationGracePeriodSeconds) && spec.terminationGracePeriodSeconds >= 0)) {
    problems.push(`${path}.terminationGracePeriodSeconds: Invalid value: must be >= 0`)
  }
  const volumeNames = new Set<string>()
  for (const volume of spec.volumes ?? []) {
    if (volumeNames.has(volume.name)) problems.push(`${path}.volumes.name: Duplicate value: ${JSON.stringify(volume.name)}`)
    volumeNames.add(volume.name)
  }
  return problems
}

const selectorMatches = (selector: Obj | undefined, labels: Record<string, string> | undefined) =>
  selector?.matchLabels !== undefined && Object.keys(selector.matchLabels).length > 0 &&
  Object.entries(selector.matchLabels).every(([key, value]) => labels?.[key] === value)

/**
 * The problems a real API server would report for `object` (empty when it would accept it),
 * as "field: reason" lines. Schema failures come first, as kubernetes-models words them.
 */
export const problemsOf = (object: Obj): Array<string> => {
  const key = `${object.apiVersion}/${object.kind}`
  const Model = models[key]
  if (Model === undefined) return [`no schema for ${key}`]
  try {
    new Model(object).validate()
  } catch (error) {
    return [(error as Error).message]
  }
  const kind = object.kind as string
  const problems = metadataProblems(object.metadata, "metadata", kind === "Service" ? "label" : "subdomain")
  const spec = object.spec as Obj | undefined
  if (kind === "Deployment" || kind === "StatefulSet" || kind === "Job") {
    const template = spec?.template
    problems.push(...metadataProblems(template?.metadata, "spec.template.metadata", "none"))
    problems.push(...podSpecProblems(template?.spec, "spec.template.spec", kind))
    if (kind !== "Job" && !selectorMatches(spec?.selector, template?.metadata?.labels)) {
      problems.push("spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`")
    }
    if (spec?.replicas !== undefined && !(Number.isInteger(spec.replicas) && spec.replicas >= 0)) {
      problems.push("spec.replicas: Invalid value: must be greater than or equal to 0")
    }
    if (kind === "StatefulSet" && (typeof spec?.serviceName !== "string" || spec.serviceName === "")) {
      problems.push("spec.serviceName: Required value")
    }
    if (kind === "Deployment" && spec?.strategy?.rollingUpdate !== undefined) {
      const { maxSurge, maxUnavailable } = spec.strategy.rollingUpdate
      if (maxSurge === 0 && maxUnavailable === 0) problems.push("spec.strategy.rollingUpdate.maxUnavailable: may not be 0 when maxSurge is 0")
    }
    if (kind === "Job" && spec?.completions !== undefined && spec.completions < 0) problems.push("spec.completions: must be >= 0")
  }
  if (kind === "Service") {
    const headless = spec?.clusterIP === "None"
    const ports: Array<Obj> = spec?.ports ?? []
    if (ports.length === 0 && !headless) problems.push("spec.ports: Required value")
    if (headless && spec?.type !== undefined && spec.type !== "ClusterIP") problems.push("spec.clusterIP: Invalid value: a headless Service is of type ClusterIP")
    ports.forEach((port, i) => {
      problems.push(...portProblems(port.port, `spec.ports[${i}].port`))
      if (port.targetPort !== undefined) problems.push(...portProblems(port.targetPort, `spec.ports[${i}].targetPort`))
      if (ports.length > 1 && (port.name === undefined || port.name === "")) problems.push(`spec.ports[${i}].name: Required value`)
    })
  }
  if (kind === "PodDisruptionBudget") {
    if ((spec?.minAvailable === undefined) === (spec?.maxUnavailable === undefined)) {
      problems.push("spec: Invalid value: exactly one of minAvailable and maxUnavailable")
    }
  }
  return problems
}
