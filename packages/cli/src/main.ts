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
import { DaemonConfig, Platform } from "@duende/core"
import { encode } from "@duende/core/DaemonConfigSchema"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { resolve as resolvePath } from "node:path"
import * as ControlClient from "./ControlClient.js"
import type { DaemonInfo, LogLineInfo, Request } from "./ControlProtocol.js"
import * as ConfigPath from "./internal/configPath.js"
import { daemonDetails, daemonTable, logLine } from "./internal/format.js"
import { runForeground } from "./internal/foreground.js"
import * as Health from "./internal/health.js"
import * as Output from "./internal/output.js"
import * as Render from "./internal/render.js"
import * as Systemd from "./internal/systemd.js"
import * as Paths from "./Paths.js"
import * as Supervisor from "./Supervisor.js"

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
      SupervisorNotRunning: (error) => fail(error.message, 3),
      SupervisorError: (error) => fail(error.message, error.tag === "ConfigError" ? 78 : 1)
    })
  )

const send = (request: Request) => talk(ControlClient.request(paths, request))

const ensure = ControlClient.ensureSupervisor(paths, entry).pipe(
  Effect.catchTag("SupervisorStartFailed", (error) => fail(error.message))
)

const print = (text: string) => Effect.sync(() => void process.stdout.write(`${text}\n`))
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
const platform = Options.choice("platform", ["native", "systemd"]).pipe(
  Options.withDefault("native" as const),
  Options.withDescription("Who runs the daemon: Duende's own supervisor (native) or systemd")
)
const user = Options.boolean("user").pipe(Options.withDescription("With --platform systemd: the user's manager (systemctl --user)"))
const timeout = Options.integer("timeout").pipe(
  Options.optional,
  Options.withDescription("With --platform systemd: seconds to wait beyond which the command gives up (systemd kills at the unit's TimeoutStopSec)")
)

/** Where a command goes: the supervisor, or systemd (and in which scope). */
interface Target {
  readonly platform: "native" | "systemd"
  readonly user: boolean
}

/** `--user` only means something to systemd. */
const checkTarget = (target: Target) =>
  target.user && target.platform !== "systemd" ? fail("--user goes with --platform systemd", 2) : Effect.void

const underSystemd = <A>(effect: Effect.Effect<A, string>) => Effect.mapError(effect, (message) => new CliFailure({ message, code: 1 }))

const patience = (seconds: Option.Option<number>) =>
  Option.match(seconds, { onNone: () => Systemd.defaultTimeout, onSome: (s) => Duration.seconds(s) })

const describeStart = (info: DaemonInfo) =>
  `${info.name}: ${info.status}${info.pid === null ? "" : ` (pid ${info.pid})`}${
    info.statusText ? ` — ${info.statusText}` : ""
  }`

const configOrName = Args.text({ name: "config|name" }).pipe(
  Args.withDescription("A config file to add and start, or the name of a registered daemon")
)

const start = Command.make(
  "start",
  { target: configOrName, platform, user },
  ({ platform, target, user }) =>
    Effect.gen(function*() {
      yield* checkTarget({ platform, user })
      if (platform === "systemd") {
        const what = ConfigPath.isConfigPath(target) ? yield* loadConfig(target) : target
        const { handle, state } = yield* underSystemd(Systemd.start(what, user))
        return yield* print(Systemd.describe(handle, state))
      }
      if (ConfigPath.isConfigPath(target)) {
        const config = yield* loadConfig(target)
        yield* ensure
        const info = (yield* send({
          method: "add",
          config: encode(config),
          configPath: resolvePath(target),
          start: true
        })) as DaemonInfo
        return yield* print(describeStart(info))
      }
      yield* ensure
      return yield* print(describeStart((yield* send({ method: "start", name: target })) as DaemonInfo))
    })
).pipe(Command.withDescription(
  "Start a daemon under the background supervisor (starting the supervisor if needed), or under systemd with --platform systemd"
))

