/**
 * The daemon side of systemd: core's `PlatformRuntime` spoken as sd_notify
 * over `$NOTIFY_SOCKET` (READY, STATUS, RELOADING with MONOTONIC_USEC,
 * STOPPING, WATCHDOG, EXTEND_TIMEOUT_USEC), the watchdog timeout from
 * `WATCHDOG_USEC`/`WATCHDOG_PID` and the listen sockets of socket activation.
 * Datagrams leave from the daemon's own pid through an AF_UNIX socket opened
 * with koffi (prebuilt, no compiler), so the default `NotifyAccess=main`
 * accepts them; without koffi it falls back to `systemd-notify` with a
 * warning. As sd_notify's `unset_environment` does, the variables are removed
 * from the environment once read, so the daemon's children do not inherit them.
 *
 * @since 0.1.0
 */
import type { HealthStatus } from "@duende/core"
import { PlatformRuntime } from "@duende/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { F_GETFD, F_SETFD, FD_CLOEXEC, libc } from "./internal/libc.js"
import * as Notifier from "./internal/notifier.js"
import * as SocketActivation from "./SocketActivation.js"

/**
 * What systemd offers beyond core's `PlatformRuntime`: raw sd_notify
 * assignments, ERRNO=, MAINPID=, WATCHDOG=trigger.
 *
 * @since 0.1.0
 */
