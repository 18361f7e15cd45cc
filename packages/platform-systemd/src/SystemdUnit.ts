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
 * A value that systemd would refuse, drop or read differently (a line or a
 * path longer than it loads, a time span it ignores, a lone surrogate…) is
 * refused with the config field named, never written.
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
import * as Checks from "./internal/checks.js"
import * as Hardening from "./internal/hardening.js"
import * as Limits from "./internal/limits.js"
import { show } from "./internal/show.js"
import type { SystemdSection } from "./SystemdSection.js"
import { defaults as sectionDefaults } from "./SystemdSection.js"
import * as UnitFile from "./UnitFile.js"

/**
 * A config that cannot become a unit: a program not found, a value no unit
 * file can hold or systemd would not read back exactly, a setting the scope
 * does not allow. `field` names the config field at fault when there is one
 * (`env.TOKEN`, `command.args[1]`, `platform.systemd.readWritePaths[0]`);
 * `reason` then starts with it.
 *
 * @example
 * ```ts
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 *
 * const error = new SystemdUnit.UnitRenderError({
 *   name: "api",
 *   field: "command.program",
 *   reason: "command.program: \"api-server\" is not an executable on PATH"
 * })
 * error.message // cannot render the systemd unit of "api": command.program: "api-server" is not an executable on PATH
 * ```
 *
 * @since 0.1.0
 */
export class UnitRenderError extends Data.TaggedError("UnitRenderError")<{
  readonly name: string
  readonly reason: string
  readonly field?: string
}> {
  override get message(): string {
    return `cannot render the systemd unit of ${show(this.name)}: ${this.reason}`
  }
}

/**
 * One directive. `value` is as `systemd-run -p` takes it; in a unit file `%`
 * is doubled when `specifiers` (the directive expands them). `transient` is
 * the `systemd-run` spelling when it differs; `null` when it has none there.
 * `field` is the config field the value comes from, if one does.
 *
 * @since 0.1.0
 */
export interface Directive {
  readonly section: "Unit" | "Service" | "Socket" | "Install" | "X-Duende"
  readonly key: string
  readonly value: string
  readonly specifiers: boolean
  readonly transient?: string | null
  readonly field?: string
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
  /** `api.service`; for a config with `instances`, the template `api@.service`. */
  readonly service: Unit
  readonly socket: Unit | undefined
  /**
   * For a config with `instances` (N above 1): `api.target`, which wants
   * `api@0.service` … `api@N-1.service` and is what starts at boot; each
   * instance is `PartOf=` it, so stopping or restarting it does all of them.
   */
  readonly target?: Unit | undefined
  /** The command line as it runs (absolute program, resolved script). */
  readonly argv: ReadonlyArray<string>
  /**
   * The command as `systemd-run` takes it after `--`: `$` doubled in the
   * arguments (systemd expands them in transient units too) but not in the
   * program path, which it runs verbatim; a program with a `$` in its path
   * runs through `sh -c 'exec "$0" "$@"'`, so its argv[0] stays exact.
   */
  readonly transientCommand: ReadonlyArray<string>
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

/**
 * A time span as systemd reads it exactly: an integer of seconds, milliseconds
 * or microseconds (systemd's resolution; a nonzero span below 1 µs is 1 µs,
 * never 0, which means "off" or "infinity" to several directives), or
 * `infinity`. `undefined` when systemd would not read it: above 2^63 − 1 µs.
 */
const timespan = (duration: Duration.Duration): string | undefined => {
  if (!Duration.isFinite(duration)) return "infinity"
  const nanos = Duration.unsafeToNanos(duration)
  const micros = nanos <= 0n ? 0n : nanos < 1000n ? 1n : (nanos + 500n) / 1000n
  if (micros > Limits.maxMicros) return undefined
  if (micros % 1_000_000n === 0n) return `${micros / 1_000_000n}s`
  if (micros % 1000n === 0n) return `${micros / 1000n}ms`
  return `${micros}us`
}

/** Free text for Description=: one line, no control characters or line separators, no trailing backslash. */
const oneLine = (text: string) =>
  text
    .replace(/[\0-\x1f\x7f-\x9f\u2028\u2029]+/g, " ")
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
 * What runs a program whose path systemd refuses as an executable (a quote, a
 * backslash, a control character in it): `sh -c 'exec "$0" "$@"' <program> <args…>`.
 * The shell replaces itself with the program at once, so the program is the
 * unit's main process with exactly its path as argv[0] and its arguments.
 */
const trampoline = "exec \"$0\" \"$@\""

const doubleDollars = (word: string) => word.replaceAll("$", "$$$$")

/**
 * Builds the units of a daemon. Every value is checked on the way: a config
 * that no unit can carry exactly (a path systemd would drop, a line longer
 * than it reads, a time span it would ignore, text with a lone surrogate…)
 * is refused with the field named, instead of being written.
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
export const make = (config: DaemonConfig.DaemonConfig, options: Options): Either.Either<Units, UnitRenderError> =>
  Either.gen(function*() {
    // (A config built by hand may lack even its name: the error must still be one.)
    const name = typeof config?.name === "string" ? config.name : String(config?.name)
    const refuse = (field: string | undefined, why: string) =>
      Either.left(
        new UnitRenderError(field === undefined ? { name, reason: why } : { name, reason: `${field}: ${why}`, field })
      )
    /** Refuses `field` when `problem` names one. */
    const check = (field: string, problem: string | undefined) =>
      problem === undefined ? Either.void : refuse(field, problem)

