/**
 * The `duende` command.
 *
 * Exit codes: 0 done; 1 the operation failed (unknown daemon, start failed…);
 * 2 bad usage; 3 the supervisor is not running; 78 a config is invalid.
 * `duende health` exits 1 when the daemon is not healthy.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { DaemonConfig, Platform, Signal } from "@duende/core"
import { NativeAdapter } from "@duende/core/manager"
import { encode } from "@duende/core/DaemonConfigSchema"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { userInfo } from "node:os"
import { join, resolve as resolvePath } from "node:path"
import * as ControlClient from "./ControlClient.js"
import * as AdapterCommands from "./internal/adapterCommands.js"
import { writeAtomically } from "./internal/atomicFile.js"
import type { DaemonInfo, LogLineInfo, Request } from "./ControlProtocol.js"
import * as ConfigPath from "./internal/configPath.js"
import { daemonDetails, daemonTable, logLine } from "./internal/format.js"
import { runForeground } from "./internal/foreground.js"
import * as Ecosystem from "./internal/ecosystem.js"
import * as Health from "./internal/health.js"
import * as Monit from "./internal/monit.js"
import * as Output from "./internal/output.js"
import * as PlatformFlags from "./internal/platformFlags.js"
import * as Platforms from "./internal/platforms.js"
import * as Render from "./internal/render.js"
import * as Paths from "./Paths.js"
import * as Registry from "./Registry.js"
import { Launchctl } from "@duende/platform-launchd/adapter"
import * as StartFlags from "./internal/startFlags.js"
import * as StartTarget from "./internal/startTarget.js"
import * as Startup from "./internal/startup.js"
import * as Supervisor from "./Supervisor.js"
import * as Trace from "./internal/trace.js"

const version = "0.1.0"
const paths = Paths.resolve()
const entry = process.argv[1] ?? ""

/** A failure with the exit code it maps to. */
class CliFailure extends Data.TaggedError("CliFailure")<{ readonly message: string; readonly code: number }> {}

const fail = (message: string, code = 1) => Effect.fail(new CliFailure({ message, code }))

/** Maps client errors to messages and exit codes. */
const talk = <A>(effect: Effect.Effect<A, ControlClient.SupervisorNotRunning | ControlClient.SupervisorError>) =>
  effect.pipe(
    Effect.catchTags({
      SupervisorNotRunning: (error) => fail(notRunning(error), 3),
      SupervisorError: (error) => fail(error.message, error.tag === "ConfigError" ? 78 : 1)
    })
  )

/** No supervisor: when the registry says daemons should run (it died), the answer is `resurrect`, not `start`. */
function notRunning(error: ControlClient.SupervisorNotRunning): string {
  const meant = (Registry.peek(paths.registry) ?? Registry.peek(`${paths.registry}.bak`) ?? []).filter((entry) => entry.desired === "running").map((entry) => entry.name)
  if (meant.length === 0) return error.message
  const names = meant.length > 5 ? `${meant.slice(0, 5).join(", ")}, …` : meant.join(", ")
  return `the duende supervisor is not running (no answer on ${error.socket}), and the registry says ${meant.length} daemon(s) should run (${names}): \`duende resurrect\` starts the supervisor and them`
}

const send = (request: Request) => talk(ControlClient.request(paths, request))

/** What the supervisor's start found (a recovered registry, skipped or merged entries), each on stderr. */
const notices = Effect.flatMap(send({ method: "notices" }), (found) =>
  Effect.sync(() => (found as ReadonlyArray<string>).map((notice) => `duende: ${notice}`)))

const ensure = ControlClient.ensureSupervisor(paths, entry).pipe(
  Effect.catchTag("SupervisorStartFailed", (error) => fail(error.message))
)

const print = (text: string) => Effect.sync(() => void process.stdout.write(`${text}\n`))
const printError = (text: string) => Effect.sync(() => void process.stderr.write(`${text}\n`))
const printJson = (value: unknown) => print(JSON.stringify(value, null, 2))

/** A config file: a path that cannot be read is bad usage (2), a file that is no valid config a config error (78). */
const loadConfig = (path: string) =>
  Effect.suspend(() => {
    const problem = ConfigPath.problem(path)
    return problem !== undefined
      ? fail(problem, 2)
      : DaemonConfig.load(path).pipe(Effect.catchTag("ConfigError", (error) => fail(error.message, 78)))
  })

const configArg = Args.text({ name: "config" }).pipe(Args.withDescription("A daemon config file (.json, .ts, .js…)"))

const json = Options.boolean("json").pipe(Options.withDescription("Print JSON instead of text"))
const nameArg = Args.text({ name: "name" }).pipe(Args.withDescription("The daemon's name"))
const platform = Options.choice("platform", ["native", ...Platforms.kinds]).pipe(
  Options.withDefault("native"),
  Options.withDescription(`Who runs the daemon: Duende's own supervisor (native), or ${Platforms.kinds.join(", ")}`)
)
const timeout = Options.integer("timeout").pipe(
  Options.optional,
  Options.withDescription(
    "With a --platform other than native: seconds to wait beyond which the command gives up (the platform may stop the daemon sooner, at its shutdown timeout)"
  )
)

