/**
 * A container spec as an OCI runtime-spec bundle `config.json` for runc and
 * crun: the process (the daemon's real command, env, cwd, uid/gid,
 * capabilities, rlimits), the root filesystem, mounts, namespaces, and cgroup
 * resources (memory, swap, CPU quota and shares, pids). With `init`, the init
 * binary is bound into the container and runs as PID 1 in front of the
 * daemon.
 *
 * Locked down by default (`ContainerSpec.Security`): uid/gid 65534 unless the
 * config names a user, empty capability sets, `noNewPrivileges`, a read-only
 * root with tmpfs mounts at /tmp and /run, {@link maskedPaths} and
 * {@link readonlyPaths}.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { type ContainerSpec, cpuShares } from "./ContainerSpec.js"
import { resolveIds } from "./internal/accounts.js"
import { type HostLayout, hostLayout } from "./internal/hostRootfs.js"

/**
 * Where the init binary is bound inside the container; its name is what
 * `ContainerEnvironment.checkInit` sees as PID 1.
 *
 * @since 0.1.0
 */
export const initTarget = "/run/duende-init"

/**
 * Init binaries looked for on the host, in order: static tini first (it runs in any root).
 *
 * @since 0.1.0
 */
export const initCandidates: ReadonlyArray<string> = [
  "/usr/bin/tini-static",
  "/usr/bin/tini",
  "/usr/libexec/podman/catatonit",
  "/usr/bin/catatonit",
  "/usr/libexec/docker/docker-init",
  "/usr/bin/docker-init"
]

/**
 * The first init binary installed on this host, if any.
 *
 * @example
 * ```ts
 * import { OciSpec } from "@duende/platform-container/adapter"
 *
 * const init = OciSpec.findInit() // "/usr/bin/tini-static" where tini is installed
 * ```
 *
 * @since 0.1.0
 */
export const findInit = (): string | undefined => initCandidates.find((candidate) => existsSync(candidate))

/**
 * The host side of a bundle, found by {@link context}.
 *
 * @since 0.1.0
 */
export interface Context {
  /** `root.path`: "rootfs" (inside the bundle) for the host layout, else the section's rootfs. */
  readonly rootPath: string
  /** For the "host" root: what to bind and which symlinks the empty root needs. */
  readonly host: HostLayout | undefined
  readonly uid: number
  readonly gid: number
  /** The init binary on the host (needed when the spec asks for an init). */
  readonly initPath: string | undefined
}

/**
 * The paths masked when kernel paths are protected (`protectKernelPaths`, the
 * default): what runc's own default spec masks, and powercap (energy counters
 * that leak what other processes compute).
 *
 * @example
 * ```ts
 * import { OciSpec } from "@duende/platform-container/adapter"
 *
 * OciSpec.maskedPaths.includes("/proc/kcore") // true
 * ```
 *
 * @since 0.1.0
 */
export const maskedPaths: ReadonlyArray<string> = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
  "/proc/scsi"
]

/**
 * The paths made read-only when kernel paths are protected.
 *
 * @example
 * ```ts
 * import { OciSpec } from "@duende/platform-container/adapter"
 *
 * OciSpec.readonlyPaths.includes("/proc/sys") // true
 * ```
 *
 * @since 0.1.0
 */
export const readonlyPaths: ReadonlyArray<string> = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

/**
 * Finds the host side of a bundle: the root (the host layout for "host" or
 * no rootfs), numeric ids for the spec's user and group (from the root's
 * /etc), and the init binary.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { ContainerSection, ContainerSpec, OciSpec } from "@duende/platform-container/adapter"
 * import { Either } from "effect"
 *
 * const spec = Either.getOrThrow(ContainerSpec.make(decodeSync({ name: "api", command: ["node", "/app/main.js"] }), {
 *   id: "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d",
 *   section: Either.getOrThrow(ContainerSection.decode({ image: "localhost/api:1" }))
 * }))
 * const context = Either.getOrThrow(OciSpec.context(spec, { initPath: "/usr/bin/tini-static" }))
 * context.rootPath // "rootfs": an empty root with the host's /usr and /etc bound into it
 * ```
 *
 * @since 0.1.0
 */
