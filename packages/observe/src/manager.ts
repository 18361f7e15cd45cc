/**
 * @duende/observe/manager: the supervisor side. Process sampling from /proc
 * (or `ps`), a Prometheus registry and its loopback HTTP endpoint, the
 * metrics of every supervised daemon, and the health monitor.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as HealthMonitor from "./HealthMonitor.js"
/** @since 0.1.0 */
export * from "./InvalidMetric.js"
/** @since 0.1.0 */
export * as MetricsRegistry from "./MetricsRegistry.js"
/** @since 0.1.0 */
export * as ProcessSampler from "./ProcessSampler.js"
/** @since 0.1.0 */
export * as ProcessSource from "./ProcessSource.js"
/** @since 0.1.0 */
export * as PrometheusServer from "./PrometheusServer.js"
/** @since 0.1.0 */
export * from "./SamplingError.js"
/** @since 0.1.0 */
export * as SupervisorMetrics from "./SupervisorMetrics.js"
/** @since 0.1.0 */
export * as SyscallSpans from "./SyscallSpans.js"
