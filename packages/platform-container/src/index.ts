/**
 * @duende/platform-container: the runtime half, loaded inside a daemon
 * process. Container detection, the PID 1 check, and the state file through
 * which the daemon's readiness and real health reach `duende health` (the
 * container's `HEALTHCHECK`) and Duende's container adapter. The manager half
 * (renderers, drivers, the adapter) is the "@duende/platform-container/adapter" entry.
 *
 * @since 0.1.0
 */
import type { PlatformRuntime } from "@duende/core"
import type * as Layer from "effect/Layer"
import * as Runtime from "./ContainerRuntime.js"

/** @since 0.1.0 */
export * as ContainerEnvironment from "./ContainerEnvironment.js"
/** @since 0.1.0 */
export * as ContainerRuntime from "./ContainerRuntime.js"
/** @since 0.1.0 */
export * as Healthcheck from "./Healthcheck.js"
/** @since 0.1.0 */
export * as StateFile from "./StateFile.js"
/** @since 0.1.0 */
export { checkHealth, type HealthVerdict } from "./Healthcheck.js"

/**
 * The runtime layer `PlatformRuntime.layerDetect` loads when it detects a
 * container (`/.dockerenv`, `/run/.containerenv`, `container=…`, cgroup
 * markers, or `DUENDE_PLATFORM=container`).
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { platformRuntime } from "@duende/platform-container"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: platformRuntime })
 * ```
 *
 * @since 0.1.0
 */
export const platformRuntime: Layer.Layer<PlatformRuntime.PlatformRuntime> = Runtime.layer
