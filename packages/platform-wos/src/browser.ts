/**
 * @duende/platform-wos/browser: the WOS process model (`WosKernel`) and its
 * browser host (`BrowserWosHost`: each process a WASI module in a Web Worker).
 * Nothing here imports a Node module; the worker script is the
 * "@duende/platform-wos/browser-worker" entry.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as BrowserWosHost from "./BrowserWosHost.js"
/** @since 0.1.0 */
export * as WosError from "./WosError.js"
/** @since 0.1.0 */
export * as WosHost from "./WosHost.js"
/** @since 0.1.0 */
export * as WosKernel from "./WosKernel.js"
/** @since 0.1.0 */
export * as WosSignal from "./WosSignal.js"
