/**
 * A `DaemonConfig` as a launchd job: the plist of a LaunchAgent (the
 * logged-in user's `gui/<uid>` domain, `~/Library/LaunchAgents`) or a
 * LaunchDaemon (the `system` domain, `/Library/LaunchDaemons`).
 *
 * | config | plist |
 * |---|---|
 * | `platform.launchd.label` (default `duende.<name>`) | `Label` |
 * | `command`, resolved now to absolute paths (and Node's script) | `ProgramArguments` |
 * | `env` (plus `DUENDE_PLATFORM=launchd`) | `EnvironmentVariables` |
 * | `workingDirectory` | `WorkingDirectory` |
 * | `restart.policy`: always → true, on-failure → `{ SuccessfulExit: false, Crashed: true }`, never → false | `KeepAlive` |
 * | `restart.backoff.initial`, in whole seconds (at least 1) | `ThrottleInterval` |
 * | `shutdownTimeout`, in whole seconds (at least 1: 0 would mean forever) | `ExitTimeOut` |
 * | `resources.openFilesMax`, `pidsMax`, `memory`, `lockMemory` | `Soft/HardResourceLimits` `NumberOfFiles`, `NumberOfProcesses`, `ResidentSetSize`, `MemoryLock` |
 * | `resources.cpuWeight`, `platform.launchd.processType` | `Nice`, `LowPriorityIO`, `ProcessType` |
 * | logs under `~/Library/Logs/duende` (agents) or `/Library/Logs/duende` (daemons) | `StandardOutPath`, `StandardErrorPath` |
 * | `platform.launchd.runAtLoad` (default true) | `RunAtLoad` |
 * | `platform.launchd.sockets` | `Sockets` (socket activation) |
 * | `user`, `group` (daemons only) | `UserName`, `GroupName` |
 *
 * What launchd cannot express (a CPU quota, I/O bandwidth, swap, a watchdog,
 * ordering after other daemons, an exponential backoff, a crash-loop limit, a
 * start deadline) is a warning naming the field, listed in the plist's
 * header comment too: never dropped in silence. A value a plist cannot hold
 * (a control character XML 1.0 has no way to carry) refuses the config with
 * an error naming the field; `user` on an agent is refused with the reason.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import type { PlatformSections } from "@duende/core/DaemonConfigSchema"
import type { PlatformAdapter } from "@duende/core/manager"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { homedir } from "node:os"
import { join, resolve } from "node:path"
import * as Command from "./internal/command.js"
import * as Protocol from "./internal/protocol.js"
import * as Plist from "./Plist.js"

/**
 * The config's `platform.launchd` section, decoded (core's schema).
 *
 * @since 0.1.0
 */
export type Section = NonNullable<PlatformSections["launchd"]>

/**
 * The section's defaults: a LaunchAgent, started at load, no sockets.
 *
 * @example
 * ```ts
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 *
 * LaunchdJob.sectionDefaults.domain // "gui"
 * ```
 *
 * @since 0.1.0
 */
export const sectionDefaults: Section = { domain: "gui", runAtLoad: true }

/**
 * An agent runs in a user's session as that user; a daemon runs in the system domain (as root, or `UserName`).
 *
 * @since 0.1.0
 */
export type Scope = "agent" | "daemon"

/**
 * A config that cannot become a job: a program not found, a value no plist
 * can hold, a setting the scope does not allow. `field` is the config field.
 *
 * @example
 * ```ts
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 *
 * new LaunchdJob.JobRenderError({ name: "api", field: "env.GREETING", reason: "contains U+0001" }).message
 * // 'cannot render the launchd job of "api": env.GREETING: contains U+0001'
 * ```
 *
 * @since 0.1.0
 */
