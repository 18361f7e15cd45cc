/**
 * @duende/core/manager: the manager half. Controlling daemons from outside:
 * the PlatformAdapter contract and its errors. Kept apart from the runtime
 * entry (`@duende/core`) so a daemon process never loads manager code.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * from "./AdapterError.js"
/** @since 0.1.0 */
export * as PlatformAdapter from "./PlatformAdapter.js"
/** @since 0.1.0 */
export * as NativeAdapter from "./NativeAdapter.js"
/** @since 0.1.0 */
export * as DaemonManager from "./DaemonManager.js"
/** @since 0.1.0 */
export * as RestartPolicy from "./RestartPolicy.js"
/** @since 0.1.0 */
export * as RestartBreaker from "./RestartBreaker.js"
/** @since 0.1.0 */
export * as ProcessTree from "./ProcessTree.js"
/** @since 0.1.0 */
export * as PlatformModule from "./PlatformModule.js"
/** @since 0.1.0 */
export * as SyscallTrace from "./SyscallTrace.js"