const patience = (seconds: Option.Option<number>) =>
  Option.match(seconds, { onNone: () => AdapterCommands.defaultTimeout, onSome: (s) => Duration.seconds(s) })

/** A platform's failure (its tool's stderr included) fails the command. */
const onPlatform = <A>(effect: Effect.Effect<A, string>) => Effect.mapError(effect, (message) => new CliFailure({ message, code: 1 }))

const describeStart = (info: DaemonInfo): string =>
  info.instances !== undefined
    ? [`${info.name}: ${info.status}`, ...info.instances.map((each) => `  ${describeStart(each)}`)].join("\n")
    : `${info.name}: ${info.status}${info.pid === null ? "" : ` (pid ${info.pid})`}${info.statusText ? ` — ${info.statusText}` : ""}`

/** A message of a platform module about its flags is bad usage. */
const usage = <A>(result: Either.Either<A, string>) =>
  Either.match(result, { onLeft: (message) => fail(message, 2), onRight: (value) => Effect.succeed(value) })

const configOrName = Args.text({ name: "config|script|name" }).pipe(
  Args.withDescription("A config file to add and start, a script or command line to run, or the name of a registered daemon")
)

const scriptArgs = Args.text({ name: "args" }).pipe(
  Args.repeated,
  Args.withDescription("With a script or a command line, after --: its arguments")
)

/** A line on stdout: JSON, or for people (prefixed with its instance when the log is a config's instances'). */
const showLine = (asJson: boolean) => (line: LogLineInfo) =>
  void process.stdout.write(
    asJson ? `${JSON.stringify(line)}\n` : `${line.daemon === undefined ? "" : `${line.daemon} | `}${logLine(line)}\n`
  )

