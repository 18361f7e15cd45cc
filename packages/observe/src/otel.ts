/**
 * @duende/observe/otel: the OpenTelemetry SDK layer (OTLP/HTTP export of
 * spans and Effect metrics, parent span from `TRACEPARENT`). Kept apart
 * because it loads the SDK.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as OtelSdk from "./OtelSdk.js"
