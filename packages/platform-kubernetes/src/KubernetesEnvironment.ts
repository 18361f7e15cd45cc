/**
 * What a daemon can tell about the pod it runs in: whether it is one (the
 * kubelet sets `KUBERNETES_SERVICE_HOST` in every container; a mounted
 * service-account directory says so too), and the pod's name and namespace
 * — from the downward API variables Duende's manifests set
 * (`DUENDE_POD_NAME`, `DUENDE_POD_NAMESPACE`), else from the hostname and
 * the service account's `namespace` file when its token is mounted.
 *
 * @since 0.1.0
 */
import { Platform } from "@duende/core"

/**
 * Where the kubelet mounts a pod's service account (when its token is mounted).
 *
 * @since 0.1.0
 */
export const serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

/**
 * Where the daemon runs.
 *
 * @since 0.1.0
 */
export interface Detection {
  readonly inPod: boolean
  /** The markers found. */
  readonly markers: ReadonlyArray<string>
  readonly podName: string | undefined
  readonly namespace: string | undefined
}

const nonEmpty = (value: string | undefined) => (value !== undefined && value.trim() !== "" ? value.trim() : undefined)

/**
 * Detects a pod from the environment of `probe` (default: this process).
 *
 * @example
 * ```ts
 * import { KubernetesEnvironment } from "@duende/platform-kubernetes"
 *
 * const { inPod, podName, namespace } = KubernetesEnvironment.detect()
 * if (inPod) console.log(`pod ${podName} in ${namespace}`)
 * ```
 *
 * @since 0.1.0
 */
export const detect = (probe: Platform.Probe = Platform.processProbe()): Detection => {
  const env = probe.env
  const markers: Array<string> = []
  if (nonEmpty(env.KUBERNETES_SERVICE_HOST) !== undefined) markers.push("env KUBERNETES_SERVICE_HOST")
  const mounted = probe.exists(serviceAccountDirectory)
  if (mounted) markers.push(serviceAccountDirectory)
  const inPod = markers.length > 0
  return {
    inPod,
    markers,
    podName: inPod ? nonEmpty(env.DUENDE_POD_NAME) ?? nonEmpty(env.HOSTNAME) : undefined,
    namespace: inPod
      ? nonEmpty(env.DUENDE_POD_NAMESPACE) ?? (mounted ? nonEmpty(probe.read(`${serviceAccountDirectory}/namespace`)) : undefined)
      : undefined
  }
}
