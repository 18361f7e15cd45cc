// Rendering: what a config becomes on Kubernetes. Every manifest rendered here is validated
// against the Kubernetes OpenAPI schemas (kubernetes-models 4.x) and the API server's own
// rules (stand-in/validation.ts), checked against the official client's models (a field they
// do not know is a field the API would refuse or drop), and read back as YAML 1.2, YAML 1.1
// and by PyYAML.
// The generated models of the official client (not in its public entry; it has no exports map).
import { ObjectSerializer } from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js"
import type { DaemonConfig } from "@duende/core"
import { decodeEither, decodeSync } from "@duende/core/DaemonConfigSchema"
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { KubernetesArtifacts, KubernetesManifests } from "../src/adapter.js"
import { asJson, python, readBoth, readWithPython } from "./helpers/yaml.js"
import { problemsOf } from "./stand-in/validation.js"

const image = "ghcr.io/acme/api:1.2.0"
const configOf = (input: Record<string, unknown>): DaemonConfig.DaemonConfig =>
  decodeSync({ name: "api", command: ["node", "/app/main.js"], ...input })
const manifestsOf = (input: Record<string, unknown>, options: KubernetesArtifacts.Options = {}) =>
  Either.getOrThrow(KubernetesArtifacts.manifests(configOf(input), { image, ...options }))
const problemsFor = (input: Record<string, unknown>, options: KubernetesArtifacts.Options = {}) =>
  Either.match(KubernetesArtifacts.manifests(configOf(input), { image, ...options }), {
    onLeft: (error) => error.problems,
    onRight: () => []
  })
const containerOf = (manifests: KubernetesManifests.Manifests) => (manifests.workload as any).spec.template.spec.containers[0]
const podSpecOf = (manifests: KubernetesManifests.Manifests) => (manifests.workload as any).spec.template.spec

const typeNames: Record<string, string> = {
  Deployment: "V1Deployment",
  StatefulSet: "V1StatefulSet",
  Job: "V1Job",
  Service: "V1Service",
  ServiceAccount: "V1ServiceAccount",
  PodDisruptionBudget: "V1PodDisruptionBudget"
}

/** Every check a rendered object must pass. */
export const expectValid = (object: KubernetesManifests.Manifest) => {
  expect(problemsOf(object as any), `${object.kind} ${object.metadata.name}`).toEqual([])
  // The official client's models know every field of the API: what they drop, the API does not know.
  const typed = ObjectSerializer.serialize(ObjectSerializer.deserialize(asJson(object), typeNames[object.kind]!, ""), typeNames[object.kind]!, "")
  expect(asJson(typed)).toEqual(asJson(object))
}

const variants: Record<string, Record<string, unknown>> = {
  minimal: {},
  "a web service": {
    version: "1.2.0",
    env: { PORT: "8080", MODE: "no" },
    workingDirectory: "/app",
    resources: { memory: "256M", cpuQuota: 50 },
    health: { interval: "10s", timeout: "2s", retries: 5 },
    shutdownTimeout: "20s",
    platform: {
      kubernetes: {
        replicas: 3,
        namespace: "prod",
        ports: [{ name: "http", port: 8080, servicePort: 80 }, { name: "metrics", port: 9464 }],
        probe: { type: "http", path: "/healthz", port: "http" },
        requests: { cpu: 0.25 },
        labels: { team: "payments" },
        annotations: { "example.com/owner": "payments@example.com" },
        imagePullSecrets: ["registry"],
        imagePullPolicy: "IfNotPresent"
      }
    }
  },
  "a StatefulSet": { platform: { kubernetes: { kind: "StatefulSet", replicas: 2, ports: [{ port: 5432 }] } } },
  "a StatefulSet without ports": { platform: { kubernetes: { kind: "StatefulSet" } } },
  "a Job (restart never)": { restart: { policy: "never" } },
  "a Job (on-failure)": { restart: { policy: "on-failure", crashLoop: { burst: 4 } }, platform: { kubernetes: { kind: "Job", replicas: 2 } } },
  "everything opted out": {
    user: "0",
    resources: { lockMemory: true },
    health: { enabled: false },
    platform: {
      kubernetes: {
        serviceAccount: { create: false, name: "existing", automountToken: true },
        probe: { type: "none" },
        security: {
          runAsNonRoot: false,
          readOnlyRootFilesystem: false,
          allowPrivilegeEscalation: true,
          dropAllCapabilities: false,
          addCapabilities: ["NET_BIND_SERVICE"],
          seccompProfile: "Unconfined",
          tmpVolume: false
        }
      }
    }
  }
}

