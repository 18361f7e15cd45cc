/**
 * A `DaemonConfig` as systemd units: a `.service` (Type=notify, or
 * notify-reload on systemd ≥ 253), and a `.socket` when socket activation is
 * configured. The command runs by absolute paths resolved at render time (the
 * program from PATH, and for Node the script), so a unit never depends on the
 * PATH of the boot environment (PM2's nvm breakage). Limits map to cgroup
 * settings, the restart policy to Restart=/RestartSec=/StartLimit…, the
 * shutdown timeout to TimeoutStopSec=, and hardening is on by default.
 *
 * The same directives feed unit files and `systemd-run` (transient units): a
 * file escapes `%` where systemd expands specifiers, `systemd-run` does not.
 *
 * @since 0.1.0
 */
import type { DaemonConfig, DaemonId } from "@duende/core"
import type { PlatformAdapter } from "@duende/core/manager"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { statSync } from "node:fs"
import { basename, isAbsolute, join, resolve } from "node:path"
import * as Hardening from "./internal/hardening.js"
import type { SystemdSection } from "./SystemdSection.js"
import { defaults as sectionDefaults } from "./SystemdSection.js"
import * as UnitFile from "./UnitFile.js"

/**
 * A config that cannot become a unit: a program not found, a value no unit
 * file can hold, a setting the scope does not allow.
 *
 * @example
 * ```ts
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 *
 * const error = new SystemdUnit.UnitRenderError({ name: "api", reason: "\"api-server\" is not an executable on PATH" })
 * error.message // cannot render the systemd unit of "api": "api-server" is not an executable on PATH
 * ```
 *
 * @since 0.1.0
 */