export interface SystemdRuntime {
  /** How notifications reach systemd: "none" when this process has no `$NOTIFY_SOCKET`. */
  readonly transport: Notifier.Transport
  /** The `PlatformRuntime` this layer provides. */
  readonly runtime: PlatformRuntime.PlatformRuntime
  /**
   * Sends assignments in one datagram, in order. Keys are `[A-Z][A-Z0-9_]*`
   * (others are dropped); a newline in a value becomes a space, so a value can
   * never add an assignment.
   */
  readonly notify: (fields: ReadonlyArray<readonly [string, string | number]>) => Effect.Effect<void>
  /** ERRNO=: the errno-style reason of a failure, shown by `systemctl status`. */
  readonly errno: (code: number) => Effect.Effect<void>
  /** MAINPID=: another process is now the service's main process. */
  readonly mainPid: (pid: number) => Effect.Effect<void>
  /** WATCHDOG=trigger: asks systemd to act as if the watchdog timed out. */
  readonly watchdogTrigger: Effect.Effect<void>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { SystemdRuntime } from "@duende/platform-systemd"
 * import { Effect } from "effect"
 *
 * const failWithErrno = Effect.flatMap(SystemdRuntime.SystemdRuntime, (systemd) => systemd.errno(98)) // EADDRINUSE
 * ```
 *
 * @since 0.1.0
 */
export const SystemdRuntime: Context.Tag<SystemdRuntime, SystemdRuntime> = Context.GenericTag<SystemdRuntime>(
  "@duende/platform-systemd/SystemdRuntime"
)

/**
 * Options of {@link make}; the defaults are this process's.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The environment to read, and to remove the variables from (default `process.env`). */
  readonly env?: Record<string, string | undefined>
  /** This process's pid (default `process.pid`). */
  readonly pid?: number
  /** "auto" (default): koffi's socket, else systemd-notify. */
  readonly transport?: "auto" | "socket" | "systemd-notify"
  /** Remove the variables once read (default true). */
  readonly unsetEnvironment?: boolean
}

const variables = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]

/** The watchdog timeout systemd enforces on this process, if any. */
const watchdogOf = (env: Readonly<Record<string, string | undefined>>, pid: number): Option.Option<Duration.Duration> => {
  const usec = env.WATCHDOG_USEC
  if (usec === undefined || !/^[1-9]\d*$/.test(usec)) return Option.none()
  const owner = env.WATCHDOG_PID
  if (owner !== undefined && owner !== "" && owner !== String(pid)) return Option.none()
  return Option.some(Duration.micros(BigInt(usec)))
}

/** Inherited listen fds must not leak into the daemon's own children (sd_listen_fds sets FD_CLOEXEC too). */
const closeOnExec = (sockets: ReadonlyArray<PlatformRuntime.ListenSocket>) => {
  if (sockets.length === 0) return
  const lib = libc()
  if (typeof lib === "string") return
  for (const { fd } of sockets) {
    const flags = lib.fcntl(fd, F_GETFD, 0)
    if (flags >= 0) lib.fcntl(fd, F_SETFD, flags | FD_CLOEXEC)
  }
}

const summary = (status: HealthStatus.HealthStatus) =>
  status.checks.filter((check) => !check.passed).map((check) => check.message ? `${check.name}: ${check.message}` : check.name)
    .join("; ")

/** CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants it (Node's hrtime is CLOCK_MONOTONIC). */
const monotonicMicros = () => process.hrtime.bigint() / 1000n

/**
 * Reads the environment and opens the notify socket; the socket is closed
 * when the scope closes.
 *
 * @example
 * ```ts
 * import { SystemdRuntime } from "@duende/platform-systemd"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const systemd = yield* SystemdRuntime.make()
 *     yield* systemd.runtime.ready
 *     yield* systemd.runtime.status("serving")
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<SystemdRuntime, never, Scope.Scope> =>
  Effect.gen(function*() {
    const env = options.env ?? process.env
    const pid = options.pid ?? process.pid
    const address = env.NOTIFY_SOCKET
    const watchdogTimeout = watchdogOf(env, pid)
    const listenSockets = SocketActivation.fromEnvironment(env, pid)
    if (options.unsetEnvironment !== false) for (const name of variables) delete env[name]
    closeOnExec(listenSockets)
    const notifier = yield* Notifier.make({ address, pid, transport: options.transport ?? "auto" })
    const send = (...fields: ReadonlyArray<readonly [string, string]>) => notifier.send(fields)

    let lastStatus = ""
    let unhealthy = false
    const runtime = PlatformRuntime.make({
      platform: "systemd",
      ready: send(["READY", "1"]),
      reloading: Effect.suspend(() => send(["RELOADING", "1"], ["MONOTONIC_USEC", String(monotonicMicros())])),
      stopping: send(["STOPPING", "1"]),
      status: (text) =>
        Effect.suspend(() => {
          lastStatus = text
          return unhealthy ? Effect.void : send(["STATUS", text])
        }),
      health: (report) =>
        Effect.suspend(() => {
          if (report.state === "unhealthy") {
            unhealthy = true
            return send(["STATUS", `unhealthy: ${summary(report.status)}`])
          }
          if (!unhealthy) return Effect.void
          unhealthy = false
          return send(["STATUS", lastStatus])
        }),
      extendTimeout: (duration) =>
        send(["EXTEND_TIMEOUT_USEC", String(Math.max(1, Math.ceil(Duration.toMillis(duration) * 1000)))]),
      watchdogTimeout,
      watchdogPing: send(["WATCHDOG", "1"]),
      listenSockets
    })
    return {
      transport: notifier.transport,
      runtime,
      notify: (fields) => notifier.send(fields.map(([key, value]) => [key, String(value)] as const)),
      errno: (code) => send(["ERRNO", String(code)]),
      mainPid: (mainPid) => send(["MAINPID", String(mainPid)]),
      watchdogTrigger: send(["WATCHDOG", "trigger"])
    }
  })

/**
 * Both services from {@link make} with options.
 *
 * @example
 * ```ts
 * import { SystemdRuntime } from "@duende/platform-systemd"
 *
 * // Force the systemd-notify fallback (it needs NotifyAccess=all in the unit).
 * const platform = SystemdRuntime.layerWith({ transport: "systemd-notify" })
 * ```
 *
 * @since 0.1.0
 */
export const layerWith = (options: Options): Layer.Layer<PlatformRuntime.PlatformRuntime | SystemdRuntime> =>
  Layer.scopedContext(
    Effect.map(make(options), (systemd) =>
      Context.make(SystemdRuntime, systemd).pipe(Context.add(PlatformRuntime.PlatformRuntime, systemd.runtime)))
  )

/**
 * The systemd runtime of this process: provides core's `PlatformRuntime` (and
 * {@link SystemdRuntime}). `PlatformRuntime.layerDetect` picks it by itself
 * under systemd; pass it explicitly to skip detection.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { SystemdRuntime } from "@duende/platform-systemd"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: SystemdRuntime.layer })
 * ```
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<PlatformRuntime.PlatformRuntime | SystemdRuntime> = layerWith({})