/** The commands that take `--platform` or a format: their platform flags come from the loaded modules. */
const platformCommands = (loaded: Platforms.Loaded) => {
  const flags = PlatformFlags.declare(loaded.modules, "manage", (kind) => `With --platform ${kind}`)
  const renderFlags = PlatformFlags.declare(loaded.modules, "render", (_, module) => `For ${module.formats.join(", ")}`)
  const stateDirectory = (kind: string) => join(paths.home, "platforms", kind)

  /** Bad usage: a platform's flag given for another platform (or for the supervisor). */
  const onlyOwn = (kind: string, parsed: PlatformFlags.Parsed, declared: PlatformFlags.Declared, where: (owners: ReadonlyArray<string>) => string) =>
    usage(PlatformFlags.forPlatform(kind, parsed, declared, where))
  const onPlatforms = (owners: ReadonlyArray<string>) => owners.map((owner) => `--platform ${owner}`).join(" or ")

  /** The module of `--platform kind` and the options its flags (and the config, when given) make. */
  const target = (kind: string, parsed: PlatformFlags.Parsed, config?: DaemonConfig.DaemonConfig) =>
    Effect.gen(function*() {
      const module = loaded.modules.get(kind)
      if (module === undefined) {
        return yield* fail(loaded.unavailable.find((u) => u.kind === kind)?.message ?? `--platform ${kind} could not be loaded`)
      }
      const values = yield* onlyOwn(kind, parsed, flags, onPlatforms)
      const options = yield* usage(
        module.options(values, { stateDirectory: stateDirectory(kind), ...(config !== undefined ? { config } : {}) })
      )
      return { module, options } satisfies AdapterCommands.Target
    })

  /** The supervisor takes no platform flags. */
  const native = (parsed: PlatformFlags.Parsed) => onlyOwn("native", parsed, flags, onPlatforms)

  const start = Command.make(
    "start",
    { target: configOrName, platform, flags: flags.options, args: scriptArgs, ...StartFlags.options },
    ({ args, flags: parsed, platform, target: what, ...given }) =>
      Effect.gen(function*() {
        const kind = StartTarget.classify(what, process.cwd())
        const options = yield* usage(StartFlags.parse(given, args, process.cwd()))
        if (kind._tag === "Name") {
          if (StartFlags.anyGiven(given, args)) {
            return yield* fail(`${ConfigPath.shown(what)} is the name of a daemon, which takes none of --name, --interpreter, -i, --env, --only, --watch or arguments (give a config file or a script)`, 2)
          }
          if (platform !== "native") {
            const on = yield* target(platform, parsed)
            return yield* print(AdapterCommands.describe(yield* onPlatform(AdapterCommands.start(on, what))))
          }
          yield* native(parsed)
          yield* ensure
          return yield* print(describeStart((yield* send({ method: "start", name: what })) as DaemonInfo))
        }
        if (kind._tag === "ConfigFile") {
          const problem = ConfigPath.problem(kind.path)
          if (problem !== undefined) return yield* fail(problem, 2)
        }
        const resolved = yield* StartTarget.configsOf(kind, options).pipe(
          Effect.catchTag("StartProblem", (problem) => fail(problem.message, problem.code))
        )
        for (const note of resolved.notes) yield* printError(`duende: ${note}`)
        if (platform !== "native") {
          if (resolved.configs.length > 1) {
            return yield* fail(`${what} holds ${resolved.configs.length} daemons: start them on --platform ${platform} one at a time (--only NAME)`, 2)
          }
          const config = resolved.configs[0]!
          const on = yield* target(platform, parsed, config)
          return yield* print(AdapterCommands.describe(yield* onPlatform(AdapterCommands.start(on, config))))
        }
        yield* native(parsed)
        yield* ensure
        for (const config of resolved.configs) {
          const info = (yield* send({
            method: "add",
            config: encode(config),
            ...(resolved.configPath === undefined ? {} : { configPath: resolved.configPath }),
            start: true
          })) as DaemonInfo
          yield* print(describeStart(info))
        }
      })
  ).pipe(Command.withDescription(
    "Start a daemon under the background supervisor (starting the supervisor if needed), or on another platform with --platform: " +
      "a config file (one daemon or several; a PM2 ecosystem file too), a script (app.js, app.ts, an executable), a command line, or a registered name"
  ))

  const install = Command.make(
    "install",
    { config: configArg, platform, flags: flags.options },
    ({ config: path, flags: parsed, platform }) =>
      Effect.gen(function*() {
        const config = yield* loadConfig(path)
        if (platform !== "native") {
          const on = yield* target(platform, parsed, config)
          const handle = yield* onPlatform(AdapterCommands.install(on, config))
          const again = [`--platform ${platform}`, ...PlatformFlags.spelled(parsed)].join(" ")
          return yield* print(`${handle.name}: installed as ${handle.ref} (\`duende start ${handle.name} ${again}\` starts it)`)
        }
        yield* native(parsed)
        yield* ensure
        const info = (yield* send({ method: "add", config: encode(config), configPath: resolvePath(path), start: false })) as DaemonInfo
        return yield* print(`${info.name}: registered with the supervisor (\`duende start ${info.name}\` starts it)`)
      })
  ).pipe(Command.withDescription(
    "Install a daemon without starting it: on a platform (--platform), or as an entry in the supervisor's registry"
  ))

  const simple = (method: "stop" | "restart" | "reload", description: string) =>
    Command.make(method, { name: nameArg, platform, timeout, flags: flags.options }, ({ flags: parsed, name, platform, timeout }) =>
      Effect.gen(function*() {
        if (platform !== "native") {
          const on = yield* target(platform, parsed)
          return yield* print(AdapterCommands.describe(yield* onPlatform(AdapterCommands.control(on, method, name, patience(timeout)))))
        }
        yield* native(parsed)
        return yield* print(describeStart((yield* send({ method, name })) as DaemonInfo))
      })).pipe(Command.withDescription(description))

  const rm = Command.make("rm", { name: nameArg, platform, timeout, flags: flags.options }, ({ flags: parsed, name, platform, timeout }) =>
    Effect.gen(function*() {
      if (platform !== "native") yield* onPlatform(AdapterCommands.remove(yield* target(platform, parsed), name, patience(timeout)))
      else {
        yield* native(parsed)
        yield* send({ method: "remove", name })
      }
      return yield* print(`${name}: removed`)
    })).pipe(Command.withDescription("Stop a daemon and remove it: from the registry, or from its platform"))

  const signal = Command.make(
    "signal",
    {
      name: nameArg,
      signal: Args.text({ name: "signal" }).pipe(Args.withDescription("TERM, HUP, USR1, 15…")),
      platform,
      flags: flags.options
    },
    ({ flags: parsed, name, platform, signal }) =>
      Effect.gen(function*() {
        if (platform !== "native") {
          const sent = Signal.parse(signal)
          if (sent === undefined) return yield* fail(`not a signal: ${ConfigPath.shown(signal)} (TERM, HUP, USR1, 15…)`, 2)
          const on = yield* target(platform, parsed)
          return yield* print(AdapterCommands.describe(yield* onPlatform(AdapterCommands.signal(on, name, sent))))
        }
        yield* native(parsed)
        return yield* print(describeStart((yield* send({ method: "signal", name, signal })) as DaemonInfo))
      })
  ).pipe(Command.withDescription("Send a signal to a daemon"))

  const status = Command.make(
    "status",
    { name: nameArg, json, platform, flags: flags.options },
    ({ flags: parsed, json, name, platform }) =>
      Effect.gen(function*() {
        if (platform !== "native") {
          const { handle, state } = yield* onPlatform(AdapterCommands.status(yield* target(platform, parsed), name))
          return yield* json ? printJson({ ...handle, ...state }) : print(AdapterCommands.describe({ handle, state }))
        }
        yield* native(parsed)
        const info = yield* send({ method: "status", name })
        return yield* json ? printJson(info) : print(daemonDetails(info as DaemonInfo))
      })
  ).pipe(Command.withDescription("Show one daemon in detail (on a platform: as the platform reports it)"))

  const logs = Command.make(
    "logs",
    {
      name: Args.text({ name: "name" }).pipe(
        Args.optional,
        Args.withDescription("The daemon's name, a config's (all its instances), or none: every daemon of the supervisor")
      ),
      lines: Options.integer("lines").pipe(Options.withAlias("n"), Options.withDefault(50), Options.withDescription("How many lines from the end")),
      follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("Keep printing new lines")),
      json,
      platform,
      flags: flags.options
    },
    ({ flags: parsed, follow, json, lines, name, platform }) =>
      Effect.gen(function*() {
        if (platform !== "native") {
          if (Option.isNone(name)) return yield* fail(`logs --platform ${platform} needs the daemon's name`, 2)
          return yield* onPlatform(AdapterCommands.logs(yield* target(platform, parsed), name.value, lines, follow, showLine(json)))
        }
        yield* native(parsed)
        const which = Option.match(name, { onNone: () => ({}), onSome: (value) => ({ name: value }) })
        return yield* follow
          ? talk(ControlClient.stream(paths, { method: "logs", ...which, lines, follow: true }, showLine(json)))
          : Effect.flatMap(send({ method: "logs", ...which, lines, follow: false }), (result) =>
            Effect.sync(() => (result as ReadonlyArray<LogLineInfo>).forEach(showLine(json))))
      })
  ).pipe(Command.withDescription("Print a daemon's log (stdout and stderr, with times; on a platform: what it keeps, e.g. the journal)"))

  const known = Render.formats(loaded.modules)
  const render = Command.make(
    "render",
    {
      format: Args.text({ name: "format" }).pipe(Args.withDescription(`What to render: ${known.join(", ")}`)),
      config: configArg,
      output: Options.directory("output").pipe(
        Options.withAlias("o"),
        Options.optional,
        Options.withDescription("Write the files into this directory (atomically) instead of printing them")
      ),
      flags: renderFlags.options
    },
    ({ config: path, flags: parsed, format, output }) =>
      Effect.gen(function*() {
        const owner = Render.moduleOf(loaded.modules, format)
        if (owner === undefined) {
          const notes = loaded.unavailable.map((u) => `; ${u.message}`).join("")
          return yield* fail(`unknown format ${ConfigPath.shown(format)}: expected one of ${known.join(", ")}${notes}`, 2)
        }
        const [kind, module] = owner
        const values = yield* onlyOwn(kind, parsed, renderFlags, (owners) =>
          owners.flatMap((other) => loaded.modules.get(other)?.formats ?? []).join(", "))
        const config = yield* loadConfig(path)
        const options = yield* usage(module.options(values, { stateDirectory: stateDirectory(kind), config }))
        const nativeOnly = AdapterCommands.nativeOnly(config, format)
        if (nativeOnly !== undefined) yield* Effect.logWarning(nativeOnly)
        const artifacts = yield* module.render(config, { ...options, format }).pipe(
          Effect.catchTag("RenderError", (error) => fail(error.message, 78))
        )
        if (Option.isNone(output)) return yield* Effect.sync(() => process.stdout.write(Render.text(artifacts)))
        const written = yield* Effect.try({
          try: () => Render.write(artifacts, output.value),
          catch: (error) => new CliFailure({ message: `cannot write into ${output.value}: ${(error as Error).message}`, code: 1 })
        })
        return yield* Effect.forEach(written, print, { discard: true })
      })
  ).pipe(Command.withDescription(
    "Print what a config becomes on a platform (systemd units, an OCI config.json, a docker/podman command, a Docker Engine API body, a compose file…)"
  ))

  return {
    start,
    install,
    stop: simple("stop", "Stop a daemon (it stays registered)"),
    restart: simple("restart", "Stop and start a daemon"),
    reload: simple("reload", "Ask a daemon to reload (SIGHUP), or with reload: \"replace\" replace it by a rolling restart"),
    signal,
    status,
    logs,
    rm,
    render,
    trace: Trace.command({ platform, flags: flags.options, target, native, fail, supervised: (name) => Effect.map(send({ method: "status", name }), (info) => info as DaemonInfo) })
  }
}

