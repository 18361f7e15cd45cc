/**
 * How a daemon process tells its manager what happens: ready, reloading,
 * stopping, status text, health, watchdog pings, and which listen sockets the
 * manager handed over. Core declares the service; each platform package
 * provides a layer (`SystemdRuntime.layer` speaks sd_notify, the native
 * supervisor's speaks a notify pipe). A notification never fails the daemon:
 * an implementation logs its own transport errors.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createRequire } from "node:module"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { HealthStatus } from "./HealthStatus.js"
import { isNotifyFd, make as makeNative } from "./internal/nativeRuntime.js"
import { notifyFdVariable } from "./internal/notifyProtocol.js"
import * as Platform from "./Platform.js"

/**
 * A listen socket handed over by the manager (socket activation): a file
 * descriptor to pass to `server.listen({ fd })`, and its name.
 *
 * @since 0.1.0
 */
export interface ListenSocket {
  readonly fd: number
  readonly name: string
}

/**
 * The health of a daemon as its health loop sees it.
 * `state` is "starting" during the start period before the first success.
 *
 * @since 0.1.0
 */
export interface HealthReport {
  readonly state: "starting" | "healthy" | "unhealthy"
  readonly status: HealthStatus
  readonly consecutiveFailures: number
  readonly latencyMs: number
}

/**
 * The daemon-side channel to the manager.
 *
 * @since 0.1.0
 */
export interface PlatformRuntime {
  /** The platform this implementation talks to. */
  readonly platform: Platform.Kind
  /** Init is done; the daemon serves. */
  readonly ready: Effect.Effect<void>
  /** A reload started; `ready` follows when it is done. */
  readonly reloading: Effect.Effect<void>
  /** Shutdown started. */
  readonly stopping: Effect.Effect<void>
  /** A one-line status text for the manager ("serving 12 clients"). */
  readonly status: (text: string) => Effect.Effect<void>
  /** A health result, sent when the health state changes and on each failure. */
  readonly health: (report: HealthReport) => Effect.Effect<void>
  /** Ask the manager for `duration` more before it gives up on init or shutdown. */
  readonly extendTimeout: (duration: Duration.Duration) => Effect.Effect<void>
  /** The watchdog timeout the manager enforces, if it set one (systemd: WATCHDOG_USEC). */
  readonly watchdogTimeout: Option.Option<Duration.Duration>
  /** "I am alive." */
  readonly watchdogPing: Effect.Effect<void>
  /** Listen sockets handed over by the manager, in order. */
  readonly listenSockets: ReadonlyArray<ListenSocket>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 */
export const PlatformRuntime: Context.Tag<PlatformRuntime, PlatformRuntime> = Context.GenericTag<PlatformRuntime>(
  "@duende/core/PlatformRuntime"
)

/**
 * Builds a runtime from the parts a platform supports; the rest do nothing.
 *
 * @example
 * ```ts
 * import { PlatformRuntime } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const logging = PlatformRuntime.make({
 *   platform: "native",
 *   ready: Effect.log("READY=1"),
 *   status: (text) => Effect.log(`STATUS=${text}`)
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (parts: Partial<PlatformRuntime> & Pick<PlatformRuntime, "platform">): PlatformRuntime => ({
  ready: Effect.void,
  reloading: Effect.void,
  stopping: Effect.void,
  status: () => Effect.void,
  health: () => Effect.void,
  extendTimeout: () => Effect.void,
  watchdogTimeout: Option.none(),
  watchdogPing: Effect.void,
  listenSockets: [],
  ...parts
})

/**
 * The listen sockets a manager passed to process `pid` by systemd's protocol
 * (systemd itself, or Duende's supervisor for a config's `listen`): fds from
 * 3, in order, with their names (`LISTEN_FDNAMES`, "unknown" when unnamed).
 * Empty when the variables are absent, malformed, or meant for another
 * process (LISTEN_PID differs: they were inherited from a parent).
 *
 * @example
 * ```ts
 * import { PlatformRuntime } from "@duende/core"
 *
 * PlatformRuntime.listenSocketsFromEnvironment({ LISTEN_PID: "42", LISTEN_FDS: "2", LISTEN_FDNAMES: "http:admin" }, 42)
 * // [{ fd: 3, name: "http" }, { fd: 4, name: "admin" }]
 * ```
 *
 * @since 0.1.0
 */
export const listenSocketsFromEnvironment = (
  env: Readonly<Record<string, string | undefined>>,
  pid: number
): ReadonlyArray<ListenSocket> => {
  if (env.LISTEN_PID === undefined || !/^\d+$/.test(env.LISTEN_PID) || Number(env.LISTEN_PID) !== pid) return []
  const count = env.LISTEN_FDS !== undefined && /^\d{1,4}$/.test(env.LISTEN_FDS) ? Number(env.LISTEN_FDS) : 0
  const names = env.LISTEN_FDNAMES === undefined ? [] : env.LISTEN_FDNAMES.split(":")
  const named = names.length === count
  return Array.from({ length: count }, (_, i) => ({ fd: 3 + i, name: named ? names[i]! : "unknown" }))
}

/**
 * A runtime that tells nobody anything: for plain processes with no manager.
 *
 * @example
 * ```ts
 * import { Daemon, PlatformRuntime } from "@duende/core"
 *
 * // Daemon.runMain(daemon, { platform: PlatformRuntime.layerNoop })
 * ```
 *
 * @since 0.1.0
 */
export const layerNoop: Layer.Layer<PlatformRuntime> = Layer.succeed(PlatformRuntime, make({ platform: "native" }))

/**
 * The runtime for daemons started by Duende's native supervisor: notifications
 * go as `KEY=VALUE` lines to the pipe the supervisor passed as the fd named by
 * `DUENDE_NOTIFY_FD`. The supervisor's variables are removed from
 * `process.env` once read, so the daemon's own children do not inherit them.
 * Without such an fd it behaves as {@link layerNoop}.
 *
 * @example
 * ```ts
 * import { Daemon, PlatformRuntime } from "@duende/core"
 *
 * // Daemon.runMain(daemon, { platform: PlatformRuntime.layerNative })
 * ```
 *
 * @since 0.1.0
 */
export const layerNative: Layer.Layer<PlatformRuntime> = Layer.effect(
  PlatformRuntime,
  Effect.suspend(() => {
    const text = process.env[notifyFdVariable]
    const fd = Number(text)
    // The supervisor's held sockets (config `listen`), by systemd's protocol; not for the daemon's children.
    const listenSockets = listenSocketsFromEnvironment(process.env, process.pid)
    for (const name of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]) if (listenSockets.length > 0) delete process.env[name]
    const base = make({ platform: "native", listenSockets })
    if (text === undefined || text === "") return Effect.succeed(base)
    delete process.env[notifyFdVariable]
    if (process.env.DUENDE_PLATFORM === "native") delete process.env.DUENDE_PLATFORM
    if (!Number.isInteger(fd) || fd < 3 || !isNotifyFd(fd)) {
      return Effect.as(
        Effect.logWarning(`${notifyFdVariable}=${text} is not an inherited pipe; the supervisor will not hear from this daemon`),
        base
      )
    }
    return makeNative(fd, base)
  })
)