describe("Kubernetes manifests", () => {
  for (const [name, input] of Object.entries(variants)) {
    it(`${name}: every object is valid for the API and reads back the same as YAML 1.2 and 1.1`, () => {
      const manifests = manifestsOf(input)
      const objects = KubernetesManifests.objects(manifests)
      for (const object of objects) expectValid(object)
      const [artifact] = Either.getOrThrow(KubernetesArtifacts.render(configOf(input), { image }))
      const { v11, v12 } = readBoth(artifact!.content)
      expect(v12).toEqual(asJson(objects))
      expect(v11).toEqual(asJson(objects))
    })
  }

  it.skipIf(!python.ok)(`every variant reads back the same with PyYAML (YAML 1.1)${python.label}`, () => {
    const entries = Object.values(variants).map((input) => ({
      objects: KubernetesManifests.objects(manifestsOf(input)),
      text: Either.getOrThrow(KubernetesArtifacts.render(configOf(input), { image }))[0]!.content
    }))
    const read = readWithPython(entries.map((e) => e.text))
    read.forEach((documents, i) => expect(documents).toEqual(asJson(entries[i]!.objects)))
  })

  it("a Deployment by default: the real command, env, working directory, a hardened container", () => {
    const manifests = manifestsOf(variants["a web service"]!)
    expect(manifests.kind).toBe("Deployment")
    const container = containerOf(manifests)
    expect(container.image).toBe(image)
    expect(container.command).toEqual(["node"])
    expect(container.args).toEqual(["/app/main.js"])
    expect(container.workingDir).toBe("/app")
    expect(container.env.slice(0, 2)).toEqual([{ name: "PORT", value: "8080" }, { name: "MODE", value: "no" }])
    expect(container.env).toContainEqual({ name: "DUENDE_PLATFORM", value: "kubernetes" })
    expect(container.env).toContainEqual({ name: "DUENDE_STATE_DIR", value: "/run/duende" })
    expect(container.env).toContainEqual({ name: "DUENDE_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } })
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" }
    })
    expect(container.volumeMounts).toEqual([{ name: "duende-state", mountPath: "/run/duende" }, { name: "tmp", mountPath: "/tmp" }])
    const pod = podSpecOf(manifests)
    expect(pod.automountServiceAccountToken).toBe(false)
    expect(pod.serviceAccountName).toBe("api")
    expect(pod.volumes).toEqual([
      { name: "duende-state", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
      { name: "tmp", emptyDir: {} }
    ])
    expect(pod.imagePullSecrets).toEqual([{ name: "registry" }])
    expect(manifests.serviceAccount).toMatchObject({ kind: "ServiceAccount", automountServiceAccountToken: false })
    expect((manifests.workload as any).spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } })
  })

  it("terminationGracePeriodSeconds is the shutdown timeout plus the margin", () => {
    expect(podSpecOf(manifestsOf({ shutdownTimeout: "20s" })).terminationGracePeriodSeconds).toBe(20 + KubernetesManifests.graceMarginSeconds)
    expect(podSpecOf(manifestsOf({ shutdownTimeout: "1500ms" })).terminationGracePeriodSeconds).toBe(2 + KubernetesManifests.graceMarginSeconds)
  })

  it("probes: exec `duende health` with the health loop's timing, the startup window from initTimeout", () => {
    const container = containerOf(manifestsOf({ initTimeout: "30s", health: { interval: "10s", timeout: "2s", startPeriod: "5s" } }))
    const exec = { exec: { command: ["duende", "health", "--state-dir", "/run/duende"] } }
    // 30s init + 5s start period + one 10s interval = 45s, probed every second.
    expect(container.startupProbe).toEqual({ ...exec, periodSeconds: 1, timeoutSeconds: 5, failureThreshold: 45 })
    expect(container.readinessProbe).toEqual({ ...exec, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 1 })
    expect(container.livenessProbe).toEqual({ ...exec, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 2 })
    // A long init is probed less often, in the same window.
    const slow = containerOf(manifestsOf({ initTimeout: "10m", health: { interval: "30s" } }))
    expect(slow.startupProbe.periodSeconds * slow.startupProbe.failureThreshold).toBeGreaterThanOrEqual(630)
  })

  it("probes: an HTTP endpoint takes health.retries; health disabled drops liveness; type none drops all", () => {
    const http = containerOf(manifestsOf(variants["a web service"]!))
    expect(http.readinessProbe).toEqual({ httpGet: { path: "/healthz", port: "http", scheme: "HTTP" }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 5 })
    expect(http.livenessProbe.failureThreshold).toBe(5)
    const disabled = containerOf(manifestsOf({ health: { enabled: false } }))
    expect(disabled.livenessProbe).toBeUndefined()
    expect(disabled.readinessProbe).toBeDefined()
    const none = containerOf(manifestsOf({ platform: { kubernetes: { probe: { type: "none" } } } }))
    expect([none.startupProbe, none.readinessProbe, none.livenessProbe]).toEqual([undefined, undefined, undefined])
    const custom = containerOf(manifestsOf({ platform: { kubernetes: { probe: { command: ["/bin/check", "--quick"] } } } }))
    expect(custom.readinessProbe.exec.command).toEqual(["/bin/check", "--quick"])
  })

  it("resources: limits from the config, requests from the section (memory defaults to its limit)", () => {
    expect(containerOf(manifestsOf(variants["a web service"]!)).resources).toEqual({
      limits: { memory: "256Mi", cpu: "500m" },
      requests: { memory: "256Mi", cpu: "250m" }
    })
    expect(containerOf(manifestsOf({})).resources).toBeUndefined()
    expect(KubernetesManifests.quantity(1536 * 1024 * 1024)).toBe("1536Mi")
    expect(KubernetesManifests.quantity(1000)).toBe("1000")
    expect(problemsFor({ resources: { memory: "256M" }, platform: { kubernetes: { requests: { memory: "1G" } } } })).toEqual([
      "platform.kubernetes.requests.memory: 1Gi is above the limit resources.memory (256Mi)"
    ])
    expect(manifestsOf({ resources: { pidsMax: 100, ioReadBandwidth: "10M" } }).ignored).toEqual([
      "resources.ioReadBandwidth (Kubernetes has no I/O limits)",
      "resources.pidsMax (the kubelet's podPidsLimit decides)"
    ])
  })

  it("the restart policy: a Deployment always restarts, `never` is a Job, contradictions name the field", () => {
    expect(manifestsOf({ restart: { policy: "always" } }).kind).toBe("Deployment")
    const never = manifestsOf({ restart: { policy: "never" } })
    expect(never.kind).toBe("Job")
    expect((never.workload as any).spec).toMatchObject({ backoffLimit: 0, completions: 1, parallelism: 1, suspend: false })
    expect(podSpecOf(never).restartPolicy).toBe("Never")
    const onFailure = manifestsOf(variants["a Job (on-failure)"]!)
    expect(podSpecOf(onFailure).restartPolicy).toBe("OnFailure")
    expect((onFailure.workload as any).spec.backoffLimit).toBe(4)
    expect(problemsFor({ restart: { policy: "never" }, platform: { kubernetes: { kind: "Deployment" } } })[0]).toMatch(
      /^platform\.kubernetes\.kind: a Deployment restarts its pods after every exit/
    )
    expect(problemsFor({ restart: { policy: "always" }, platform: { kubernetes: { kind: "Job" } } })[0]).toMatch(
      /^platform\.kubernetes\.kind: a Job's pods are not restarted/
    )
  })

  it("a Service for the ports, a headless one for a StatefulSet, a PDB above one replica", () => {
    const web = manifestsOf(variants["a web service"]!)
    expect((web.service as any).spec).toEqual({
      type: "ClusterIP",
      selector: web.selector,
      ports: [
        { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
        { name: "metrics", port: 9464, targetPort: "metrics", protocol: "TCP" }
      ]
    })
    expect((web.podDisruptionBudget as any).spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: web.selector } })
    expect(manifestsOf({}).service).toBeUndefined()
    expect(manifestsOf({}).podDisruptionBudget).toBeUndefined()
    const set = manifestsOf(variants["a StatefulSet"]!)
    expect((set.service as any).spec.clusterIP).toBe("None")
    expect((set.workload as any).spec.serviceName).toBe("api")
    expect(KubernetesManifests.objects(set).map((o) => o.kind)).toEqual(["ServiceAccount", "Service", "PodDisruptionBudget", "StatefulSet"])
    expect(problemsFor({ platform: { kubernetes: { ports: [{ port: 80 }, { port: 81 }] } } })).toEqual([
      "platform.kubernetes.ports[0].name: a Service with several ports needs a name for each",
      "platform.kubernetes.ports[1].name: a Service with several ports needs a name for each"
    ])
    expect(problemsFor({ platform: { kubernetes: { probe: { type: "http", port: "web" } } } })).toEqual([
      "platform.kubernetes.probe.port: no port is named \"web\" in platform.kubernetes.ports"
    ])
  })

  it("a config's instances are the workload's replicas (with its PDB); \"max\" and a contradiction are refused", () => {
    const three = manifestsOf({ instances: 3, platform: { kubernetes: { ports: [{ name: "http", port: 8080 }] } } })
    expect(three.replicas).toBe(3)
    expect((three.workload as any).metadata.annotations["duende.dev/replicas"]).toBe("3")
    expect((three.podDisruptionBudget as any).spec.maxUnavailable).toBe(1)
    for (const object of KubernetesManifests.objects(three)) expectValid(object)
    expect(manifestsOf({ instances: 2, platform: { kubernetes: { replicas: 2 } } }).replicas).toBe(2)
    expect(problemsFor({ instances: "max" })).toEqual([
      "instances: \"max\" is one per CPU of one machine; for pods write a number, or platform.kubernetes.replicas"
    ])
    expect(problemsFor({ instances: 3, platform: { kubernetes: { replicas: 2 } } })).toEqual([
      "instances: 3 and platform.kubernetes.replicas: 2 disagree; write one of them (instances become replicas)"
    ])
  })

  it("labels: the recommended ones on every object, the config's own added; the hash rolls pods on a change", () => {
    const manifests = manifestsOf(variants["a web service"]!)
    for (const object of KubernetesManifests.objects(manifests)) {
      expect(object.metadata.labels).toEqual({
        "app.kubernetes.io/version": "1.2.0",
        team: "payments",
        "app.kubernetes.io/name": "api",
        "app.kubernetes.io/instance": "api",
        "app.kubernetes.io/managed-by": "duende"
      })
      expect(object.metadata.annotations).toMatchObject({ "example.com/owner": "payments@example.com", "duende.dev/daemon-id": expect.any(String) })
    }
    const template = (manifests.workload as any).spec.template.metadata
    expect(template.annotations["duende.dev/config-hash"]).toBe(manifests.configHash)
    expect(manifestsOf({ env: { A: "1" } }).configHash).not.toBe(manifestsOf({ env: { A: "2" } }).configHash)
    expect(manifestsOf({ env: { A: "1" } }).configHash).toBe(manifestsOf({ env: { A: "1" } }).configHash)
    // A version no label can hold stays out of the labels.
    expect(manifestsOf({ version: "1.0.0+build.7" }).workload.metadata.labels["app.kubernetes.io/version"]).toBeUndefined()
  })

  it("users: a numeric user is the uid, a named one needs runAsUser, root needs the opt-out", () => {
    expect(containerOf(manifestsOf({ user: "1000", group: "2000" })).securityContext).toMatchObject({ runAsUser: 1000, runAsGroup: 2000 })
    expect(containerOf(manifestsOf({ user: "1000" })).securityContext).toMatchObject({ runAsUser: 1000, runAsGroup: 1000 })
    expect(problemsFor({ user: "api" })).toEqual([
      "user: Kubernetes runs a container as a numeric uid, and \"api\" is a name; set platform.kubernetes.security.runAsUser to its uid in the image (or use the uid as user)"
    ])
    expect(problemsFor({ user: "1000", group: "api" })).toEqual([
      "group: Kubernetes runs a container with a numeric gid, and \"api\" is a name; set platform.kubernetes.security.runAsGroup to its gid"
    ])
    expect(containerOf(manifestsOf({ user: "api", platform: { kubernetes: { security: { runAsUser: 1001 } } } })).securityContext)
      .toMatchObject({ runAsUser: 1001, runAsGroup: 1001 })
    expect(problemsFor({ user: "0" })).toEqual([
      "user: \"0\" is root while platform.kubernetes.security.runAsNonRoot is on; set runAsNonRoot to false to run as root"
    ])
    const root = containerOf(manifestsOf(variants["everything opted out"]!))
    expect(root.securityContext).toEqual({
      runAsNonRoot: false,
      runAsUser: 0,
      runAsGroup: 0,
      readOnlyRootFilesystem: false,
      allowPrivilegeEscalation: true,
      capabilities: { add: ["NET_BIND_SERVICE", "IPC_LOCK"] },
      seccompProfile: { type: "Unconfined" }
    })
    expect(root.volumeMounts).toEqual([{ name: "duende-state", mountPath: "/run/duende" }])
  })

  it("the image and namespace: the config's own win, the options fill in, and no image is an error", () => {
    const own = configOf({ platform: { kubernetes: { image: "localhost/own:1", namespace: "own" } } })
    const made = Either.getOrThrow(KubernetesArtifacts.manifests(own, { image: "localhost/given:1", namespace: "given" }))
    expect(containerOf(made).image).toBe("localhost/own:1")
    expect(made.workload.metadata.namespace).toBe("own")
    const filled = Either.getOrThrow(KubernetesArtifacts.manifests(configOf({}), { image: "localhost/given:1", namespace: "given" }))
    expect([containerOf(filled).image, filled.namespace]).toEqual(["localhost/given:1", "given"])
    expect(Either.getOrThrow(KubernetesArtifacts.manifests(configOf({}), { image })).workload.metadata.namespace).toBeUndefined()
    const missing = KubernetesArtifacts.manifests(configOf({}))
    expect(Either.isLeft(missing) && missing.left.message).toBe(
      "platform.kubernetes.image: a pod needs an image: set it in the config, or give one (duende render kubernetes --image IMAGE)"
    )
    const badOption = KubernetesArtifacts.manifests(configOf({}), { image: "Not An Image" })
    expect(Either.isLeft(badOption) && badOption.left.message).toMatch(/^platform\.kubernetes\.image: expected an image reference/)
  })

  it("renders one stream for kubectl, or one file per object, each document after `---`", () => {
    const config = configOf(variants["a web service"]!)
    const [stream] = Either.getOrThrow(KubernetesArtifacts.render(config, { image }))
    expect(stream!.name).toBe("api.kubernetes.yaml")
    expect(stream!.kind).toBe("Kubernetes manifests (ServiceAccount, Service, PodDisruptionBudget, Deployment)")
    expect(stream!.content.match(/^---$/gm)).toHaveLength(4)
    const files = Either.getOrThrow(KubernetesArtifacts.render(config, { image, layout: "files" }))
    expect(files.map((f) => f.name)).toEqual([
      "serviceaccount-api.yaml",
      "service-api.yaml",
      "poddisruptionbudget-api.yaml",
      "deployment-api.yaml"
    ])
    expect(files.map((f) => f.content).join("")).toBe(stream!.content)
    // Stable from one run to the next.
    expect(Either.getOrThrow(KubernetesArtifacts.render(config, { image }))[0]!.content).toBe(stream!.content)
    // No anchors or aliases: shared values are written out.
    expect(stream!.content).not.toMatch(/[&*]a\d/)
  })

  it("the checks themselves catch what the API would refuse (an unknown field, a selector that misses, a bad name)", () => {
    const good = manifestsOf({}).workload as any
    const unknown = { ...good, spec: { ...good.spec, template: { ...good.spec.template, spec: { ...good.spec.template.spec, restartPolicyy: "Always" } } } }
    expect(() => expectValid(unknown)).toThrow()
    const missed = { ...good, spec: { ...good.spec, selector: { matchLabels: { "app.kubernetes.io/name": "other" } } } }
    expect(problemsOf(missed)).toEqual(["spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"])
    expect(problemsOf({ ...good, metadata: { ...good.metadata, name: "Api" } })[0]).toMatch(/^metadata\.name: Invalid value/)
    expect(problemsOf({ ...good, spec: { ...good.spec, replicas: "2" } })).toEqual(["data/spec/replicas must be integer"])
  })

  it("the config section's own errors name the field (core's schema)", () => {
    const result = decodeEither({
      name: "api",
      command: ["x"],
      platform: { kubernetes: { kind: "Pod", replicas: 1.5, namespace: "Prod", labels: { "duende.dev/x": "y" }, ports: [{ port: 0 }], security: { runAsUser: 0 } } }
    })
    expect(Either.isLeft(result)).toBe(true)
    const paths = Either.isLeft(result) ? result.left.problems.map((p) => p.path) : []
    expect(paths).toEqual(expect.arrayContaining([
      "platform.kubernetes.kind",
      "platform.kubernetes.replicas",
      "platform.kubernetes.namespace",
      "platform.kubernetes.labels[\"duende.dev/x\"]",
      "platform.kubernetes.ports[0].port",
      "platform.kubernetes.security.runAsUser"
    ]))
  })
})
