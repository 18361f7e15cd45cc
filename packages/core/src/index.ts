/**
 * @duende/core: write a daemon once (init, run, shutdown, health, reload) and
 * run it the same way under every platform Duende supports.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * from "./ConfigError.js"
/** @since 0.1.0 */
export * as Daemon from "./Daemon.js"
/** @since 0.1.0 */
export * as DaemonConfig from "./DaemonConfig.js"
/** @since 0.1.0 */
export type * from "./DaemonContext.js"
/** @since 0.1.0 */
export * as DaemonId from "./DaemonId.js"
/** @since 0.1.0 */
export * as DaemonStatus from "./DaemonStatus.js"
/** @since 0.1.0 */
export * as ExitReason from "./ExitReason.js"
/** @since 0.1.0 */
export * as HealthStatus from "./HealthStatus.js"
/** @since 0.1.0 */
export * as HttpDrain from "./HttpDrain.js"
/** @since 0.1.0 */
export * as PidFile from "./PidFile.js"
/** @since 0.1.0 */
export * as Platform from "./Platform.js"
/** @since 0.1.0 */
export * as PlatformRuntime from "./PlatformRuntime.js"
/** @since 0.1.0 */
export * as ProcessSignals from "./ProcessSignals.js"
/** @since 0.1.0 */
export * as PromiseDaemon from "./PromiseDaemon.js"
/** @since 0.1.0 */
export * as Signal from "./Signal.js"