    // Core's own rules first (a config built by hand never went through its decoder).
    const invalid = Checks.configProblem(config)
    if (invalid !== undefined) return yield* refuse(invalid.field || undefined, invalid.message)
    const host: Host = { ...localHost(), ...options.host }
    const systemd = options.systemd ?? config.platform.systemd ?? sectionDefaults
    const badSection = Checks.sectionProblem(systemd)
    if (badSection !== undefined) return yield* refuse(badSection.field || undefined, badSection.message)
    const system = options.scope === "system"
    const base = baseName(config.name, systemd)
    // `instances`: a template unit, one instance per copy, all wanted by one target.
    if (config.instances === "max") {
      return yield* refuse("instances", `"max" is one per CPU of the machine it runs on, which a unit file cannot say; write a number`)
    }
    const copies = config.instances > 1 ? config.instances : undefined

    // The working directory: WorkingDirectory= takes it verbatim, no quoting.
    if (config.workingDirectory !== undefined) yield* check("workingDirectory", Checks.unwritable(config.workingDirectory))
    const workingDirectory = resolve(host.cwd, config.workingDirectory ?? ".")
    if (/[\0-\x1f\x7f]|[\\ ]$/.test(workingDirectory)) {
      return yield* refuse(
        "workingDirectory",
        `${show(workingDirectory)} cannot be written in a unit (a control character, or a trailing space or backslash)`
      )
    }
    yield* check("workingDirectory", Checks.unwritable(workingDirectory) ?? Checks.pathLength(workingDirectory))

