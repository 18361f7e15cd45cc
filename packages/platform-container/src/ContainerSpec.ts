/**
 * A daemon as a container, independent of the runtime: what runs (the
 * daemon's real command), its environment, user, limits, mounts, network,
 * init, healthcheck, restart policy and labels, validated once. The
 * renderers (`OciSpec`, `RunArgs`, `EngineSpec`, `ComposeService`) turn it
 * into each runtime's format.
 *
 * Every value that reaches argv, env or JSON is checked here: the container
 * name against the runtimes' rules, the image reference, paths (absolute, no
 * control characters, `,`, `:` or `"`), and no NUL or lone surrogate (UTF-16
 * that is not text, which no runtime can receive as UTF-8) anywhere.
 *
 * The spec is secure by default, like Duende's systemd units: the user is
 * never root unless a config names it (see `ContainerSection.defaultUser`),
 * and {@link Security} starts from no capabilities, no new privileges, a
 * read-only root and protected kernel paths.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ContainerSection from "./ContainerSection.js"
import * as StateFile from "./StateFile.js"

/**
 * The restart policy as container engines name it.
 *
 * @since 0.1.0
 */
export interface RestartPolicy {
  readonly name: "no" | "on-failure" | "always" | "unless-stopped"
  /** For "on-failure": how many restarts before the engine gives up. */
  readonly maxRetries: number | undefined
}

/**
 * The engine healthcheck, in exec form (no shell).
 *
 * @since 0.1.0
 */
export interface Healthcheck {
  readonly command: ReadonlyArray<string>
  readonly intervalMs: number
  readonly timeoutMs: number
  readonly retries: number
  readonly startPeriodMs: number
}

/**
 * The lockdown of a container; each part is on unless `platform.container` opts out.
 *
 * @since 0.1.0
 */
export interface Security {
  /** The only capabilities the process has, as `CAP_*` names (none by default). */
  readonly capabilities: ReadonlyArray<string>
  /** The root filesystem is read-only, with a tmpfs at /tmp (see {@link scratchTmp}). */
  readonly readOnlyRootFilesystem: boolean
  /** `no_new_privs`: setuid binaries and file capabilities grant nothing. */
  readonly noNewPrivileges: boolean
  /** /proc/kcore, /sys/firmware… masked; /proc/sys, /proc/sysrq-trigger… read-only. */
  readonly protectKernelPaths: boolean
}

/**
 * A validated container spec.
 *
 * @since 0.1.0
 */
export interface ContainerSpec {
  /** The container name (and runc/crun container id). */
  readonly name: string
  readonly daemon: { readonly name: string; readonly version: string; readonly id: string }
  readonly image: string | undefined
  readonly rootfs: string | undefined
  readonly program: string
  readonly args: ReadonlyArray<string>
  /** Environment in order; Duende's own variables last. */
  readonly env: ReadonlyArray<readonly [string, string]>
  readonly workingDirectory: string | undefined
  /** Who runs: a name or uid, never unset (`ContainerSection.defaultUser` when nothing names one). */
  readonly user: string
  /** The group; unset: the user's own group (from the root's or image's /etc/passwd). */
  readonly group: string | undefined
  readonly security: Security
  readonly resources: DaemonConfig.Resources
  readonly mounts: ReadonlyArray<ContainerSection.Mount>
  readonly network: "none" | "host" | "bridge" | undefined
  readonly ports: ReadonlyArray<ContainerSection.Port>
  readonly init: boolean
  /** When the adapter counts the daemon as ready (see `ContainerSection`). */
  readonly ready: "auto" | "notify" | "started"
  readonly healthcheck: Healthcheck | undefined
  readonly restart: RestartPolicy
  readonly stopSignal: "SIGTERM"
  readonly stopTimeoutMs: number
  readonly labels: Readonly<Record<string, string>>
  /** Settings of the config a container cannot apply, for a warning. */
  readonly ignored: ReadonlyArray<string>
}

/**
 * Container names: what docker, podman, runc and crun all accept.
 *
 * @since 0.1.0
 */
export const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/

/**
 * The labels (and OCI annotations) that identify a daemon's container.
 *
 * @since 0.1.0
 */
export const labels = {
  id: "duende.daemon.id",
  name: "duende.daemon.name",
  version: "duende.daemon.version"
} as const

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The daemon's identity, written to the `duende.daemon.id` label. */
  readonly id: string
  /** The resolved `platform.container` section. */
  readonly section: ContainerSection.ContainerSection
  /** The container name (default `duende-<daemon name>`). */
  readonly containerName?: string
  /** A host directory to bind at /run/duende for the state file (the adapter's channel). */
  readonly stateDirectory?: string
}

const minimumHealthTimeoutMs = 5_000

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** A value no runtime can take unchanged: a NUL ends a C string, a lone surrogate has no UTF-8 form. */
const badText = (what: string, value: string): string | undefined =>
  value.includes("\u0000")
    ? `${what}: contains a NUL character`
    : loneSurrogate.test(value)
    ? `${what}: contains a lone surrogate (ill-formed UTF-16, which has no UTF-8 form); remove it`
    : undefined