const ls = Command.make("ls", { json }, ({ json }) =>
  Effect.gen(function*() {
    const infos = (yield* send({ method: "list" })) as ReadonlyArray<DaemonInfo>
    yield* json ? printJson(infos) : print(daemonTable(infos))
    const found = yield* notices
    if (found.length > 0) {
      yield* printError(`duende: the supervisor's start left ${found.length} notice(s) (a recovered registry, entries skipped or merged): \`duende doctor\` shows them`)
    }
  })).pipe(
    Command.withDescription("List daemons: name, status, pid, uptime, restarts, cpu, memory")
  )

const scale = Command.make(
  "scale",
  {
    name: nameArg,
    instances: Args.text({ name: "instances" }).pipe(Args.withDescription("How many copies to run: 1–256, or max (one per CPU)"))
  },
  ({ instances, name }) =>
    Effect.gen(function*() {
      const count = instances === "max" ? "max" : /^[0-9]{1,3}$/.test(instances) ? Number(instances) : Number.NaN
      if (count !== "max" && !(count >= 1 && count <= 256)) {
        return yield* fail(`not a number of instances: ${ConfigPath.shown(instances)} (1–256, or max)`, 2)
      }
      return yield* print(describeStart((yield* send({ method: "scale", name, instances: count })) as DaemonInfo))
    })
).pipe(Command.withDescription(
  "Run N copies of a registered daemon sharing its listen sockets (new ones start if it runs; extra ones stop gracefully)"
))

