/**
 * Spans for a daemon's lifecycle and the hand-over of a trace from the
 * supervisor to the daemon it spawns. Spans are Effect spans
 * (`Effect.withSpan`): with `@duende/observe/otel` (or any
 * `@effect/opentelemetry` tracer layer) they become OpenTelemetry spans;
 * without one they cost next to nothing.
 *
 * The supervisor runs each spawn in {@link spawn}: a `duende.spawn` span whose
 * context goes to the child as `TRACEPARENT` / `TRACESTATE`. The daemon builds
 * {@link layerParentFromEnv}, which makes that span the parent of its
 * `duende.init`, `duende.run`, `duende.shutdown`, `duende.reload` and
 * `duende.health` spans ({@link phase}).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import * as TraceContext from "./TraceContext.js"

/**
 * The lifecycle phases that get a span.
 *
 * @since 0.1.0
 */
export type Phase = "init" | "run" | "shutdown" | "reload" | "health"

/**
 * The span name of a phase: `duende.<phase>`; the supervisor's is `duende.spawn`.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 *
 * Tracing.spanName("init") // "duende.init"
 * ```
 *
 * @since 0.1.0
 */
export const spanName = (phase: Phase | "spawn"): string => `duende.${phase}`

/**
 * The attribute naming the daemon on every Duende span.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 * import { Effect } from "effect"
 *
 * const work = Effect.log("compacting").pipe(Effect.withSpan("compact", { attributes: { [Tracing.daemonAttribute]: "orders" } }))
 * ```
 *
 * @since 0.1.0
 */
export const daemonAttribute = "duende.daemon"

/**
 * Runs `effect` in the span of a lifecycle phase, with the daemon's name as
 * the `duende.daemon` attribute. A failure marks the span as an error.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 * import { Effect } from "effect"
 *
 * const init = Effect.log("opening the database").pipe(Tracing.phase("init", "orders"))
 * ```
 *
 * @since 0.1.0
 */
export const phase = (phase: Phase, daemon: string, attributes?: Record<string, unknown>) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withSpan(effect, spanName(phase), {
    attributes: { [daemonAttribute]: daemon, ...attributes }
  })

/**
 * Where an external parent keeps its `tracestate`, so that it is forwarded
 * unchanged to whatever this process spawns in turn.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 * import { Context, Tracer } from "effect"
 *
 * const parent = Tracer.externalSpan({
 *   traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
 *   spanId: "00f067aa0ba902b7",
 *   context: Context.make(Tracing.TraceState, [["vendor", "value"]])
 * })
 * ```
 *
 * @since 0.1.0
 */
export class TraceState extends Context.Tag("@duende/observe/TraceState")<
  TraceState,
  ReadonlyArray<readonly [key: string, value: string]>
>() {}

/**
 * A trace context as the parent span of what Effect starts next.
 *
 * @example
 * ```ts
 * import { TraceContext, Tracing } from "@duende/observe"
 * import { Effect, Option } from "effect"
 *
 * const handle = (traceparent: string) =>
 *   Option.match(TraceContext.parse(traceparent), {
 *     onNone: () => Effect.log("no parent"),
 *     onSome: (context) => Effect.log("handled").pipe(Effect.withSpan("handle"), Effect.withParentSpan(Tracing.toSpan(context)))
 *   })
 * ```
 *
 * @since 0.1.0
 */
export const toSpan = (context: TraceContext.TraceContext): Tracer.ExternalSpan =>
  Tracer.externalSpan({
    traceId: context.traceId,
    spanId: context.spanId,
    sampled: TraceContext.isSampled(context),
    context: Context.make(TraceState, context.traceState)
  })

/**
 * The trace context of a span, with the `tracestate` of the nearest external
 * ancestor that carried one.
 *
 * @example
 * ```ts
 * import { TraceContext, Tracing } from "@duende/observe"
 * import { Effect } from "effect"
 *
 * const traceparent = Effect.map(Effect.currentSpan, (span) => TraceContext.format(Tracing.fromSpan(span)))
 * ```
 *
 * @since 0.1.0
 */
export const fromSpan = (span: Tracer.AnySpan): TraceContext.TraceContext => ({
  traceId: span.traceId,
  spanId: span.spanId,
  flags: span.sampled ? 1 : 0,
  traceState: inheritedTraceState(span)
})

const inheritedTraceState = (span: Tracer.AnySpan): ReadonlyArray<readonly [string, string]> => {
  let current: Tracer.AnySpan | undefined = span
  while (current !== undefined) {
    const found: Option.Option<ReadonlyArray<readonly [string, string]>> = Context.getOption(current.context, TraceState)
    if (Option.isSome(found)) return found.value
    current = current._tag === "Span" ? Option.getOrUndefined(current.parent) : undefined
  }
  return []
}

/**
 * The span a supervisor passed in `TRACEPARENT` / `TRACESTATE`, if any.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 *
 * const parent = Tracing.parentFromEnv() // Option<ExternalSpan>
 * ```
 *
 * @since 0.1.0
 */
export const parentFromEnv = (
  env: Readonly<Record<string, string | undefined>> = process.env
): Option.Option<Tracer.ExternalSpan> => Option.map(TraceContext.fromEnv(env), toSpan)

/**
 * Makes the supervisor's span (from `TRACEPARENT`) the parent of every span
 * the daemon starts; nothing when the variable is absent or invalid. Provide it
 * around the whole lifecycle so the init, run, shutdown, reload and health
 * spans are children of the supervisor's `duende.spawn` span.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 * import { Effect } from "effect"
 *
 * const program = Effect.log("init").pipe(Tracing.phase("init", "orders"), Effect.provide(Tracing.layerParentFromEnv))
 * ```
 *
 * @since 0.1.0
 */
export const layerParentFromEnv: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.sync(() =>
    Option.match(parentFromEnv(), {
      onNone: () => Layer.empty,
      onSome: (span) => Layer.parentSpan(span) as Layer.Layer<never>
    })
  )
)

/**
 * The environment variables that make the current span the parent of a child
 * process's spans (`TRACEPARENT`, and `TRACESTATE` when there is one); empty
 * outside any span.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 * import { Effect } from "effect"
 * import { spawn } from "node:child_process"
 *
 * const start = Effect.flatMap(Tracing.childEnv, (env) =>
 *   Effect.sync(() => spawn("worker", [], { env: { ...process.env, ...env } }))
 * ).pipe(Effect.withSpan("start worker"))
 * ```
 *
 * @since 0.1.0
 */
export const childEnv: Effect.Effect<Record<string, string>> = Effect.map(
  Effect.option(Effect.currentParentSpan),
  Option.match({ onNone: () => ({}), onSome: (span) => TraceContext.toEnv(fromSpan(span)) })
)

/**
 * The supervisor side: runs `start` in a `duende.spawn` span and gives it the
 * variables to put in the child's environment, so the daemon's spans join the
 * trace as children of this span.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 * import { Effect } from "effect"
 * import { spawn } from "node:child_process"
 *
 * const started = Tracing.spawn("orders", (traceEnv) =>
 *   Effect.sync(() => spawn("node", ["orders.js"], { env: { ...process.env, ...traceEnv } }).pid)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const spawn = <A, E, R>(
  daemon: string,
  start: (env: Record<string, string>) => Effect.Effect<A, E, R>,
  attributes?: Record<string, unknown>
): Effect.Effect<A, E, R> =>
  Effect.withSpan(Effect.flatMap(childEnv, start), spanName("spawn"), {
    attributes: { [daemonAttribute]: daemon, ...attributes },
    kind: "producer"
  })
