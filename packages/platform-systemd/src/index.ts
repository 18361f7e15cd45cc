/**
 * @duende/platform-systemd: the runtime half, loaded inside a daemon process.
 * sd_notify over `$NOTIFY_SOCKET` without a compiler, socket activation and
 * journald-aware logging. The manager half (unit files, systemctl, the
 * adapter) is the "@duende/platform-systemd/adapter" entry.
 *
 * @since 0.1.0
 */
import type { PlatformRuntime } from "@duende/core"
import * as Layer from "effect/Layer"
import * as Journal from "./JournalLogger.js"
import * as Runtime from "./SystemdRuntime.js"

/** @since 0.1.0 */
export * as JournalLogger from "./JournalLogger.js"
/** @since 0.1.0 */
export * as SocketActivation from "./SocketActivation.js"
/** @since 0.1.0 */
export * as SystemdRuntime from "./SystemdRuntime.js"

/**
 * The runtime layer `PlatformRuntime.layerDetect` loads when it detects
 * systemd (`NOTIFY_SOCKET`, `INVOCATION_ID`, `LISTEN_PID`, `WATCHDOG_USEC`):
 * sd_notify, and log lines with `<N>` priority prefixes when stderr is the
 * journal.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { platformRuntime } from "@duende/platform-systemd"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: platformRuntime })
 * ```
 *
 * @since 0.1.0
 */
export const platformRuntime: Layer.Layer<PlatformRuntime.PlatformRuntime> = Layer.merge(Runtime.layer, Journal.layer)
