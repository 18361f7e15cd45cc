/**
 * The driver: the Kubernetes API through the official client
 * (`@kubernetes/client-node` 1.x, loaded only when an adapter is made).
 * Server-side apply with field manager `duende` (content type
 * `application/apply-patch+yaml`), merge patches of the scale subresource
 * and of annotations, reads, label-selected lists, deletes with
 * propagation, pod logs (tail and follow) and pod watches. Every API failure
 * becomes a `PlatformCommandFailed` carrying the method, the path, the HTTP
 * status and the API's own message.
 *
 * @internal
 */
import { AdapterIOError, OperationUnsupported, PlatformCommandFailed } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { existsSync } from "node:fs"
import { Writable } from "node:stream"
import type { Manifest } from "../KubernetesManifests.js"
import type { Pod, Workload } from "./podState.js"

type ClientNode = typeof import("@kubernetes/client-node")

/** The field manager of every write. */
export const fieldManager = "duende"

export interface ConnectOptions {
  readonly kubeconfig?: string
  readonly context?: string
  readonly namespace?: string
}

export interface LogChunk {
  readonly pod: string
  readonly text: string
}

export interface Client {
  /** The namespace daemons go to (the option, else the context's, else "default"). */
  readonly namespace: string
  /** The API server's URL, for messages. */
  readonly server: string
  readonly apply: (object: Manifest) => Effect.Effect<void, PlatformCommandFailed>
  readonly read: (
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string
  ) => Effect.Effect<Workload & Record<string, unknown> | undefined, PlatformCommandFailed>
  readonly listPods: (namespace: string, selector: string) => Effect.Effect<ReadonlyArray<Pod>, PlatformCommandFailed>
  readonly scale: (
    kind: "Deployment" | "StatefulSet",
    namespace: string,
    name: string,
    replicas: number
  ) => Effect.Effect<void, PlatformCommandFailed>
  readonly mergePatch: (
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
    patch: Record<string, unknown>
  ) => Effect.Effect<void, PlatformCommandFailed>
  readonly remove: (
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
    options: { readonly propagationPolicy?: "Foreground" | "Background"; readonly gracePeriodSeconds?: number }
  ) => Effect.Effect<void, PlatformCommandFailed>
  readonly podLog: (
    namespace: string,
    pod: string,
    container: string,
    options: { readonly tailLines: number; readonly previous: boolean }
  ) => Effect.Effect<string, PlatformCommandFailed>
  /** Follows a container's log from `sinceTime` (RFC 3339) until it ends or the scope closes; `done` when it ends. */
  readonly followLog: (
    namespace: string,
    pod: string,
    container: string,
    sinceTime: string,
    onText: (text: string) => void,
    done: () => void
  ) => Effect.Effect<void, PlatformCommandFailed, Scope.Scope>
  /** Watches the selected pods until the scope closes; `done` when the server ends the watch. */
  readonly watchPods: (
    namespace: string,
    selector: string,
    onEvent: (type: string, pod: Pod) => void,
    done: () => void
  ) => Effect.Effect<void, PlatformCommandFailed, Scope.Scope>
}

const resources: Record<string, string> = {
  Deployment: "deployments",
  StatefulSet: "statefulsets",
  Job: "jobs",
  Service: "services",
  ServiceAccount: "serviceaccounts",
  PodDisruptionBudget: "poddisruptionbudgets",
  Pod: "pods"
}

/** The REST path of an object, for messages. */
export const pathOf = (apiVersion: string, kind: string, namespace: string, name?: string): string =>
  `/${apiVersion.includes("/") ? "apis" : "api"}/${apiVersion}/namespaces/${namespace}/${resources[kind] ?? `${kind.toLowerCase()}s`}${
    name !== undefined ? `/${name}` : ""
  }`

const statusOf = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown; statusCode?: unknown })?.code ?? (error as { statusCode?: unknown })?.statusCode
  return typeof code === "number" ? code : undefined
}

