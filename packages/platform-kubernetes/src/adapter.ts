/**
 * @duende/platform-kubernetes/adapter: the manager half. A `DaemonConfig` as
 * Kubernetes objects (a hardened Deployment, StatefulSet or Job, its Service,
 * PodDisruptionBudget and ServiceAccount), rendered as YAML, and core's
 * `PlatformAdapter` for Kubernetes through the official client. The platform
 * module shape: {@link kind}, {@link formats}, {@link render}, {@link make}
 * and {@link layer}.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import type { AdapterError, PlatformAdapter } from "@duende/core/manager"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Adapter from "./KubernetesAdapter.js"
import * as Artifacts from "./KubernetesArtifacts.js"
import type * as KubernetesManifests from "./KubernetesManifests.js"

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
 * Renders a config as Kubernetes YAML (one multi-document file, or one file
 * per object with `layout: "files"`, for `-o DIR`).
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { render } from "@duende/platform-kubernetes/adapter"
 * import { Either } from "effect"
 *
 * const artifacts = render(decodeSync({ name: "api", command: ["/app/api"] }), { image: "ghcr.io/acme/api:1", namespace: "prod" })
 * if (Either.isRight(artifacts)) process.stdout.write(artifacts.right[0]!.content)
 * ```
 *
 * @since 0.1.0
 */
export const render: (
  config: DaemonConfig.DaemonConfig,
  options?: Artifacts.Options
) => Either.Either<ReadonlyArray<PlatformAdapter.Artifact>, KubernetesManifests.ManifestError> = Artifacts.render

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
export const make: (options?: Adapter.Options) => Effect.Effect<Adapter.KubernetesAdapter, AdapterError, Scope.Scope> = Adapter.make

/**
 * The adapter as a layer providing core's `PlatformAdapter`.
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
  options?: Adapter.Options
) => Layer.Layer<PlatformAdapter.PlatformAdapter | Adapter.KubernetesAdapter, AdapterError> = Adapter.layer
