/**
 * A container spec as a compose service (docker compose, podman-compose):
 * image, entrypoint and command (the daemon's real command), environment,
 * user, limits, ulimits, network, ports, volumes, init, restart, stop signal
 * and grace period, an exec-form healthcheck and the Duende labels. Written
 * as YAML whose every string is double-quoted, so no value can add a key.
 *
 * Compose interpolates `$VAR` and `${VAR}` in every value of the file, so
 * every `$` of every string is written `$$`, which interpolation turns back
 * into one `$`: the process sees exactly the configured bytes. An env value
 * with "\r\n" is refused, naming the variable: podman-compose passes values
 * to podman's `--env`, which turns it into "\n".
 *
 * Locked down by default (`ContainerSpec.Security`): `user` always
 * (65534:65534 unless the config names one), `cap_drop: [ALL]` and `cap_add`
 * only what is listed, `security_opt: [no-new-privileges]`, `read_only` with
 * a tmpfs at /tmp; the engines mask kernel paths themselves, and the opt-out
 * adds `systempaths=unconfined` (docker compose; podman takes it too).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import {
  type ContainerSpec,
  cpuShares,
  engineCapability,
  goDuration,
  scratchTmp,
  stopSeconds,
  tmpOptions,
  userOption
} from "./ContainerSpec.js"
import { crlfProblem } from "./internal/podmanEnv.js"
import { stringify, type Value } from "./internal/yaml.js"

/**
 * A string as compose must see it to give it back unchanged after
 * interpolation: each `$` doubled.
 *
 * @example
 * ```ts
 * import { ComposeService } from "@duende/platform-container/adapter"
 *
 * ComposeService.escape("price: $5 ${HOME}") // "price: $$5 $${HOME}"
 * ```
 *
 * @since 0.1.0
 */
export const escape = (text: string): string => text.replaceAll("$", () => "$$")

// Keys are service names, env names and label names: none can hold a "$" (and compose does not interpolate keys).
const escapeAll = (value: Value): Value =>
  typeof value === "string"
    ? escape(value)
    : Array.isArray(value)
    ? (value as ReadonlyArray<Value>).map(escapeAll)
    : typeof value === "object"
    ? Object.fromEntries(Object.entries(value).map(([key, child]) => [key, escapeAll(child)]))
    : value

/**
 * The service as a plain object (the `services.<name>` entry), as written in
 * the file: every `$` already doubled (see {@link escape}).
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
  const crlf = crlfProblem(spec, "podman-compose")
  if (crlf !== undefined) return Either.left(crlf)
  const { resources } = spec
  const out: Record<string, Value> = {
    image: spec.image,
    container_name: spec.name,
    entrypoint: [spec.program],
    command: [...spec.args],
    environment: Object.fromEntries(spec.env)
  }
  if (spec.workingDirectory !== undefined) out.working_dir = spec.workingDirectory
  out.user = userOption(spec)
  const { security } = spec
  out.cap_drop = ["ALL"]
  if (security.capabilities.length > 0) out.cap_add = security.capabilities.map(engineCapability)
  const securityOpt = [
    ...(security.noNewPrivileges ? ["no-new-privileges"] : []),
    ...(security.protectKernelPaths ? [] : ["systempaths=unconfined"])
  ]
  if (securityOpt.length > 0) out.security_opt = securityOpt
  if (security.readOnlyRootFilesystem) out.read_only = true
  if (scratchTmp(spec)) out.tmpfs = [`/tmp:${tmpOptions.join(",")}`]
  if (resources.memory !== undefined) out.mem_limit = resources.memory
  if (resources.lockMemory) {
    out.mem_swappiness = 0
    if (resources.memory !== undefined) out.memswap_limit = resources.memory
  } else if (resources.memory !== undefined && resources.memorySwap !== undefined) {
    out.memswap_limit = resources.memory + resources.memorySwap
  }
  if (resources.cpuQuota !== undefined) out.cpus = Number((resources.cpuQuota / 100).toFixed(3))
  if (resources.cpuWeight !== undefined) out.cpu_shares = cpuShares(resources.cpuWeight)
  if (resources.pidsMax !== undefined) out.pids_limit = resources.pidsMax
  const ulimits: Record<string, Value> = {}
  if (resources.openFilesMax !== undefined) {
    ulimits.nofile = { soft: resources.openFilesMax, hard: resources.openFilesMax }
  }
  if (resources.lockMemory) ulimits.memlock = { soft: -1, hard: -1 }
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
  return Either.right(escapeAll(out) as { readonly [key: string]: Value })
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