    // The command.
    const { program: given, args: givenArgs } = config.command
    yield* check("command.program", Checks.unwritable(given))
    for (const [index, arg] of givenArgs.entries()) {
      yield* check(`command.args[${index}]`, Checks.unwritable(arg) ?? Checks.overLong(arg))
    }
    const program = findProgram(given, host, workingDirectory)
    if (program === undefined) {
      return yield* refuse(
        "command.program",
        `${show(given)} is not an executable on PATH (${show(host.path, 200)}); give an absolute path`
      )
    }
    yield* check("command.program", Checks.unwritable(program) ?? Checks.pathLength(program))
    const isNode = /^(?:node|nodejs)$/.test(basename(program)) || program === host.execPath
    const args = isNode ? resolveNodeScript(givenArgs, workingDirectory) : givenArgs
    const argv = [program, ...args]
    // systemd refuses some paths as executables; "$" in a path needs the shell for systemd-run only.
    const direct = UnitFile.isExecutablePath(program)
    const shell = direct && !program.includes("$") ? undefined : findProgram("sh", host, "/")
    if (shell === undefined && (!direct || program.includes("$"))) {
      return yield* refuse(
        "command.program",
        `${show(program)} has to run through a shell (systemd takes no quote, backslash or control character in an executable's path, and no "$" in a transient one), and there is no "sh" on PATH`
      )
    }
    const launch = direct ? argv : [shell!, "-c", trampoline, ...argv]
    const transientCommand = program.includes("$")
      ? [shell!, ...["-c", trampoline, ...argv].map(doubleDollars)]
      : [program, ...args.map(doubleDollars)]
    if (!system && (config.user !== undefined || config.group !== undefined)) {
      return yield* refuse(
        config.user !== undefined ? "user" : "group",
        "a user service manager cannot switch user or group; drop user/group or use the system scope"
      )
    }

