/**
 * @duende/platform-wos: the WOS process model (`WosKernel`) and its Node host
 * own worker thread. The manager half (core's `PlatformAdapter` on the
 * kernel) is the "@duende/platform-wos/adapter" entry.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
/** @since 0.1.0 */
export * as NodeWosHost from "./NodeWosHost.js"
/** @since 0.1.0 */
export * as WosCtl from "./WosCtl.js"
/** @since 0.1.0 */
export * as WosError from "./WosError.js"
/** @since 0.1.0 */
export * as WosKernel from "./WosKernel.js"
/** @since 0.1.0 */
export * as WosSignal from "./WosSignal.js"
