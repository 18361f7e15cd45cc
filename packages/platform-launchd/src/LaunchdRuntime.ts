/**
 * The daemon side of launchd: core's `PlatformRuntime` for a launchd job.
 *
 * launchd has no readiness or status protocol, so the runtime logs: one
 * marker line on stderr (the job's StandardErrorPath) when the daemon starts,
 * is ready, reloads, stops, changes its status text, and exits (with its exit
 * code), each with the daemon's pid. `LaunchdAdapter` reads them back to know
 * when `start` is done and what `status` is; a person reads them as log lines:
 *
 *     2026-05-01T10:00:00.120Z duende-launchd: hello pid=4242
 *     2026-05-01T10:00:00.480Z duende-launchd: ready pid=4242
 *
 * SIGTERM (launchd's stop) runs the daemon's graceful shutdown; the rendered
 * plist's `ExitTimeOut` is the config's `shutdownTimeout` (rounded up to whole
 * seconds), so Duende's own deadline falls before launchd's SIGKILL.
 *
 * A daemon must never daemonize itself under launchd (fork and let the parent
 * exit, `daemon(3)`): launchd takes the exit for the end of the job, kills the
 * job's process group and, with `KeepAlive`, starts it again. `Daemon.runMain`
 * never forks; neither should the daemon's own code.
 *
 * Socket activation: the names in `DUENDE_LAUNCHD_SOCKETS` (set by the
 * rendered plist) are collected with `launch_activate_socket` and offered as
 * `ctx.listenSockets`, like systemd's `LISTEN_FDS`.
 *
 * @since 0.1.0
 */
import type { HealthStatus } from "@duende/core"
import { PlatformRuntime } from "@duende/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { writeSync } from "node:fs"
import { markerLine, type MarkerEvent, socketsVariable } from "./internal/protocol.js"
import * as SocketActivation from "./SocketActivation.js"

/**
 * Options of {@link make}; the defaults are this process's.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The environment to read, and to remove Duende's launchd variables from (default `process.env`). */
  readonly env?: Record<string, string | undefined>
  /** This process's pid (default `process.pid`). */
  readonly pid?: number
  /** Where marker lines go (default: written straight to fd 2, so none is lost at exit). */
  readonly write?: (line: string) => void
  /** How sockets are collected (default launchd's `launch_activate_socket`, macOS only). */
  readonly activator?: SocketActivation.Activator | string
  /** Write an "exit" marker with the exit code when the process exits (default true). */
  readonly exitMarker?: boolean
}

const writeStderr = (line: string) => {
  try {
    writeSync(2, line)
  } catch {
    // stderr closed: nobody is reading the markers anyway.
  }
}

let exitHook: { pid: number; write: (line: string) => void } | undefined

/** One "exit" marker per process, written at exit, after every scope has closed. */
const onExit = (pid: number, write: (line: string) => void) => {
  if (exitHook !== undefined) {
    exitHook = { pid, write }
    return
  }
  exitHook = { pid, write }
  process.once("exit", (code) => {
    const hook = exitHook!
    hook.write(markerLine("exit", hook.pid, Date.now(), { code: typeof code === "number" ? code : Number(code ?? 0) }))
  })
}

const summary = (status: HealthStatus.HealthStatus) =>
  status.checks.filter((check) => !check.passed).map((check) => (check.message ? `${check.name}: ${check.message}` : check.name))
    .join("; ")

/**
 * Builds the runtime: writes the start marker, collects the listen sockets
 * (a failure is a warning: the daemon still runs) and removes
 * `DUENDE_LAUNCHD_SOCKETS` and `DUENDE_PLATFORM=launchd` from the environment
 * so the daemon's own children do not take them for theirs.
 *
 * @example
 * ```ts
 * import { LaunchdRuntime } from "@duende/platform-launchd"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const runtime = yield* LaunchdRuntime.make()
 *   yield* runtime.ready
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<PlatformRuntime.PlatformRuntime> =>
  Effect.gen(function*() {
    const env = options.env ?? process.env
    const pid = options.pid ?? process.pid
    const write = options.write ?? writeStderr
    const socketNames = SocketActivation.names(env)
    delete env[socketsVariable]
    if (env.DUENDE_PLATFORM === "launchd") delete env.DUENDE_PLATFORM

    const mark = (event: MarkerEvent, text?: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => write(markerLine(event, pid, at, text === undefined ? {} : { text }))))

    yield* mark("hello")
    if (options.exitMarker !== false) onExit(pid, write)

    let listenSockets: ReadonlyArray<PlatformRuntime.ListenSocket> = []
    if (socketNames.length > 0) {
      const activated = SocketActivation.activate(socketNames, options.activator ?? SocketActivation.native())
      if (Either.isRight(activated)) listenSockets = activated.right
      else yield* Effect.logWarning(`${activated.left.message}: the daemon runs without its launchd sockets`)
    }

    let lastStatus: string | undefined
    let unhealthy = false
    return PlatformRuntime.make({
      platform: "launchd",
      ready: mark("ready"),
      reloading: mark("reloading"),
      stopping: mark("stopping"),
      status: (text) =>
        Effect.suspend(() => {
          lastStatus = text
          return unhealthy ? Effect.void : mark("status", text)
        }),
      health: (report) =>
        Effect.suspend(() => {
          if (report.state === "unhealthy") {
            unhealthy = true
            return mark("status", `unhealthy: ${summary(report.status)}`)
          }
          if (!unhealthy) return Effect.void
          unhealthy = false
          return mark("status", lastStatus ?? "healthy")
        }),
      extendTimeout: (duration) =>
        Effect.logDebug(`launchd cannot extend its deadlines (asked for ${Duration.format(duration)} more)`),
      listenSockets
    })
  })

/**
 * The launchd runtime with options.
 *
 * @example
 * ```ts
 * import { LaunchdRuntime } from "@duende/platform-launchd"
 *
 * // Markers somewhere else than stderr (for a test).
 * const lines: Array<string> = []
 * const platform = LaunchdRuntime.layerWith({ write: (line) => lines.push(line) })
 * ```
 *
 * @since 0.1.0
 */
export const layerWith = (options: Options): Layer.Layer<PlatformRuntime.PlatformRuntime> =>
  Layer.effect(PlatformRuntime.PlatformRuntime, make(options))

/**
 * The launchd runtime of this process. `PlatformRuntime.layerDetect` picks it
 * by itself under launchd; pass it explicitly to skip detection.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { LaunchdRuntime } from "@duende/platform-launchd"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: LaunchdRuntime.layer })
 * ```
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<PlatformRuntime.PlatformRuntime> = layerWith({})