    const directives: Array<Directive> = []
    const add = (
      section: Directive["section"],
      key: string,
      value: string,
      specifiers = false,
      transient?: string | null,
      field?: string
    ) =>
      directives.push({
        section,
        key,
        value,
        specifiers,
        ...(transient === undefined ? {} : { transient }),
        ...(field === undefined ? {} : { field })
      })
    const span = (field: string, duration: Duration.Duration, positive: boolean) => {
      const text = timespan(duration)
      if (text === undefined) {
        return refuse(field, "is longer than systemd reads (at most 2^63 - 1 microseconds, about 292,000 years)")
      }
      if (positive && text === "0s") {
        return refuse(field, "must be more than 0 (systemd reads 0 as \"off\" or \"no limit\")")
      }
      return Either.right(text)
    }
    const count = (field: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
      Number.isSafeInteger(value) && value >= min && value <= max
        ? Either.right(String(value))
        : refuse(field, `expected a whole number from ${min} to ${max}, got ${value}`)

    // The sockets: platform.systemd.socket, else the config's `listen` — one listener: systemd
    // names every fd of a .socket unit alike (FileDescriptorName=), and listeners' names differ.
    const names = config.listen.map((listener) => listener.name)
    if (systemd.socket === undefined && names.length > 1) {
      return yield* refuse(
        "listen",
        `a .socket unit gives all its sockets one name (FileDescriptorName=), and these ${names.length} have their own (${names.join(", ")}): under systemd keep one listener, or write platform.systemd.socket`
      )
    }
    for (const [index, listener] of config.listen.entries()) {
      if (listener.path !== undefined && !/^\/[A-Za-z0-9._/+-]{1,106}$/.test(listener.path)) {
        yield* refuse(`listen[${index}].path`, "systemd's ListenStream= takes a path of letters, digits and ._/+- only")
      }
    }
    const sockets = systemd.socket ?? (config.listen.length === 0 ? undefined : {
      listen: config.listen.map((listener) =>
        listener.path ?? (listener.host.includes(":") ? `[${listener.host}]:${listener.port}` : `${listener.host}:${listener.port}`)
      ),
      kind: "stream" as const,
      name: names[0],
      backlog: Math.max(...config.listen.map((listener) => listener.backlog))
    })
    const socketField = systemd.socket !== undefined ? "platform.systemd.socket" : "listen"

    // [Unit]
    if (config.description !== undefined) {
      yield* check("description", Checks.unwritable(config.description) ?? Checks.overLong(config.description))
    }
    const description = oneLine(config.description ?? `${config.name} (Duende daemon)`) || config.name
    if (copies === undefined) add("Unit", "Description", description, true, undefined, "description")
    // The instance's name after the text, which stays as written (its own % doubled).
    else add("Unit", "Description", `${UnitFile.escapeSpecifiers(description)} %i`, false, undefined, "description")
    if (copies !== undefined) add("Unit", "PartOf", `${base}.target`, false, null)
    if (system) add("Unit", "After", "network.target")
    if (sockets !== undefined) {
      add("Unit", "Requires", `${base}.socket`, false, null)
      add("Unit", "After", `${base}.socket`, false, null)
    }
    // Daemons that must run first (by their default unit names); this one stops before them.
    for (const dependency of config.after) {
      add("Unit", "Requires", `${dependency}.service`, false, null)
      add("Unit", "After", `${dependency}.service`, false, null)
    }
    add("Unit", "StartLimitIntervalSec", yield* span("restart.crashLoop.interval", config.restart.crashLoop.interval, true))
    // "more than burst restarts within the interval" = burst restarts after the first start.
    add("Unit", "StartLimitBurst", yield* count("restart.crashLoop.burst", config.restart.crashLoop.burst + 1, 1, 4_294_967_295))

    // [Service]
    const notify = systemd.type === "notify"
    const notifyReload = notify && options.version >= notifyReloadSince
    add("Service", "Type", notifyReload ? "notify-reload" : systemd.type)
    if (notify) add("Service", "NotifyAccess", "main")
    const execStart = UnitFile.exec(launch)
    if (Either.isLeft(execStart)) return yield* refuse("command", execStart.left.reason)
    add("Service", "ExecStart", execStart.right, true, null, "command")
    if (notify && !notifyReload) {
      const kill = findProgram("kill", host, "/")
      const reload = kill === undefined ? undefined : UnitFile.exec([kill, "-s", "HUP"])
      if (reload === undefined || Either.isLeft(reload)) {
        return yield* refuse(undefined, `no usable "kill" on PATH (${show(host.path, 200)}) for ExecReload=`)
      }
      add("Service", "ExecReload", `${reload.right} $MAINPID`, true)
    }
    add("Service", "WorkingDirectory", workingDirectory, true, null, "workingDirectory")
    if (config.user !== undefined) {
      yield* check("user", Checks.account(config.user))
      add("Service", "User", config.user, true)
    }
    if (config.group !== undefined) {
      yield* check("group", Checks.account(config.group))
      add("Service", "Group", config.group, true)
    }
    const environment = Object.entries(config.env)
    for (const [name, value] of environment) {
      const field = Checks.fieldPath(["env", name])
      yield* check(field, Checks.unwritable(name) ?? Checks.unwritable(value) ?? Checks.overLong(value))
      const assignment = UnitFile.environment(name, value)
      if (Either.isLeft(assignment)) return yield* refuse(field, assignment.left.reason)
      add("Service", "Environment", assignment.right, true, null, field)
    }
    if (copies !== undefined) {
      // The instance's number, as the native supervisor gives it (%i: the instance name).
      add("Service", "Environment", "DUENDE_INSTANCE=%i", false, null, "instances")
      // Every instance takes the one .socket's fds (systemd passes the same sockets to all).
      if (sockets !== undefined) add("Service", "Sockets", `${base}.socket`, false, null)
    }
    add("Service", "SyslogIdentifier", config.name, true)
    // Duende exits 143/130 after a graceful stop by SIGTERM/SIGINT: that is success, not a failure to restart.
    add("Service", "SuccessExitStatus", "130 143")
    add("Service", "Restart", restartValue[config.restart.policy])
    add("Service", "RestartSec", yield* span("restart.backoff.initial", config.restart.backoff.initial, false))
    if (options.version >= restartStepsSince && config.restart.backoff.multiplier > 1) {
      const initial = Duration.toMillis(config.restart.backoff.initial)
      const max = Duration.toMillis(config.restart.backoff.max)
      if (initial > 0 && max > initial) {
        const steps = Math.ceil(Math.log(max / initial) / Math.log(config.restart.backoff.multiplier))
        add("Service", "RestartSteps", String(Math.min(Math.max(steps, 1), 3600)))
        add("Service", "RestartMaxDelaySec", yield* span("restart.backoff.max", config.restart.backoff.max, true))
      }
    }
    add("Service", "TimeoutStartSec", yield* span("initTimeout", config.initTimeout, true))
    add("Service", "TimeoutStopSec", yield* span("shutdownTimeout", config.shutdownTimeout, true))
    if (config.watchdogInterval !== undefined) {
      add("Service", "WatchdogSec", yield* span("watchdogInterval", config.watchdogInterval, true))
    }

    const limits = config.resources
    if (limits.memory !== undefined) add("Service", "MemoryMax", yield* count("resources.memory", limits.memory, 1))
    if (limits.memorySwap !== undefined && !limits.lockMemory) {
      add("Service", "MemorySwapMax", yield* count("resources.memorySwap", limits.memorySwap, 1))
    }
    if (limits.cpuQuota !== undefined) {
      // In hundredths of a percent, so the number is never written with an exponent.
      const hundredths = yield* count("resources.cpuQuota", Math.round(limits.cpuQuota * 100), 1)
      add("Service", "CPUQuota", `${Number(hundredths) / 100}%`)
    }
    if (limits.cpuWeight !== undefined) {
      add("Service", "CPUWeight", yield* count("resources.cpuWeight", limits.cpuWeight, 1, 10_000))
    }
    const bandwidth = [
      ["IOReadBandwidthMax", "resources.ioReadBandwidth", limits.ioReadBandwidth],
      ["IOWriteBandwidthMax", "resources.ioWriteBandwidth", limits.ioWriteBandwidth]
    ] as const
    for (const [key, field, bytes] of bandwidth) {
      if (bytes === undefined) continue
      const rate = yield* count(field, bytes, 1)
      // The block device behind the working directory's file system.
      const quoted = UnitFile.quotePath(workingDirectory)
      if (Either.isLeft(quoted)) return yield* refuse("workingDirectory", quoted.left.reason)
      add("Service", key, `${quoted.right} ${rate}`, true, /\s/.test(workingDirectory) ? null : `${workingDirectory} ${rate}`)
    }
    if (limits.pidsMax !== undefined) add("Service", "TasksMax", yield* count("resources.pidsMax", limits.pidsMax, 1))
    if (limits.openFilesMax !== undefined) {
      add("Service", "LimitNOFILE", yield* count("resources.openFilesMax", limits.openFilesMax, 1))
    }
    if (limits.lockMemory) {
      // Kept out of swap by the cgroup (Node cannot mlockall: V8 aborts on a locked page it frees);
      // LimitMEMLOCK for programs that lock their own memory.
      add("Service", "MemorySwapMax", "0")
      add("Service", "LimitMEMLOCK", "infinity")
    }

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
        return yield* refuse(
          workingDirectory === unbindable || workingDirectory.startsWith(`${unbindable}/`) ? "workingDirectory" : "command",
          `${show(unbindable)} is under /tmp, which the unit's private /tmp hides, and its name cannot be bound in (use letters, digits, "._+@-"); move the daemon out of /tmp`
        )
      }
      if (roots.length > 0) add("Service", "BindReadOnlyPaths", roots.join(" "))
    }
    if (systemd.readWritePaths.length > 0) {
      const quoted: Array<string> = []
      for (const [index, path] of systemd.readWritePaths.entries()) {
        const field = `platform.systemd.readWritePaths[${index}]`
        yield* check(field, Checks.unwritable(path) ?? Checks.pathLength(path))
        // systemd ignores a path that is not absolute or has a ".." in it ("not normalized, ignoring").
        if (!path.startsWith("/") || path.split("/").includes("..")) {
          return yield* refuse(field, `${show(path)} must be an absolute path without ".." (systemd ignores it otherwise)`)
        }
        const word = UnitFile.quotePath(path)
        if (Either.isLeft(word)) return yield* refuse(field, word.left.reason)
        quoted.push(word.right)
      }
      add("Service", "ReadWritePaths", quoted.join(" "), true, undefined, "platform.systemd.readWritePaths")
    }

    // [Install]: with socket activation the socket is what starts at boot; with instances, their target.
    if (sockets === undefined && copies === undefined) {
      add("Install", "WantedBy", system ? "multi-user.target" : "default.target", false, null)
    }
    add("X-Duende", "Name", config.name, false, null)
    if (options.id !== undefined) add("X-Duende", "Id", options.id, false, null)

    const service: Unit = { name: copies === undefined ? `${base}.service` : `${base}@.service`, directives }
    const target: Unit | undefined = copies === undefined ? undefined : {
      name: `${base}.target`,
      directives: [
        { section: "Unit", key: "Description", value: `${description} (${copies} instances)`, specifiers: true, field: "description" },
        {
          section: "Unit",
          key: "Wants",
          value: Array.from({ length: copies }, (_, i) => `${base}@${i}.service`).join(" "),
          specifiers: false,
          field: "instances"
        },
        { section: "Install", key: "WantedBy", value: system ? "multi-user.target" : "default.target", specifiers: false }
      ]
    }
    let socket: Unit | undefined
    if (sockets !== undefined) {
      const listenKey = sockets.kind === "datagram"
        ? "ListenDatagram"
        : sockets.kind === "sequential-packet"
        ? "ListenSequentialPacket"
        : "ListenStream"
      socket = {
        name: `${base}.socket`,
        directives: [
          { section: "Unit", key: "Description", value: `${description} (sockets)`, specifiers: true, field: "description" },
          ...sockets.listen.map((address, index): Directive => ({
            section: "Socket",
            key: listenKey,
            value: address,
            specifiers: true,
            field: `${socketField === "listen" ? "listen" : `${socketField}.listen`}[${index}]`
          })),
          ...(sockets.name === undefined
            ? []
            : [{
              section: "Socket",
              key: "FileDescriptorName",
              value: sockets.name,
              specifiers: true,
              field: socketField === "listen" ? "listen[0].name" : `${socketField}.name`
            } as const]),
          ...("backlog" in sockets ? [{ section: "Socket", key: "Backlog", value: String(sockets.backlog), specifiers: false } as const] : []),
          // Traffic while no instance runs starts the first (a template itself cannot be activated).
          ...(copies === undefined ? [] : [{ section: "Socket", key: "Service", value: `${base}@0.service`, specifiers: false } as const]),
          { section: "Install", key: "WantedBy", value: "sockets.target", specifiers: false }
        ]
      }
    }
    // Every line as systemd reads it: at most Limits.lineBytes long.
    for (const unit of files({ service, socket, target })) {
      for (const d of unit.directives) {
        const value = d.specifiers ? UnitFile.escapeSpecifiers(d.value) : d.value
        const bytes = Buffer.byteLength(d.key) + 1 + Buffer.byteLength(value)
        if (bytes > Limits.lineBytes) {
          return yield* refuse(
            d.field ?? d.key,
            `its ${d.key}= line would be ${bytes} bytes; systemd reads lines of at most ${Limits.lineBytes} bytes (a longer one makes the whole unit fail to load)`
          )
        }
      }
    }
    return { service, socket, target, argv, transientCommand, environment, workingDirectory }
  })

/**
 * The unit files of a daemon, in the order they are written: the service (or
 * template), its socket, the instances' target.
 *
 * @example
 * ```ts
 * import { SystemdUnit } from "@duende/platform-systemd/adapter"
 *
 * // units from SystemdUnit.make(config, options)
 * declare const units: SystemdUnit.Units
 * const names = SystemdUnit.files(units).map((unit) => unit.name) // ["api.service", "api.socket"]
 * ```
 *
 * @since 0.1.0
 */
export const files = (units: Pick<Units, "service" | "socket" | "target">): ReadonlyArray<Unit> =>
  [units.service, units.socket, units.target].filter((unit): unit is Unit => unit !== undefined)

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
    for (const unit of files(units)) {
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
 * command ({@link Units.transientCommand}). Directives with no transient spelling (install targets, a socket
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
  args.push("--", ...units.transientCommand)
  return args
}
