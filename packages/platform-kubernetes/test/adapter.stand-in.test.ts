// KubernetesAdapter's requests, as the recording STAND-IN of the API server (stand-in/apiServer.ts)
// saw them: method, path, content type, field manager, body. Also the stand-in's own checks
// (what the real API refuses, it refuses), and the adapter's errors for what the API refuses.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { parse as parseYaml } from "yaml"
import { KubernetesAdapter, KubernetesArtifacts, KubernetesManifests } from "../src/adapter.js"
import * as StandIn from "./stand-in/apiServer.js"

const fixture = fileURLToPath(new URL("./fixtures/pod-daemon.mjs", import.meta.url))
const namespace = "conventions"
let standIn: StandIn.StandIn
beforeAll(async () => {
  standIn = await StandIn.start({ namespace, backoffScale: 0.1 })
})
afterAll(() => standIn.close())

const configOf = (name: string, kubernetes: Record<string, unknown> = {}) =>
  decodeSync({
    name,
    command: ["node", fixture],
    health: { interval: "2s", timeout: "20s" },
    shutdownTimeout: "10s",
    platform: { kubernetes: { image: "localhost/fixture:1", ...kubernetes } }
  })

const adapterFor = (options: Partial<KubernetesAdapter.Options> = {}) =>
  KubernetesAdapter.make({ kubeconfig: standIn.kubeconfig, pollInterval: "100 millis", ...options })

const since = (mark: number) => standIn.requests.slice(mark)

/** A raw request to the stand-in, as a client that breaks the rules would send it. */
const send = (method: string, path: string, body: string | undefined, headers: Record<string, string>) =>
  fetch(`${standIn.url}${path}`, { method, ...(body !== undefined ? { body } : {}), headers: { authorization: `Bearer ${standIn.token}`, ...headers } })
    .then(async (res) => ({ status: res.status, body: await res.json() as any }))

