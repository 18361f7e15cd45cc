// A RECORDING STAND-IN OF THE KUBERNETES API SERVER, on 127.0.0.1, for tests. Not Kubernetes:
// no API server can run on these machines (see ../../README.md and cluster.ts for what the
// simulation does and does not do). It speaks the API's HTTP conventions to
// @kubernetes/client-node and checks every request against them:
//
// - a bearer token (401 otherwise);
// - discovery (/api/v1, /apis/<group>/<version>) for the resources the adapter uses;
// - PATCH only with the API's patch content types (415 otherwise); server-side apply
//   (`application/apply-patch+yaml`) needs `fieldManager` (422 otherwise), and its YAML body
//   must name the apiVersion, kind, name and namespace of its URL (400 otherwise) and pass
//   the API server's validation (422 Invalid: OpenAPI schemas through kubernetes-models, and
//   the hand-written rules in validation.ts); a changed field another manager owns is a 409
//   Conflict without `force=true`;
// - the conventions Duende promises, recorded as violations (the real API would accept
//   them): every write carries `fieldManager=duende`, every apply `force=true`.
//
// Answers come in the API's shapes: objects, lists with resourceVersions, Status objects for
// errors, Scale for the scale subresource, watch streams of {"type","object"} lines, and pod
// logs as text (tailLines, timestamps, sinceTime, previous, follow).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parse as parseYaml } from "yaml"
import { Cluster, type ClusterOptions, kindOfResource, type Obj, resourcesByKind } from "./cluster.js"
import { problemsOf } from "./validation.js"

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly contentType: string | undefined
  readonly body: unknown
  readonly status: number
}

export interface StandIn {
  readonly url: string
  /** A kubeconfig file for the stand-in (context "stand-in", the given namespace). */
  readonly kubeconfig: string
  readonly token: string
  readonly cluster: Cluster
  /** Every request, in order. */
  readonly requests: Array<RecordedRequest>
  /** Requests that broke Duende's conventions (no fieldManager=duende, an apply without force). */
  readonly violations: Array<string>
  close(): Promise<void>
}

const groups: Record<string, ReadonlyArray<{ name: string; kind: string; namespaced: boolean; verbs: ReadonlyArray<string> }>> = {
  v1: [
    { name: "pods", kind: "Pod", namespaced: true, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] },
    { name: "pods/log", kind: "Pod", namespaced: true, verbs: ["get"] },
    { name: "services", kind: "Service", namespaced: true, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] },
    { name: "serviceaccounts", kind: "ServiceAccount", namespaced: true, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] },
    { name: "namespaces", kind: "Namespace", namespaced: false, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] }
  ],
  "apps/v1": [
    { name: "deployments", kind: "Deployment", namespaced: true, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] },
    { name: "deployments/scale", kind: "Scale", namespaced: true, verbs: ["get", "patch", "update"] },
    { name: "statefulsets", kind: "StatefulSet", namespaced: true, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] },
    { name: "statefulsets/scale", kind: "Scale", namespaced: true, verbs: ["get", "patch", "update"] }
  ],
  "batch/v1": [{ name: "jobs", kind: "Job", namespaced: true, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] }],
  "policy/v1": [
    { name: "poddisruptionbudgets", kind: "PodDisruptionBudget", namespaced: true, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] }
  ]
}

const patchTypes = [
  "application/apply-patch+yaml",
  "application/merge-patch+json",
  "application/json-patch+json",
  "application/strategic-merge-patch+json"
]

const status = (code: number, reason: string, message: string, details?: Obj): Obj => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  reason,
  ...(details !== undefined ? { details } : {}),
  code
})

class Reply extends Error {
  constructor(readonly code: number, readonly body: Obj) {
    super(body.message)
  }
}

const fail = (code: number, reason: string, message: string, details?: Obj): never => {
  throw new Reply(code, status(code, reason, message, details))
}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((done, failed) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => done(Buffer.concat(chunks).toString("utf8")))
    req.on("error", failed)
  })

const logLine = (line: { stamp: string; text: string }, timestamps: boolean) => `${timestamps ? `${line.stamp} ` : ""}${line.text}\n`

