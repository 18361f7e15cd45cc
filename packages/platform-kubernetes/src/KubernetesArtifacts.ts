/**
 * What `duende render kubernetes <config>` prints: a daemon's objects (see
 * {@link KubernetesManifests}) as YAML, one multi-document file for `kubectl
 * apply -f -`, or one file per object for `-o DIR`. Every document starts
 * with `---`, so files can be concatenated, and every string is written so
 * that YAML 1.1 and 1.2 readers read it back unchanged (`no`, `on`, `~`,
 * `08`, `1e3` and `"8080"` stay strings; NEL, U+2028 and U+2029 are escaped).
 * The daemon id in the annotations is derived from the daemon's name (stable
 * across runs) unless one is given.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import type { PlatformAdapter } from "@duende/core/manager"
import { ContainerArtifacts } from "@duende/platform-container/adapter"
import * as Either from "effect/Either"
import { stringifyAll } from "./internal/yaml.js"
import * as KubernetesManifests from "./KubernetesManifests.js"
import type * as KubernetesSection from "./KubernetesSection.js"

/**
 * The formats: `kubernetes` (YAML manifests).
 *
 * @since 0.1.0
 */
export type Format = "kubernetes"

/**
 * Every format, for a CLI's choices.
 *
 * @since 0.1.0
 */
export const formats: ReadonlyArray<Format> = ["kubernetes"]

/**
 * Options of {@link render}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The daemon id for the annotations (default: derived from the name). */
  readonly id?: string
  /** The image, when the config's `platform.kubernetes.image` names none. */
  readonly image?: string
  /** The namespace, when the config's `platform.kubernetes.namespace` names none (default: none, kubectl's context decides). */
  readonly namespace?: string
  /** More defaults under the config's own `platform.kubernetes`. */
  readonly section?: KubernetesSection.Input
  /** "stream" (default): one multi-document file; "files": one file per object (for `-o DIR`). */
  readonly layout?: "stream" | "files"
}

/**
 * A UUID derived from a daemon name (the same as the container renderers'),
 * so a rendered manifest does not change from one run to the next.
 *
 * @example
 * ```ts
 * import { KubernetesArtifacts } from "@duende/platform-kubernetes/adapter"
 *
 * KubernetesArtifacts.stableId("api") === KubernetesArtifacts.stableId("api") // true
 * ```
 *
 * @since 0.1.0
 */
export const stableId: (name: string) => string = ContainerArtifacts.stableId

/**
 * A file name for an object: `<kind>-<name>.yaml` in lowercase.
 *
 * @example
 * ```ts
 * import { KubernetesArtifacts } from "@duende/platform-kubernetes/adapter"
 *
 * KubernetesArtifacts.fileName({ kind: "Deployment", metadata: { name: "api" } }) // "deployment-api.yaml"
 * ```
 *
 * @since 0.1.0
 */
export const fileName = (object: { readonly kind: string; readonly metadata: { readonly name: string } }): string =>
  `${object.kind.toLowerCase()}-${object.metadata.name}.yaml`

/**
 * The manifests of a config with the render options applied.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { KubernetesArtifacts } from "@duende/platform-kubernetes/adapter"
 *
 * const manifests = KubernetesArtifacts.manifests(decodeSync({ name: "api", command: ["/app/api"] }), { image: "ghcr.io/acme/api:1" })
 * ```
 *
 * @since 0.1.0
 */
export const manifests = (
  config: DaemonConfig.DaemonConfig,
  options: Omit<Options, "layout"> = {}
): Either.Either<KubernetesManifests.Manifests, KubernetesManifests.ManifestError> =>
  KubernetesManifests.make(config, {
    id: options.id ?? stableId(config.name),
    section: {
      ...options.section,
      ...(options.image !== undefined ? { image: options.image } : {}),
      ...(options.namespace !== undefined ? { namespace: options.namespace } : {})
    }
  })

/**
 * Renders a daemon config as Kubernetes YAML, or says why it cannot (each
 * problem naming its field).
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { KubernetesArtifacts } from "@duende/platform-kubernetes/adapter"
 * import { Effect, Either } from "effect"
 *
 * const config = await Effect.runPromise(DaemonConfig.load("duende.json"))
 * const artifacts = KubernetesArtifacts.render(config, { image: "ghcr.io/acme/api:1.4.0", namespace: "prod" })
 * if (Either.isRight(artifacts)) process.stdout.write(artifacts.right[0]!.content) // kubectl apply -f -
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  options: Options = {}
): Either.Either<ReadonlyArray<PlatformAdapter.Artifact>, KubernetesManifests.ManifestError> =>
  Either.map(manifests(config, options), (made) => {
    const objects = KubernetesManifests.objects(made)
    if (options.layout === "files") {
      return objects.map((object) => ({
        name: fileName(object),
        kind: `Kubernetes ${object.kind}`,
        content: stringifyAll([object])
      }))
    }
    return [{
      name: `${config.name}.kubernetes.yaml`,
      kind: `Kubernetes manifests (${objects.map((object) => object.kind).join(", ")})`,
      content: stringifyAll(objects)
    }]
  })