const install = Command.make(
  "install",
  { config: configArg, platform, user },
  ({ config: path, platform, user }) =>
    Effect.gen(function*() {
      yield* checkTarget({ platform, user })
      const config = yield* loadConfig(path)
      if (platform === "systemd") {
        const handle = yield* underSystemd(Systemd.install(config, user))
        return yield* print(`${handle.name}: installed as ${handle.ref} (enabled; \`duende start ${handle.name} --platform systemd${user ? " --user" : ""}\` starts it)`)
      }
      yield* ensure
      const info = (yield* send({ method: "add", config: encode(config), configPath: resolvePath(path), start: false })) as DaemonInfo
      return yield* print(`${info.name}: registered with the supervisor (\`duende start ${info.name}\` starts it)`)
    })
).pipe(Command.withDescription("Install a daemon without starting it: a systemd unit (--platform systemd), or an entry in the supervisor's registry"))

const simple = (method: "stop" | "restart" | "reload", description: string) =>
  Command.make(method, { name: nameArg, platform, user, timeout }, ({ name, platform, timeout, user }) =>
    Effect.gen(function*() {
      yield* checkTarget({ platform, user })
      if (platform === "systemd") {
        const { handle, state } = yield* underSystemd(Systemd.control(method, name, user, patience(timeout)))
        return yield* print(Systemd.describe(handle, state))
      }
      return yield* print(describeStart((yield* send({ method, name })) as DaemonInfo))
    })).pipe(Command.withDescription(description))

const rm = Command.make("rm", { name: nameArg, platform, user, timeout }, ({ name, platform, timeout, user }) =>
  Effect.gen(function*() {
    yield* checkTarget({ platform, user })
    if (platform === "systemd") yield* underSystemd(Systemd.remove(name, user, patience(timeout)))
    else yield* send({ method: "remove", name })
    return yield* print(`${name}: removed`)
  })).pipe(
    Command.withDescription("Stop a daemon and remove it: from the registry, or its units from systemd")
  )

const signal = Command.make(
  "signal",
  { name: nameArg, signal: Args.text({ name: "signal" }).pipe(Args.withDescription("TERM, HUP, USR1, 15…")) },
  ({ name, signal }) => Effect.flatMap(send({ method: "signal", name, signal }), (info) => print(describeStart(info as DaemonInfo)))
).pipe(Command.withDescription("Send a signal to a daemon"))

const status = Command.make("status", { name: nameArg, json, platform, user }, ({ json, name, platform, user }) =>
  Effect.gen(function*() {
    yield* checkTarget({ platform, user })
    if (platform === "systemd") {
      const { handle, state } = yield* underSystemd(Systemd.status(name, user))
      return yield* json ? printJson({ ...handle, ...state }) : print(Systemd.describe(handle, state))
    }
    const info = yield* send({ method: "status", name })
    return yield* json ? printJson(info) : print(daemonDetails(info as DaemonInfo))
  })).pipe(
    Command.withDescription("Show one daemon in detail (under systemd: from `systemctl show`)")
  )

const ls = Command.make("ls", { json }, ({ json }) =>
  Effect.flatMap(send({ method: "list" }), (infos) =>
    json ? printJson(infos) : print(daemonTable(infos as ReadonlyArray<DaemonInfo>)))).pipe(
    Command.withDescription("List daemons: name, status, pid, uptime, restarts, cpu, memory")
  )

const showLine = (asJson: boolean) => (line: LogLineInfo) =>
  void process.stdout.write(asJson ? `${JSON.stringify(line)}\n` : `${logLine(line)}\n`)

const logs = Command.make(
  "logs",
  {
    name: nameArg,
    lines: Options.integer("lines").pipe(Options.withAlias("n"), Options.withDefault(50), Options.withDescription("How many lines from the end")),
    follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("Keep printing new lines")),
    json,
    platform,
    user
  },
  ({ follow, json, lines, name, platform, user }) =>
    Effect.gen(function*() {
      yield* checkTarget({ platform, user })
      if (platform === "systemd") return yield* underSystemd(Systemd.logs(name, user, lines, follow, showLine(json)))
      return yield* follow
        ? talk(ControlClient.stream(paths, { method: "logs", name, lines, follow: true }, showLine(json)))
        : Effect.flatMap(send({ method: "logs", name, lines, follow: false }), (result) =>
          Effect.sync(() => (result as ReadonlyArray<LogLineInfo>).forEach(showLine(json))))
    })
).pipe(Command.withDescription("Print a daemon's log (stdout and stderr, with times; under systemd: its journal)"))