/** Starts the stand-in on 127.0.0.1 (a free port) with a kubeconfig pointing at it. */
export const start = async (options: ClusterOptions & { readonly namespace?: string } = {}): Promise<StandIn> => {
  const namespace = options.namespace ?? "default"
  const cluster = new Cluster({ ...options, namespaces: [...new Set(["default", namespace, ...(options.namespaces ?? [])])] })
  const token = `stand-in-${Math.random().toString(36).slice(2)}`
  const requests: Array<RecordedRequest> = []
  const violations: Array<string> = []
  const open = new Set<ServerResponse>()

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL, text: string): Promise<Obj | undefined> => {
    const method = req.method ?? "GET"
    const query = url.searchParams
    if (req.headers.authorization !== `Bearer ${token}`) fail(401, "Unauthorized", "Unauthorized")
    const path = url.pathname
    // Discovery.
    const discovery = /^\/(?:api\/(v1)|apis\/([a-z0-9.]+\/v1))$/.exec(path)
    if (discovery !== null && method === "GET") {
      const groupVersion = discovery[1] ?? discovery[2]!
      const resources = groups[groupVersion]
      if (resources === undefined) fail(404, "NotFound", "the server could not find the requested resource")
      return {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion,
        resources: resources!.map((r) => ({ name: r.name, singularName: "", namespaced: r.namespaced, kind: r.kind, verbs: r.verbs }))
      }
    }
    const match = /^\/(?:api\/v1|apis\/([a-z0-9.]+)\/(v1))\/namespaces\/([^/]+)\/([a-z]+)(?:\/([^/]+)(?:\/(scale|log))?)?$/.exec(path)
    if (match === null) return fail(404, "NotFound", "the server could not find the requested resource")
    const apiVersion = match[1] !== undefined ? `${match[1]}/${match[2]}` : "v1"
    const [ns, resource, name, sub] = [decodeURIComponent(match[3]!), match[4]!, match[5] !== undefined ? decodeURIComponent(match[5]) : undefined, match[6]]
    const kind = kindOfResource(resource)
    if (kind === undefined || resourcesByKind[kind]!.apiVersion !== apiVersion) {
      return fail(404, "NotFound", "the server could not find the requested resource")
    }
    if (!cluster.hasNamespace(ns)) fail(404, "NotFound", `namespaces "${ns}" not found`, { name: ns, kind: "namespaces" })
    const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : ""
    const notFound = () => fail(404, "NotFound", `${resource}${group ? `.${group}` : ""} "${name}" not found`, { name, group, kind: resource })
    const manager = query.get("fieldManager") ?? undefined
    const isWrite = method === "PATCH" || method === "POST" || method === "PUT"
    if (isWrite && manager !== "duende") violations.push(`${method} ${path}: fieldManager is ${JSON.stringify(manager)}, not "duende"`)

    if (method === "GET" && name === undefined) {
      const selector = query.get("labelSelector") ?? undefined
      if (query.get("watch") === "true") {
        res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" })
        open.add(res)
        const stop = cluster.watch(resource, ns, selector, (event) => res.write(`${JSON.stringify(event)}\n`))
        res.on("close", () => {
          stop()
          open.delete(res)
        })
        return undefined
      }
      return { kind: `${kind}List`, apiVersion, metadata: { resourceVersion: cluster.currentResourceVersion }, items: cluster.list(resource, ns, selector).map((o) => ({ ...o, apiVersion, kind })) }
    }
    if (name === undefined) return fail(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`)

    if (sub === "log") {
      if (resource !== "pods" || method !== "GET") return fail(404, "NotFound", "the server could not find the requested resource")
      const log = cluster.logOf(ns, name, query.get("container") ?? undefined, query.get("previous") === "true")
      if ("error" in log) return fail(log.code, log.code === 404 ? "NotFound" : "BadRequest", log.error)
      const timestamps = query.get("timestamps") === "true"
      const since = query.get("sinceTime")
      const sinceMs = since === null ? undefined : Date.parse(since)
      if (since !== null && !Number.isFinite(sinceMs)) fail(400, "BadRequest", `sinceTime: invalid value ${since}`)
      const keep = (line: { stamp: string }) => sinceMs === undefined || Date.parse(line.stamp) >= sinceMs
      let lines = log.instance.lines.filter(keep)
      const tail = query.get("tailLines")
      if (tail !== null) lines = lines.slice(-Math.max(0, Number(tail)))
      res.writeHead(200, { "content-type": "text/plain", ...(query.get("follow") === "true" ? { "transfer-encoding": "chunked" } : {}) })
      for (const line of lines) res.write(logLine(line, timestamps))
      if (query.get("follow") !== "true") {
        res.end()
        return undefined
      }
      open.add(res)
      const stop = log.instance.follow({ line: (line) => res.write(logLine(line, timestamps)), end: () => res.end() })
      res.on("close", () => {
        stop()
        open.delete(res)
      })
      return undefined
    }

    if (sub === "scale") {
      if (resource !== "deployments" && resource !== "statefulsets") return fail(404, "NotFound", "the server could not find the requested resource")
      const object = cluster.get(resource, ns, name) ?? notFound()
      if (method === "GET") return cluster.scaleOf(object)
      if (method !== "PATCH") return fail(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
      const type = req.headers["content-type"]
      if (type !== "application/merge-patch+json" && type !== "application/strategic-merge-patch+json") {
        return fail(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json`)
      }
      const body = JSON.parse(text) as Obj
      const replicas = body?.spec?.replicas
      if (!Number.isInteger(replicas) || replicas < 0) {
        fail(422, "Invalid", `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`)
      }
      return cluster.scaleOf(cluster.patch(resource, ns, name, body, manager ?? "unknown", "scale")!)
    }

    if (method === "GET") {
      const object = cluster.get(resource, ns, name) ?? notFound()
      return { ...object, apiVersion, kind }
    }
    if (method === "DELETE") {
      const body = text.trim() === "" ? {} : JSON.parse(text) as Obj
      const propagationPolicy = body.propagationPolicy ?? query.get("propagationPolicy") ?? undefined
      if (propagationPolicy !== undefined && !["Foreground", "Background", "Orphan"].includes(propagationPolicy)) {
        fail(400, "BadRequest", `propagationPolicy: Unsupported value: ${JSON.stringify(propagationPolicy)}`)
      }
      const grace = body.gracePeriodSeconds ?? (query.get("gracePeriodSeconds") !== null ? Number(query.get("gracePeriodSeconds")) : undefined)
      if (grace !== undefined && !(Number.isInteger(grace) && grace >= 0)) fail(422, "Invalid", "gracePeriodSeconds: must be >= 0")
      const removed = cluster.remove(resource, ns, name, { propagationPolicy, gracePeriodSeconds: grace }) ?? notFound()
      return { ...removed, apiVersion, kind }
    }
    if (method === "PATCH") {
      const type = req.headers["content-type"]?.split(";")[0]
      if (type === undefined || !patchTypes.includes(type)) {
        return fail(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: ${patchTypes.join(", ")}`)
      }
      if (type === "application/apply-patch+yaml") {
        if (manager === undefined || manager === "") {
          fail(422, "Invalid", `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`)
        }
        if (query.get("force") !== "true") violations.push(`PATCH ${path}: an apply without force=true`)
        let body: Obj
        try {
          body = parseYaml(text) as Obj
        } catch (error) {
          return fail(400, "BadRequest", `error decoding YAML: ${(error as Error).message}`)
        }
        if (body?.apiVersion !== apiVersion) fail(400, "BadRequest", `the API version in the data (${body?.apiVersion}) does not match the expected API version (${apiVersion})`)
        if (body.kind !== kind) fail(400, "BadRequest", `the kind in the data (${body.kind}) does not match the expected kind (${kind})`)
        if (body.metadata?.name !== name) fail(400, "BadRequest", `the name of the object (${body.metadata?.name}) does not match the name on the URL (${name})`)
        if (body.metadata?.namespace !== undefined && body.metadata.namespace !== ns) {
          fail(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
        }
        if (body.metadata?.managedFields !== undefined) fail(400, "BadRequest", "metadata.managedFields must be nil")
        const problems = problemsOf(body)
        if (problems.length > 0) {
          fail(422, "Invalid", `${kind}${group ? `.${group}` : ""} "${name}" is invalid: ${problems.join(", ")}`, { name, group, kind: resource, causes: problems.map((message) => ({ message })) })
        }
        const applied = cluster.apply(resource, ns, name, body, manager!, query.get("force") === "true")
        if ("conflict" in applied) {
          fail(409, "Conflict", `Apply failed with 1 conflict: conflict with "${manager}" using ${apiVersion}: ${applied.conflict}`)
        }
        return { ...(applied as { object: Obj }).object, apiVersion, kind }
      }
      if (type !== "application/merge-patch+json") return fail(415, "UnsupportedMediaType", `the stand-in takes merge patches and applies only, not ${type}`)
      const body = JSON.parse(text) as Obj
      if (body.kind !== undefined && body.kind !== kind) fail(400, "BadRequest", `the kind in the patch (${body.kind}) does not match ${kind}`)
      const patched = cluster.patch(resource, ns, name, body, manager ?? "unknown") ?? notFound()
      const problems = problemsOf({ ...patched, apiVersion, kind })
      if (problems.length > 0) fail(422, "Invalid", `${kind} "${name}" is invalid: ${problems.join(", ")}`)
      return { ...patched, apiVersion, kind }
    }
    return fail(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    void readBody(req).then(async (text) => {
      const contentType = req.headers["content-type"]
      let body: unknown = text
      try {
        body = text === "" ? undefined : contentType === "application/apply-patch+yaml" ? parseYaml(text) : JSON.parse(text)
      } catch {
        // kept as text
      }
      const record = (code: number) =>
        requests.push({ method: req.method ?? "GET", path: url.pathname, query: Object.fromEntries(url.searchParams), contentType, body, status: code })
      try {
        const answer = await handle(req, res, url, text)
        record(200)
        if (answer !== undefined) {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify(answer))
        }
      } catch (error) {
        const reply = error instanceof Reply ? error : new Reply(500, status(500, "InternalError", (error as Error).stack ?? String(error)))
        record(reply.code)
        if (!res.headersSent) res.writeHead(reply.code, { "content-type": "application/json" })
        res.end(JSON.stringify(reply.body))
      }
    })
  })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  const port = (server.address() as AddressInfo).port
  cluster.servicePort = port
  const url = `http://127.0.0.1:${port}`
  const dir = mkdtempSync(join(tmpdir(), "stand-in-kubeconfig-"))
  const kubeconfig = join(dir, "config")
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "stand-in", cluster: { server: url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "stand-in", user: { token } }],
      contexts: [{ name: "stand-in", context: { cluster: "stand-in", user: "stand-in", namespace } }],
      "current-context": "stand-in"
    })
  )
  return {
    url,
    kubeconfig,
    token,
    cluster,
    requests,
    violations,
    close: async () => {
      cluster.close()
      for (const res of open) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((done) => server.close(() => done()))
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