const health = Command.make(
  "health",
  {
    name: Args.text({ name: "name" }).pipe(Args.optional, Args.withDescription("A daemon of the supervisor (default: the daemon of this container)")),
    stateDir: Options.directory("state-dir").pipe(Options.optional, Options.withDescription("Where the container's daemon keeps its state file")),
    json
  },
  ({ json, name, stateDir }) =>
    Effect.gen(function*() {
      const verdict = Option.isSome(name)
        ? Health.ofSupervised((yield* send({ method: "status", name: name.value })) as DaemonInfo)
        : yield* Health.ofContainer(Option.getOrUndefined(stateDir))
      yield* json ? printJson(verdict) : print(verdict.reason)
      if (verdict.exitCode !== 0) return yield* Effect.fail(new CliFailure({ message: "", code: verdict.exitCode }))
    })
).pipe(Command.withDescription("Exit 0 if the daemon is healthy, 1 with the reason if not: a container's HEALTHCHECK CMD"))

const resurrect = Command.make("resurrect", { json }, ({ json }) =>
  Effect.gen(function*() {
    yield* ensure
    const infos = (yield* send({ method: "resurrect" })) as ReadonlyArray<DaemonInfo>
    yield* json ? printJson(infos) : print(daemonTable(infos))
    for (const notice of yield* notices) yield* printError(notice)
  })).pipe(Command.withDescription("Start the supervisor and every daemon the registry says should run"))

/** Whether the supervisor with this pid runs as `duende startup`'s systemd unit (its cgroup says so). */
const underStartupUnit = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").some((line) => line.endsWith(`/${Startup.unitName}`))
  } catch {
    return false
  }
}

const systemctlUser = (...args: Array<string>) =>
  spawnSync("systemctl", ["--user", ...args], { encoding: "utf8", timeout: 15 * 60_000 })

/** Until the supervisor's socket is gone (it stops its daemons first: up to 15 minutes). */
const supervisorGone = Effect.gen(function*() {
  const deadline = Date.now() + 15 * 60_000
  while (existsSync(paths.socket) && Date.now() < deadline) yield* Effect.sleep("100 millis")
})

/** Asks the supervisor to stop (its daemons first) and waits until it has. */
const shutdownSupervisor = Effect.zipRight(send({ method: "shutdown" }), supervisorGone)

const launchctl = (...args: Array<string>) => spawnSync("launchctl", args, { encoding: "utf8", timeout: 15 * 60_000 })
/** The user's launchd domain, where `duende startup launchd` bootstraps its agent. */
const agentDomain = () => `gui/${process.getuid?.() ?? 0}`
const agentTarget = () => `${agentDomain()}/${Startup.agentLabel}`

/** Whether the supervisor with this pid runs as `duende startup`'s LaunchAgent (launchd says so). */
const underStartupAgent = (pid: number): boolean => {
  if (!existsSync(Startup.agentPath(process.env))) return false
  const printed = launchctl("print", agentTarget())
  return printed.status === 0 && Launchctl.parsePrint(printed.stdout)?.pid === pid
}

/** Stops a supervisor that runs outside the service: it would hold the PID file; the service's restarts its daemons. */
const stopOutside = (isOurs: (pid: number) => boolean) =>
  Effect.gen(function*() {
    const running = yield* Effect.either(ControlClient.request(paths, { method: "ping" }))
    if (running._tag === "Left" || isOurs((running.right as { pid: number }).pid)) return
    yield* print("duende: stopping the supervisor that runs outside the service (the service's restarts its daemons)")
    yield* shutdownSupervisor
  })

const awaitSupervisor = Effect.gen(function*() {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if ((yield* Effect.either(ControlClient.request(paths, { method: "ping" })))._tag === "Right") return
    yield* Effect.sleep("100 millis")
  }
  return yield* fail(`the supervisor did not answer within 60s; see ${paths.supervisorLog}`)
})

const writeService = (path: string, content: string) =>
  Effect.try({
    try: () => writeAtomically(path, content),
    catch: (error) => new CliFailure({ message: `cannot write ${path}: ${(error as Error).message}`, code: 1 })
  })

