/**
 * A daemon written once: `init` acquires what it needs, `run` serves,
 * `shutdown` cleans up within a deadline, `health` answers the health loop and
 * `reload` takes a new config on SIGHUP. `Daemon.runMain` runs it as the main
 * program of a process; `Daemon.run` is the same lifecycle as an Effect.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { DaemonConfig, Input as ConfigInput } from "./DaemonConfig.js"
import type { DaemonContext, InitContext, ReloadContext, ShutdownContext } from "./DaemonContext.js"
import type { ExitReason } from "./ExitReason.js"
import type { HealthStatus } from "./HealthStatus.js"
import * as lifecycle from "./internal/lifecycle.js"
import { makeDaemon } from "./internal/makeDaemon.js"
import * as main from "./internal/runMain.js"
import type { PlatformRuntime } from "./PlatformRuntime.js"
import type { ProcessSignals } from "./ProcessSignals.js"
import * as PromiseDaemon from "./PromiseDaemon.js"

/**
 * The hooks of a daemon. Only `run` is required.
 *
 * - `init` runs once, bounded by `initTimeout`; its scope stays open until the
 *   daemon has shut down, so resources acquired with `Effect.acquireRelease`
 *   are released after `shutdown`. What it returns is `ctx.state` for the rest.
 * - `run` serves. It may return (the daemon then shuts down and exits 0), fail
 *   (exit 1), or run until a stop is asked for: it is then interrupted. Work
 *   that must not be cut in half belongs in `Effect.uninterruptible`; a loop can
 *   also poll `ctx.shouldShutdown` between units of work.
 * - `shutdown` runs after `run` has stopped, with the time left before the
 *   exit is forced.
 * - `health` is called every `health.interval`, bounded by `health.timeout`.
 * - `reload` is called on SIGHUP; without it SIGHUP is logged and ignored.
 *
 * @since 0.1.0
 */
export interface Options<S, E, R> {
  readonly name: string
  readonly init?: (ctx: InitContext) => Effect.Effect<S, E, R | Scope.Scope>
  readonly run: (ctx: DaemonContext<S>) => Effect.Effect<void | ExitReason, E, R>
  readonly shutdown?: (ctx: ShutdownContext<S>) => Effect.Effect<void, E, R>
  readonly health?: (ctx: DaemonContext<S>) => Effect.Effect<HealthStatus, E, R>
  readonly reload?: (ctx: ReloadContext<S>) => Effect.Effect<void, E, R>
}

/**
 * A daemon definition. `E` is what its hooks may fail with, `R` what they need.
 *
 * @since 0.1.0
 */
export interface Daemon<out E = unknown, out R = never> {
  readonly _tag: "Daemon"
  readonly name: string
  // The state type is private to the daemon: the lifecycle only passes it along.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly hooks: Options<any, E, R>
}

/**
 * Defines a daemon.
 *
 * @example
 * ```ts
 * import { Daemon, HealthStatus } from "@duende/core"
 * import { Effect } from "effect"
 * import { createServer } from "node:http"
 *
 * const daemon = Daemon.make({
 *   name: "hello",
 *   init: () =>
 *     Effect.acquireRelease(
 *       Effect.async<import("node:http").Server>((resume) => {
 *         const server = createServer((_, res) => res.end("hello\n"))
 *         server.listen(8080, () => resume(Effect.succeed(server)))
 *       }),
 *       (server) => Effect.async<void>((resume) => { server.close(() => resume(Effect.void)) })
 *     ),
 *   run: () => Effect.never,
 *   health: () => Effect.succeed(HealthStatus.healthy())
 * })
 *
 * Daemon.runMain(daemon)
 * ```
 *
 * @since 0.1.0
 */
export const make: <S = void, E = never, R = never>(options: Options<S, E, R>) => Daemon<E, R> = makeDaemon

