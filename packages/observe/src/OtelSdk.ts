/**
 * OpenTelemetry for a daemon or a supervisor, through `@opentelemetry/api`
 * and `@effect/opentelemetry`: Effect spans (the lifecycle spans of
 * {@link Tracing}) become OpenTelemetry spans, Effect metrics (RedMetrics,
 * LifecycleMetrics) become OpenTelemetry metrics, both exported over
 * OTLP/HTTP; and the span a supervisor passed in `TRACEPARENT` /
 * `TRACESTATE` becomes the parent of the daemon's spans, sampled flag and
 * `tracestate` included.
 *
 * This entry loads the OpenTelemetry SDK: import it only in processes that
 * export telemetry.
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as OtelResource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as TraceContext from "./TraceContext.js"
import * as Tracing from "./Tracing.js"

/**
 * What to export and where.
 *
 * @since 0.1.0
 */
export interface Options {
  /** `service.name` of the resource (the daemon's name is a good one). */
  readonly serviceName: string
  readonly serviceVersion?: string
  /** More resource attributes. */
  readonly attributes?: Readonly<Record<string, string>>
  /**
   * The OTLP/HTTP base URL (`/v1/traces` and `/v1/metrics` are appended).
   * Default: the exporters' own, from `OTEL_EXPORTER_OTLP_ENDPOINT` and related
   * variables, else http://localhost:4318.
   */
  readonly endpoint?: string
  /** Extra HTTP headers (an API key…). */
  readonly headers?: Readonly<Record<string, string>>
  /** Export spans (default true). */
  readonly traces?: boolean
  /** Export Effect metrics every `interval` (default true, every 60 seconds; also at shutdown). */
  readonly metrics?: boolean | { readonly interval?: Duration.DurationInput }
  /** How long to wait for the last export at shutdown (default 3 seconds). */
  readonly shutdownTimeout?: Duration.DurationInput
}

/**
 * The span a supervisor passed in `TRACEPARENT` / `TRACESTATE`, as a parent
 * that keeps its sampled flag and `tracestate` in OpenTelemetry.
 *
 * @example
 * ```ts
 * import { OtelSdk } from "@duende/observe/otel"
 * import { Effect, Option } from "effect"
 *
 * const traced = (work: Effect.Effect<void>) =>
 *   Option.match(OtelSdk.parentFromEnv(), { onNone: () => work, onSome: (parent) => Effect.withParentSpan(work, parent) })
 * ```
 *
 * @since 0.1.0
 */
export const parentFromEnv = (
  env: Readonly<Record<string, string | undefined>> = process.env
): Option.Option<Tracer.ExternalSpan> =>
  Option.map(TraceContext.fromEnv(env), (context) => {
    const span = OtelTracer.makeExternalSpan({
      traceId: context.traceId,
      spanId: context.spanId,
      traceFlags: context.flags,
      ...(context.traceState.length > 0 ? { traceState: TraceContext.formatTraceState(context.traceState) } : {})
    })
    return { ...span, context: Context.add(span.context, Tracing.TraceState, context.traceState) }
  })

const layerParentFromEnv: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.sync(() =>
    Option.match(parentFromEnv(), {
      onNone: () => Layer.empty,
      onSome: (span) => Layer.parentSpan(span) as Layer.Layer<never>
    })
  )
)

const url = (endpoint: string | undefined, signal: "traces" | "metrics") =>
  endpoint === undefined ? {} : { url: `${endpoint.replace(/\/+$/, "")}/v1/${signal}` }

/**
 * Exports spans and Effect metrics over OTLP/HTTP (JSON) with the
 * OpenTelemetry SDK, and parents this process's spans on the supervisor's
 * span from `TRACEPARENT`. Provide it around the whole program (for a
 * daemon: around its lifecycle); closing it flushes what is left.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 * import { OtelSdk } from "@duende/observe/otel"
 * import { Effect } from "effect"
 *
 * const program = Effect.log("warming caches").pipe(
 *   Tracing.phase("init", "orders"),
 *   Effect.provide(OtelSdk.layer({ serviceName: "orders", endpoint: "http://127.0.0.1:4318" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<never> => {
  const headers = options.headers === undefined ? {} : { headers: { ...options.headers } }
  const metrics = options.metrics ?? true
  const interval = typeof metrics === "object" && metrics.interval !== undefined
    ? Duration.toMillis(Duration.decode(metrics.interval))
    : 60_000
  const sdk = NodeSdk.layer(() => ({
    resource: {
      serviceName: options.serviceName,
      ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion }),
      ...(options.attributes === undefined ? {} : { attributes: { ...options.attributes } })
    },
    ...(options.traces === false ? {} : {
      spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ ...url(options.endpoint, "traces"), ...headers }))
    }),
    ...(metrics === false ? {} : {
      metricReader: new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ ...url(options.endpoint, "metrics"), ...headers }),
        exportIntervalMillis: interval,
        exportTimeoutMillis: Math.min(interval, 30_000)
      })
    }),
    shutdownTimeout: options.shutdownTimeout ?? Duration.seconds(3)
  }))
  return Layer.merge(sdk, layerParentFromEnv) as Layer.Layer<never>
}

/**
 * Uses the tracer provider already registered with `@opentelemetry/api`
 * (by `@opentelemetry/sdk-node`, an auto-instrumentation agent…) instead of
 * starting an SDK, and parents spans on the supervisor's span from `TRACEPARENT`.
 *
 * @example
 * ```ts
 * import { Tracing } from "@duende/observe"
 * import { OtelSdk } from "@duende/observe/otel"
 * import { Effect } from "effect"
 *
 * const program = Effect.log("init").pipe(
 *   Tracing.phase("init", "orders"),
 *   Effect.provide(OtelSdk.layerGlobal({ serviceName: "orders" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layerGlobal = (options: Pick<Options, "serviceName" | "serviceVersion">): Layer.Layer<never> =>
  Layer.merge(
    OtelTracer.layerGlobal.pipe(
      Layer.provide(OtelResource.layer({
        serviceName: options.serviceName,
        ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion })
      }))
    ),
    layerParentFromEnv
  ) as Layer.Layer<never>