const startupSystemd = (printOnly: boolean, remove: boolean) =>
  Effect.gen(function*() {
    const unit = Startup.systemdUnit({ node: process.execPath, entry: resolvePath(entry), env: process.env })
    if (Either.isLeft(unit)) return yield* fail(`cannot write the unit: ${unit.left}`, 78)
    if (printOnly) return yield* Effect.sync(() => void process.stdout.write(unit.right))
    const path = Startup.unitPath(process.env)
    const check = (result: ReturnType<typeof systemctlUser>, what: string) =>
      result.status === 0
        ? Effect.void
        : fail(`systemctl --user ${what} failed: ${(result.stderr || result.error?.message || "").trim()} (is the user's systemd running? XDG_RUNTIME_DIR=${process.env.XDG_RUNTIME_DIR ?? "unset"})`)
    if (remove) {
      yield* check(systemctlUser("disable", "--now", Startup.unitName), `disable --now ${Startup.unitName}`)
      rmSync(path, { force: true })
      yield* check(systemctlUser("daemon-reload"), "daemon-reload")
      return yield* print(`duende: removed ${path}; the supervisor and its daemons stopped (\`duende resurrect\` runs them again without the service)`)
    }
    yield* stopOutside(underStartupUnit)
    yield* writeService(path, unit.right)
    yield* check(systemctlUser("daemon-reload"), "daemon-reload")
    yield* check(systemctlUser("enable", Startup.unitName), `enable ${Startup.unitName}`)
    yield* check(systemctlUser("restart", Startup.unitName), `restart ${Startup.unitName}`)
    yield* awaitSupervisor
    const user = userInfo().username
    const linger = spawnSync("loginctl", ["enable-linger", user], { encoding: "utf8", timeout: 60_000 })
    yield* print(`duende: the supervisor runs as ${Startup.unitName} of ${user}'s systemd (${path}): restarted when it dies, resurrecting its daemons`)
    yield* linger.status === 0
      ? print(`duende: lingering is on for ${user}: it starts at boot, before any login`)
      : print(`duende: it starts at ${user}'s first login; to start it at boot: sudo loginctl enable-linger ${user}`)
  })

const startupLaunchd = (printOnly: boolean, remove: boolean) =>
  Effect.gen(function*() {
    const plist = Startup.launchdAgent({ node: process.execPath, entry: resolvePath(entry), env: process.env, log: paths.supervisorLog })
    if (Either.isLeft(plist)) return yield* fail(`cannot write the agent: ${plist.left}`, 78)
    if (printOnly) return yield* Effect.sync(() => void process.stdout.write(plist.right))
    const path = Startup.agentPath(process.env)
    if (remove) {
      const out = launchctl("bootout", agentTarget())
      if (out.status !== 0 && existsSync(path) && !/could not find|no such process|not find/i.test(out.stderr)) {
        return yield* fail(`launchctl bootout ${agentTarget()} failed: ${out.stderr.trim()}`)
      }
      rmSync(path, { force: true })
      return yield* print(`duende: removed ${path}; the supervisor and its daemons stopped (\`duende resurrect\` runs them again without the agent)`)
    }
    yield* stopOutside(underStartupAgent)
    mkdirSync(paths.home, { recursive: true, mode: 0o700 })
    yield* writeService(path, plist.right)
    launchctl("bootout", agentTarget()) // an earlier version of the agent, if loaded
    const loaded = launchctl("bootstrap", agentDomain(), path)
    if (loaded.status !== 0) return yield* fail(`launchctl bootstrap failed: ${(loaded.stderr || loaded.error?.message || "").trim()}`)
    yield* awaitSupervisor
    yield* print(`duende: the supervisor runs as the LaunchAgent ${Startup.agentLabel} (${path}): restarted when it dies, resurrecting its daemons, loaded at login`)
  })

const startup = Command.make(
  "startup",
  {
    manager: Args.choice([["systemd", "systemd"], ["launchd", "launchd"]], { name: "manager" }).pipe(
      Args.withDescription("The service manager that keeps the supervisor running: systemd (a user unit; Linux's default) or launchd (a LaunchAgent; macOS's default)"),
      Args.optional
    ),
    remove: Options.boolean("remove").pipe(Options.withDescription("Remove the service (the supervisor and its daemons stop)")),
    printOnly: Options.boolean("print").pipe(Options.withDescription("Print the unit or plist instead of installing it"))
  },
  ({ manager, printOnly, remove }) =>
    Option.getOrElse(manager, () => (process.platform === "darwin" ? "launchd" as const : "systemd" as const)) === "launchd"
      ? startupLaunchd(printOnly, remove)
      : startupSystemd(printOnly, remove)
).pipe(Command.withDescription("Keep the supervisor running: install it as a systemd user unit or a LaunchAgent (restarted when it dies, started at boot or login)"))

const shutdown = Command.make("shutdown", {}, () =>
  Effect.gen(function*() {
    const ping = (yield* send({ method: "ping" })) as { pid: number }
    if (underStartupAgent(ping.pid)) {
      // KeepAlive would start it again at once: unload the agent (it loads again at the next login).
      const out = launchctl("bootout", agentTarget())
      if (out.status !== 0) return yield* fail(`launchctl bootout ${agentTarget()} failed: ${out.stderr.trim()}`)
      yield* supervisorGone
      return yield* print(`duende: supervisor stopped (${Startup.agentLabel} unloaded; it loads again at login, \`duende startup launchd --remove\` removes it)`)
    }
    if (underStartupUnit(ping.pid)) {
      // The unit would start it again at once (Restart=always): stop the unit.
      const stopped = systemctlUser("stop", Startup.unitName)
      if (stopped.status !== 0) return yield* fail(`systemctl --user stop ${Startup.unitName} failed: ${stopped.stderr.trim()}`)
      return yield* print(`duende: supervisor stopped (${Startup.unitName} stopped; it starts again at boot, \`duende startup --remove\` removes it)`)
    }
    yield* shutdownSupervisor
    yield* print("duende: supervisor stopped (daemons stopped; the registry keeps them for `duende resurrect`)")
  })).pipe(Command.withDescription("Stop every daemon and the supervisor"))

