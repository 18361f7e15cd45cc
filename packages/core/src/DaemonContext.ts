/**
 * What a daemon's hooks receive: the config, the listen sockets its manager
 * handed over, a way to publish a status line, and (after init) its state and
 * whether a shutdown was asked for.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { DaemonConfig } from "./DaemonConfig.js"
import type { ExitReason } from "./ExitReason.js"
import type { ListenSocket } from "./PlatformRuntime.js"

/**
 * Given to `init`.
 *
 * @since 0.1.0
 */
export interface InitContext {
  /** The daemon's config; after a reload, the reloaded one. */
  readonly config: DaemonConfig
  /** Listen sockets handed over by the manager (socket activation), in order. */
  readonly listenSockets: ReadonlyArray<ListenSocket>
  /** Publishes a one-line status to the manager (systemd's StatusText, `duende status`). */
  readonly status: (text: string) => Effect.Effect<void>
  /**
   * Asks for more time in a long init or shutdown: the daemon's own deadline
   * and the manager's (EXTEND_TIMEOUT_USEC) move to at least now + duration.
   */
  readonly extendTimeout: (duration: Duration.DurationInput) => Effect.Effect<void>
}

/**
 * Given to `run`, `health` and `reload`: the init context plus the state
 * `init` returned.
 *
 * @since 0.1.0
 */
export interface DaemonContext<S> extends InitContext {
  /** What `init` returned. */
  readonly state: S
  /** True once a stop was asked for (signal, fatal error). */
  readonly shouldShutdown: Effect.Effect<boolean>
  /** Completes when a stop is asked for. */
  readonly awaitShutdown: Effect.Effect<void>
}

/**
 * Given to `shutdown`.
 *
 * @since 0.1.0
 */
export interface ShutdownContext<S> extends DaemonContext<S> {
  /** Why the daemon stops: a signal, run finishing, or run failing. */
  readonly reason: ExitReason
  /** Time left before the exit is forced. */
  readonly remaining: Effect.Effect<Duration.Duration>
}

/**
 * Given to `reload`: `config` is the new config (re-read from its file when
 * the daemon was started from one), `previousConfig` the one in force.
 *
 * @since 0.1.0
 */
export interface ReloadContext<S> extends DaemonContext<S> {
  readonly previousConfig: DaemonConfig
}