export const context = (
  spec: ContainerSpec,
  options: { readonly initPath?: string | undefined } = {}
): Either.Either<Context, string> => {
  if (spec.network === "bridge") {
    return Either.left(`network "bridge": runc and crun have no networking of their own; use "none" or "host"`)
  }
  if (spec.ports.length > 0 && spec.network !== "host") {
    return Either.left(`ports: runc and crun cannot publish ports; use network "host", or podman or docker`)
  }
  const hostRoot = spec.rootfs === undefined || spec.rootfs === "host"
  const etc = hostRoot ? "/etc" : join(spec.rootfs!, "etc")
  const ids = resolveIds(etc, spec.user, spec.group)
  if (typeof ids === "string") return Either.left(ids)
  if (spec.init && options.initPath === undefined) {
    return Either.left("init: no init binary found (install tini, or give the adapter initPath)")
  }
  return Either.right({
    rootPath: hostRoot ? "rootfs" : spec.rootfs!,
    host: hostRoot ? hostLayout() : undefined,
    uid: ids.uid,
    gid: ids.gid,
    initPath: spec.init ? options.initPath : undefined
  })
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/**
 * The OCI runtime spec (`config.json`) of a container.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { ContainerSection, ContainerSpec, OciSpec } from "@duende/platform-container/adapter"
 * import { Either } from "effect"
 * import { writeFileSync } from "node:fs"
 *
 * const spec = Either.getOrThrow(ContainerSpec.make(decodeSync({ name: "api", command: ["node", "/app/main.js"] }), {
 *   id: "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d",
 *   section: Either.getOrThrow(ContainerSection.decode({ image: "localhost/api:1" }))
 * }))
 * const config = OciSpec.render(spec, Either.getOrThrow(OciSpec.context(spec)))
 * writeFileSync("/var/lib/duende/api/bundle/config.json", JSON.stringify(config, null, 2))
 * ```
 *
 * @since 0.1.0
 */
export const render = (spec: ContainerSpec, context: Context): Record<string, unknown> => {
  const { resources } = spec
  const env = spec.env.some(([key]) => key === "PATH") ? spec.env : [["PATH", defaultPath] as const, ...spec.env]
  const { security } = spec
  // Ambient (with inheritable) is what lets a user other than root keep a capability across exec.
  const capabilities = security.capabilities
  const rlimits: Array<Record<string, unknown>> = []
  if (resources.openFilesMax !== undefined) {
    rlimits.push({ type: "RLIMIT_NOFILE", hard: resources.openFilesMax, soft: resources.openFilesMax })
  }
  if (resources.lockMemory) {
    rlimits.push({ type: "RLIMIT_MEMLOCK", hard: Number.MAX_SAFE_INTEGER, soft: Number.MAX_SAFE_INTEGER })
  }

  const mounts: Array<Record<string, unknown>> = [
    { destination: "/proc", type: "proc", source: "proc" },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
    },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
    { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=755"] },
    { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] }
  ]
  for (const path of context.host?.binds ?? []) {
    mounts.push({ destination: path, type: "bind", source: path, options: ["rbind", "ro", "nosuid", "nodev"] })
  }
  for (const mount of spec.mounts) {
    mounts.push(
      mount.type === "tmpfs"
        ? {
          destination: mount.target,
          type: "tmpfs",
          source: "tmpfs",
          options: ["nosuid", "nodev", "mode=1777", ...(mount.readOnly ? ["ro"] : [])]
        }
        : { destination: mount.target, type: "bind", source: mount.source, options: ["rbind", mount.readOnly ? "ro" : "rw"] }
    )
  }
  if (context.initPath !== undefined) {
    mounts.push({ destination: initTarget, type: "bind", source: context.initPath, options: ["bind", "ro"] })
  }

  const namespaces: Array<Record<string, string>> = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }]
  if (spec.network !== "host") namespaces.push({ type: "network" })

  const memory: Record<string, number> = {}
  if (resources.memory !== undefined) memory.limit = resources.memory
  if (resources.lockMemory) {
    // Kept out of swap: memory+swap equal to memory, and no swapping of the group's pages.
    memory.swappiness = 0
    if (resources.memory !== undefined) memory.swap = resources.memory
  } else if (resources.memory !== undefined && resources.memorySwap !== undefined) {
    memory.swap = resources.memory + resources.memorySwap
  }
  const cpu: Record<string, number> = {}
  if (resources.cpuWeight !== undefined) cpu.shares = cpuShares(resources.cpuWeight)
  if (resources.cpuQuota !== undefined) {
    cpu.period = 100_000
    cpu.quota = Math.max(1000, Math.round(resources.cpuQuota * 1000))
  }

  const args = context.initPath !== undefined ? [initTarget, "--", spec.program, ...spec.args] : [spec.program, ...spec.args]
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: context.uid, gid: context.gid },
      args,
      env: env.map(([key, value]) => `${key}=${value}`),
      cwd: spec.workingDirectory ?? "/",
      capabilities: {
        bounding: capabilities,
        effective: capabilities,
        permitted: capabilities,
        inheritable: capabilities,
        ambient: capabilities
      },
      ...(rlimits.length > 0 ? { rlimits } : {}),
      noNewPrivileges: security.noNewPrivileges
    },
    root: { path: context.rootPath, readonly: security.readOnlyRootFilesystem },
    hostname: spec.name.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 63),
    mounts,
    annotations: spec.labels,
    linux: {
      cgroupsPath: `/duende-${spec.daemon.id}`,
      resources: {
        devices: [{ allow: false, access: "rwm" }],
        ...(Object.keys(memory).length > 0 ? { memory } : {}),
        ...(Object.keys(cpu).length > 0 ? { cpu } : {}),
        ...(resources.pidsMax !== undefined ? { pids: { limit: resources.pidsMax } } : {})
      },
      namespaces,
      ...(security.protectKernelPaths ? { maskedPaths, readonlyPaths } : {})
    }
  }
}