const monit = Command.make(
  "monit",
  {
    interval: Options.integer("interval").pipe(
      Options.withDefault(1000),
      Options.withDescription("Milliseconds between refreshes (100 to 60000)")
    )
  },
  ({ interval }) =>
    Effect.gen(function*() {
      if (interval < 100 || interval > 60_000) return yield* fail(`--interval: expected 100 to 60000 milliseconds, got ${interval}`, 2)
      if (!process.stdin.isTTY || !process.stdout.isTTY) {
        return yield* fail("duende monit needs a terminal (its input and output); in a pipe, use `duende ls --json` and `duende logs -f`", 2)
      }
      yield* ensure
      yield* Monit.run({
        list: Effect.map(send({ method: "list" }), (infos) => infos as ReadonlyArray<DaemonInfo>),
        logs: (name, lines) =>
          Effect.map(
            send({ method: "logs", ...(name === undefined ? {} : { name }), lines, follow: false }),
            (result) => result as ReadonlyArray<LogLineInfo>
          )
      }, interval)
    })
).pipe(Command.withDescription(
  "A live view of the daemons (status, pid, uptime, restarts, cpu, memory, health) and the recent logs of one or all; q quits"
))

const importCommand = Command.make(
  "import",
  {
    file: Args.text({ name: "ecosystem-file" }).pipe(Args.withDescription("A PM2 ecosystem file (ecosystem.config.js, .cjs, .mjs or .json)")),
    out: Options.directory("out").pipe(
      Options.withAlias("o"),
      Options.optional,
      Options.withDescription("Where to write the duende configs (default: beside the ecosystem file)")
    ),
    force: Options.boolean("force").pipe(Options.withDescription("Replace config files that exist")),
    json
  },
  ({ file, force, json, out }) =>
    Effect.gen(function*() {
      const problem = ConfigPath.problem(file)
      if (problem !== undefined) return yield* fail(problem, 2)
      const { directory, input } = yield* DaemonConfig.read(file).pipe(Effect.catchTag("ConfigError", (error) => fail(error.message, 78)))
      if (!Ecosystem.isEcosystem(input)) return yield* fail(`${ConfigPath.shown(file)} is no PM2 ecosystem file (it has no "apps")`, 2)
      const apps = yield* Either.match(Ecosystem.fromEcosystem(input, directory, "node"), {
        onLeft: (why) => fail(`${ConfigPath.shown(file)}: ${why}`, 78),
        onRight: Effect.succeed
      })
      // Each config is decoded as `duende start` would, before anything is written.
      for (const app of apps) {
        yield* DaemonConfig.decode(app.input, `${file} apps[${app.index}] (${app.name})`).pipe(
          Effect.catchTag("ConfigError", (error) => fail(error.message, 78))
        )
      }
      const target = resolvePath(Option.getOrElse(out, () => directory))
      const written = apps.map((app) => ({ app, path: join(target, `${app.name}.json`) }))
      const existing = written.filter(({ path }) => existsSync(path))
      if (!force && existing.length > 0) {
        return yield* fail(`${existing.map(({ path }) => path).join(", ")} exist(s): give --force to replace, or -o another directory`, 1)
      }
      const reportPath = join(target, "pm2-import-report.txt")
      const text = Ecosystem.report(file, apps)
      yield* Effect.try({
        try: () => {
          mkdirSync(target, { recursive: true })
          for (const { app, path } of written) writeAtomically(path, `${JSON.stringify(app.input, null, 2)}\n`)
          writeAtomically(reportPath, `${text}\n`)
        },
        catch: (error) => new CliFailure({ message: `cannot write to ${target}: ${(error as Error).message}`, code: 1 })
      })
      if (json) {
        return yield* printJson({ written: written.map(({ app, path }) => ({ name: app.name, path, keys: app.keys })), report: reportPath })
      }
      yield* print(text)
      yield* print(`wrote ${written.map(({ path }) => path).join(", ")} and ${reportPath}`)
      yield* print(`start them with \`duende start ${written.length === 1 ? written[0]!.path : "<file>"}\`${apps.some((app) => Object.keys(app.input.envProfiles ?? {}).length > 0) ? " (--env NAME selects an env profile)" : ""}`)
    })
).pipe(Command.withDescription(
  "Turn a PM2 ecosystem file into duende config files (one per app), with a report of every key: where it went, or why it did not"
))

