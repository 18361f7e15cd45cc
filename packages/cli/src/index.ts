/**
 * @duende/cli as a library: the supervisor, its control protocol and client,
 * its registry and paths. The `duende` binary is built on these.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ControlClient from "./ControlClient.js"
/** @since 0.1.0 */
export * as ControlProtocol from "./ControlProtocol.js"
/** @since 0.1.0 */
export * as Paths from "./Paths.js"
/** @since 0.1.0 */
export * as Registry from "./Registry.js"
/** @since 0.1.0 */
export * as Supervisor from "./Supervisor.js"
