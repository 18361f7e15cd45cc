/**
 * @duende/platform-wos: the WOS process model (`WosKernel`) and its Node host
 * (`NodeWosHost`: each process a WASI module in its own worker thread; the
 * service it provides is `WosHost`). The browser host is the
 * "@duende/platform-wos/browser" entry. The manager half (core's `PlatformAdapter` on the
 * kernel) is the "@duende/platform-wos/adapter" entry.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as NodeWosHost from "./NodeWosHost.js"
/** @since 0.1.0 */
export * as WosCtl from "./WosCtl.js"
/** @since 0.1.0 */
export * as WosError from "./WosError.js"
/** @since 0.1.0 */
export * as WosHost from "./WosHost.js"
/** @since 0.1.0 */
export * as WosKernel from "./WosKernel.js"
/** @since 0.1.0 */
export * as WosSignal from "./WosSignal.js"
