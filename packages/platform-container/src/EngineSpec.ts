/**
 * A container spec as the body of the Docker Engine API's `POST
 * /containers/create` (also served by `podman system service`): Entrypoint
 * and Cmd (the daemon's real command), Env, WorkingDir, User, Labels
 * (`duende.daemon.id`, `duende.daemon.version`, `duende.daemon.name`),
 * StopSignal/StopTimeout, an exec-form Healthcheck from the health config,
 * and HostConfig with RestartPolicy, Memory, MemorySwap, NanoCpus,
 * CpuShares, PidsLimit, Ulimits, Mounts, NetworkMode, PortBindings and Init.
 *
 * Locked down by default (`ContainerSpec.Security`): User always (65534:65534
 * unless the config names one), CapDrop ALL and CapAdd only what is listed,
 * SecurityOpt no-new-privileges, ReadonlyRootfs with a Tmpfs at /tmp; the
 * engine masks kernel paths itself, and the opt-out sends empty MaskedPaths
 * and ReadonlyPaths (what `systempaths=unconfined` does).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { type ContainerSpec, cpuShares, engineCapability, scratchTmp, stopSeconds, tmpOptions, userOption } from "./ContainerSpec.js"

const nanos = (ms: number) => Math.round(ms * 1_000_000)

/**
 * The create body of a container.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { ContainerSection, ContainerSpec, EngineSpec } from "@duende/platform-container/adapter"
 * import { Either } from "effect"
 *
 * const spec = Either.getOrThrow(ContainerSpec.make(decodeSync({ name: "api", command: ["node", "/app/main.js"] }), {
 *   id: "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d",
 *   section: Either.getOrThrow(ContainerSection.decode({ image: "localhost/api:1" }))
 * }))
 * const body = JSON.stringify(Either.getOrThrow(EngineSpec.render(spec)))
 * // POST /containers/create?name=duende-api with this body
 * ```
 *
 * @since 0.1.0
 */
export const render = (spec: ContainerSpec): Either.Either<Record<string, unknown>, string> => {
  if (spec.image === undefined) return Either.left("the Docker Engine API needs platform.container.image")
  const { resources, security } = spec
  const ulimits: Array<Record<string, unknown>> = []
  if (resources.openFilesMax !== undefined) {
    ulimits.push({ Name: "nofile", Soft: resources.openFilesMax, Hard: resources.openFilesMax })
  }
  if (resources.lockMemory) ulimits.push({ Name: "memlock", Soft: -1, Hard: -1 })
  const exposed: Record<string, Record<string, never>> = {}
  const bindings: Record<string, Array<Record<string, string>>> = {}
  for (const port of spec.ports) {
    const key = `${port.container}/${port.protocol}`
    exposed[key] = {}
    if (port.host !== undefined) {
      bindings[key] = [...(bindings[key] ?? []), { HostIp: port.hostIp ?? "", HostPort: String(port.host) }]
    }
  }
  const health = spec.healthcheck
  const hostConfig: Record<string, unknown> = {
    RestartPolicy: {
      Name: spec.restart.name,
      MaximumRetryCount: spec.restart.name === "on-failure" ? spec.restart.maxRetries ?? 0 : 0
    },
    Mounts: spec.mounts.map((mount) =>
      mount.type === "tmpfs"
        ? { Type: "tmpfs", Target: mount.target, ReadOnly: mount.readOnly }
        : { Type: "bind", Source: mount.source, Target: mount.target, ReadOnly: mount.readOnly }
    ),
    Init: spec.init,
    ...(resources.memory !== undefined ? { Memory: resources.memory } : {}),
    ...(resources.lockMemory
      ? { MemorySwappiness: 0, ...(resources.memory !== undefined ? { MemorySwap: resources.memory } : {}) }
      : resources.memory !== undefined && resources.memorySwap !== undefined
      ? { MemorySwap: resources.memory + resources.memorySwap }
      : {}),
    ...(resources.cpuQuota !== undefined ? { NanoCpus: Math.round((resources.cpuQuota / 100) * 1e9) } : {}),
    ...(resources.cpuWeight !== undefined ? { CpuShares: cpuShares(resources.cpuWeight) } : {}),
    ...(resources.pidsMax !== undefined ? { PidsLimit: resources.pidsMax } : {}),
    ...(ulimits.length > 0 ? { Ulimits: ulimits } : {}),
    CapDrop: ["ALL"],
    CapAdd: security.capabilities.map(engineCapability),
    SecurityOpt: security.noNewPrivileges ? ["no-new-privileges"] : [],
    ReadonlyRootfs: security.readOnlyRootFilesystem,
    ...(scratchTmp(spec) ? { Tmpfs: { "/tmp": tmpOptions.join(",") } } : {}),
    ...(security.protectKernelPaths ? {} : { MaskedPaths: [], ReadonlyPaths: [] }),
    ...(spec.network !== undefined ? { NetworkMode: spec.network } : {}),
    ...(Object.keys(bindings).length > 0 ? { PortBindings: bindings } : {})
  }
  return Either.right({
    Image: spec.image,
    Entrypoint: [spec.program],
    Cmd: [...spec.args],
    Env: spec.env.map(([key, value]) => `${key}=${value}`),
    ...(spec.workingDirectory !== undefined ? { WorkingDir: spec.workingDirectory } : {}),
    User: userOption(spec),
    Labels: { ...spec.labels },
    StopSignal: spec.stopSignal,
    StopTimeout: stopSeconds(spec.stopTimeoutMs),
    Healthcheck: health === undefined ? { Test: ["NONE"] } : {
      Test: ["CMD", ...health.command],
      Interval: nanos(health.intervalMs),
      Timeout: nanos(health.timeoutMs),
      Retries: health.retries,
      StartPeriod: nanos(health.startPeriodMs)
    },
    ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
    HostConfig: hostConfig
  })
}
