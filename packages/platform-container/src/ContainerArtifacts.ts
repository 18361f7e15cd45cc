/**
 * What `duende render oci|docker|podman|engine|compose <config>` prints: a
 * daemon config rendered for one runtime without installing anything. The
 * daemon id in the labels is derived from the daemon's name (stable across
 * runs) unless one is given.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import type { PlatformAdapter } from "@duende/core/manager"
import * as Either from "effect/Either"
import { createHash } from "node:crypto"
import * as ComposeService from "./ComposeService.js"
import * as ContainerSection from "./ContainerSection.js"
import * as ContainerSpec from "./ContainerSpec.js"
import * as EngineSpec from "./EngineSpec.js"
import * as OciSpec from "./OciSpec.js"
import * as RunArgs from "./RunArgs.js"

/**
 * The formats.
 *
 * - `oci`: an OCI runtime spec (`config.json`) for runc/crun
 * - `docker`, `podman`: a `docker run`/`podman run` command line
 * - `engine`: a Docker Engine API create body
 * - `compose`: a compose file with one service
 *
 * @since 0.1.0
 */
export type Format = "oci" | "docker" | "podman" | "engine" | "compose"

/**
 * Every format, for a CLI's choices.
 *
 * @since 0.1.0
 */
export const formats: ReadonlyArray<Format> = ["oci", "docker", "podman", "engine", "compose"]

/**
 * Options of {@link render}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The daemon id for the labels (default: derived from the name). */
  readonly id?: string
  /** Defaults under the config's own `platform.container`. */
  readonly section?: ContainerSection.Input
  /** The init binary (oci: bound into the bundle, default {@link OciSpec.findInit}; podman: `--init-path`). */
  readonly initPath?: string
}

/**
 * A UUID derived from a daemon name (name-based, SHA-1, like UUID v5), so a
 * rendered file does not change from one run to the next.
 *
 * @example
 * ```ts
 * import { ContainerArtifacts } from "@duende/platform-container/adapter"
 *
 * ContainerArtifacts.stableId("api") === ContainerArtifacts.stableId("api") // true
 * ```
 *
 * @since 0.1.0
 */
export const stableId = (name: string): string => {
  const hex = createHash("sha1").update(`duende:${name}`).digest("hex").slice(0, 32).split("")
  hex[12] = "5"
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  const text = hex.join("")
  return `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`
}

/**
 * Renders a daemon config in one format, or says why it cannot.
 *
 * @example
 * ```ts
 * import { ContainerArtifacts } from "@duende/platform-container/adapter"
 * import { DaemonConfig } from "@duende/core"
 * import { Effect, Either } from "effect"
 *
 * const config = await Effect.runPromise(DaemonConfig.load("duende.json"))
 * const artifact = ContainerArtifacts.render(config, "compose", { section: { image: "localhost/api:1" } })
 * if (Either.isRight(artifact)) process.stdout.write(artifact.right.content)
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  format: Format,
  options: Options = {}
): Either.Either<PlatformAdapter.Artifact, string> =>
  Either.gen(function*() {
    const section = yield* ContainerSection.resolve(config.platform.container, options.section)
    const spec = yield* ContainerSpec.make(config, { id: options.id ?? stableId(config.name), section })
    switch (format) {
      case "oci": {
        const context = yield* OciSpec.context(spec, { initPath: options.initPath ?? OciSpec.findInit() })
        return { name: "config.json", kind: "OCI runtime spec", content: `${JSON.stringify(OciSpec.render(spec, context), null, 2)}\n` }
      }
      case "docker":
      case "podman": {
        const argv = yield* RunArgs.render(spec, { engine: format, verb: "run", initPath: options.initPath })
        return { name: `${spec.name}.${format}-run.sh`, kind: `${format} run command`, content: `${RunArgs.toShell([format, ...argv])}\n` }
      }
      case "engine": {
        const body = yield* EngineSpec.render(spec)
        return {
          name: `${spec.name}.create.json`,
          kind: `Docker Engine API create body (POST /containers/create?name=${spec.name})`,
          content: `${JSON.stringify(body, null, 2)}\n`
        }
      }
      case "compose":
        return { name: "compose.yaml", kind: "compose service", content: yield* ComposeService.render(spec) }
    }
  })