/** The API's own message: the `message` of its Status body, else the error's first line. */
const messageOf = (error: unknown): string => {
  const body = (error as { body?: unknown })?.body
  let parsed: unknown = body
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body)
    } catch {
      parsed = undefined
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message
  if (typeof message === "string" && message !== "") return message
  if (typeof body === "string" && body.trim() !== "") return body.trim().split("\n")[0]!
  const cause = (error as { cause?: { code?: string } })?.cause?.code ?? (error as { code?: unknown })?.code
  const text = error instanceof Error ? error.message.split("\n")[0]! : String(error)
  return typeof cause === "string" && !text.includes(cause) ? `${text} (${cause})` : text
}

const call = <A>(method: string, path: string, run: () => Promise<A>): Effect.Effect<A, PlatformCommandFailed> =>
  Effect.tryPromise({
    try: run,
    catch: (error) => new PlatformCommandFailed({ command: [method, path], exitCode: statusOf(error) ?? null, stderr: messageOf(error) })
  })

/** Runs `run`; a 404 is `undefined`. */
const orMissing = <A>(effect: Effect.Effect<A, PlatformCommandFailed>): Effect.Effect<A | undefined, PlatformCommandFailed> =>
  Effect.catchIf(effect, (error) => error.exitCode === 404, () => Effect.succeed(undefined))

const lineWriter = (onText: (text: string) => void) =>
  new Writable({
    write(chunk: Buffer, _encoding, callback) {
      onText(chunk.toString("utf8"))
      callback()
    }
  })

/**
 * Loads the kubeconfig (the given file, else `KUBECONFIG`, `~/.kube/config`
 * or the in-cluster service account) and connects.
 */