export class JobRenderError extends Data.TaggedError("JobRenderError")<{
  readonly name: string
  readonly field: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot render the launchd job of "${this.name}": ${this.field === "" ? "" : `${this.field}: `}${this.reason}`
  }
}

/**
 * A setting launchd cannot express, and what happens instead.
 *
 * @since 0.1.0
 */
export interface Warning {
  /** The config field ("resources.cpuQuota"). */
  readonly field: string
  readonly reason: string
}

/**
 * Where files go. Defaults per scope: `~/Library/LaunchAgents` and
 * `~/Library/Logs/duende` for agents, `/Library/LaunchDaemons` and
 * `/Library/Logs/duende` for daemons.
 *
 * @since 0.1.0
 */
export interface Directories {
  /** Where the plist is installed. */
  readonly plists: string
  /** Where StandardOutPath and StandardErrorPath point. */
  readonly logs: string
}

/**
 * The machine the job is rendered for, as seen from here.
 *
 * @since 0.1.0
 */
export interface Host {
  /** PATH to find the program in. */
  readonly path: string
  /** The directory a relative workingDirectory is resolved against. */
  readonly cwd: string
  /** The node binary to use when "node" is not on PATH. */
  readonly execPath: string
  /** The user's home (agents' directories are under it). */
  readonly home: string
  /** The user's id (an agent's domain is `gui/<uid>`). */
  readonly uid: number
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Agent or daemon; default from `platform.launchd.domain` ("gui" → agent, "system" → daemon). */
  readonly scope?: Scope
  /** Overrides of the default directories. */
  readonly directories?: Partial<Directories>
  readonly host?: Partial<Host>
}

/**
 * A rendered job.
 *
 * @since 0.1.0
 */
export interface Job {
  readonly name: string
  readonly label: string
  readonly scope: Scope
  /** The plist's file name: `<label>.plist`. */
  readonly fileName: string
  readonly directories: Directories
  /** The job as a plist dict. */
  readonly plist: Plist.PlistDict
  /** ProgramArguments: absolute program, resolved script. */
  readonly argv: ReadonlyArray<string>
  readonly environment: ReadonlyArray<readonly [string, string]>
  readonly workingDirectory: string
  readonly stdoutPath: string
  readonly stderrPath: string
  /** The names of the sockets launchd hands over (what `launch_activate_socket` is asked for). */
  readonly socketNames: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<Warning>
}

/**
 * The host of this process.
 *
 * @example
 * ```ts
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 *
 * LaunchdJob.localHost().uid
 * ```
 *
 * @since 0.1.0
 */
export const localHost = (): Host => ({
  path: process.env.PATH ?? "/usr/bin:/bin:/usr/sbin:/sbin",
  cwd: process.cwd(),
  execPath: process.execPath,
  home: homedir(),
  uid: process.getuid?.() ?? 0
})

/**
 * The label of a daemon: `platform.launchd.label`, else `duende.<name>`.
 *
 * @example
 * ```ts
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 *
 * LaunchdJob.label("api") // "duende.api"
 * LaunchdJob.label("api", { domain: "gui", runAtLoad: true, label: "com.example.api" }) // "com.example.api"
 * ```
 *
 * @since 0.1.0
 */
export const label = (name: string, section: Section = sectionDefaults): string => section.label ?? `duende.${name}`

/**
 * The scope of a config: agent for `domain: "gui"`, daemon for `"system"`.
 *
 * @example
 * ```ts
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 *
 * LaunchdJob.scopeOf({ domain: "system", runAtLoad: true }) // "daemon"
 * ```
 *
 * @since 0.1.0
 */
export const scopeOf = (section: Section = sectionDefaults): Scope => (section.domain === "system" ? "daemon" : "agent")

/**
 * The default directories of a scope.
 *
 * @example
 * ```ts
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 *
 * LaunchdJob.defaultDirectories("agent", "/Users/ada").plists // "/Users/ada/Library/LaunchAgents"
 * ```
 *
 * @since 0.1.0
 */
export const defaultDirectories = (scope: Scope, home: string): Directories =>
  scope === "agent"
    ? { plists: join(home, "Library", "LaunchAgents"), logs: join(home, "Library", "Logs", "duende") }
    : { plists: "/Library/LaunchDaemons", logs: "/Library/Logs/duende" }

/**
 * The domain target of a scope: `gui/<uid>` or `system`.
 *
 * @example
 * ```ts
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 *
 * LaunchdJob.domain("agent", 501) // "gui/501"
 * ```
 *
 * @since 0.1.0
 */
export const domain = (scope: Scope, uid: number): string => (scope === "agent" ? `gui/${uid}` : "system")

/**
 * The variable that tells the daemon which of the job's `Sockets` to ask
 * launchd for (comma-separated names): `launch_activate_socket` needs names.
 *
 * @example
 * ```ts
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 *
 * const names = (process.env[LaunchdJob.socketsVariable] ?? "").split(",")
 * ```
 *
 * @since 0.1.0
 */
export const socketsVariable: string = Protocol.socketsVariable

/** launchd's times are whole seconds; 0 would mean "no limit" for ExitTimeOut. */
const wholeSeconds = (duration: Duration.Duration) => Math.max(1, Math.ceil(Duration.toMillis(duration) / 1000))

const rlimInfinity = 2n ** 63n - 1n

/** Nice from a CPU weight, as Linux weighs nice levels (each step ×1.25; weight 100 = nice 0). */
const niceOf = (weight: number) => Math.max(-20, Math.min(19, Math.round(-Math.log(weight / 100) / Math.log(1.25))))

const socketType = { stream: "stream", datagram: "dgram", "sequential-packet": "seqpacket" } as const

const socketDict = (
  address: string,
  kind: keyof typeof socketType,
  pathMode: number | undefined
): Plist.PlistDict => {
  const entries: Array<readonly [string, Plist.Value]> = [
    ["SockType", Plist.string(socketType[kind])],
    ["SockPassive", Plist.bool(true)]
  ]
  if (address.startsWith("/")) {
    entries.push(["SockFamily", Plist.string("Unix")], ["SockPathName", Plist.string(address)])
    if (pathMode !== undefined) entries.push(["SockPathMode", Plist.integer(pathMode)])
    return Plist.dict(entries)
  }
  const v6 = /^\[(.+)\]:(\d+)$/.exec(address)
  const v4 = /^(\d[\d.]*):(\d+)$/.exec(address)
  if (v6 !== null) {
    entries.push(["SockNodeName", Plist.string(v6[1]!)], ["SockServiceName", Plist.string(v6[2]!)])
    entries.push(["SockFamily", Plist.string("IPv6")])
  } else if (v4 !== null) {
    entries.push(["SockNodeName", Plist.string(v4[1]!)], ["SockServiceName", Plist.string(v4[2]!)])
    entries.push(["SockFamily", Plist.string("IPv4")])
  } else {
    // A bare port: every address of both families, as launchd does without SockNodeName.
    entries.push(["SockServiceName", Plist.string(address)])
  }
  return Plist.dict(entries)
}

/**
 * Builds the job of a daemon.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 * import { Effect } from "effect"
 *
 * const job = DaemonConfig.decode({ name: "api", command: ["node", "server.js"] }).pipe(
 *   Effect.flatMap((config) => LaunchdJob.make(config, { scope: "agent" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (config: DaemonConfig.DaemonConfig, options: Options = {}): Either.Either<Job, JobRenderError> => {
  const fail = (field: string, reason: string) => Either.left(new JobRenderError({ name: config.name, field, reason }))
  const host: Host = { ...localHost(), ...options.host }
  const section = config.platform.launchd ?? sectionDefaults
  const scope = options.scope ?? scopeOf(section)
  const directories = { ...defaultDirectories(scope, host.home), ...options.directories }
  const jobLabel = label(config.name, section)
  const warnings: Array<Warning> = []
  const warn = (field: string, reason: string) => warnings.push({ field, reason })
  if (config.instances !== 1) warn("instances", "a job runs one process (the native supervisor runs instances)")

  // Every string from the config is checked where it came from, so the error names the field.
  const checked = (field: string, text: string): string | JobRenderError => {
    const why = Plist.problem(text)
    return why === undefined ? text : new JobRenderError({ name: config.name, field, reason: `${why}; remove it` })
  }

  if (scope === "agent" && (config.user !== undefined || config.group !== undefined)) {
    return fail(
      config.user !== undefined ? "user" : "group",
      "a LaunchAgent runs as the logged-in user and launchd refuses UserName/GroupName in the gui domain; " +
        `drop ${config.user !== undefined ? "user" : "group"}, or make it a LaunchDaemon (platform.launchd.domain "system", or --daemon)`
    )
  }

  const workingDirectory = resolve(host.cwd, config.workingDirectory ?? ".")
  const cwdOk = checked("workingDirectory", workingDirectory)
  if (cwdOk instanceof JobRenderError) return Either.left(cwdOk)
  const lookup = { path: host.path, execPath: host.execPath }
  const program = Command.program(config.command.program, lookup, workingDirectory)
  if (program === undefined) {
    return fail("command.program", `"${config.command.program}" is not an executable on PATH (${host.path}); give an absolute path`)
  }
  const args = Command.isNode(program, lookup) ? Command.nodeArguments(config.command.args, workingDirectory) : config.command.args
  const argv = [program, ...args]
  for (const [i, word] of argv.entries()) {
    const ok = checked(i === 0 ? "command.program" : `command.args[${i - 1}]`, word)
    if (ok instanceof JobRenderError) return Either.left(ok)
  }

  const sockets = Object.entries(section.sockets ?? {})
  const environment: Array<readonly [string, string]> = Object.entries(config.env)
  for (const [key, value] of environment) {
    const ok = checked(`env.${key}`, value)
    if (ok instanceof JobRenderError) return Either.left(ok)
  }
  // The manager says who manages the daemon (as the native supervisor does): the runtime then
  // speaks launchd's protocol even where nothing else marks it (a launchd stand-in on Linux).
  if (config.env.DUENDE_PLATFORM === undefined) environment.push(["DUENDE_PLATFORM", "launchd"])
  if (sockets.length > 0) environment.push([socketsVariable, sockets.map(([name]) => name).join(",")])

  const stdoutPath = join(directories.logs, `${jobLabel}.out.log`)
  const stderrPath = join(directories.logs, `${jobLabel}.err.log`)
  for (const [field, path] of [["logs (StandardOutPath)", stdoutPath], ["logs (StandardErrorPath)", stderrPath]] as const) {
    const ok = checked(field, path)
    if (ok instanceof JobRenderError) return Either.left(ok)
  }

  const entries: Array<readonly [string, Plist.Value]> = [
    ["Label", Plist.string(jobLabel)],
    ["ProgramArguments", Plist.array(argv.map(Plist.string))],
    ["EnvironmentVariables", Plist.dict(environment.map(([key, value]) => [key, Plist.string(value)] as const))],
    ["WorkingDirectory", Plist.string(workingDirectory)],
    ["StandardOutPath", Plist.string(stdoutPath)],
    ["StandardErrorPath", Plist.string(stderrPath)],
    ["RunAtLoad", Plist.bool(section.runAtLoad)]
  ]

  // Restarts.
  const restart = config.restart
  entries.push([
    "KeepAlive",
    restart.policy === "never"
      ? Plist.bool(false)
      : restart.policy === "on-failure"
      ? Plist.dict({ SuccessfulExit: Plist.bool(false), Crashed: Plist.bool(true) })
      : Plist.bool(true)
  ])
  if (restart.policy === "unless-stopped") {
    warn("restart.policy", `"unless-stopped" is "always" under launchd: a stopped job is loaded and started again at the next ${scope === "agent" ? "login" : "boot"}`)
  }
  const throttle = wholeSeconds(restart.backoff.initial)
  entries.push(["ThrottleInterval", Plist.integer(throttle)])
  if (restart.policy !== "never") {
    if (Duration.toMillis(restart.backoff.initial) !== throttle * 1000) {
      warn("restart.backoff.initial", `launchd spaces spawns in whole seconds: ${Duration.format(restart.backoff.initial)} becomes ThrottleInterval ${throttle}s`)
    }
    if (restart.backoff.multiplier > 1 || restart.backoff.jitter > 0) {
      warn(
        "restart.backoff",
        `launchd has no exponential backoff or jitter: it respawns no sooner than ThrottleInterval (${throttle}s) after the last spawn, every time (multiplier, max, jitter and minUptime do not apply)`
      )
    }
    warn(
      "restart.crashLoop",
      `launchd never gives up on a crashing job; LaunchdAdapter enforces ${restart.crashLoop.burst} restarts within ${
        Duration.format(restart.crashLoop.interval)
      } when it looks at the job (status, events), a plist loaded by hand is respawned forever`
    )
  }
  entries.push(["ExitTimeOut", Plist.integer(wholeSeconds(config.shutdownTimeout))])
  warn("initTimeout", `launchd has no start deadline; LaunchdAdapter.start enforces ${Duration.format(config.initTimeout)}`)
  if (config.watchdogInterval !== undefined) {
    warn("watchdogInterval", "launchd has no watchdog: a hung daemon is not restarted")
  }
  if (config.after.length > 0) {
    warn("after", "launchd has no ordering between jobs: start the daemons it needs first yourself")
  }

  // Accounts: daemons only (refused for agents above).
  if (config.user !== undefined) entries.push(["UserName", Plist.string(config.user)])
  if (config.group !== undefined) entries.push(["GroupName", Plist.string(config.group)])

  // Resource limits, soft and hard alike.
  const limits = config.resources
  const rlimits: Array<readonly [string, Plist.Value]> = []
  if (limits.openFilesMax !== undefined) rlimits.push(["NumberOfFiles", Plist.integer(limits.openFilesMax)])
  if (limits.pidsMax !== undefined) {
    rlimits.push(["NumberOfProcesses", Plist.integer(limits.pidsMax)])
    warn("resources.pidsMax", "macOS counts NumberOfProcesses over all processes of the job's user, not the job's alone")
  }
  if (limits.memory !== undefined) {
    rlimits.push(["ResidentSetSize", Plist.integer(limits.memory)])
    warn("resources.memory", "written as ResidentSetSize, which macOS does not enforce: there is no hard memory limit for a launchd job")
  }
  if (limits.lockMemory) rlimits.push(["MemoryLock", Plist.integer(rlimInfinity)])
  if (rlimits.length > 0) {
    entries.push(["SoftResourceLimits", Plist.dict(rlimits)], ["HardResourceLimits", Plist.dict(rlimits)])
  }
  if (limits.memorySwap !== undefined) warn("resources.memorySwap", "launchd cannot limit swap")
  if (limits.cpuQuota !== undefined) warn("resources.cpuQuota", "launchd cannot cap CPU time per second (use cpuWeight or processType)")
  if (limits.ioReadBandwidth !== undefined) warn("resources.ioReadBandwidth", "launchd cannot limit I/O bandwidth (LowPriorityIO is all it has)")
  if (limits.ioWriteBandwidth !== undefined) warn("resources.ioWriteBandwidth", "launchd cannot limit I/O bandwidth (LowPriorityIO is all it has)")

  // Priority.
  const weight = limits.cpuWeight
  const processType = section.processType ?? (weight === undefined ? "Standard" : weight < 100 ? "Background" : weight > 100 ? "Interactive" : "Standard")
  entries.push(["ProcessType", Plist.string(processType)])
  if (weight !== undefined && weight !== 100) {
    let nice = niceOf(weight)
    if (nice < 0 && scope === "agent") {
      warn("resources.cpuWeight", `a LaunchAgent cannot raise its priority (Nice ${nice} needs root): written as Nice 0`)
      nice = 0
    }
    entries.push(["Nice", Plist.integer(nice)])
    if (weight < 100) entries.push(["LowPriorityIO", Plist.bool(true)])
  }

  // Socket activation.
  if (sockets.length > 0) {
    entries.push([
      "Sockets",
      Plist.dict(sockets.map(([name, socket]) => {
        const dicts = socket.listen.map((address) => socketDict(address, socket.kind, socket.pathMode))
        return [name, dicts.length === 1 ? dicts[0]! : Plist.array(dicts)] as const
      }))
    ])
  }

  return Either.right({
    name: config.name,
    label: jobLabel,
    scope,
    fileName: `${jobLabel}.plist`,
    directories,
    plist: Plist.dict(entries),
    argv,
    environment,
    workingDirectory,
    stdoutPath,
    stderrPath,
    socketNames: sockets.map(([name]) => name),
    warnings
  })
}

/**
 * The plist text of a job, with a header comment naming its daemon and what
 * launchd could not express.
 *
 * @example
 * ```ts
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 * import { Either } from "effect"
 *
 * declare const job: LaunchdJob.Job
 * const xml = Either.getOrThrow(LaunchdJob.text(job))
 * ```
 *
 * @since 0.1.0
 */
export const text = (job: Job): Either.Either<string, JobRenderError> =>
  Either.mapLeft(
    Plist.write(job.plist, {
      comment: [
        `${job.fileName}: written by Duende (@duende/platform-launchd) for the daemon "${job.name}".`,
        "Edit the daemon's config, not this file.",
        ...(job.warnings.length === 0 ? [] : ["Not expressible in launchd:", ...job.warnings.map((w) => `  ${w.field}: ${w.reason}`)])
      ]
    }),
    (error) => new JobRenderError({ name: job.name, field: error.path, reason: error.reason })
  )

/**
 * The job as files: `<label>.plist`, what `duende render launchd` prints and
 * what the adapter installs.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { LaunchdJob } from "@duende/platform-launchd/adapter"
 * import { Effect } from "effect"
 *
 * const plist = DaemonConfig.load("duende.json").pipe(
 *   Effect.flatMap((config) => LaunchdJob.render(config, { scope: "daemon" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  options: Options = {}
): Either.Either<ReadonlyArray<PlatformAdapter.Artifact>, JobRenderError> =>
  Either.flatMap(make(config, options), (job) =>
    Either.map(text(job), (content) => [{ name: job.fileName, kind: "launchd plist", content }]))