const who = (
  config: DaemonConfig.DaemonConfig,
  section: ContainerSection.ContainerSection
): { readonly user: string; readonly group: string | undefined } => {
  if (section.user !== undefined) {
    const [user, group] = section.user.split(":")
    return { user: user!, group }
  }
  if (config.user !== undefined || config.group !== undefined) {
    return { user: config.user ?? ContainerSection.defaultUser, group: config.group }
  }
  return { user: ContainerSection.defaultUser, group: ContainerSection.defaultGroup }
}

/**
 * Builds the spec of a daemon, or says what is wrong.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { ContainerSection, ContainerSpec } from "@duende/platform-container/adapter"
 * import { Either } from "effect"
 *
 * const config = decodeSync({ name: "api", command: ["node", "/app/main.js"] })
 * const spec = ContainerSpec.make(config, {
 *   id: "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d",
 *   section: Either.getOrThrow(ContainerSection.decode({ image: "localhost/api:1" }))
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (config: DaemonConfig.DaemonConfig, options: Options): Either.Either<ContainerSpec, string> => {
  const { section } = options
  const problems: Array<string> = []
  const check = (problem: string | undefined) => {
    if (problem !== undefined) problems.push(problem)
  }
  const name = options.containerName ?? `duende-${config.name}`
  if (!namePattern.test(name)) {
    problems.push(
      `container name ${JSON.stringify(name)}: expected letters, digits, "_", "." and "-", starting with a letter or digit (at most 128)`
    )
  }
  if (!namePattern.test(options.id)) problems.push(`daemon id ${JSON.stringify(options.id)}: expected a UUID`)
  check(badText("command.program", config.command.program))
  config.command.args.forEach((arg, i) => check(badText(`command.args[${i}]`, arg)))
  const workingDirectory = config.workingDirectory
  if (workingDirectory !== undefined && !/^\/[^\u0000-\u001f\u007f]*$/.test(workingDirectory)) {
    problems.push(`workingDirectory ${JSON.stringify(workingDirectory)}: must be an absolute path inside the container`)
  } else if (workingDirectory !== undefined) check(badText("workingDirectory", workingDirectory))
  if (section.rootfs !== undefined) check(badText("platform.container.rootfs", section.rootfs))
  section.healthCommand?.forEach((word, i) => check(badText(`platform.container.healthCommand[${i}]`, word)))
  const reserved = options.stateDirectory !== undefined ? [StateFile.containerDirectory] : []
  section.mounts.forEach((mount, i) => {
    if (reserved.includes(mount.target)) problems.push(`mount target ${mount.target} is reserved for Duende's state`)
    if (mount.source !== undefined) check(badText(`platform.container.mounts[${i}].source`, mount.source))
    check(badText(`platform.container.mounts[${i}].target`, mount.target))
  })
  if (options.stateDirectory !== undefined && !/^\/[^\u0000-\u001f\u007f,:"]*$/.test(options.stateDirectory)) {
    problems.push(`state directory ${JSON.stringify(options.stateDirectory)}: absolute, without control characters, ",", ":" or '"'`)
  }
  const { resources } = config
  if (resources.memorySwap !== undefined && resources.memory === undefined) {
    problems.push("resources.memorySwap: containers limit swap together with memory; set resources.memory too")
  }
  const ignored: Array<string> = []
  if (resources.ioReadBandwidth !== undefined) {
    ignored.push("resources.ioReadBandwidth (containers limit I/O per device)")
  }
  if (resources.ioWriteBandwidth !== undefined) {
    ignored.push("resources.ioWriteBandwidth (containers limit I/O per device)")
  }
  if (config.watchdogInterval !== undefined) {
    ignored.push("watchdogInterval (a stale heartbeat fails `duende health` instead)")
  }
  for (const [key, value] of Object.entries(config.env)) check(badText(`env.${key}`, value))
  if (problems.length > 0) return Either.left(problems.join("; "))

  const env: Array<readonly [string, string]> = Object.entries(config.env).filter(([key]) =>
    key !== "DUENDE_PLATFORM" && key !== StateFile.directoryVariable
  )
  env.push(["DUENDE_PLATFORM", "container"])
  if (options.stateDirectory !== undefined) env.push([StateFile.directoryVariable, StateFile.containerDirectory])

  const mounts: Array<ContainerSection.Mount> = [...section.mounts]
  if (options.stateDirectory !== undefined) {
    mounts.push({ type: "bind", source: options.stateDirectory, target: StateFile.containerDirectory, readOnly: false })
  }

  const health = config.health
  const healthcheck: Healthcheck | undefined = health.enabled
    ? {
      command: section.healthCommand ?? ContainerSection.defaultHealthCommand,
      intervalMs: Duration.toMillis(health.interval),
      timeoutMs: Math.max(Duration.toMillis(health.timeout), minimumHealthTimeoutMs),
      // The daemon's health loop already counts `retries` consecutive failures.
      retries: 1,
      // The engine counts from the container's start, the daemon's health loop from READY.
      startPeriodMs: Duration.toMillis(config.initTimeout) + Duration.toMillis(health.startPeriod)
    }
    : undefined

  const policy = config.restart.policy
  const restart: RestartPolicy = policy === "never"
    ? { name: "no", maxRetries: undefined }
    : policy === "on-failure"
    ? { name: "on-failure", maxRetries: config.restart.crashLoop.burst }
    : { name: policy, maxRetries: undefined }

  const capabilities = [...new Set([...section.capabilities, ...(resources.lockMemory ? ["CAP_IPC_LOCK"] : [])])]

  return Either.right({
    name,
    daemon: { name: config.name, version: config.version, id: options.id },
    image: section.image,
    rootfs: section.rootfs,
    program: config.command.program,
    args: config.command.args,
    env,
    workingDirectory,
    ...who(config, section),
    security: {
      capabilities,
      readOnlyRootFilesystem: section.readOnlyRootFilesystem,
      noNewPrivileges: section.noNewPrivileges,
      protectKernelPaths: section.protectKernelPaths
    },
    resources,
    mounts,
    network: section.network,
    ports: section.ports,
    init: section.init,
    ready: section.ready,
    healthcheck,
    restart,
    stopSignal: "SIGTERM",
    stopTimeoutMs: Duration.toMillis(config.shutdownTimeout),
    labels: { [labels.id]: options.id, [labels.name]: config.name, [labels.version]: config.version },
    ignored
  })
}

/**
 * Milliseconds as a Go duration ("30s", "1500ms"), the form podman, docker
 * and compose read.
 *
 * @example
 * ```ts
 * import { ContainerSpec } from "@duende/platform-container/adapter"
 *
 * ContainerSpec.goDuration(90_000) // "90s"
 * ```
 *
 * @since 0.1.0
 */
