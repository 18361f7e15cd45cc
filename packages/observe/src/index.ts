/**
 * @duende/observe: the daemon side of Duende's observability. Lifecycle spans
 * and W3C trace context from the supervisor, RED and lifecycle metrics on
 * Effect's Metric API, a bounded snapshot history and an anomaly detector.
 * Light on purpose (effect only): the OpenTelemetry SDK is in
 * `@duende/observe/otel`, process sampling and Prometheus in
 * `@duende/observe/manager`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AnomalyDetector from "./AnomalyDetector.js"
/** @since 0.1.0 */
export * as LifecycleMetrics from "./LifecycleMetrics.js"
/** @since 0.1.0 */
export * as RedMetrics from "./RedMetrics.js"
/** @since 0.1.0 */
export * as RingBuffer from "./RingBuffer.js"
/** @since 0.1.0 */
export * as TraceContext from "./TraceContext.js"
/** @since 0.1.0 */
export * as Tracing from "./Tracing.js"