export class UnitRenderError extends Data.TaggedError("UnitRenderError")<{
  readonly name: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot render the systemd unit of "${this.name}": ${this.reason}`
  }
}

/**
 * One directive. `value` is as `systemd-run -p` takes it; in a unit file `%`
 * is doubled when `specifiers` (the directive expands them). `transient` is
 * the `systemd-run` spelling when it differs; `null` when it has none there.
 *
 * @since 0.1.0
 */
export interface Directive {
  readonly section: "Unit" | "Service" | "Socket" | "Install" | "X-Duende"
  readonly key: string
  readonly value: string
  readonly specifiers: boolean
  readonly transient?: string | null
}

/**
 * One unit: its name ("api.service") and directives in order.
 *
 * @since 0.1.0
 */
export interface Unit {
  readonly name: string
  readonly directives: ReadonlyArray<Directive>
}

/**
 * The units of a daemon.
 *
 * @since 0.1.0
 */
export interface Units {
  readonly service: Unit
  readonly socket: Unit | undefined
  /** The command line as it runs (absolute program, resolved script). */
  readonly argv: ReadonlyArray<string>
  readonly environment: ReadonlyArray<readonly [string, string]>
  readonly workingDirectory: string
}

/**
 * Where paths are resolved: the machine the unit runs on, seen from here.
 *
 * @since 0.1.0
 */
export interface Host {
  /** The target's root directory as seen from here ("/", or /proc/<pid>/root of a container). */
  readonly root: string
  /** PATH to find the program in. */
  readonly path: string
  /** The directory a relative workingDirectory is resolved against. */
  readonly cwd: string
  /** The node binary to use when "node" is not on PATH. */
  readonly execPath: string
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly scope: "system" | "user"
  /** The systemd version the unit is for (see `Systemctl.version`). */
  readonly version: number
  /** The systemd settings; by default the config's own `platform.systemd`. */
  readonly systemd?: SystemdSection
  /** Recorded in the unit as `[X-Duende] Id=`. */
  readonly id?: DaemonId.DaemonId
  readonly host?: Partial<Host>
}

/**
 * The first systemd version with Type=notify-reload.
 *
 * @example
 * ```ts
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 *
 * const reloadType = (version: number) => (version >= SystemdUnit.notifyReloadSince ? "notify-reload" : "notify")
 * ```
 *
 * @since 0.1.0
 */
export const notifyReloadSince = 253

/**
 * The first systemd version with RestartSteps= and RestartMaxDelaySec=.
 *
 * @example
 * ```ts
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 *
 * const hasBackoff = (version: number) => version >= SystemdUnit.restartStepsSince
 * ```
 *
 * @since 0.1.0
 */
export const restartStepsSince = 254

/**
 * The host of this process.
 *
 * @example
 * ```ts
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 *
 * const host = SystemdUnit.localHost()
 * ```
 *
 * @since 0.1.0
 */
export const localHost = (): Host => ({
  root: "/",
  path: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
  cwd: process.cwd(),
  execPath: process.execPath
})

/**
 * The unit base name of a daemon: `systemd.unit` if set, else its name.
 *
 * @example
 * ```ts
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 *
 * SystemdUnit.baseName("api", { type: "notify", hardening: {}, readWritePaths: [], capabilities: [], unit: "acme-api" }) // "acme-api"
 * ```
 *
 * @since 0.1.0
 */
export const baseName = (name: string, systemd: SystemdSection = sectionDefaults): string => systemd.unit ?? name

const isExecutable = (path: string) => {
  try {
    const stat = statSync(path)
    return stat.isFile() && (stat.mode & 0o111) !== 0
  } catch {
    return false
  }
}

const findProgram = (program: string, host: Host, workingDirectory: string): string | undefined => {
  if (program.includes("/")) return resolve(workingDirectory, program)
  for (const dir of host.path.split(":")) {
    if (!isAbsolute(dir)) continue
    const candidate = join(dir, program)
    if (isExecutable(join(host.root, candidate))) return candidate
  }
  if ((program === "node" || program === "nodejs") && isExecutable(join(host.root, host.execPath))) return host.execPath
  return undefined
}

// Node options whose value is the next argument.
const nodeOptionsWithValue = new Set([
  "-r",
  "--require",
  "--import",
  "--loader",
  "--experimental-loader",
  "-C",
  "--conditions",
  "--env-file",
  "--title",
  "--input-type",
  "--inspect-port",
  "--stack-trace-limit"
])
const nodeEval = new Set(["-e", "--eval", "-p", "--print", "-"])

/** Node's arguments with the script resolved against the working directory. */
const resolveNodeScript = (args: ReadonlyArray<string>, workingDirectory: string): ReadonlyArray<string> => {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (nodeEval.has(arg)) return args
    if (arg === "--") {
      const script = args[i + 1]
      return script === undefined ? args : [...args.slice(0, i + 1), resolve(workingDirectory, script), ...args.slice(i + 2)]
    }
    if (nodeOptionsWithValue.has(arg)) {
      i++
      continue
    }
    if (arg.startsWith("-")) continue
    return [...args.slice(0, i), resolve(workingDirectory, arg), ...args.slice(i + 1)]
  }
  return args
}

/** A time span systemd reads: whole seconds as "30s", else milliseconds. */
const timespan = (duration: Duration.Duration): string => {
  const ms = Math.max(0, Math.round(Duration.toMillis(duration)))
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

/** Free text for Description=: one line, no control characters, no trailing backslash. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
const oneLine = (text: string) =>
  text
    .replace(/[\0-\x1f\x7f]+/g, " ")
    .replace(loneSurrogate, "\uFFFD")
    .replace(/[ \t]+/g, " ")
    .replace(/^ +/, "")
    .replace(/[ \\]+$/, "")

const underHome = (path: string) => /^\/(?:home|root|run\/user)(?:\/|$)/.test(path)

/** The top directory under /tmp or /var/tmp a path lies in (`/tmp/build` for `/tmp/build/app/main.js`). */
const tmpRoot = (path: string) => /^\/(?:var\/)?tmp\/[^/]+/.exec(path)?.[0]

const restartValue: Record<DaemonConfig.RestartPolicyName, string> = {
  never: "no",
  "on-failure": "on-failure",
  always: "always",
  "unless-stopped": "always"
}

/**
 * Builds the units of a daemon.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 * import { Effect } from "effect"
 *
 * const units = DaemonConfig.decode({ name: "api", command: ["node", "server.js"], shutdownTimeout: "10s" }).pipe(
 *   Effect.flatMap((config) => SystemdUnit.make(config, { scope: "system", version: 252 }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (config: DaemonConfig.DaemonConfig, options: Options): Either.Either<Units, UnitRenderError> => {
  const fail = (reason: string) => Either.left(new UnitRenderError({ name: config.name, reason }))
  const host: Host = { ...localHost(), ...options.host }
  const systemd = options.systemd ?? config.platform.systemd ?? sectionDefaults
  const system = options.scope === "system"
  const base = baseName(config.name, systemd)
  const workingDirectory = resolve(host.cwd, config.workingDirectory ?? ".")
  const program = findProgram(config.command.program, host, workingDirectory)
  if (program === undefined) {
    return fail(`"${config.command.program}" is not an executable on PATH (${host.path}); give an absolute path`)
  }
  const isNode = /^(?:node|nodejs)$/.test(basename(program)) || program === host.execPath
  const args = isNode ? resolveNodeScript(config.command.args, workingDirectory) : config.command.args
  const argv = [program, ...args]
  if (!system && (config.user !== undefined || config.group !== undefined)) {
    return fail("a user service manager cannot switch user or group; drop user/group or use the system scope")
  }

  const directives: Array<Directive> = []
  const add = (section: Directive["section"], key: string, value: string, specifiers = false, transient?: string | null) =>
    directives.push(
      transient === undefined ? { section, key, value, specifiers } : { section, key, value, specifiers, transient }
    )

  // [Unit]
  const description = oneLine(config.description ?? `${config.name} (Duende daemon)`) || config.name
  add("Unit", "Description", description, true)
  if (system) add("Unit", "After", "network.target")
  if (systemd.socket !== undefined) {
    add("Unit", "Requires", `${base}.socket`, false, null)
    add("Unit", "After", `${base}.socket`, false, null)
  }
  // Daemons that must run first (by their default unit names); this one stops before them.
  for (const dependency of config.after) {
    add("Unit", "Requires", `${dependency}.service`, false, null)
    add("Unit", "After", `${dependency}.service`, false, null)
  }
  add("Unit", "StartLimitIntervalSec", timespan(config.restart.crashLoop.interval))
  // "more than burst restarts within the interval" = burst restarts after the first start.
  add("Unit", "StartLimitBurst", String(config.restart.crashLoop.burst + 1))

  // [Service]
  const notify = systemd.type === "notify"
  const notifyReload = notify && options.version >= notifyReloadSince
  add("Service", "Type", notifyReload ? "notify-reload" : systemd.type)
  if (notify) add("Service", "NotifyAccess", "main")
  const execStart = UnitFile.exec(argv)
  if (Either.isLeft(execStart)) return fail(`command: ${execStart.left.reason}`)
  add("Service", "ExecStart", execStart.right, true, null)
  if (notify && !notifyReload) {
    const kill = findProgram("kill", host, "/")
    if (kill === undefined) return fail(`no "kill" on PATH for ExecReload=`)
    add("Service", "ExecReload", `${Either.getOrThrow(UnitFile.exec([kill, "-s", "HUP"]))} $MAINPID`, true)
  }
  if (/[\0-\x1f\x7f]|[\\ ]$/.test(workingDirectory)) {
    return fail(
      `the working directory ${JSON.stringify(workingDirectory)} cannot be written in a unit ` +
        "(a control character, or a trailing space or backslash)"
    )
  }
  add("Service", "WorkingDirectory", workingDirectory, true, null)
  if (config.user !== undefined) add("Service", "User", config.user)
  if (config.group !== undefined) add("Service", "Group", config.group)
  const environment = Object.entries(config.env)
  for (const [name, value] of environment) {
    const assignment = UnitFile.environment(name, value)
    if (Either.isLeft(assignment)) return fail(`env.${name}: ${assignment.left.reason}`)
    add("Service", "Environment", assignment.right, true, null)
  }
  add("Service", "SyslogIdentifier", config.name)
  // Duende exits 143/130 after a graceful stop by SIGTERM/SIGINT: that is success, not a failure to restart.
  add("Service", "SuccessExitStatus", "130 143")
  add("Service", "Restart", restartValue[config.restart.policy])
  add("Service", "RestartSec", timespan(config.restart.backoff.initial))
  if (options.version >= restartStepsSince && config.restart.backoff.multiplier > 1) {
    const initial = Duration.toMillis(config.restart.backoff.initial)
    const max = Duration.toMillis(config.restart.backoff.max)
    if (initial > 0 && max > initial) {
      const steps = Math.ceil(Math.log(max / initial) / Math.log(config.restart.backoff.multiplier))
      add("Service", "RestartSteps", String(Math.min(Math.max(steps, 1), 3600)))
      add("Service", "RestartMaxDelaySec", timespan(config.restart.backoff.max))
    }
  }
  add("Service", "TimeoutStartSec", timespan(config.initTimeout))
  add("Service", "TimeoutStopSec", timespan(config.shutdownTimeout))
  if (config.watchdogInterval !== undefined) add("Service", "WatchdogSec", timespan(config.watchdogInterval))

  const limits = config.resources
  if (limits.memory !== undefined) add("Service", "MemoryMax", String(limits.memory))
  if (limits.memorySwap !== undefined) add("Service", "MemorySwapMax", String(limits.memorySwap))
  if (limits.cpuQuota !== undefined) add("Service", "CPUQuota", `${Math.round(limits.cpuQuota * 100) / 100}%`)
  if (limits.cpuWeight !== undefined) add("Service", "CPUWeight", String(limits.cpuWeight))
  const bandwidth = [["IOReadBandwidthMax", limits.ioReadBandwidth], ["IOWriteBandwidthMax", limits.ioWriteBandwidth]] as const
  for (const [key, bytes] of bandwidth) {
    if (bytes === undefined) continue
    // The block device behind the working directory's file system.
    const quoted = Either.getOrThrow(UnitFile.quote(workingDirectory))
    add("Service", key, `${quoted} ${bytes}`, true, /\s/.test(workingDirectory) ? null : `${workingDirectory} ${bytes}`)
  }
  if (limits.pidsMax !== undefined) add("Service", "TasksMax", String(limits.pidsMax))
  if (limits.openFilesMax !== undefined) add("Service", "LimitNOFILE", String(limits.openFilesMax))
  if (limits.lockMemory) add("Service", "LimitMEMLOCK", "infinity")

  const off = new Set<string>(systemd.hardening === false ? Hardening.directives : Object.keys(systemd.hardening))
  const settings = Hardening.settings({
    scope: options.scope,
    dynamicUser: config.user === undefined && config.group === undefined,
    needsHome: [workingDirectory, ...argv].some((p) => isAbsolute(p) && underHome(p)),
    capabilities: systemd.capabilities
  }, off)
  for (const { key, value } of settings) add("Service", key, value)
  // PrivateTmp= (which DynamicUser= implies) gives the service an empty /tmp: what it runs from
  // there (a checkout in /tmp/build, say) is bound in read-only, or the start fails at CHDIR/EXEC.
  if (settings.some(({ key }) => key === "PrivateTmp" || key === "DynamicUser")) {
    const roots = [...new Set([workingDirectory, ...argv].flatMap((p) => {
      const root = isAbsolute(p) ? tmpRoot(p) : undefined
      return root === undefined ? [] : [root]
    }))]
    const unbindable = roots.find((root) => !/^[A-Za-z0-9/._+@-]+$/.test(root))
    if (unbindable !== undefined) {
      return fail(
        `${unbindable} is under /tmp, which the unit's private /tmp hides, and its name cannot be bound in (use letters, digits, "._+@-"); move the daemon out of /tmp`
      )
    }
    if (roots.length > 0) add("Service", "BindReadOnlyPaths", roots.join(" "))
  }
  if (systemd.readWritePaths.length > 0) {
    const quoted = systemd.readWritePaths.map((p) => Either.getOrThrow(UnitFile.quote(p))).join(" ")
    add("Service", "ReadWritePaths", quoted, true)
  }

  // [Install]: with socket activation the socket is what starts at boot.
  if (systemd.socket === undefined) {
    add("Install", "WantedBy", system ? "multi-user.target" : "default.target", false, null)
  }
  add("X-Duende", "Name", config.name, false, null)
  if (options.id !== undefined) add("X-Duende", "Id", options.id, false, null)

  const service: Unit = { name: `${base}.service`, directives }
  let socket: Unit | undefined
  if (systemd.socket !== undefined) {
    const listenKey = systemd.socket.kind === "datagram"
      ? "ListenDatagram"
      : systemd.socket.kind === "sequential-packet"
      ? "ListenSequentialPacket"
      : "ListenStream"
    socket = {
      name: `${base}.socket`,
      directives: [
        { section: "Unit", key: "Description", value: `${description} (sockets)`, specifiers: true },
        ...systemd.socket.listen.map((address): Directive => ({
          section: "Socket",
          key: listenKey,
          value: address,
          specifiers: true
        })),
        ...(systemd.socket.name === undefined
          ? []
          : [{ section: "Socket", key: "FileDescriptorName", value: systemd.socket.name, specifiers: true } as const]),
        { section: "Install", key: "WantedBy", value: "sockets.target", specifiers: false }
      ]
    }
  }
  return Either.right({ service, socket, argv, environment, workingDirectory })
}