describe("KubernetesAdapter's requests to the stand-in API server", () => {
  it.live("install: a server-side apply per object, in order, as YAML with field manager duende and force; the body is the rendered object", () =>
    Effect.scoped(Effect.gen(function*() {
      const adapter = yield* adapterFor()
      const config = configOf("conv-install", { replicas: 2, ports: [{ name: "http", port: 8080 }] })
      const mark = standIn.requests.length
      const handle = yield* adapter.install(config)
      const writes = since(mark).filter((r) => r.method !== "GET")
      expect(writes.map((r) => `${r.method} ${r.path}`)).toEqual([
        `PATCH /api/v1/namespaces/${namespace}/serviceaccounts/conv-install`,
        `PATCH /api/v1/namespaces/${namespace}/services/conv-install`,
        `PATCH /apis/policy/v1/namespaces/${namespace}/poddisruptionbudgets/conv-install`,
        `PATCH /apis/apps/v1/namespaces/${namespace}/deployments/conv-install`
      ])
      for (const write of writes) {
        expect(write.contentType).toBe("application/apply-patch+yaml")
        expect(write.query).toEqual({ fieldManager: "duende", force: "true" })
        expect(write.status).toBe(200)
      }
      // What went over the wire is what render makes, with 0 replicas until start.
      const expected = Either.getOrThrow(KubernetesManifests.make(config, {
        id: handle.id,
        section: { namespace },
        running: { replicas: 0 }
      }))
      expect(writes.map((w) => w.body)).toEqual(JSON.parse(JSON.stringify(KubernetesManifests.objects(expected))))
      expect((writes[3]!.body as any).spec.replicas).toBe(0)
      expect((writes[3]!.body as any).metadata.annotations["duende.dev/replicas"]).toBe("2")
      expect(standIn.violations).toEqual([])
      yield* adapter.uninstall(handle)
    })), 60_000)

  it.live("start scales through the scale subresource; restart sets restartedAt on the template; stop scales to 0 and records the exit", () =>
    Effect.scoped(Effect.gen(function*() {
      const adapter = yield* adapterFor()
      const handle = yield* adapter.install(configOf("conv-life"))
      const deployment = `/apis/apps/v1/namespaces/${namespace}/deployments/conv-life`
      let mark = standIn.requests.length
      yield* adapter.start(handle)
      const scaleUp = since(mark).filter((r) => r.method === "PATCH")
      expect(scaleUp).toEqual([
        expect.objectContaining({
          path: `${deployment}/scale`,
          contentType: "application/merge-patch+json",
          query: { fieldManager: "duende" },
          body: { spec: { replicas: 1 } },
          status: 200
        })
      ])
      mark = standIn.requests.length
      yield* adapter.restart(handle, Duration.seconds(20))
      const restart = since(mark).filter((r) => r.method === "PATCH")
      expect(restart).toHaveLength(1)
      expect(restart[0]).toMatchObject({ path: deployment, contentType: "application/merge-patch+json", query: { fieldManager: "duende" } })
      const restartedAt = (restart[0]!.body as any).spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]
      expect(Date.parse(restartedAt)).toBeGreaterThan(0)
      // A re-install (the same config) keeps it running: apply with force takes back replicas at their value.
      mark = standIn.requests.length
      yield* adapter.install(configOf("conv-life"), handle.id)
      const reapplied = since(mark).find((r) => r.path === deployment && r.method === "PATCH")
      expect((reapplied!.body as any).spec.replicas).toBe(1)
      expect((yield* adapter.status(handle)).status._tag).toBe("Running")
      // The rollout's annotation stays: it was not the apply's.
      expect(standIn.cluster.get("deployments", namespace, "conv-life")!.spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]).toBe(restartedAt)
      mark = standIn.requests.length
      yield* adapter.stop(handle, Duration.seconds(2))
      const stop = since(mark).filter((r) => r.method !== "GET")
      expect(stop[0]).toMatchObject({ method: "PATCH", path: `${deployment}/scale`, body: { spec: { replicas: 0 } } })
      // A timeout under the pods' grace period (15s) deletes them with that grace period.
      expect(stop.filter((r) => r.method === "DELETE")).toEqual([
        expect.objectContaining({ path: expect.stringMatching(new RegExp(`^/api/v1/namespaces/${namespace}/pods/conv-life-`)), query: { gracePeriodSeconds: "2" } })
      ])
      const last = stop[stop.length - 1]!
      expect(last).toMatchObject({ method: "PATCH", path: deployment, contentType: "application/merge-patch+json" })
      expect(JSON.parse((last.body as any).metadata.annotations["duende.dev/last-exit"])).toMatchObject({ code: 143 })
      // The pods were watched on the way out.
      expect(since(mark).some((r) => r.method === "GET" && r.query.watch === "true")).toBe(true)
      mark = standIn.requests.length
      yield* adapter.uninstall(handle)
      expect(since(mark).filter((r) => r.method === "DELETE").map((r) => [r.path, r.query])).toEqual([
        [deployment, { propagationPolicy: "Foreground" }],
        [`/api/v1/namespaces/${namespace}/serviceaccounts/conv-life`, { propagationPolicy: "Background" }]
      ])
      expect(standIn.violations).toEqual([])
    })), 3 * 60_000)

  it("the stand-in refuses what the API refuses: no token, a wrong patch type, an apply without field manager, an invalid object, a conflict", async () => {
    const path = `/apis/apps/v1/namespaces/${namespace}/deployments/raw`
    const config = configOf("raw")
    const object = Either.getOrThrow(KubernetesArtifacts.manifests(config, { namespace })).workload
    const yaml = JSON.stringify(object)
    const unauthenticated = await fetch(`${standIn.url}${path}`)
    expect(unauthenticated.status).toBe(401)
    expect((await send("PATCH", `${path}?fieldManager=duende`, yaml, { "content-type": "application/json" })).status).toBe(415)
    const noManager = await send("PATCH", path, yaml, { "content-type": "application/apply-patch+yaml" })
    expect(noManager).toMatchObject({ status: 422, body: { kind: "Status", reason: "Invalid", message: expect.stringMatching(/fieldManager: Required value/) } })
    const broken = { ...object, spec: { ...(object as any).spec, selector: { matchLabels: { other: "x" } } } }
    const invalid = await send("PATCH", `${path}?fieldManager=duende&force=true`, JSON.stringify(broken), { "content-type": "application/apply-patch+yaml" })
    expect(invalid).toMatchObject({ status: 422, body: { reason: "Invalid", message: expect.stringMatching(/selector` does not match template `labels`/) } })
    const wrongKind = await send("PATCH", `${path}?fieldManager=duende&force=true`, JSON.stringify({ ...object, kind: "StatefulSet" }), { "content-type": "application/apply-patch+yaml" })
    expect(wrongKind).toMatchObject({ status: 400, body: { reason: "BadRequest" } })
    // Created by apply, scaled by an update: applying another replica count conflicts unless forced.
    expect((await send("PATCH", `${path}?fieldManager=duende&force=true`, yaml, { "content-type": "application/apply-patch+yaml" })).status).toBe(200)
    expect((await send("PATCH", `${path}/scale?fieldManager=kubectl`, JSON.stringify({ spec: { replicas: 3 } }), { "content-type": "application/merge-patch+json" })).status).toBe(200)
    const conflict = await send("PATCH", `${path}?fieldManager=duende`, yaml, { "content-type": "application/apply-patch+yaml" })
    expect(conflict).toMatchObject({ status: 409, body: { reason: "Conflict", message: expect.stringMatching(/\.spec\.replicas/) } })
    expect(standIn.violations.splice(0)).toEqual([
      `PATCH ${path}: fieldManager is undefined, not "duende"`,
      `PATCH ${path}/scale: fieldManager is "kubectl", not "duende"`,
      `PATCH ${path}: an apply without force=true`
    ])
    // The YAML body is read as YAML: a rendered manifest goes as it is.
    const asYaml = Either.getOrThrow(KubernetesArtifacts.render(config, { namespace, layout: "files" })).find((a) => a.name === "deployment-raw.yaml")!
    expect(parseYaml(asYaml.content)).toEqual(JSON.parse(yaml))
    const fromYaml = await send("PATCH", `${path}?fieldManager=duende&force=true`, asYaml.content, { "content-type": "application/apply-patch+yaml" })
    expect(fromYaml.status).toBe(200)
    expect(fromYaml.body.metadata.managedFields.map((f: any) => `${f.manager}/${f.operation}`)).toEqual(["kubectl/Update", "duende/Apply"])
    expect((await send("DELETE", path, undefined, {})).status).toBe(200)
  })

  it.live("what the API refuses comes back as PlatformCommandFailed with the API's own message", () =>
    Effect.scoped(Effect.gen(function*() {
      const adapter = yield* adapterFor({ namespace: "does-not-exist" })
      const error = yield* Effect.flip(adapter.install(configOf("conv-refused")))
      expect(error._tag).toBe("PlatformCommandFailed")
      expect(error.message).toBe(
        `PATCH /api/v1/namespaces/does-not-exist/serviceaccounts/conv-refused failed (exit 404): namespaces "does-not-exist" not found`
      )
    })), 60_000)

  it.live("refuses objects Duende did not make, and a daemon installed as another kind", () =>
    Effect.scoped(Effect.gen(function*() {
      const theirs = Either.getOrThrow(KubernetesArtifacts.manifests(configOf("conv-theirs"), { namespace })).workload as any
      const unlabelled = { ...theirs, metadata: { ...theirs.metadata, labels: { ...theirs.metadata.labels, "app.kubernetes.io/managed-by": "helm" } } }
      const applied = yield* Effect.promise(() =>
        send("PATCH", `/apis/apps/v1/namespaces/${namespace}/deployments/conv-theirs?fieldManager=helm&force=true`, JSON.stringify(unlabelled), {
          "content-type": "application/apply-patch+yaml"
        }))
      expect(applied.status).toBe(200)
      standIn.violations.splice(0)
      const adapter = yield* adapterFor({ namespace })
      const refused = yield* Effect.flip(adapter.install(configOf("conv-theirs")))
      expect(refused.message).toBe(`kubernetes cannot install "conv-theirs": a Deployment named conv-theirs exists in ${namespace} and Duende did not create it`)
      expect((yield* Effect.flip(adapter.find("conv-theirs"))).message).toMatch(/Duende did not create it/)
      const mine = yield* adapter.install(configOf("conv-kind"))
      const other = yield* Effect.flip(adapter.install(configOf("conv-kind", { kind: "StatefulSet" })))
      expect(other.message).toBe(
        `kubernetes cannot install "conv-kind" as a StatefulSet: it is installed as a Deployment: uninstall it first (duende rm conv-kind --platform kubernetes)`
      )
      yield* adapter.uninstall(mine)
    })), 60_000)

  it.live("the kubeconfig: a missing file, an unknown context and reload or signal say what is wrong", () =>
    Effect.scoped(Effect.gen(function*() {
      const missing = yield* Effect.flip(KubernetesAdapter.make({ kubeconfig: "/nonexistent/kubeconfig" }))
      expect(missing).toMatchObject({ _tag: "AdapterIOError", path: "/nonexistent/kubeconfig", reason: "no such file" })
      const context = yield* Effect.flip(KubernetesAdapter.make({ kubeconfig: standIn.kubeconfig, context: "prod" }))
      expect(context.message).toBe(`kubernetes cannot use the context "prod": the kubeconfig has stand-in`)
      const adapter = yield* adapterFor()
      const handle = { id: "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d", name: "x", platform: "kubernetes", ref: `kubernetes:${namespace}/Deployment/x` } as any
      expect((yield* Effect.flip(adapter.reload(handle))).message).toMatch(/^kubernetes cannot reload a daemon: the API cannot signal a container/)
      expect((yield* Effect.flip(adapter.signal(handle, "SIGUSR1"))).message).toMatch(/^kubernetes cannot send SIGUSR1/)
      expect((yield* Effect.flip(adapter.status(handle)))._tag).toBe("DaemonNotFound")
      const none = yield* adapter.install(configOf("conv-zero", { replicas: 0 }))
      expect((yield* Effect.flip(adapter.start(none))).message).toBe(
        `kubernetes cannot start "conv-zero": its platform.kubernetes.replicas is 0: set it to the number of pods to run, and install again`
      )
      yield* adapter.uninstall(none)
      // The namespace comes from the context when none is given.
      const file = `${standIn.kubeconfig}.other`
      const kubeconfig = JSON.parse(readFileSync(standIn.kubeconfig, "utf8"))
      kubeconfig.contexts[0].context.namespace = "from-context"
      writeFileSync(file, JSON.stringify(kubeconfig))
      const fromContext = yield* KubernetesAdapter.make({ kubeconfig: file })
      const rendered = yield* fromContext.render(configOf("ns"))
      expect(rendered[0]!.content).toMatch(/namespace: from-context/)
    })), 60_000)
})
