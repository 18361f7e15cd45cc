/**
 * The container settings of a daemon: `platform.container` in its config
 * (image, runtime, rootfs, mounts, network, ports, init, ready,
 * healthCommand). The schema is core's, so a config file is checked once,
 * with every bad field named; this module fills in the defaults and merges
 * settings given to the adapter (`ContainerAdapter.layer({ section })`)
 * under each daemon's own.
 *
 * @since 0.1.0
 */
import { ContainerSection as Section } from "@duende/core/DaemonConfigSchema"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * The schema of the section as written (core's `PlatformSections.container`):
 *
 * - `image`: the image to run (podman, docker).
 * - `runtime`: "runc", "crun", "podman" or "docker".
 * - `rootfs`: for runc/crun, the root filesystem directory, or "host": an
 *   empty root with the host's /usr, /etc and /bin, /sbin, /lib* bound
 *   read-only, so host-installed programs (node) run in the container (default).
 * - `mounts`: binds and tmpfs mounts.
 * - `network`: "none" (default for runc/crun), "host" or "bridge" (the engine's default network).
 * - `ports`: ports to publish (podman, docker).
 * - `init`: run an init (tini, catatonit) as PID 1 that reaps orphans and forwards signals.
 * - `ready`: "auto" (default): a Duende daemon is ready at its READY, any other command once it
 *   has stayed up for the adapter's grace; "notify": only at READY; "started": as soon as it runs.
 * - `healthCommand`: the `HEALTHCHECK` command (default `["duende", "health"]`).
 *
 * @example
 * ```ts
 * import { ContainerSection } from "@duende/platform-container/adapter"
 * import * as Schema from "effect/Schema"
 *
 * const written = Schema.decodeUnknownSync(ContainerSection.ContainerSection)({ image: "localhost/api:1", init: true })
 * ```
 *
 * @since 0.1.0
 */
export const ContainerSection = Section

/**
 * A mount: a host directory or file bound into the container, or a tmpfs.
 *
 * @since 0.1.0
 */
export type Mount = NonNullable<Section["mounts"]>[number]

/**
 * A published port (podman and docker only).
 *
 * @since 0.1.0
 */
export type Port = NonNullable<Section["ports"]>[number]

/**
 * A section with its defaults filled in: no mounts, no ports, no init, ready "auto".
 *
 * @since 0.1.0
 */
export type ContainerSection = Schema.Schema.Type<typeof Section> & {
  readonly mounts: ReadonlyArray<Mount>
  readonly ports: ReadonlyArray<Port>
  readonly init: boolean
  readonly ready: "auto" | "notify" | "started"
}

/**
 * A section as written in a config file.
 *
 * @since 0.1.0
 */
export type Input = Schema.Schema.Encoded<typeof Section>

/**
 * The default `HEALTHCHECK` command.
 *
 * @since 0.1.0
 */
export const defaultHealthCommand: ReadonlyArray<string> = ["duende", "health"]

const decodeEither = Schema.decodeUnknownEither(Section, { errors: "all", onExcessProperty: "error" })

const describe = (error: ParseResult.ParseError): string => {
  // One message per field: the first, which is the field's own (a union's members add the rest).
  const byPath = new Map<string, string>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const path = `platform.container${issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`
    if (!byPath.has(path)) byPath.set(path, issue.message)
  }
  const deeper = (path: string) => [...byPath.keys()].some((other) => other.startsWith(`${path}[`) || other.startsWith(`${path}.`))
  return [...byPath]
    // An optional field whose elements are wrong also says "Expected undefined" about itself: the element says more.
    .filter(([path, message]) => !(message.startsWith("Expected undefined") && deeper(path)))
    .map(([path, message]) => `${path}: ${message}`)
    .join("; ")
}

/**
 * Decodes a section, failing with one message that names every bad field.
 *
 * @example
 * ```ts
 * import { ContainerSection } from "@duende/platform-container/adapter"
 *
 * const section = ContainerSection.decode({ image: "localhost/api:1", init: true })
 * ```
 *
 * @since 0.1.0
 */
export const decode = (input: unknown): Either.Either<ContainerSection, string> =>
  Either.match(decodeEither(input ?? {}), {
    onRight: (section) =>
      Either.right({
        ...section,
        mounts: section.mounts ?? [],
        ports: section.ports ?? [],
        init: section.init ?? false,
        ready: section.ready ?? "auto"
      }),
    onLeft: (error) => Either.left(describe(error))
  })

/**
 * The section of a daemon: its own `platform.container` fields over `defaults`.
 *
 * @example
 * ```ts
 * import { ContainerSection } from "@duende/platform-container/adapter"
 *
 * const section = ContainerSection.resolve({ image: "localhost/api:1" }, { init: true })
 * ```
 *
 * @since 0.1.0
 */
export const resolve = (own: unknown, defaults: Input = {}): Either.Either<ContainerSection, string> => {
  const fields = own !== null && typeof own === "object" ? own as Record<string, unknown> : {}
  const merged: Record<string, unknown> = { ...defaults }
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) merged[key] = value
  return decode(merged)
}
