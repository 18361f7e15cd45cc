/**
 * The runtime half, inside the VM. The guest agent is the daemon's manager and
 * speaks Duende's native notify protocol to it (the pipe on fd 3,
 * `DUENDE_NOTIFY_FD=3`), as the native supervisor does; it also sets
 * `PEPITA_VM`, the marker core's platform detection reads (besides the agent's
 * port `/dev/virtio-ports/org.duende.agent.0`). So the runtime is core's
 * native one over that pipe, reporting its platform as "pepita"; the agent
 * turns each line into a Status frame for the host.
 *
 * @since 0.1.0
 */
import { PlatformRuntime } from "@duende/core"
import * as Layer from "effect/Layer"

/**
 * The runtime layer for a daemon in a pepita VM.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { PepitaRuntime } from "@duende/platform-pepita"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: PepitaRuntime.layer })
 * ```
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<PlatformRuntime.PlatformRuntime> = Layer.project(
  PlatformRuntime.layerNative,
  PlatformRuntime.PlatformRuntime,
  PlatformRuntime.PlatformRuntime,
  (native): PlatformRuntime.PlatformRuntime => ({ ...native, platform: "pepita" })
)
