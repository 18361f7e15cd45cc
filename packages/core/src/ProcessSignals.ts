/**
 * The events from outside that steer a running daemon: SIGTERM and SIGINT
 * (stop), SIGHUP (reload), and fatal errors nobody caught. `layerNode` listens
 * on the real process; tests provide their own queue.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Signal from "./Signal.js"

/**
 * A signal the lifecycle handles, or an error that escaped the daemon's code.
 *
 * @since 0.1.0
 */
export type ProcessEvent =
  | { readonly _tag: "Signal"; readonly signal: "SIGTERM" | "SIGINT" | "SIGHUP" }
  | { readonly _tag: "Fatal"; readonly error: unknown }

/**
 * The source of {@link ProcessEvent}s.
 *
 * @since 0.1.0
 */
export interface ProcessSignals {
  /** Waits for the next event. */
  readonly next: Effect.Effect<ProcessEvent>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 */
export const ProcessSignals: Context.Tag<ProcessSignals, ProcessSignals> = Context.GenericTag<ProcessSignals>(
  "@duende/core/ProcessSignals"
)

/**
 * The signals the lifecycle listens for.
 *
 * @since 0.1.0
 */
export const handled: ReadonlyArray<Signal.Signal & ("SIGTERM" | "SIGINT" | "SIGHUP")> = ["SIGTERM", "SIGINT", "SIGHUP"]

/**
 * Listens to the Node process for as long as the layer's scope is open:
 * SIGTERM, SIGINT, SIGHUP, uncaught exceptions and unhandled rejections.
 * While it listens those signals no longer kill the process by default: the
 * lifecycle decides.
 *
 * @example
 * ```ts
 * import { ProcessSignals } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const firstEvent = Effect.scoped(
 *   Effect.flatMap(ProcessSignals.ProcessSignals, (signals) => signals.next)
 * ).pipe(Effect.provide(ProcessSignals.layerNode))
 * ```
 *
 * @since 0.1.0
 */
export const layerNode: Layer.Layer<ProcessSignals> = Layer.scoped(
  ProcessSignals,
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<ProcessEvent>(), Queue.shutdown)
    const onSignal = (signal: "SIGTERM" | "SIGINT" | "SIGHUP") => () => {
      Queue.unsafeOffer(queue, { _tag: "Signal", signal })
    }
    const onFatal = (error: unknown) => {
      Queue.unsafeOffer(queue, { _tag: "Fatal", error })
    }
    const listeners = handled.map((signal) => [signal, onSignal(signal)] as const)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        for (const [signal, listener] of listeners) process.on(signal, listener)
        process.on("uncaughtException", onFatal)
        process.on("unhandledRejection", onFatal)
      }),
      () =>
        Effect.sync(() => {
          for (const [signal, listener] of listeners) process.off(signal, listener)
          process.off("uncaughtException", onFatal)
          process.off("unhandledRejection", onFatal)
        })
    )
    return { next: Queue.take(queue) }
  })
)

/**
 * A source fed by hand, for tests: `offer` an event, the lifecycle receives it.
 *
 * @example
 * ```ts
 * import { ProcessSignals } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const { offer, signals } = yield* ProcessSignals.makeManual
 *   yield* offer({ _tag: "Signal", signal: "SIGTERM" })
 *   return yield* signals.next
 * })
 * ```
 *
 * @since 0.1.0
 */
export const makeManual: Effect.Effect<{
  readonly signals: ProcessSignals
  readonly offer: (event: ProcessEvent) => Effect.Effect<void>
}> = Effect.map(Queue.unbounded<ProcessEvent>(), (queue) => ({
  signals: { next: Queue.take(queue) },
  offer: (event) => Effect.asVoid(Queue.offer(queue, event))
}))