export const goDuration = (ms: number): string =>
  Number.isInteger(ms) && ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.ceil(ms)}ms`

/**
 * The stop timeout in whole seconds, as engines take it (rounded up).
 *
 * @example
 * ```ts
 * import { ContainerSpec } from "@duende/platform-container/adapter"
 *
 * ContainerSpec.stopSeconds(1500) // 2
 * ```
 *
 * @since 0.1.0
 */
export const stopSeconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000))

/**
 * CPU shares (cgroup v1 scale, 1024 = normal) from a systemd-style CPU weight (100 = normal).
 *
 * @example
 * ```ts
 * import { ContainerSpec } from "@duende/platform-container/adapter"
 *
 * ContainerSpec.cpuShares(200) // 2048
 * ```
 *
 * @since 0.1.0
 */
export const cpuShares = (weight: number): number => Math.min(262_144, Math.max(2, Math.round((weight * 1024) / 100)))

/**
 * The `user[:group]` value engines take.
 *
 * @example
 * ```ts
 * import { ContainerSpec } from "@duende/platform-container/adapter"
 *
 * ContainerSpec.userOption({ user: "api", group: "api" }) // "api:api"
 * ```
 *
 * @since 0.1.0
 */
export const userOption = (spec: Pick<ContainerSpec, "user" | "group">): string =>
  `${spec.user}${spec.group !== undefined ? `:${spec.group}` : ""}`

/**
 * Whether the engine needs a tmpfs at /tmp: the root is read-only and no
 * mount of the config's covers /tmp already. Programs (and the daemon's state
 * file, when /run is not writable for its user) need one writable directory.
 *
 * @example
 * ```ts
 * import { ContainerSpec } from "@duende/platform-container/adapter"
 *
 * ContainerSpec.scratchTmp({ security: { capabilities: [], readOnlyRootFilesystem: true, noNewPrivileges: true, protectKernelPaths: true }, mounts: [] }) // true
 * ```
 *
 * @since 0.1.0
 */
export const scratchTmp = (spec: Pick<ContainerSpec, "security" | "mounts">): boolean =>
  spec.security.readOnlyRootFilesystem && !spec.mounts.some((mount) => mount.target === "/tmp")

/**
 * Options for a tmpfs at /tmp: anyone may create files, nobody another's, no devices or setuid.
 *
 * @example
 * ```ts
 * import { ContainerSpec } from "@duende/platform-container/adapter"
 *
 * `--tmpfs=/tmp:${ContainerSpec.tmpOptions.join(",")}` // "--tmpfs=/tmp:rw,nosuid,nodev,mode=1777"
 * ```
 *
 * @since 0.1.0
 */
export const tmpOptions: ReadonlyArray<string> = ["rw", "nosuid", "nodev", "mode=1777"]

/**
 * A capability as engines' `--cap-add`/`CapAdd` spell it: without `CAP_`.
 *
 * @example
 * ```ts
 * import { ContainerSpec } from "@duende/platform-container/adapter"
 *
 * ContainerSpec.engineCapability("CAP_NET_BIND_SERVICE") // "NET_BIND_SERVICE"
 * ```
 *
 * @since 0.1.0
 */
export const engineCapability = (name: string): string => name.replace(/^CAP_/, "")
