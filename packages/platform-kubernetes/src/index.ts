/**
 * @duende/platform-kubernetes: the runtime half, loaded inside the pod.
 * Pod detection, and the container runtime's state file through which the
 * daemon's readiness and real health reach the pod's exec probes
 * (`duende health`). The manager half (manifests, the API client, the
 * adapter) is the "@duende/platform-kubernetes/adapter" entry.
 *
 * @since 0.1.0
 */
import type { PlatformRuntime } from "@duende/core"
import type * as Layer from "effect/Layer"
import * as Runtime from "./KubernetesRuntime.js"

/** @since 0.1.0 */
export * as KubernetesEnvironment from "./KubernetesEnvironment.js"
/** @since 0.1.0 */
export * as KubernetesRuntime from "./KubernetesRuntime.js"

/**
 * The runtime layer of a daemon in a pod: the container platform's runtime
 * with the pod's own diagnostics. Core's detection finds a pod
 * (`KUBERNETES_SERVICE_HOST`, `DUENDE_PLATFORM=kubernetes`) and loads it when
 * the application has this package installed (else `@duende/platform-container`'s
 * runtime); name it to be sure.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { platformRuntime } from "@duende/platform-kubernetes"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: platformRuntime })
 * ```
 *
 * @since 0.1.0
 */
export const platformRuntime: Layer.Layer<PlatformRuntime.PlatformRuntime> = Runtime.layer
