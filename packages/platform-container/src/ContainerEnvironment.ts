/**
 * What a daemon can tell about the container it runs in: whether it is one
 * (`/.dockerenv`, `/run/.containerenv`, the `container` variable, cgroup
 * markers, Kubernetes; `DUENDE_PLATFORM` overrides, as for core's detection),
 * which engine made it, and who PID 1 is. Node as PID 1 reaps only the
 * children it spawned itself: processes orphaned inside the container stay
 * zombies, so a daemon that finds itself PID 1 says so at start and names the
 * init to use.
 *
 * @since 0.1.0
 */
import { Platform } from "@duende/core"

/**
 * Where the daemon runs.
 *
 * @since 0.1.0
 */
export interface Detection {
  readonly inContainer: boolean
  /** The markers found (also when `DUENDE_PLATFORM` decided). */
  readonly markers: ReadonlyArray<string>
  readonly engine: "docker" | "podman" | "kubernetes" | "unknown"
}

/**
 * Detects a container from the environment of `probe` (default: this process).
 *
 * @example
 * ```ts
 * import { ContainerEnvironment } from "@duende/platform-container"
 *
 * const { inContainer, engine, markers } = ContainerEnvironment.detect()
 * if (inContainer) console.log(`in a ${engine} container (${markers.join(", ")})`)
 * ```
 *
 * @since 0.1.0
 */
export const detect = (probe: Platform.Probe = Platform.processProbe()): Detection => {
  // A pod is a container too: core finds it as "kubernetes".
  const pod = (kind: Platform.Kind) => kind === "container" || kind === "kubernetes"
  const markers = [...new Set(Platform.survey(probe).filter((d) => pod(d.kind)).flatMap((d) => d.markers))]
  const inContainer = pod(Platform.detect(probe).kind)
  const env = probe.env
  const engine = probe.exists("/run/.containerenv") || env.container === "podman"
    ? "podman"
    : probe.exists("/.dockerenv") || env.container === "docker"
    ? "docker"
    : env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== ""
    ? "kubernetes"
    : "unknown"
  return { inContainer, markers, engine }
}

/**
 * Init processes that reap orphans and forward signals.
 *
 * @since 0.1.0
 */
export const knownInits: ReadonlyArray<string> = [
  "tini",
  "tini-static",
  "docker-init",
  "podman-init",
  "duende-init",
  "catatonit",
  "dumb-init",
  "s6-svscan",
  "runit",
  "systemd",
  "init"
]

/**
 * Who PID 1 of the container is, as seen from the daemon.
 *
 * - `self`: the daemon is PID 1; nothing reaps orphaned processes.
 * - `init`: a known init is PID 1 and reaps them.
 * - `other`: something else is PID 1 (a shell, a supervisor): Duende cannot tell.
 *
 * @since 0.1.0
 */
export interface InitCheck {
  readonly pid1: "self" | "init" | "other"
  /** PID 1's command name (/proc/1/comm), when readable. */
  readonly command: string | undefined
  /** What to tell the user at start; undefined when all is well. */
  readonly warning: string | undefined
}

const initAdvice: Record<Detection["engine"], string> = {
  docker: "run it with `docker run --init`, `init: true` in compose, or `ENTRYPOINT [\"tini\", \"--\"]` in the image",
  podman: "run it with `podman run --init` (and --init-path when catatonit is not installed) or make tini the entrypoint",
  kubernetes: "make tini the image's entrypoint (`ENTRYPOINT [\"tini\", \"--\"]`) or enable shareProcessNamespace",
  unknown:
    "start it under an init: `docker/podman run --init`, tini as the entrypoint, or platform.container.init with Duende's adapter"
}

/**
 * Checks PID 1. A daemon that is PID 1 gets a warning: orphans of its child
 * processes will stay zombies, and signals that arrive before its handlers
 * are installed are dropped by the kernel.
 *
 * @example
 * ```ts
 * import { ContainerEnvironment } from "@duende/platform-container"
 *
 * const { pid1, warning } = ContainerEnvironment.checkInit()
 * if (warning) console.warn(warning)
 * ```
 *
 * @since 0.1.0
 */
export const checkInit = (probe: Platform.Probe = Platform.processProbe()): InitCheck => {
  const command = probe.read("/proc/1/comm")?.trim()
  if (probe.pid === 1) {
    return {
      pid1: "self",
      command,
      warning: "this daemon is PID 1 of its container and Node reaps only the processes it started itself: " +
        "processes orphaned inside the container will stay zombies. If the daemon runs other programs, " +
        `${initAdvice[detect(probe).engine]}.`
    }
  }
  if (command !== undefined && knownInits.includes(command)) return { pid1: "init", command, warning: undefined }
  return { pid1: "other", command, warning: undefined }
}
