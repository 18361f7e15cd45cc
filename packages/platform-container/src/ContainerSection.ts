/**
 * The container settings of a daemon: `platform.container` in its config
 * (image, runtime, rootfs, mounts, network, ports, init, ready,
 * healthCommand, and the opt-outs of the secure defaults). The schema is
 * core's, so a config file is checked once, with every bad field named; this
 * module fills in the defaults and merges settings given to the adapter
 * (`ContainerAdapter.layer({ section })`) under each daemon's own.
 *
 * Containers are locked down by default, as systemd units are: not root
 * (65534:65534 unless the config names a user), no capabilities, no new
 * privileges, a read-only root with a tmpfs at /tmp, kernel paths masked or
 * read-only. Each has its opt-out below.
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
 * - `user`: `"user[:group]"` or `"uid[:gid]"` in the container, in place of the config's `user`/`group`
 *   (default: those, else {@link defaultUser}:{@link defaultGroup}); `"root"` or `"0"` runs as root.
 * - `capabilities`: the only capabilities kept, e.g. `["CAP_NET_BIND_SERVICE"]` (default none;
 *   `resources.lockMemory` adds CAP_IPC_LOCK).
 * - `readOnlyRootFilesystem`: `false` for a writable root (default `true`, with a tmpfs at /tmp).
 * - `noNewPrivileges`: `false` lets setuid programs raise privileges (default `true`).
 * - `protectKernelPaths`: `false` unmasks /proc/kcore, /sys/firmware… and makes /proc/sys… writable
 *   (default `true`).
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
 * A section with its defaults filled in: no mounts, no ports, no init, ready
 * "auto", no capabilities, a read-only root, no new privileges, kernel paths
 * protected.
 *
 * @since 0.1.0
 */
export type ContainerSection = Schema.Schema.Type<typeof Section> & {
  readonly mounts: ReadonlyArray<Mount>
  readonly ports: ReadonlyArray<Port>
  readonly init: boolean
  readonly ready: "auto" | "notify" | "started"
  readonly capabilities: ReadonlyArray<string>
  readonly readOnlyRootFilesystem: boolean
  readonly noNewPrivileges: boolean
  readonly protectKernelPaths: boolean
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

/**
 * The uid a container runs as when neither `platform.container.user` nor the
 * config's `user` names one: 65534, `nobody` on Debian, Alpine, Fedora and in
 * most images, and numeric, so it needs no entry in the image's /etc/passwd.
 *
 * @example
 * ```ts
 * import { ContainerSection } from "@duende/platform-container/adapter"
 *
 * ContainerSection.defaultUser // "65534"
 * ```
 *
 * @since 0.1.0
 */
export const defaultUser = "65534"

/**
 * The gid that goes with {@link defaultUser} (`nogroup`/`nobody`).
 *
 * @example
 * ```ts
 * import { ContainerSection } from "@duende/platform-container/adapter"
 *
 * ContainerSection.defaultGroup // "65534"
 * ```
 *
 * @since 0.1.0
 */
export const defaultGroup = "65534"

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
        ready: section.ready ?? "auto",
        capabilities: section.capabilities ?? [],
        readOnlyRootFilesystem: section.readOnlyRootFilesystem ?? true,
        noNewPrivileges: section.noNewPrivileges ?? true,
        protectKernelPaths: section.protectKernelPaths ?? true
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
