/**
 * A container spec as a compose service (docker compose, podman-compose):
 * image, entrypoint and command (the daemon's real command), environment,
 * user, limits, ulimits, network, ports, volumes, init, restart, stop signal
 * and grace period, an exec-form healthcheck and the Duende labels. Written
 * as YAML whose every string is double-quoted, so no value can add a key.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { type ContainerSpec, cpuShares, goDuration, stopSeconds, userOption } from "./ContainerSpec.js"
import { stringify, type Value } from "./internal/yaml.js"

/**
 * The service as a plain object (the `services.<name>` entry).
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { ContainerSection, ContainerSpec, ComposeService } from "@duende/platform-container/adapter"
 * import { Either } from "effect"
 *
 * const spec = Either.getOrThrow(ContainerSpec.make(decodeSync({ name: "api", command: ["node", "/app/main.js"] }), {
 *   id: "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d",
 *   section: Either.getOrThrow(ContainerSection.decode({ image: "localhost/api:1" }))
 * }))
 * const service = Either.getOrThrow(ComposeService.service(spec)) // { image: "localhost/api:1", ... }
 * ```
 *
 * @since 0.1.0
 */
export const service = (spec: ContainerSpec): Either.Either<{ readonly [key: string]: Value }, string> => {
  if (spec.image === undefined) return Either.left("a compose service needs platform.container.image")
  const { resources } = spec
  const out: Record<string, Value> = {
    image: spec.image,
    container_name: spec.name,
    entrypoint: [spec.program],
    command: [...spec.args],
    environment: Object.fromEntries(spec.env)
  }
  if (spec.workingDirectory !== undefined) out.working_dir = spec.workingDirectory
  if (spec.user !== undefined || spec.group !== undefined) out.user = userOption(spec)
  if (resources.memory !== undefined) out.mem_limit = resources.memory
  if (resources.memory !== undefined && resources.memorySwap !== undefined) {
    out.memswap_limit = resources.memory + resources.memorySwap
  }
  if (resources.cpuQuota !== undefined) out.cpus = Number((resources.cpuQuota / 100).toFixed(3))
  if (resources.cpuWeight !== undefined) out.cpu_shares = cpuShares(resources.cpuWeight)
  if (resources.pidsMax !== undefined) out.pids_limit = resources.pidsMax
  const ulimits: Record<string, Value> = {}
  if (resources.openFilesMax !== undefined) {
    ulimits.nofile = { soft: resources.openFilesMax, hard: resources.openFilesMax }
  }
  if (resources.lockMemory) {
    ulimits.memlock = { soft: -1, hard: -1 }
    out.cap_add = ["IPC_LOCK"]
  }
  if (Object.keys(ulimits).length > 0) out.ulimits = ulimits
  if (spec.network === "none" || spec.network === "host") out.network_mode = spec.network
  if (spec.ports.length > 0) {
    out.ports = spec.ports.map((port) => ({
      target: port.container,
      protocol: port.protocol,
      ...(port.host !== undefined ? { published: String(port.host) } : {}),
      ...(port.hostIp !== undefined ? { host_ip: port.hostIp } : {})
    }))
  }
  if (spec.mounts.length > 0) {
    out.volumes = spec.mounts.map((mount) =>
      mount.type === "tmpfs"
        ? { type: "tmpfs", target: mount.target, read_only: mount.readOnly }
        : { type: "bind", source: mount.source!, target: mount.target, read_only: mount.readOnly }
    )
  }
  if (spec.init) out.init = true
  out.restart = spec.restart.name === "on-failure" && spec.restart.maxRetries !== undefined
    ? `on-failure:${spec.restart.maxRetries}`
    : spec.restart.name
  out.stop_signal = spec.stopSignal
  out.stop_grace_period = `${stopSeconds(spec.stopTimeoutMs)}s`
  const health = spec.healthcheck
  out.healthcheck = health === undefined ? { disable: true } : {
    test: ["CMD", ...health.command],
    interval: goDuration(health.intervalMs),
    timeout: goDuration(health.timeoutMs),
    retries: health.retries,
    start_period: goDuration(health.startPeriodMs)
  }
  out.labels = { ...spec.labels }
  return Either.right(out)
}

/**
 * A compose file with the one service, as YAML.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { ContainerSection, ContainerSpec, ComposeService } from "@duende/platform-container/adapter"
 * import { Either } from "effect"
 * import { writeFileSync } from "node:fs"
 *
 * const spec = Either.getOrThrow(ContainerSpec.make(decodeSync({ name: "api", command: ["node", "/app/main.js"] }), {
 *   id: "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d",
 *   section: Either.getOrThrow(ContainerSection.decode({ image: "localhost/api:1" }))
 * }))
 * writeFileSync("compose.yaml", Either.getOrThrow(ComposeService.render(spec)))
 * ```
 *
 * @since 0.1.0
 */
export const render = (spec: ContainerSpec): Either.Either<string, string> =>
  Either.map(service(spec), (entry) => stringify({ services: { [spec.name]: entry } }))