const sectionOrder: ReadonlyArray<Directive["section"]> = ["Unit", "Service", "Socket", "Install", "X-Duende"]

/**
 * A unit as a unit file model.
 *
 * @example
 * ```ts
 * import { SystemdUnit, UnitFile } from "@duende/platform-systemd/adapter"
 *
 * const file = SystemdUnit.toUnitFile({ name: "x.service", directives: [{ section: "Service", key: "Type", value: "notify", specifiers: false }] })
 * UnitFile.render(file)
 * ```
 *
 * @since 0.1.0
 */
export const toUnitFile = (unit: Unit): UnitFile.UnitFile => ({
  header: [`${unit.name}: written by Duende (@duende/platform-systemd). Edit the daemon's config, not this file.`],
  sections: sectionOrder
    .map((name) => ({
      name,
      entries: unit.directives.filter((d) => d.section === name).map((d) => ({
        key: d.key,
        value: d.specifiers ? UnitFile.escapeSpecifiers(d.value) : d.value
      }))
    }))
    .filter((section) => section.entries.length > 0)
})

/**
 * The text of a unit file.
 *
 * @example
 * ```ts
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 *
 * const text = SystemdUnit.text({ name: "x.service", directives: [{ section: "Service", key: "Type", value: "notify", specifiers: false }] })
 * ```
 *
 * @since 0.1.0
 */
