/**
 * @duende/platform-kubernetes/adapter: the manager half. A `DaemonConfig` as
 * Kubernetes objects (a hardened Deployment, StatefulSet or Job, its Service,
 * PodDisruptionBudget and ServiceAccount), rendered as YAML, and core's
 * `PlatformAdapter` for Kubernetes through the official client.
 *
 * The entry is a platform module (core's `PlatformModule`): `kind`,
 * `formats`, `flags`, `options`, `render`, `make` and `layer` are what the
 * `duende` command uses for `render kubernetes [--image I] [--namespace N]`
 * and `--platform kubernetes [--context C] [--namespace N]`.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import { type AdapterError, type PlatformAdapter, PlatformModule } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Adapter from "./KubernetesAdapter.js"
import * as Artifacts from "./KubernetesArtifacts.js"

/** @since 0.1.0 */
export * as KubernetesAdapter from "./KubernetesAdapter.js"
/** @since 0.1.0 */
export * as KubernetesArtifacts from "./KubernetesArtifacts.js"
/** @since 0.1.0 */
export * as KubernetesManifests from "./KubernetesManifests.js"
/** @since 0.1.0 */
export * as KubernetesSection from "./KubernetesSection.js"

/**
 * The platform's name, as the CLI's `--platform` and `render` take it.
 *
 * @example
 * ```ts
 * import { kind } from "@duende/platform-kubernetes/adapter"
 *
 * kind // "kubernetes"
 * ```
 *
 * @since 0.1.0
 */
export const kind = "kubernetes" as const

/**
 * The artifact formats it renders.
 *
 * @example
 * ```ts
 * import { formats } from "@duende/platform-kubernetes/adapter"
 *
 * formats // ["kubernetes"]
 * ```
 *
 * @since 0.1.0
 */
export const formats: ReadonlyArray<Artifacts.Format> = Artifacts.formats

/**
 * The platform's options: the adapter's (kubeconfig, context, namespace, defaults for
 * `platform.kubernetes` such as the image). `render` reads the namespace and the defaults.
 *
 * @since 0.1.0
 */
export type Options = Adapter.Options

/**
 * Its command-line flags: `--image` and `--namespace` (render and manage),
 * `--context` and `--kubeconfig` (manage).
 *
 * @example
 * ```ts
 * import { flags } from "@duende/platform-kubernetes/adapter"
 *
 * flags.map((flag) => flag.name) // ["image", "namespace", "context", "kubeconfig"]
 * ```
 *
 * @since 0.1.0
 */
export const flags: ReadonlyArray<PlatformModule.Flag> = [
  {
    name: "image",
    type: "text",
    description: "the image, if the config's platform.kubernetes.image names none",
    appliesTo: ["render", "manage"]
  },
  {
    name: "namespace",
    type: "text",
    description: "the namespace, if the config's platform.kubernetes.namespace names none (default: the context's)",
    appliesTo: ["render", "manage"]
  },
  {
    name: "context",
    type: "text",
    description: "the kubeconfig context (default: its current one)",
    appliesTo: ["manage"]
  },
  {
    name: "kubeconfig",
    type: "text",
    description: "the kubeconfig file (default: KUBECONFIG, ~/.kube/config, else the in-cluster service account)",
    appliesTo: ["manage"]
  }
]

/** What Kubernetes accepts as a namespace name (an RFC 1123 label). */
const label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

/**
 * Options from flags: `--image`, `--namespace`, `--context`, `--kubeconfig`
 * (default `KUBECONFIG`, `~/.kube/config`, else the in-cluster service account).
 *
 * @example
 * ```ts
 * import { options } from "@duende/platform-kubernetes/adapter"
 *
 * options({ namespace: "prod", image: "ghcr.io/acme/api:1" }, { stateDirectory: "/tmp/duende" })
 * // Either.right({ namespace: "prod", section: { image: "ghcr.io/acme/api:1" } })
 * ```
 *
 * @since 0.1.0
 */