/**
 * A daemon from a class in the seed's shape (see {@link PromiseDaemon}).
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 *
 * Daemon.runMain(Daemon.fromPromise({
 *   name: "poller",
 *   async run(ctx) {
 *     while (!ctx.shouldShutdown()) await new Promise((resolve) => setTimeout(resolve, 500))
 *   }
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const fromPromise: (daemon: PromiseDaemon.PromiseDaemon) => Daemon<PromiseDaemon.PromiseDaemonError> =
  PromiseDaemon.toDaemon

/**
 * The layer that provides what a daemon's hooks need; built inside init (so
 * under the init deadline and interruptible by a stop signal) and released
 * after shutdown.
 *
 * @since 0.1.0
 */
export type LayerOption<R> = [R] extends [never] ? { readonly layer?: Layer.Layer<never, unknown> }
  : { readonly layer: Layer.Layer<R, unknown> }

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 */
export type RunOptions<R> = LayerOption<R> & {
  /** The decoded config. */
  readonly config: DaemonConfig
  /** How to get a new config on SIGHUP; by default the current one again. */
  readonly reloadConfig?: Effect.Effect<DaemonConfig, unknown>
}

/**
 * The lifecycle as an Effect, for embedding and tests: init → ready → run →
 * shutdown, driven by the {@link ProcessSignals} and reporting through
 * {@link PlatformRuntime}. It never fails: every ending is an {@link ExitReason}.
 * All timing goes through Effect's Clock, so `TestClock` can drive it.
 *
 * @example
 * ```ts
 * import { Daemon, DaemonConfig, ExitReason, PlatformRuntime, ProcessSignals } from "@duende/core"
 * import { Effect, Layer } from "effect"
 *
 * const daemon = Daemon.make({ name: "job", run: () => Effect.log("done") })
 * const program = DaemonConfig.decode({ name: "job", command: ["job"] }).pipe(
 *   Effect.flatMap((config) => Daemon.run(daemon, { config })),
 *   Effect.provide(Layer.mergeAll(PlatformRuntime.layerNoop, ProcessSignals.layerNode))
 * )
 * Effect.runPromise(program).then((reason) => console.log(ExitReason.exitCode(reason))) // 0
 * ```
 *
 * @since 0.1.0
 */
export const run = <E, R>(
  daemon: Daemon<E, R>,
  options: RunOptions<R>
): Effect.Effect<ExitReason, never, PlatformRuntime | ProcessSignals> => lifecycle.run(daemon, options)

/**
 * Options of {@link runMain}.
 *
 * @since 0.1.0
 */
export type MainOptions<R> = LayerOption<R> & {
  /**
   * Config fields set in code (durations as "30s" or milliseconds); `name`
   * defaults to the daemon's and `command` to this process's argv. Ignored when
   * `configFile` (or `DUENDE_CONFIG`) names a file.
   */
  readonly config?: Partial<ConfigInput>
  /** A config file to load; default: the `DUENDE_CONFIG` environment variable. */
  readonly configFile?: string
  /** How to reach the manager; default: {@link PlatformRuntime.layerDetect}. */
  readonly platform?: Layer.Layer<PlatformRuntime>
  /** Override the config's `pidFile`. */
  readonly pidFile?: string
  /**
   * Provides a tracer (and metric exporters) to the lifecycle, e.g.
   * `OtelSdk.layer({ serviceName })` from `@duende/observe/otel`: each phase
   * (init, run, shutdown, reload, health) becomes a span, parented to the
   * supervisor's spawn span when it passed `TRACEPARENT`. Closed (flushed)
   * before the process exits.
   */
  readonly telemetry?: Layer.Layer<never>
}

/**
 * Runs a daemon as the main program of this process and exits with the code
 * of its {@link ExitReason}. SIGTERM and SIGINT stop it gracefully within
 * `shutdownTimeout`; a second signal or the deadline forces the exit; SIGHUP
 * reloads. A bad config exits 78 with a message naming each bad field.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(
 *   Daemon.make({
 *     name: "ticker",
 *     run: () => Effect.forever(Effect.zipRight(Effect.log("tick"), Effect.sleep("1 second")))
 *   }),
 *   { config: { shutdownTimeout: "5s" } }
 * )
 * ```
 *
 * @since 0.1.0
 */
export const runMain = <E, R>(daemon: Daemon<E, R>, options?: MainOptions<R>): void =>
  main.runMain(daemon, (options ?? {}) as MainOptions<R>)