export const text = (unit: Unit): Either.Either<string, UnitFile.UnitFileError> => UnitFile.render(toUnitFile(unit))

/**
 * The units as files (`api.service`, and `api.socket` with socket activation):
 * what `duende render systemd` prints and what the adapter installs.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 * import { Effect } from "effect"
 *
 * const program = DaemonConfig.load("duende.json").pipe(
 *   Effect.flatMap((config) => SystemdUnit.render(config, { scope: "system", version: 252 })),
 *   Effect.tap((artifacts) => Effect.forEach(artifacts, (a) => Effect.log(a.content)))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  options: Options
): Either.Either<ReadonlyArray<PlatformAdapter.Artifact>, UnitRenderError> =>
  Either.flatMap(make(config, options), (units) => {
    const artifacts: Array<PlatformAdapter.Artifact> = []
    for (const unit of units.socket === undefined ? [units.service] : [units.service, units.socket]) {
      const content = text(unit)
      if (Either.isLeft(content)) {
        return Either.left(new UnitRenderError({ name: config.name, reason: content.left.message }))
      }
      artifacts.push({ name: unit.name, kind: "systemd unit", content: content.right })
    }
    return Either.right(artifacts)
  })

/**
 * The `systemd-run` arguments that start the daemon as a transient unit with
 * the same settings: `--unit`, `-p` properties, `--setenv`,
 * `--working-directory`, `--socket-property` for socket activation, then the
 * command (`$` doubled, as systemd expands variables in transient commands
 * too). Directives with no transient spelling (install targets, a socket
 * dependency) are left out.
 *
 * @example
 * ```ts
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 * import { Either } from "effect"
 *
 * // units from SystemdUnit.make(config, options)
 * declare const units: SystemdUnit.Units
 * const argv = ["systemd-run", ...SystemdUnit.transientArguments(units)]
 * ```
 *
 * @since 0.1.0
 */
export const transientArguments = (units: Units): ReadonlyArray<string> => {
  const { service, socket } = units
  const type = service.directives.find((d) => d.key === "Type")?.value ?? "notify"
  const args = [`--unit=${service.name}`, `--service-type=${type}`, `--working-directory=${units.workingDirectory}`]
  for (const [name, value] of units.environment) args.push(`--setenv=${name}=${value}`)
  for (const d of service.directives) {
    if (d.key === "Type" || d.transient === null) continue
    args.push(`--property=${d.key}=${d.transient ?? d.value}`)
  }
  for (const d of socket?.directives ?? []) {
    if (d.section === "Socket") args.push(`--socket-property=${d.key}=${d.value}`)
  }
  args.push("--", ...units.argv.map((word) => word.replaceAll("$", "$$$$")))
  return args
}
