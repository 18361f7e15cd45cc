/**
 * A container spec as `podman run`/`docker run` (or `create`) arguments: an
 * argv array, run without a shell. Every option is written `--flag=value`
 * so no value can be read as another option, the daemon's command follows
 * the image, and the entrypoint is set to the daemon's program so the
 * image's ENTRYPOINT cannot wrap it. {@link toShell} quotes an argv for
 * people who want to paste it.
 *
 * Locked down by default (`ContainerSpec.Security`): `--user` always (65534:65534
 * unless the config names one), `--cap-drop=ALL` then a `--cap-add` per
 * listed capability, `--security-opt=no-new-privileges`, `--read-only` with
 * `--tmpfs=/tmp`; the engines mask kernel paths themselves, and the opt-out
 * unmasks them (`unmask=ALL` for podman, `systempaths=unconfined` for docker).
 *
 * Podman's `--env` turns "\r\n" in a value into "\n": for podman, a value
 * with one is refused, naming the variable.
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

/**
 * Options of {@link render}.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly engine: "podman" | "docker"
  /** "run" (detached) or "create" (start it later). */
  readonly verb: "run" | "create"
  /** Podman's `--init-path` (the init binary on the host) when the spec asks for an init. */
  readonly initPath?: string | undefined
}


/**
 * The arguments after the executable (`podman`/`docker`).
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 * import { ContainerSection, ContainerSpec, RunArgs } from "@duende/platform-container/adapter"
 * import { Either } from "effect"
 * import { execFileSync } from "node:child_process"
 *
 * const spec = Either.getOrThrow(ContainerSpec.make(decodeSync({ name: "api", command: ["node", "/app/main.js"] }), {
 *   id: "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d",
 *   section: Either.getOrThrow(ContainerSection.decode({ image: "localhost/api:1" }))
 * }))
 * const argv = Either.getOrThrow(RunArgs.render(spec, { engine: "podman", verb: "run" }))
 * execFileSync("podman", argv) // no shell: each value is one argument
 * ```
 *
 * @since 0.1.0
 */
export const render = (spec: ContainerSpec, options: Options): Either.Either<ReadonlyArray<string>, string> => {
  if (spec.image === undefined) return Either.left(`${options.engine} needs platform.container.image`)
  const crlf = options.engine === "podman" ? crlfProblem(spec, "podman run") : undefined
  if (crlf !== undefined) return Either.left(crlf)
  const args: Array<string> = [options.verb]
  const add = (flag: string, value: string | number) => args.push(`--${flag}=${value}`)
  if (options.verb === "run") args.push("--detach")
  add("name", spec.name)
  for (const [key, value] of Object.entries(spec.labels)) add("label", `${key}=${value}`)
  for (const [key, value] of spec.env) add("env", `${key}=${value}`)
  if (spec.workingDirectory !== undefined) add("workdir", spec.workingDirectory)
  add("user", userOption(spec))
  const { security } = spec
  add("cap-drop", "ALL")
  for (const capability of security.capabilities) add("cap-add", engineCapability(capability))
  if (security.noNewPrivileges) add("security-opt", "no-new-privileges")
  if (!security.protectKernelPaths) {
    add("security-opt", options.engine === "podman" ? "unmask=ALL" : "systempaths=unconfined")
  }
  if (security.readOnlyRootFilesystem) args.push("--read-only")
  if (scratchTmp(spec)) add("tmpfs", `/tmp:${tmpOptions.join(",")}`)
  const { resources } = spec
  if (resources.memory !== undefined) add("memory", resources.memory)
  if (resources.lockMemory) {
    // Kept out of swap: memory+swap equal to memory, and no swapping of the group's pages.
    add("memory-swappiness", 0)
    if (resources.memory !== undefined) add("memory-swap", resources.memory)
  } else if (resources.memory !== undefined && resources.memorySwap !== undefined) {
    add("memory-swap", resources.memory + resources.memorySwap)
  }
  if (resources.cpuQuota !== undefined) add("cpus", Number((resources.cpuQuota / 100).toFixed(3)))
  if (resources.cpuWeight !== undefined) add("cpu-shares", cpuShares(resources.cpuWeight))
  if (resources.pidsMax !== undefined) add("pids-limit", resources.pidsMax)
  if (resources.openFilesMax !== undefined) add("ulimit", `nofile=${resources.openFilesMax}:${resources.openFilesMax}`)
  if (resources.lockMemory) add("ulimit", "memlock=-1:-1")
  if (spec.network !== undefined) add("network", spec.network)
  for (const port of spec.ports) {
    const host = port.host === undefined ? "" : `${port.hostIp !== undefined ? `${bracket(port.hostIp)}:` : ""}${port.host}:`
    add("publish", `${host}${port.container}/${port.protocol}`)
  }
  for (const mount of spec.mounts) {
    add(
      "mount",
      mount.type === "tmpfs"
        ? `type=tmpfs,target=${mount.target}${mount.readOnly ? ",readonly" : ""}`
        : `type=bind,source=${mount.source},target=${mount.target}${mount.readOnly ? ",readonly" : ""}`
    )
  }
  if (spec.init) {
    args.push("--init")
    if (options.engine === "podman" && options.initPath !== undefined) add("init-path", options.initPath)
  }
  add(
    "restart",
    spec.restart.name === "on-failure" && spec.restart.maxRetries !== undefined
      ? `on-failure:${spec.restart.maxRetries}`
      : spec.restart.name
  )
  add("stop-signal", spec.stopSignal)
  add("stop-timeout", stopSeconds(spec.stopTimeoutMs))
  const health = spec.healthcheck
  if (health !== undefined) {
    // Podman takes the exec form as a JSON array; the docker CLI only has the shell form.
    add("health-cmd", options.engine === "podman" ? JSON.stringify(health.command) : toShell(health.command))
    add("health-interval", goDuration(health.intervalMs))
    add("health-timeout", goDuration(health.timeoutMs))
    add("health-retries", health.retries)
    add("health-start-period", goDuration(health.startPeriodMs))
  } else {
    args.push("--no-healthcheck")
  }
  add("entrypoint", options.engine === "podman" ? JSON.stringify([spec.program]) : spec.program)
  args.push(spec.image, ...spec.args)
  return Either.right(args)
}

const bracket = (ip: string) => (ip.includes(":") ? `[${ip}]` : ip)

const safeWord = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * An argv as one POSIX shell line, each word single-quoted when it needs it.
 *
 * @example
 * ```ts
 * import { RunArgs } from "@duende/platform-container/adapter"
 *
 * RunArgs.toShell(["podman", "run", "--env=GREETING=hello world"]) // "podman run '--env=GREETING=hello world'"
 * ```
 *
 * @since 0.1.0
 */
export const toShell = (argv: ReadonlyArray<string>): string =>
  argv.map((word) => (safeWord.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(" ")