const render = Command.make(
  "render",
  {
    format: Args.choice(Render.formats.map((f) => [f, f] as const), { name: "format" }).pipe(
      Args.withDescription(`What to render: ${Render.formats.join(", ")}`)
    ),
    config: configArg,
    user,
    systemdVersion: Options.integer("systemd-version").pipe(
      Options.optional,
      Options.withDescription("systemd: the version to render for (default: this machine's)")
    ),
    image: Options.text("image").pipe(
      Options.optional,
      Options.withDescription("Containers: the image, if the config's platform.container.image names none")
    ),
    output: Options.directory("output").pipe(
      Options.withAlias("o"),
      Options.optional,
      Options.withDescription("Write the files into this directory (atomically) instead of printing them")
    )
  },
  ({ config: path, format, image, output, systemdVersion, user }) =>
    Effect.gen(function*() {
      if (user && format !== "systemd") return yield* fail("--user goes with systemd", 2)
      const config = yield* loadConfig(path)
      const artifacts = yield* Effect.mapError(
        Render.render(config, format, {
          user,
          systemdVersion: Option.getOrUndefined(systemdVersion),
          image: Option.getOrUndefined(image)
        }, (note) => process.stderr.write(`${note}\n`)),
        (message) => new CliFailure({ message, code: 78 })
      )
      if (Option.isSome(output)) {
        for (const written of Render.write(artifacts, output.value)) yield* print(written)
        return
      }
      yield* Effect.sync(() => process.stdout.write(Render.text(artifacts)))
    })
).pipe(Command.withDescription("Print what a config becomes on a platform: systemd units, an OCI config.json, a docker/podman command, a Docker Engine API body, a compose file"))

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
    return yield* json ? printJson(infos) : print(daemonTable(infos))
  })).pipe(Command.withDescription("Start the supervisor and every daemon the registry says should run"))

const shutdown = Command.make("shutdown", {}, () =>
  Effect.gen(function*() {
    yield* send({ method: "shutdown" })
    const deadline = Date.now() + 15 * 60_000
    while (existsSync(paths.socket) && Date.now() < deadline) yield* Effect.sleep("100 millis")
    yield* print("duende: supervisor stopped (daemons stopped; the registry keeps them for `duende resurrect`)")
  })).pipe(Command.withDescription("Stop every daemon and the supervisor"))

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
    const report = {
      version,
      node: process.version,
      platform: Platform.detect(),
      markers: Platform.survey(),
      tools: Object.fromEntries(tools.map((tool) => [tool, which(tool)])),
      koffi,
      paths,
      supervisor: supervisor._tag === "Right" ? { running: true, ...(supervisor.right as object) } : { running: false }
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
    const metrics = (report.supervisor as { metrics?: string | null }).metrics
    if (metrics) yield* print(`metrics     ${metrics}`)
    yield* print(`subreaper   koffi ${koffi}`)
    for (const [tool, path] of Object.entries(report.tools)) yield* print(`${tool.padEnd(11)} ${path ?? "-"}`)
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

const duende = Command.make("duende").pipe(
  Command.withDescription("Run and manage daemons written once with Duende"),
  Command.withSubcommands([
    run,
    install,
    start,
    simple("stop", "Stop a daemon (it stays registered)"),
    simple("restart", "Stop and start a daemon"),
    simple("reload", "Ask a daemon to reload (SIGHUP)"),
    signal,
    status,
    ls,
    logs,
    rm,
    render,
    health,
    resurrect,
    shutdown,
    doctor,
    supervisor
  ])
)

const cli = Command.run(duende, { name: "duende", version })

const environment = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

Output.guard()
Effect.runFork(Output.withPlainConsole(cli(process.argv)).pipe(Effect.provide(environment))).addObserver((exit) => {
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
