/**
 * @duende/platform-container/adapter: the manager half. A `DaemonConfig` as
 * a container spec rendered as an OCI bundle, podman/docker run arguments, a
 * Docker Engine API create body or a compose service; drivers for runc,
 * crun, podman and the Docker Engine API; and core's `PlatformAdapter` for
 * containers.
 *
 * The entry is a platform module (core's `PlatformModule`): `kind`,
 * `formats`, `flags`, `options`, `render`, `make` and `layer` are what the
 * `duende` command uses for `render oci|docker|podman|engine|compose` and
 * `--platform container [--driver runc|crun|podman|engine]`.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import { type AdapterError, type PlatformAdapter, PlatformModule } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { homedir } from "node:os"
import { join } from "node:path"
import * as ContainerAdapter from "./ContainerAdapter.js"
import * as ContainerArtifacts from "./ContainerArtifacts.js"
import type * as ContainerSection from "./ContainerSection.js"

/** @since 0.1.0 */
export * as ComposeService from "./ComposeService.js"
/** @since 0.1.0 */
export * as ContainerAdapter from "./ContainerAdapter.js"
/** @since 0.1.0 */
export * as ContainerArtifacts from "./ContainerArtifacts.js"
/** @since 0.1.0 */
export * as ContainerSection from "./ContainerSection.js"
/** @since 0.1.0 */
export * as ContainerSpec from "./ContainerSpec.js"
/** @since 0.1.0 */
export * as EngineSpec from "./EngineSpec.js"
/** @since 0.1.0 */
export * as OciSpec from "./OciSpec.js"
/** @since 0.1.0 */
export * as RunArgs from "./RunArgs.js"

/**
 * The platform's options: the adapter's (its state directory optional here),
 * and an image for configs whose `platform.container.image` names none.
 *
 * @since 0.1.0
 */
export interface Options extends Omit<ContainerAdapter.Options, "stateDirectory"> {
  /** Default: `$XDG_STATE_HOME/duende/containers` (`~/.local/state/duende/containers`). */
  readonly stateDirectory?: string
  readonly image?: string
}

/**
 * The platform kind.
 *
 * @example
 * ```ts
 * import { kind } from "@duende/platform-container/adapter"
 *
 * kind // "container"
 * ```
 *
 * @since 0.1.0
 */
export const kind = "container" as const

/**
 * The formats it renders (see `ContainerArtifacts.Format`).
 *
 * @example
 * ```ts
 * import { formats } from "@duende/platform-container/adapter"
 *
 * formats // ["oci", "docker", "podman", "engine", "compose"]
 * ```
 *
 * @since 0.1.0
 */
export const formats: ReadonlyArray<ContainerArtifacts.Format> = ContainerArtifacts.formats

/** The `--driver` values: the runtimes, with the Docker Engine API as "engine". */
const drivers = { runc: "runc", crun: "crun", podman: "podman", engine: "docker" } as const

/**
 * Its command-line flags: `--driver` (which runtime runs the containers) and
 * `--image` (for configs that name none).
 *
 * @example
 * ```ts
 * import { flags } from "@duende/platform-container/adapter"
 *
 * flags.map((flag) => flag.name) // ["driver", "image"]
 * ```
 *
 * @since 0.1.0
 */
export const flags: ReadonlyArray<PlatformModule.Flag> = [
  {
    name: "driver",
    type: "choice",
    choices: Object.keys(drivers),
    description: "the runtime that runs the containers: runc, crun, podman or the Docker Engine API (default: what is installed)",
    appliesTo: ["manage"]
  },
  {
    name: "image",
    type: "text",
    description: "the image, if the config's platform.container.image names none",
    appliesTo: ["render", "manage"]
  }
]

/**
 * Options from flags: `--driver`, `--image`, the state directory the tool gives.
 *
 * @example
 * ```ts
 * import { options } from "@duende/platform-container/adapter"
 *
 * options({ driver: "engine" }, { stateDirectory: "/tmp/duende" })
 * // Either.right({ stateDirectory: "/tmp/duende", driver: "docker" })
 * ```
 *
 * @since 0.1.0
 */
