/**
 * The Promise facade: a daemon as a plain class (`name`, `init(config)`,
 * `run(ctx)`, `shutdown(timeoutMs)`, `healthCheck()`, `reload(config)`) for
 * code that does not use Effect. It runs on the same lifecycle as
 * `Daemon.make`: same signals, deadlines, exit codes and health loop.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Daemon from "./Daemon.js"
import type { DaemonConfig } from "./DaemonConfig.js"
import type { ExitReason } from "./ExitReason.js"
import * as HealthStatus from "./HealthStatus.js"
import { makeDaemon } from "./internal/makeDaemon.js"
import * as main from "./internal/runMain.js"
import type { ListenSocket } from "./PlatformRuntime.js"

/**
 * What `run` receives.
 *
 * @since 0.1.0
 */
export interface RunContext {
  readonly config: DaemonConfig
  /** Aborted when a stop is asked for: pass it to fetch, timers, streams. */
  readonly signal: AbortSignal
  /** True once a stop is asked for. */
  shouldShutdown(): boolean
  /** Resolves when a stop is asked for: `await ctx.untilShutdown()` keeps a server-style `run` alive. */
  untilShutdown(): Promise<void>
  /** Publishes a one-line status to the manager. */
  setStatus(text: string): void
  /** Listen sockets handed over by the manager (socket activation). */
  readonly listenSockets: ReadonlyArray<ListenSocket>
}

/**
 * A daemon in the seed's shape. Only `name` and `run` are required.
 * `run` should return once `ctx.shouldShutdown()` is true (or `ctx.signal`
 * aborts); if it returns earlier the daemon has finished and exits 0.
 *
 * @since 0.1.0
 */
export interface PromiseDaemon {
  readonly id?: string
  readonly name: string
  init?(config: DaemonConfig): Promise<void> | void
  run(ctx: RunContext): Promise<ExitReason | void> | ExitReason | void
  shutdown?(timeoutMs: number): Promise<void> | void
  healthCheck?(): Promise<HealthStatus.HealthStatus | boolean> | HealthStatus.HealthStatus | boolean
  reload?(config: DaemonConfig): Promise<void> | void
}

/**
 * A hook of a Promise daemon threw or rejected.
 *
 * @since 0.1.0
 */
export class PromiseDaemonError extends Data.TaggedError("PromiseDaemonError")<{
  readonly hook: "init" | "run" | "shutdown" | "healthCheck" | "reload"
  readonly cause: unknown
}> {
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `${this.hook}: ${cause}`
  }
}

const call = <A>(hook: PromiseDaemonError["hook"], f: () => Promise<A> | A): Effect.Effect<A, PromiseDaemonError> =>
  Effect.tryPromise({ try: async () => f(), catch: (cause) => new PromiseDaemonError({ hook, cause }) })

/**
 * Turns a Promise daemon into a {@link Daemon.Daemon}.
 *
 * @example
 * ```ts
 * import { Daemon, PromiseDaemon } from "@duende/core"
 *
 * class Worker implements PromiseDaemon.PromiseDaemon {
 *   readonly name = "worker"
 *   async run(ctx: PromiseDaemon.RunContext) {
 *     while (!ctx.shouldShutdown()) {
 *       await new Promise((resolve) => setTimeout(resolve, 1000))
 *     }
 *   }
 * }
 *
 * Daemon.runMain(Daemon.fromPromise(new Worker()))
 * ```
 *
 * @since 0.1.0
 */
export const toDaemon = (daemon: PromiseDaemon): Daemon.Daemon<PromiseDaemonError> =>
  makeDaemon<void, PromiseDaemonError, never>({
    name: daemon.name,
    ...(daemon.init ? { init: (ctx) => call("init", () => daemon.init!(ctx.config)) } : {}),
    run: (ctx) =>
      Effect.async<ExitReason | void, PromiseDaemonError>((resume) => {
        const controller = new AbortController()
        const runContext: RunContext = {
          get config() {
            return ctx.config
          },
          signal: controller.signal,
          shouldShutdown: () => controller.signal.aborted,
          untilShutdown: () =>
            new Promise((resolve) => {
              if (controller.signal.aborted) resolve()
              else controller.signal.addEventListener("abort", () => resolve(), { once: true })
            }),
          setStatus: (text) => void Effect.runFork(ctx.status(text)),
          listenSockets: ctx.listenSockets
        }
        const running = Promise.resolve().then(() => daemon.run(runContext))
        running.then(
          (value) => resume(Effect.succeed(value)),
          (cause) => resume(Effect.fail(new PromiseDaemonError({ hook: "run", cause })))
        )
        // On a stop: abort, then wait until run has returned (bounded by the shutdown deadline).
        return Effect.promise(() => {
          controller.abort()
          return running.then(() => undefined, () => undefined)
        })
      }),
    ...(daemon.shutdown
      ? {
        shutdown: (ctx) =>
          Effect.flatMap(ctx.remaining, (left) => call("shutdown", () => daemon.shutdown!(Duration.toMillis(left))))
      }
      : {}),
    ...(daemon.healthCheck
      ? {
        health: () =>
          Effect.map(call("healthCheck", () => daemon.healthCheck!()), (answer) =>
            typeof answer === "boolean"
              ? (answer ? HealthStatus.healthy() : HealthStatus.unhealthy("healthCheck returned false"))
              : answer)
      }
      : {}),
    ...(daemon.reload ? { reload: (ctx) => call("reload", () => daemon.reload!(ctx.config)) } : {})
  })

/**
 * Runs a Promise daemon as the main program of this process (see
 * {@link Daemon.runMain}).
 *
 * @example
 * ```ts
 * import { PromiseDaemon } from "@duende/core"
 *
 * PromiseDaemon.runMain({
 *   name: "heartbeat",
 *   async run(ctx) {
 *     while (!ctx.shouldShutdown()) {
 *       console.log("beat")
 *       await new Promise((resolve) => setTimeout(resolve, 1000))
 *     }
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 */
export const runMain = (daemon: PromiseDaemon, options?: Daemon.MainOptions<never>): void =>
  main.runMain(toDaemon(daemon), options ?? {})
