/**
 * @duende/platform-launchd: the runtime half, loaded inside a daemon process
 * on macOS. launchd has no readiness protocol, so the runtime logs ready,
 * reloading, stopping and status lines that the adapter reads; SIGTERM runs
 * the graceful shutdown within the job's ExitTimeOut; socket activation goes
 * through `launch_activate_socket`. The manager half (plists, launchctl, the
 * adapter) is the "@duende/platform-launchd/adapter" entry.
 *
 * @since 0.1.0
 */
import type { PlatformRuntime } from "@duende/core"
import type * as Layer from "effect/Layer"
import * as Runtime from "./LaunchdRuntime.js"

/** @since 0.1.0 */
export * as LaunchdDetection from "./LaunchdDetection.js"
/** @since 0.1.0 */
export * as LaunchdRuntime from "./LaunchdRuntime.js"
/** @since 0.1.0 */
export * as SocketActivation from "./SocketActivation.js"

/**
 * The runtime layer `PlatformRuntime.layerDetect` loads when it detects
 * launchd (macOS and `XPC_SERVICE_NAME`, or `DUENDE_PLATFORM=launchd`, which
 * the plists Duende renders set).
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { platformRuntime } from "@duende/platform-launchd"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: platformRuntime })
 * ```
 *
 * @since 0.1.0
 */
export const platformRuntime: Layer.Layer<PlatformRuntime.PlatformRuntime> = Runtime.layer