const doctor = Command.make("doctor", { json }, ({ json }) =>
  Effect.gen(function*() {
    const tools = ["systemctl", "systemd-analyze", "journalctl", "launchctl", "runc", "crun", "podman", "docker", "qemu-system-x86_64", "tini"]
    const which = (name: string) =>
      (process.env.PATH ?? "").split(":").map((dir) => `${dir}/${name}`).find((path) => existsSync(path)) ?? null
    let koffi: string
    try {
      createRequire(import.meta.url ?? __filename)("koffi")
      koffi = process.platform === "linux" ? "available: the supervisor reaps orphans of daemons" : "available"
    } catch {
      koffi = "missing: orphans of daemons are reaped by PID 1 only"
    }
    const supervisor = yield* Effect.either(ControlClient.request(paths, { method: "ping" }))
    const found = supervisor._tag === "Right"
      ? ((yield* Effect.orElseSucceed(ControlClient.request(paths, { method: "notices" }), () => [])) as ReadonlyArray<string>)
      : []
    const report = {
      version,
      node: process.version,
      platform: Platform.detect(),
      markers: Platform.survey(),
      tools: Object.fromEntries(tools.map((tool) => [tool, which(tool)])),
      koffi,
      paths,
      supervisor: supervisor._tag === "Right" ? { running: true, ...(supervisor.right as object) } : { running: false },
      notices: found,
      resources: NativeAdapter.resourceSupport(),
      trace: Trace.doctorReport()
    }
    if (json) return yield* printJson(report)
    yield* print(`duende ${version} on node ${process.version} (${process.platform}/${process.arch})`)
    yield* print(
      `platform    ${report.platform.kind}${report.platform.markers.length ? ` (${report.platform.markers.join(", ")})` : ""}`
    )
    for (const other of report.markers.filter((m) => m.kind !== report.platform.kind)) {
      yield* print(`            also: ${other.kind} (${other.markers.join(", ")})`)
    }
    yield* print(`supervisor  ${report.supervisor.running ? `running (pid ${(report.supervisor as { pid?: number }).pid})` : "not running"}`)
    yield* print(`            socket ${paths.socket}, state ${paths.home}`)
    for (const notice of found) yield* print(`notice      ${notice}`)
    const metrics = (report.supervisor as { metrics?: string | null }).metrics
    if (metrics) yield* print(`metrics     ${metrics}`)
    yield* print(`subreaper   koffi ${koffi}`)
    for (const [index, { controller, how, why }] of report.resources.entries()) {
      yield* print(`${index === 0 ? "limits     " : "           "} ${controller.padEnd(6)} ${how ?? `not enforced: ${why}`}`)
    }
    for (const [tool, path] of Object.entries(report.tools)) yield* print(`${tool.padEnd(11)} ${path ?? "-"}`)
    yield* print(Trace.doctorLine(report.trace))
  })).pipe(Command.withDescription("Show the detected platform, the tools found and the supervisor's state"))

const run = Command.make(
  "run",
  { configs: configArg.pipe(Args.atLeast(1)) },
  ({ configs }) =>
    Effect.gen(function*() {
      const loaded = yield* Effect.forEach(configs, loadConfig)
      runForeground(paths, loaded)
      return yield* Effect.never
    })
).pipe(Command.withDescription("Run daemons in the foreground, supervised; Ctrl-C stops them gracefully"))

const supervisor = Command.make("supervisor", {}, () =>
  Effect.zipRight(Effect.sync(() => Supervisor.runMain(paths)), Effect.never)).pipe(
    Command.withDescription("Run the background supervisor in this process (started for you by `duende start`)")
  )

const duende = (loaded: Platforms.Loaded) => {
  const commands = platformCommands(loaded)
  return Command.make("duende").pipe(
    Command.withDescription("Run and manage daemons written once with Duende"),
    Command.withSubcommands([
      run,
      commands.install,
      commands.start,
      commands.stop,
      commands.restart,
      commands.reload,
      commands.signal,
      commands.status,
      ls,
      commands.logs,
      scale,
      commands.rm,
      commands.render,
      commands.trace,
      health,
      resurrect,
      startup,
      shutdown,
      doctor,
      importCommand,
      monit,
      supervisor
    ])
  )
}

/** Warnings of the platforms (a render note, what a container does not apply) go to stderr, apart from the output. */
const stderrLogger = Logger.make(({ message }) => {
  const parts = Array.isArray(message) ? message : [message]
  process.stderr.write(`duende: ${parts.map(String).join(" ")}\n`)
})

const environment = Layer.mergeAll(
  NodeFileSystem.layer,
  NodePath.layer,
  NodeTerminal.layer,
  Logger.replace(Logger.defaultLogger, stderrLogger),
  Logger.minimumLogLevel(LogLevel.Warning)
)

const main = Effect.gen(function*() {
  const loaded = yield* Effect.mapError(
    Platforms.load(process.argv.slice(2)),
    (unavailable) => new CliFailure({ message: unavailable.message, code: 1 })
  )
  return yield* Command.run(duende(loaded), { name: "duende", version })(process.argv)
})

Output.guard()
Effect.runFork(Output.withPlainConsole(main).pipe(Effect.provide(environment))).addObserver((exit) => {
  if (Exit.isSuccess(exit)) return Output.exit(0)
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause)) as
    | { readonly _tag?: string; readonly message?: string; readonly code?: number }
    | undefined
  if (failure?._tag === "CliFailure") {
    if (failure.message) process.stderr.write(`duende: ${failure.message}\n`)
    return Output.exit(failure.code ?? 1)
  }
  // @effect/cli has already printed usage errors.
  if (ValidationError.isValidationError(failure)) return Output.exit(2)
  process.stderr.write(`duende: ${failure?.message ?? Cause.pretty(exit.cause)}\n`)
  Output.exit(1)
})