export const options = (
  values: PlatformModule.FlagValues,
  context: PlatformModule.Context
): Either.Either<Options, string> => {
  const driver = values.driver
  if (driver !== undefined && !(typeof driver === "string" && Object.hasOwn(drivers, driver))) {
    return Either.left(`--driver takes one of ${Object.keys(drivers).join(", ")}, got ${JSON.stringify(driver)}`)
  }
  const image = values.image
  if (image !== undefined && (typeof image !== "string" || image === "")) {
    return Either.left("--image takes an image reference such as localhost/api:1")
  }
  return Either.right({
    stateDirectory: context.stateDirectory,
    ...(driver !== undefined ? { driver: drivers[driver as keyof typeof drivers] } : {}),
    ...(image !== undefined ? { image } : {})
  })
}

const withImage = (section: Options["section"], image: string | undefined): Options["section"] => {
  if (image === undefined) return section
  return typeof section === "function"
    ? (config: DaemonConfig.DaemonConfig): ContainerSection.Input => ({ ...section(config), image })
    : { ...section, image }
}

/**
 * What a config becomes in one format; every format but `oci` needs an image.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { render } from "@duende/platform-container/adapter"
 * import { Effect } from "effect"
 *
 * const compose = Effect.flatMap(DaemonConfig.load("duende.json"), (config) =>
 *   render(config, { format: "compose", image: "localhost/api:1" }))
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  options: Options & { readonly format: ContainerArtifacts.Format }
): Effect.Effect<ReadonlyArray<PlatformAdapter.Artifact>, PlatformModule.RenderError> => {
  const { format, image } = options
  const failed = (reason: string) => new PlatformModule.RenderError({ platform: kind, format, reason })
  if (format !== "oci" && image === undefined && config.platform.container?.image === undefined) {
    return Effect.fail(failed(`${format} needs an image: set platform.container.image in the config, or say --image`))
  }
  const section = withImage(options.section, image)
  const rendered = ContainerArtifacts.render(config, format, {
    ...(section !== undefined ? { section: typeof section === "function" ? section(config) : section } : {}),
    ...(options.initPath !== undefined ? { initPath: options.initPath } : {})
  }).pipe(Either.map((artifact) => [artifact]), Either.mapLeft(failed))
  // One container runs one daemon; copies are the native supervisor's (or replicas, on Kubernetes).
  return config.instances === 1 ? rendered : Effect.zipRight(
    Effect.logWarning(`instances: ${config.instances} is not rendered for ${format}: a container runs one process (the native supervisor runs instances)`),
    rendered
  )
}

const adapterOptions = (options: Options): ContainerAdapter.Options => {
  const { image, stateDirectory, ...rest } = options
  const section = withImage(options.section, image)
  return {
    ...rest,
    stateDirectory: stateDirectory ??
      join(process.env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "duende", "containers"),
    ...(section !== undefined ? { section } : {})
  }
}

/**
 * The adapter for the life of the scope (see `ContainerAdapter.make`).
 *
 * @example
 * ```ts
 * import { make } from "@duende/platform-container/adapter"
 * import { Effect } from "effect"
 *
 * const state = Effect.scoped(Effect.flatMap(make({ driver: "runc" }), (adapter) =>
 *   Effect.flatMap(adapter.find("api"), adapter.status)))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<ContainerAdapter.ContainerAdapter, AdapterError, Scope.Scope> =>
  ContainerAdapter.make(adapterOptions(options))

/**
 * The adapter as a layer (see `ContainerAdapter.layer`).
 *
 * @example
 * ```ts
 * import { layer } from "@duende/platform-container/adapter"
 *
 * const adapter = layer({ driver: "podman", stateDirectory: "/var/lib/duende/containers" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<PlatformAdapter.PlatformAdapter, AdapterError> =>
  ContainerAdapter.layer(adapterOptions(options))

/**
 * The compiler's check that this entry has core's `PlatformModule` shape.
 *
 * @since 0.1.0
 */
export type Conformance = PlatformModule.Conforms<typeof import("./adapter.js"), Options, ContainerArtifacts.Format>
