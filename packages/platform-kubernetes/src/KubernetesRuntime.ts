/**
 * The daemon side of Kubernetes. A pod's containers are containers, so the
 * runtime is the container platform's (`@duende/platform-container`): the
 * daemon's readiness, reloads, stopping, status text and real health go to
 * its state file, with a heartbeat, and the pod's exec probes run `duende
 * health`, which answers from that file. This module adds what is
 * Kubernetes' own: it says at start which pod it runs in, and when the state
 * directory cannot be written it names the fix (the emptyDir Duende's
 * manifests mount there) instead of the probes failing silently.
 *
 * Inside a pod core's detection says "kubernetes" (the kubelet's
 * `KUBERNETES_SERVICE_HOST`; Duende's manifests also set
 * `DUENDE_PLATFORM=kubernetes`), and `PlatformRuntime.layerDetect` loads this
 * layer when the application has this package — else the container
 * platform's runtime, core's fallback for a pod, which lacks only the
 * diagnostics. The runtime reports its platform as "kubernetes".
 *
 * @since 0.1.0
 */
import { Platform, PlatformRuntime } from "@duende/core"
import { ContainerRuntime, StateFile } from "@duende/platform-container"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as KubernetesEnvironment from "./KubernetesEnvironment.js"

/**
 * Options of {@link make}: the container runtime's.
 *
 * @since 0.1.0
 */
export type Options = ContainerRuntime.Options

/**
 * Builds the runtime for the life of the scope.
 *
 * @example
 * ```ts
 * import { KubernetesRuntime } from "@duende/platform-kubernetes"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const runtime = yield* KubernetesRuntime.make({ directory: "/run/duende" })
 *   yield* runtime.ready // `duende health` now answers 0
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<PlatformRuntime.PlatformRuntime, never, Scope.Scope> =>
  Effect.gen(function*() {
    const probe = options.probe ?? Platform.processProbe()
    const pod = KubernetesEnvironment.detect(probe)
    if (pod.inPod) {
      yield* Effect.logDebug(
        `in pod ${pod.podName ?? "(unknown name)"} of namespace ${pod.namespace ?? "(unknown)"} (${pod.markers.join(", ")})`
      )
    }
    const directories = options.directory !== undefined ? [options.directory] : StateFile.candidates(probe.env)
    const prepared = StateFile.prepare(directories)
    if ("failures" in prepared) {
      yield* Effect.logWarning(
        `the exec probes (\`duende health\`) will fail: no state directory can be written (${prepared.failures.join("; ")}). ` +
          `Mount an emptyDir at ${StateFile.containerDirectory} and set ${StateFile.directoryVariable}=${StateFile.containerDirectory}, ` +
          `as the manifests of \`duende render kubernetes\` do.`
      )
      // The daemon runs on, telling nobody, as the container runtime does in this case.
      return PlatformRuntime.make({ platform: "kubernetes" })
    }
    const runtime = yield* ContainerRuntime.make({ ...options, directory: prepared.directory, probe })
    return { ...runtime, platform: "kubernetes" as const }
  })

/**
 * The runtime with default options, as a layer.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { KubernetesRuntime } from "@duende/platform-kubernetes"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: KubernetesRuntime.layer })
 * ```
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<PlatformRuntime.PlatformRuntime> = Layer.scoped(PlatformRuntime.PlatformRuntime, make())

/**
 * The runtime with options, as a layer.
 *
 * @example
 * ```ts
 * import { KubernetesRuntime } from "@duende/platform-kubernetes"
 *
 * const runtime = KubernetesRuntime.layerWith({ heartbeat: "2 seconds" })
 * ```
 *
 * @since 0.1.0
 */
export const layerWith = (options: Options): Layer.Layer<PlatformRuntime.PlatformRuntime> =>
  Layer.scoped(PlatformRuntime.PlatformRuntime, make(options))