/**
 * What a platform package exports for {@link layerDetect} to find it:
 * `export const platformRuntime: Layer<PlatformRuntime>`.
 *
 * @since 0.1.0
 */
export interface PlatformPackage {
  readonly platformRuntime: Layer.Layer<PlatformRuntime>
}

/**
 * Where to find the runtime layer of each platform. Core provides `native`;
 * the others come from `@duende/platform-<kind>` packages.
 *
 * @since 0.1.0
 */
export type Providers = Partial<Record<Platform.Kind, Layer.Layer<PlatformRuntime>>>

const loadPlatformPackage = (name: string): Effect.Effect<Layer.Layer<PlatformRuntime>, string> =>
  Effect.tryPromise({
    try: async () => {
      // Resolve from the application, not from core: under pnpm's strict layout core
      // cannot see packages it does not depend on.
      const base = process.argv[1] ? resolve(process.argv[1]) : resolve("index.js")
      const path = createRequire(base).resolve(name)
      const module = (await import(pathToFileURL(path).href)) as Partial<PlatformPackage>
      if (module.platformRuntime === undefined) throw new Error("it exports no platformRuntime layer")
      return module.platformRuntime
    },
    catch: (error) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!
  })

/**
 * Detects the platform (see {@link Platform.detect}) and provides its runtime:
 * from `providers` when given, else core's own for `native` ({@link layerNative}), else the
 * `platformRuntime` export of the platform's package in the runtime table
 * ({@link Platform.table}: `@duende/platform-<kind>`) if the application has it installed. When that package is missing, the
 * row's fallback's runtime (kubernetes → container); without one the daemon
 * still runs, with a warning when its manager is waiting to hear from it.
 *
 * @example
 * ```ts
 * import { Daemon, PlatformRuntime } from "@duende/core"
 * import * as Layer from "effect/Layer"
 *
 * // Force the noop runtime under containers, detect everything else.
 * const platform = PlatformRuntime.layerDetect({ container: PlatformRuntime.layerNoop })
 * ```
 *
 * @since 0.1.0
 */
export const layerDetect = (
  providers: Providers = {},
  probe: Platform.Probe = Platform.processProbe()
): Layer.Layer<PlatformRuntime> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const invalid = Platform.invalidOverride(probe.env)
    if (invalid !== undefined) {
      yield* Effect.logWarning(
        `DUENDE_PLATFORM=${invalid} is not a platform (expected one of ${Platform.kinds.join(", ")}); detecting instead`
      )
    }
    const { kind, markers } = Platform.detect(probe)
    yield* Effect.logDebug(`platform: ${Platform.explain(probe)}`)
    return yield* runtimeOf(kind, markers, providers, probe)
  }))

/** The runtime of `kind`: given, core's own, or its package's — else its fallback's, else none. */
const runtimeOf = (
  kind: Platform.Kind,
  markers: ReadonlyArray<string>,
  providers: Providers,
  probe: Platform.Probe
): Effect.Effect<Layer.Layer<PlatformRuntime>> => {
  const given = providers[kind]
  if (given !== undefined) return Effect.succeed(given)
  const runtimePackage = Platform.runtimePackage(kind)
  if (runtimePackage === undefined) return Effect.succeed(layerNative)
  return loadPlatformPackage(runtimePackage).pipe(
    Effect.catchAll((reason) => {
      const fallback = Platform.fallback(kind)
      if (fallback !== undefined) {
        return Effect.zipRight(
          Effect.logDebug(`running under ${kind} without ${runtimePackage} (${reason}); using the ${fallback} runtime`),
          runtimeOf(fallback, markers, providers, probe)
        )
      }
      // Only a missing channel the manager is waiting on deserves a warning; a container
      // or launchd job without its package just runs as a plain process.
      const listening = kind === "systemd" ? probe.env.NOTIFY_SOCKET !== undefined : kind === "pepita" || kind === "wos"
      const message = `running under ${kind} (${markers.join(", ")}) without ${runtimePackage} (${reason})` +
        (listening ? `: the ${kind} manager will not hear readiness or status. Install it, or set DUENDE_PLATFORM.` : "")
      return Effect.as(listening ? Effect.logWarning(message) : Effect.logDebug(message), layerNoop)
    })
  )
}
