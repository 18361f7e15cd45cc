/**
 * The daemon lifecycle: init (bounded) → ready → run → stopping → shutdown
 * (bounded) → exit reason. Signals and fatal errors arrive through
 * ProcessSignals; everything the manager should know leaves through
 * PlatformRuntime. Timing uses Effect's Clock only.
 *
 * Work that may hang (init, run, shutdown, resource release) runs in detached
 * fibers raced against deadlines, so a forced exit never waits for it.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import type { Daemon, RunOptions } from "../Daemon.js"
import type { DaemonConfig } from "../DaemonConfig.js"
import type { DaemonContext, InitContext, ReloadContext, ShutdownContext } from "../DaemonContext.js"
import * as DaemonStatus from "../DaemonStatus.js"
import * as ExitReason from "../ExitReason.js"
import { type HealthReport, PlatformRuntime } from "../PlatformRuntime.js"
import { type ProcessEvent, ProcessSignals } from "../ProcessSignals.js"
import * as Deadline from "./deadline.js"
import { healthLoop } from "./healthLoop.js"
import { watchdogLoop } from "./watchdogLoop.js"

type StopCause =
  | { readonly _tag: "Signal"; readonly signal: "SIGTERM" | "SIGINT" }
  | { readonly _tag: "Fatal"; readonly message: string }

/** The first line of a failure, for exit reasons and status text; the whole cause goes to the log. */
export const causeMessage = (cause: Cause.Cause<unknown>): string => {
  const squashed = Cause.squash(cause)
  if (squashed instanceof Error) return squashed.message || squashed.name
  if (typeof squashed === "object" && squashed !== null && "_tag" in squashed) {
    const tagged = squashed as { _tag: unknown; message?: unknown }
    return typeof tagged.message === "string" && tagged.message !== "" ? tagged.message : String(tagged._tag)
  }
  return String(squashed)
}

const errorMessage = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)

const isExitReason = (value: unknown): value is ExitReason.ExitReason =>
  typeof value === "object" && value !== null && "_tag" in value &&
  ["Graceful", "Signal", "Error", "InitFailed", "ForcedByDeadline", "ForcedBySignal", "AlreadyRunning", "ConfigInvalid"]
    .includes((value as { _tag: string })._tag)

const show = (duration: Duration.Duration) => Duration.format(duration)

