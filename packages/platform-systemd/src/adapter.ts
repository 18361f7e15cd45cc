/**
 * @duende/platform-systemd/adapter: the manager half. Unit files (model,
 * escaping, render and parse), a `DaemonConfig` rendered as hardened units,
 * the systemd tools as a service, and core's `PlatformAdapter` for systemd.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Systemctl from "./Systemctl.js"
/** @since 0.1.0 */
export * as SystemdAdapter from "./SystemdAdapter.js"
/** @since 0.1.0 */
export * as SystemdSection from "./SystemdSection.js"
/** @since 0.1.0 */
export * as SystemdUnit from "./SystemdUnit.js"
/** @since 0.1.0 */
export * as UnitFile from "./UnitFile.js"
