/**
 * @duende/platform-pepita: the runtime half, loaded by a daemon inside its
 * pepita VM (kept light: no effect/Schema). The manager half (frame codec,
 * image, VMM driver, agent channel, the adapter) is the
 * "@duende/platform-pepita/adapter" entry.
 *
 * @since 0.1.0
 */
import type { PlatformRuntime } from "@duende/core"
import type * as Layer from "effect/Layer"
import * as Runtime from "./PepitaRuntime.js"

/** @since 0.1.0 */
export * as PepitaRuntime from "./PepitaRuntime.js"

/**
 * The runtime layer `PlatformRuntime.layerDetect` loads when it detects a
 * pepita VM (`PEPITA_VM`, which the guest agent sets, or the agent's port).
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { platformRuntime } from "@duende/platform-pepita"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: platformRuntime })
 * ```
 *
 * @since 0.1.0
 */
export const platformRuntime: Layer.Layer<PlatformRuntime.PlatformRuntime> = Runtime.layer