export const connect = (options: ConnectOptions): Effect.Effect<Client, OperationUnsupported | AdapterIOError> =>
  Effect.gen(function*() {
    // Loaded here, not at the top: rendering needs no client, and the `duende` command
    // leaves it out of its bundle (it is an optional peer of @duende/cli).
    const k8s: ClientNode = yield* Effect.tryPromise({
      try: () => import("@kubernetes/client-node"),
      catch: (error) =>
        new OperationUnsupported({
          operation: "reach a Kubernetes cluster",
          platform: "kubernetes",
          hint: `@kubernetes/client-node could not be loaded (${messageOf(error).split("\n")[0]}): npm install @kubernetes/client-node@^1.4.0`
        })
    })
    const kc = new k8s.KubeConfig()
    const source = options.kubeconfig ?? "KUBECONFIG, ~/.kube/config or the in-cluster service account"
    yield* Effect.try({
      try: () => {
        if (options.kubeconfig !== undefined) {
          if (!existsSync(options.kubeconfig)) throw new Error("no such file")
          kc.loadFromFile(options.kubeconfig)
        } else kc.loadFromDefault()
      },
      catch: (error) => new AdapterIOError({ path: options.kubeconfig ?? "kubeconfig", reason: messageOf(error) })
    })
    // With nothing to load, the client falls back to an unauthenticated http://localhost:8080.
    if (options.kubeconfig === undefined && kc.getCurrentContext() === "loaded-context" && kc.getCurrentCluster()?.server === "http://localhost:8080") {
      return yield* new OperationUnsupported({
        operation: "reach a Kubernetes cluster",
        platform: "kubernetes",
        hint: `no kubeconfig found in ${source}: set KUBECONFIG, or give a kubeconfig file (the kubeconfig option, duende's --kubeconfig)`
      })
    }
    if (options.context !== undefined) {
      if (kc.getContextObject(options.context) === null) {
        return yield* new OperationUnsupported({
          operation: `use the context "${options.context}"`,
          platform: "kubernetes",
          hint: `the kubeconfig has ${kc.getContexts().map((c) => c.name).join(", ") || "no contexts"}`
        })
      }
      kc.setCurrentContext(options.context)
    }
    const cluster = kc.getCurrentCluster()
    if (cluster === null) {
      return yield* new OperationUnsupported({
        operation: "reach a Kubernetes cluster",
        platform: "kubernetes",
        hint: `the current context of ${source} names no cluster`
      })
    }
    const namespace = options.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default"
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc)
    const core = kc.makeApiClient(k8s.CoreV1Api)
    const apps = kc.makeApiClient(k8s.AppsV1Api)
    const mergePatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)
    const ref = (apiVersion: string, kind: string, ns: string, name: string) => ({ apiVersion, kind, metadata: { name, namespace: ns } })

    const client: Client = {
      namespace,
      server: cluster.server,
      apply: (object) =>
        Effect.asVoid(call(
          "PATCH",
          pathOf(object.apiVersion, object.kind, object.metadata.namespace ?? namespace, object.metadata.name),
          // A copy: the client fills in fields (a default namespace) on the object it is given.
          () =>
            objects.patch(
              structuredClone(object) as never,
              undefined,
              undefined,
              fieldManager,
              true,
              k8s.PatchStrategy.ServerSideApply
            )
        )),
      read: (apiVersion, kind, ns, name) =>
        orMissing(call("GET", pathOf(apiVersion, kind, ns, name), () => objects.read(ref(apiVersion, kind, ns, name)))) as Effect.Effect<
          Workload & Record<string, unknown> | undefined,
          PlatformCommandFailed
        >,
      listPods: (ns, selector) =>
        Effect.map(
          call("GET", pathOf("v1", "Pod", ns), () => core.listNamespacedPod({ namespace: ns, labelSelector: selector })),
          (list) => list.items as ReadonlyArray<Pod>
        ),
      scale: (kind, ns, name, replicas) => {
        const body = { spec: { replicas } }
        const path = `${pathOf("apps/v1", kind, ns, name)}/scale`
        return Effect.asVoid(call("PATCH", path, () =>
          kind === "Deployment"
            ? apps.patchNamespacedDeploymentScale({ name, namespace: ns, body, fieldManager }, mergePatch)
            : apps.patchNamespacedStatefulSetScale({ name, namespace: ns, body, fieldManager }, mergePatch)))
      },
      mergePatch: (apiVersion, kind, ns, name, patch) =>
        Effect.asVoid(call("PATCH", pathOf(apiVersion, kind, ns, name), () =>
          objects.patch(
            { ...patch, ...ref(apiVersion, kind, ns, name), metadata: { ...(patch.metadata as object), name, namespace: ns } } as never,
            undefined,
            undefined,
            fieldManager,
            undefined,
            k8s.PatchStrategy.MergePatch
          ))),
      remove: (apiVersion, kind, ns, name, deleteOptions) =>
        Effect.asVoid(orMissing(call("DELETE", pathOf(apiVersion, kind, ns, name), () =>
          kind === "Pod"
            ? core.deleteNamespacedPod({ name, namespace: ns, ...deleteOptions }).then(() => undefined)
            : objects.delete(
              ref(apiVersion, kind, ns, name),
              undefined,
              undefined,
              deleteOptions.gracePeriodSeconds,
              undefined,
              deleteOptions.propagationPolicy
            ).then(() => undefined)))),
      podLog: (ns, pod, container, logOptions) =>
        call("GET", `${pathOf("v1", "Pod", ns, pod)}/log`, () =>
          core.readNamespacedPodLog({
            name: pod,
            namespace: ns,
            container,
            timestamps: true,
            tailLines: logOptions.tailLines,
            previous: logOptions.previous
          })),
      followLog: (ns, pod, container, sinceTime, onText, done) =>
        Effect.gen(function*() {
          const stream = lineWriter(onText)
          stream.on("finish", done)
          stream.on("error", done)
          const controller = yield* call("GET", `${pathOf("v1", "Pod", ns, pod)}/log`, () =>
            new k8s.Log(kc).log(ns, pod, container, stream, { follow: true, timestamps: true, sinceTime }))
          yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
        }),
      watchPods: (ns, selector, onEvent, done) =>
        Effect.gen(function*() {
          const controller = yield* call("GET", `${pathOf("v1", "Pod", ns)}?watch=true`, () =>
            new k8s.Watch(kc).watch(
              `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`,
              { labelSelector: selector },
              (type: string, object: unknown) => onEvent(type, object as Pod),
              () => done()
            ))
          yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
        })
    }
    return client
  })