export const options = (
  values: PlatformModule.FlagValues,
  _context: PlatformModule.Context
): Either.Either<Options, string> => {
  const { context, image, kubeconfig, namespace } = values
  if (image !== undefined && (typeof image !== "string" || image === "")) {
    return Either.left("--image takes an image reference such as ghcr.io/acme/api:1.4.0")
  }
  if (namespace !== undefined && (typeof namespace !== "string" || !label.test(namespace))) {
    return Either.left(
      `--namespace takes a Kubernetes namespace (lowercase letters, digits and '-', at most 63), got ${JSON.stringify(namespace)}`
    )
  }
  if (context !== undefined && (typeof context !== "string" || context === "")) {
    return Either.left("--context takes the name of a context in your kubeconfig (kubectl config get-contexts)")
  }
  if (kubeconfig !== undefined && (typeof kubeconfig !== "string" || kubeconfig === "")) {
    return Either.left("--kubeconfig takes the path of a kubeconfig file")
  }
  return Either.right({
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    ...(context !== undefined ? { context } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(image !== undefined ? { section: { image } } : {})
  })
}

/**
 * Renders a config as Kubernetes YAML: one multi-document file, or one file
 * per object with `layout: "files"`. A config that cannot become a workload
 * (no image, a field Kubernetes cannot carry) fails naming the field.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { render } from "@duende/platform-kubernetes/adapter"
 * import { Effect } from "effect"
 *
 * const artifacts = render(decodeSync({ name: "api", command: ["/app/api"] }), {
 *   format: "kubernetes",
 *   namespace: "prod",
 *   section: { image: "ghcr.io/acme/api:1" }
 * })
 * Effect.runPromise(artifacts).then((files) => process.stdout.write(files[0]!.content))
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  renderOptions: Options & { readonly format: Artifacts.Format; readonly layout?: "stream" | "files" }
): Effect.Effect<ReadonlyArray<PlatformAdapter.Artifact>, PlatformModule.RenderError> =>
  Either.mapLeft(
    Artifacts.render(config, {
      ...(renderOptions.namespace !== undefined ? { namespace: renderOptions.namespace } : {}),
      ...(renderOptions.section !== undefined ? { section: renderOptions.section } : {}),
      ...(renderOptions.layout !== undefined ? { layout: renderOptions.layout } : {})
    }),
    (error) => new PlatformModule.RenderError({ platform: kind, format: renderOptions.format, reason: error.message })
  )

/**
 * The adapter, for the kubeconfig's `context` and a `namespace` (see {@link Adapter.Options}).
 *
 * @example
 * ```ts
 * import { make } from "@duende/platform-kubernetes/adapter"
 * import { Effect } from "effect"
 *
 * const status = Effect.scoped(Effect.flatMap(make({ context: "kind-duende" }), (adapter) =>
 *   Effect.flatMap(adapter.find("api"), adapter.status)))
 * ```
 *
 * @since 0.1.0
 */
export const make: (options: Options) => Effect.Effect<Adapter.KubernetesAdapter, AdapterError, Scope.Scope> = Adapter.make

/**
 * The adapter as a layer providing core's `PlatformAdapter` (and the `KubernetesAdapter` tag, with `find`).
 *
 * @example
 * ```ts
 * import { layer } from "@duende/platform-kubernetes/adapter"
 *
 * const adapter = layer({ context: "kind-duende", namespace: "demo" })
 * ```
 *
 * @since 0.1.0
 */
export const layer: (
  options: Options
) => Layer.Layer<PlatformAdapter.PlatformAdapter | Adapter.KubernetesAdapter, AdapterError> = Adapter.layer

/**
 * The compiler's check that this entry has core's `PlatformModule` shape.
 *
 * @since 0.1.0
 */
export type Conformance = PlatformModule.Conforms<typeof import("./adapter.js"), Options, "kubernetes">