export const run = <E, R>(
  daemon: Daemon<E, R>,
  options: RunOptions<R>
): Effect.Effect<ExitReason.ExitReason, never, PlatformRuntime | ProcessSignals> =>
  Effect.gen(function*() {
    const platform = yield* PlatformRuntime
    const signals = yield* ProcessSignals
    const hooks = daemon.hooks
    let config: DaemonConfig = options.config
    // Each phase is a span ("duende.init", …): exported when the app provides a tracer
    // (e.g. @duende/observe's OtelSdk through runMain's telemetry option).
    const span = (phase: string) => Effect.withSpan(`duende.${phase}`, { attributes: { "duende.daemon": daemon.name } })
    const status = yield* Ref.make<DaemonStatus.DaemonStatus>(DaemonStatus.Created())
    const stopRequested = yield* Deferred.make<StopCause>()
    const forced = yield* Deferred.make<"SIGTERM" | "SIGINT">()
    const reloads = yield* Queue.sliding<void>(1)
    const health = yield* Ref.make<HealthReport | undefined>(undefined)
    const activeDeadline = yield* Ref.make<Deadline.Deadline | undefined>(undefined)

    const moveTo = (next: DaemonStatus.DaemonStatus) =>
      Effect.flatMap(Ref.get(status), (current) =>
        Either.match(DaemonStatus.transition(current, next), {
          onLeft: (illegal) => Effect.die(illegal),
          onRight: (status_) => Ref.set(status, status_)
        }))

    const requestStop = (cause: StopCause) =>
      Effect.flatMap(Deferred.isDone(stopRequested), (stopping) => {
        if (!stopping) return Deferred.succeed(stopRequested, cause)
        if (cause._tag === "Signal") {
          return Effect.zipRight(
            Effect.logWarning(`second ${cause.signal} during shutdown: forcing exit`),
            Deferred.succeed(forced, cause.signal)
          )
        }
        return Effect.logError(`fatal error during shutdown: ${cause.message}`)
      })

    const dispatch = (event: ProcessEvent): Effect.Effect<unknown> => {
      if (event._tag === "Fatal") {
        const message = errorMessage(event.error)
        return Effect.zipRight(
          Effect.logError(
            `uncaught error: ${event.error instanceof Error && event.error.stack ? event.error.stack : message}`
          ),
          requestStop({ _tag: "Fatal", message: `uncaught ${message}` })
        )
      }
      if (event.signal === "SIGHUP") return Queue.offer(reloads, undefined)
      return Effect.zipRight(
        Effect.flatMap(Deferred.isDone(stopRequested), (stopping) =>
          stopping ? Effect.void : Effect.log(
            `${event.signal} received: shutting down (deadline ${show(config.shutdownTimeout)})`
          )),
        requestStop({ _tag: "Signal", signal: event.signal })
      )
    }

    const dispatcher = yield* Effect.forkDaemon(Effect.forever(Effect.flatMap(signals.next, dispatch)))

    // The daemon's own status text wins over the lifecycle's generic "running".
    let ownStatus: string | undefined
    const running = () => platform.status(ownStatus ?? "running")
    const initContext: InitContext = {
      get config() {
        return config
      },
      listenSockets: platform.listenSockets,
      status: (text) => Effect.zipRight(Effect.sync(() => (ownStatus = text)), platform.status(text)),
      extendTimeout: (input) => {
        const duration = Duration.decode(input)
        return Effect.zipRight(
          Effect.flatMap(Ref.get(activeDeadline), (deadline) => deadline ? deadline.extend(duration) : Effect.void),
          platform.extendTimeout(duration)
        )
      }
    }

    /**
     * Runs `work` (the cleanup of whatever phase was reached) under the
     * shutdown deadline, and turns the outcome into the final exit reason.
     */
    const stopWith = (
      reason: ExitReason.ExitReason,
      work: (phase: Ref.Ref<string>, failures: Ref.Ref<ReadonlyArray<string>>) => Effect.Effect<void>
    ) =>
      Effect.gen(function*() {
        yield* moveTo(DaemonStatus.Stopping())
        yield* platform.stopping
        yield* platform.status(`stopping: ${ExitReason.describe(reason)}`)
        const deadline = yield* Deadline.make(config.shutdownTimeout)
        yield* Ref.set(activeDeadline, deadline)
        const phase = yield* Ref.make("cleanup")
        const failures = yield* Ref.make<ReadonlyArray<string>>([])
        const worker = yield* Effect.forkDaemon(work(phase, failures))
        const outcome = yield* Effect.raceAll([
          Effect.as(Fiber.await(worker), "done" as const),
          Effect.as(deadline.expired, "deadline" as const),
          Effect.map(Deferred.await(forced), (signal) => signal)
        ])
        if (outcome !== "done") yield* Fiber.interruptFork(worker)
        let final: ExitReason.ExitReason
        if (outcome === "deadline") {
          const stuck = yield* Ref.get(phase)
          yield* Effect.logError(
            `shutdown deadline of ${show(deadline.length)} passed while ${stuck}: forcing exit`
          )
          final = ExitReason.ForcedByDeadline({ phase: stuck, timeoutMs: Duration.toMillis(deadline.length) })
        } else if (outcome !== "done") {
          final = ExitReason.ForcedBySignal({ signal: outcome })
        } else {
          const failed = yield* Ref.get(failures)
          final = failed.length === 0 || reason._tag === "InitFailed"
            ? reason
            : ExitReason.Error({
              message: [...(reason._tag === "Error" ? [reason.message] : []), ...failed].join("; ")
            })
        }
        yield* moveTo(
          final._tag === "Graceful" || final._tag === "Signal"
            ? DaemonStatus.Stopped()
            : DaemonStatus.Failed({ reason: ExitReason.describe(final) })
        )
        yield* platform.status(ExitReason.describe(final))
        return final
      })

    // ---- init -------------------------------------------------------------
    yield* moveTo(DaemonStatus.Starting())
    yield* platform.status("starting")
    const initScope = yield* Scope.make()
    const initDeadline = yield* Deadline.make(config.initTimeout)
    yield* Ref.set(activeDeadline, initDeadline)
    const layer = (options.layer ?? Layer.empty) as Layer.Layer<R, unknown>
    const initFiber = yield* Effect.forkDaemon(
      Effect.gen(function*() {
        const context = yield* Layer.buildWithScope(layer, initScope)
        const state = yield* Effect.provide(Scope.extend(hooks.init ? hooks.init(initContext) : Effect.void, initScope), context)
        return { context, state }
      }).pipe(span("init"))
    )
    const initOutcome = yield* Effect.raceAll([
      Effect.map(Fiber.await(initFiber), (exit) => ({ _tag: "Done" as const, exit })),
      Effect.map(Deferred.await(stopRequested), (cause) => ({ _tag: "Stop" as const, cause })),
      Effect.as(initDeadline.expired, { _tag: "Timeout" as const })
    ])

    const releaseInit = (phase: Ref.Ref<string>) =>
      Effect.zipRight(Ref.set(phase, "releasing init resources"), Scope.close(initScope, Exit.void))

    const endInit = (reason: ExitReason.ExitReason) =>
      stopWith(reason, (phase) =>
        Effect.zipRight(
          Effect.zipRight(Ref.set(phase, "interrupting init"), Fiber.interrupt(initFiber)),
          releaseInit(phase)
        ))

    let result: ExitReason.ExitReason
    if (initOutcome._tag === "Timeout") {
      const message = `init did not finish within ${show(initDeadline.length)}`
      yield* Effect.logError(message)
      result = yield* endInit(ExitReason.InitFailed({ message }))
    } else if (initOutcome._tag === "Stop") {
      result = yield* endInit(stopReason(initOutcome.cause))
    } else if (Exit.isFailure(initOutcome.exit)) {
      yield* Effect.logError("init failed", initOutcome.exit.cause)
      result = yield* endInit(ExitReason.InitFailed({ message: causeMessage(initOutcome.exit.cause) }))
    } else {
      result = yield* runPhase(initOutcome.exit.value.state, initOutcome.exit.value.context)
    }
    yield* Fiber.interruptFork(dispatcher)
    return result

    // ---- run --------------------------------------------------------------
    function runPhase(state: unknown, context: Context.Context<R>) {
      return Effect.gen(function*() {
        const withContext = <A, E2>(effect: Effect.Effect<A, E2, R>) => Effect.provide(effect, context)
        const ctx: DaemonContext<unknown> = {
          ...initContext,
          get config() {
            return config
          },
          state,
          shouldShutdown: Deferred.isDone(stopRequested),
          awaitShutdown: Deferred.await(stopRequested).pipe(Effect.asVoid)
        }
        yield* Ref.set(activeDeadline, undefined)
        yield* moveTo(DaemonStatus.Running())
        yield* platform.ready
        yield* running()
        yield* Effect.log("ready")

        const background = yield* Scope.make()
        if (hooks.health && config.health.enabled) {
          const check = withContext(hooks.health(ctx)).pipe(span("health"))
          yield* Effect.forkIn(
            healthLoop({ check, settings: config.health, report: platform.health, current: health }),
            background
          )
        }
        const watchdogTimeout = Option.orElse(platform.watchdogTimeout, () => Option.fromNullable(config.watchdogInterval))
        if (Option.isSome(watchdogTimeout)) {
          yield* Effect.forkIn(watchdogLoop({ timeout: watchdogTimeout.value, ping: platform.watchdogPing, health }), background)
        }
        yield* Effect.forkIn(reloadLoop(ctx, withContext), background)

        const runFiber = yield* Effect.forkDaemon(withContext(hooks.run(ctx)).pipe(span("run")))
        const outcome = yield* Effect.raceAll([
          Effect.map(Fiber.await(runFiber), (exit) => ({ _tag: "Done" as const, exit })),
          Effect.map(Deferred.await(stopRequested), (cause) => ({ _tag: "Stop" as const, cause }))
        ])

        let reason: ExitReason.ExitReason
        if (outcome._tag === "Stop") {
          reason = stopReason(outcome.cause)
        } else if (Exit.isSuccess(outcome.exit)) {
          reason = isExitReason(outcome.exit.value) ? outcome.exit.value : ExitReason.Graceful()
          yield* Effect.log(`run finished: ${ExitReason.describe(reason)}`)
        } else {
          yield* Effect.logError("run failed", outcome.exit.cause)
          reason = ExitReason.Error({ message: `run failed: ${causeMessage(outcome.exit.cause)}` })
        }

        return yield* stopWith(reason, (phase, failures) =>
          Effect.gen(function*() {
            yield* Ref.set(phase, "stopping health, watchdog and reload")
            yield* Scope.close(background, Exit.void)
            yield* Ref.set(phase, "interrupting run")
            yield* Fiber.interrupt(runFiber)
            if (hooks.shutdown) {
              yield* Ref.set(phase, "running shutdown")
              const deadline = yield* Ref.get(activeDeadline)
              const shutdownContext: ShutdownContext<unknown> = {
                ...ctx,
                reason,
                remaining: deadline ? deadline.remaining : Effect.succeed(Duration.zero)
              }
              const exit = yield* Effect.exit(withContext(hooks.shutdown(shutdownContext)).pipe(span("shutdown")))
              if (Exit.isFailure(exit)) {
                yield* Effect.logError("shutdown failed", exit.cause)
                yield* Ref.update(failures, (list) => [...list, `shutdown failed: ${causeMessage(exit.cause)}`])
              }
            }
            yield* releaseInit(phase)
          }))
      })
    }

    function reloadLoop(
      ctx: DaemonContext<unknown>,
      withContext: <A, E2>(effect: Effect.Effect<A, E2, R>) => Effect.Effect<A, E2>
    ) {
      const once = Effect.gen(function*() {
        yield* Queue.take(reloads)
        const reload = hooks.reload
        if (reload === undefined) {
          yield* Effect.logWarning(`SIGHUP received but ${daemon.name} has no reload: ignored`)
          return
        }
        yield* platform.reloading
        yield* platform.status("reloading")
        yield* Effect.log("SIGHUP received: reloading")
        const next = yield* Effect.either(options.reloadConfig ?? Effect.succeed(config))
        if (Either.isLeft(next)) {
          yield* Effect.logError(`reload rejected, keeping the running config: ${errorMessage(next.left)}`)
          yield* platform.ready
          yield* platform.status(`${ownStatus ?? "running"} (reload rejected: invalid config)`)
          return
        }
        const reloadContext: ReloadContext<unknown> = {
          ...ctx,
          config: next.right,
          previousConfig: config
        }
        const exit = yield* Effect.exit(withContext(reload(reloadContext)).pipe(span("reload")))
        if (Exit.isSuccess(exit)) {
          config = next.right
          yield* Effect.log("reloaded")
          yield* platform.ready
          yield* running()
        } else {
          yield* Effect.logError("reload failed, still running with the previous config", exit.cause)
          yield* platform.ready
          yield* platform.status(`${ownStatus ?? "running"} (reload failed: ${causeMessage(exit.cause)})`)
        }
      })
      return Effect.forever(once)
    }
  }).pipe(Effect.annotateLogs("daemon", daemon.name))

const stopReason = (cause: StopCause): ExitReason.ExitReason =>
  cause._tag === "Signal" ? ExitReason.BySignal({ signal: cause.signal }) : ExitReason.Error({ message: cause.message })
