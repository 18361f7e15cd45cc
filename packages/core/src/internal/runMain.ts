/**
 * `Daemon.runMain`: config, PID file, signals, platform runtime and logger
 * around the lifecycle, then `process.exit` with the exit reason's code.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type { Daemon, MainOptions } from "../Daemon.js"
import * as DaemonConfig from "../DaemonConfig.js"
import { ConfigError } from "../ConfigError.js"
import * as ExitReason from "../ExitReason.js"
import * as PidFile from "../PidFile.js"
import * as PlatformRuntime from "../PlatformRuntime.js"
import * as ProcessSignals from "../ProcessSignals.js"
import { defaultConfig } from "./defaultConfig.js"
import { warnIfDuplicated } from "./effectCopies.js"
import { fromHandoff, handoffInput } from "./handoff.js"
import { daemonNamePattern } from "./defaults.js"
import * as lifecycle from "./lifecycle.js"
import * as Logger from "./logger.js"
import { configVariable } from "./notifyProtocol.js"

/** Where configs come from, read from the environment once, before any layer changes it. */
interface ConfigSources {
  readonly file: string | undefined
  readonly handoff: string | undefined
}

const takeConfigSources = <R>(options: MainOptions<R>): ConfigSources => {
  const sources = { file: options.configFile ?? process.env.DUENDE_CONFIG, handoff: process.env[configVariable] }
  // Meant for this process only: a daemon's own children must not inherit them.
  delete process.env.DUENDE_CONFIG
  delete process.env[configVariable]
  return sources
}

interface Resolved {
  readonly config: DaemonConfig.DaemonConfig
  readonly reloadConfig?: Effect.Effect<DaemonConfig.DaemonConfig, ConfigError>
}

const thisCommand = () => ({ program: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)] })

/**
 * The config, from the first of: a config file (option or DUENDE_CONFIG), the
 * supervisor's handoff (DUENDE_DAEMON_CONFIG), config options in code, defaults.
 * A file or handoff replaces the in-code options entirely: the file is the source of truth.
 */
const resolveConfig = <R>(
  daemon: Daemon<unknown, R>,
  options: MainOptions<R>,
  sources: ConfigSources
): Effect.Effect<Resolved, ConfigError> => {
  const file = sources.file
  if (file !== undefined && file !== "") {
    return Effect.gen(function*() {
      const config = yield* DaemonConfig.load(file)
      if (config.name !== daemon.name) {
        yield* Effect.logWarning(`config ${file} names the daemon "${config.name}"; the code calls it "${daemon.name}"`)
      }
      return { config, reloadConfig: DaemonConfig.load(file) }
    })
  }
  const handoff = sources.handoff
  if (handoff !== undefined && handoff !== "") {
    // Set by Duende's supervisor: trusted and normalized, read without effect/Schema.
    const config = fromHandoff(handoff)
    return config !== undefined
      ? Effect.succeed({ config })
      : Effect.map(DaemonConfig.decode(handoffInput(handoff), configVariable), (decoded) => ({ config: decoded }))
  }
  if (options.config !== undefined) {
    return Effect.map(
      DaemonConfig.decode({ name: daemon.name, command: thisCommand(), ...options.config }, "Daemon.runMain options"),
      (config) => ({ config })
    )
  }
  if (!daemonNamePattern.test(daemon.name)) {
    return Effect.fail(
      new ConfigError({
        source: "Daemon.make",
        problems: [{
          path: "name",
          message: `expected lowercase letters, digits and "-" (1 to 63 characters, e.g. "my-daemon"), got ${
            JSON.stringify(daemon.name)
          }`
        }]
      })
    )
  }
  return Effect.succeed({ config: defaultConfig(daemon.name, thisCommand()) })
}

const program = <E, R>(daemon: Daemon<E, R>, options: MainOptions<R>, sources: ConfigSources) =>
  Effect.gen(function*() {
    yield* warnIfDuplicated
    const resolved = yield* Effect.either(resolveConfig(daemon, options, sources))
    if (Either.isLeft(resolved)) {
      yield* Effect.logError(resolved.left.message)
      return ExitReason.ConfigInvalid({ message: resolved.left.message })
    }
    const { config, reloadConfig } = resolved.right
    if (options.pidFile === "") {
      // Typically `pidFile: process.env.PID_FILE` with the variable set but empty: refuse it, never write to "".
      const message =
        `Invalid daemon config (Daemon.runMain options):\n  - pidFile: expected a path, got "" (an empty environment variable?): give a path or leave pidFile out`
      yield* Effect.logError(message)
      return ExitReason.ConfigInvalid({ message })
    }
    const pidFile = options.pidFile ?? config.pidFile
    if (pidFile !== undefined) {
      const held = yield* Effect.either(PidFile.acquire(pidFile))
      if (Either.isLeft(held)) {
        yield* Effect.logError(held.left.message)
        return held.left._tag === "AlreadyRunning"
          ? ExitReason.AlreadyRunning({ pid: held.left.pid, pidFile })
          : ExitReason.InitFailed({ message: held.left.message })
      }
    }
    return yield* lifecycle.run(daemon, {
      config,
      ...(reloadConfig ? { reloadConfig } : {}),
      ...(options.layer ? { layer: options.layer } : {})
    } as Parameters<typeof lifecycle.run<E, R>>[1]).pipe(
      // Around the lifecycle, so its forked fibers inherit the tracer; it closes (flushes) before exit.
      Effect.provide(options.telemetry ?? Layer.empty)
    )
  }).pipe(
    Effect.tap((reason) =>
      Effect.zipRight(
        // The exit is decided: a signal arriving while the scope closes must not kill the
        // process with its default action and so change the exit status.
        Effect.sync(() => {
          for (const signal of ProcessSignals.handled) process.on(signal, () => undefined)
        }),
        Effect.log(`exit ${ExitReason.exitCode(reason)}: ${ExitReason.describe(reason)}`)
      )
    ),
    Effect.annotateLogs("daemon", daemon.name),
    Effect.scoped
  )

export const runMain = <E, R>(daemon: Daemon<E, R>, options: MainOptions<R>): void => {
  const runnable = program(daemon, options, takeConfigSources(options)).pipe(
    Effect.provide(Layer.merge(ProcessSignals.layerNode, options.platform ?? PlatformRuntime.layerDetect())),
    Effect.provide(Logger.layer())
  )
  // The process lives as long as the lifecycle: a run that awaits only a stop (a Promise
  // daemon's `await ctx.untilShutdown()`) holds no handle that would keep Node running.
  const keepAlive = setInterval(() => undefined, 2 ** 31 - 1)
  Effect.runFork(runnable).addObserver((exit) => {
    clearInterval(keepAlive)
    if (Exit.isFailure(exit)) {
      // Only a defect in Duende itself gets here: the lifecycle turns every daemon failure into a reason.
      process.stderr.write(`duende: internal error: ${lifecycle.causeMessage(exit.cause)}\n`)
    }
    process.exit(Exit.isSuccess(exit) ? ExitReason.exitCode(exit.value) : ExitReason.codes.error)
  })
}
