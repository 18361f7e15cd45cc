/**
 * Which platform a daemon process runs under, found from real markers in its
 * environment, in the order WOS, pepita, container, systemd, launchd, native.
 * `DUENDE_PLATFORM` overrides detection; managers that start daemons set it
 * explicitly (the native supervisor sets `DUENDE_PLATFORM=native`) because an
 * ambient marker such as `/.dockerenv` says where the process is, not who
 * manages it.
 *
 * @since 0.1.0
 */
import { existsSync, readFileSync } from "node:fs"

/**
 * A platform a daemon can run under.
 *
 * @since 0.1.0
 */
export type Kind = "native" | "systemd" | "launchd" | "container" | "pepita" | "wos"

/**
 * Every platform kind, in detection order (native last: it is the fallback).
 *
 * @since 0.1.0
 */
export const kinds: ReadonlyArray<Kind> = ["wos", "pepita", "container", "systemd", "launchd", "native"]

/**
 * The result of detection: the platform and the markers that decided it.
 *
 * @since 0.1.0
 */
export interface Detection {
  readonly kind: Kind
  readonly markers: ReadonlyArray<string>
}

/**
 * What detection may look at; tests pass their own.
 *
 * @since 0.1.0
 */
export interface Probe {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly os: NodeJS.Platform
  readonly pid: number
  readonly exists: (path: string) => boolean
  readonly read: (path: string) => string | undefined
}

/**
 * The probe of the current process.
 *
 * @since 0.1.0
 */
export const processProbe = (): Probe => ({
  env: process.env,
  os: process.platform,
  pid: process.pid,
  exists: existsSync,
  read: (path) => {
    try {
      return readFileSync(path, "utf8")
    } catch {
      return undefined
    }
  }
})

const cgroupMarker = /(docker|kubepods|containerd|libpod|lxc|crio)/

const markersOf = (kind: Kind, probe: Probe): ReadonlyArray<string> => {
  const { env } = probe
  const found: Array<string> = []
  const has = (name: string) => env[name] !== undefined && env[name] !== ""
  switch (kind) {
    case "wos":
      if (has("WOS_PID")) found.push("env WOS_PID")
      break
    case "pepita":
      if (has("PEPITA_VM")) found.push("env PEPITA_VM")
      if (probe.exists("/dev/virtio-ports/org.duende.agent.0")) found.push("/dev/virtio-ports/org.duende.agent.0")
      break
    case "container": {
      if (probe.exists("/.dockerenv")) found.push("/.dockerenv")
      if (probe.exists("/run/.containerenv")) found.push("/run/.containerenv")
      if (has("container")) found.push(`env container=${env.container}`)
      if (has("KUBERNETES_SERVICE_HOST")) found.push("env KUBERNETES_SERVICE_HOST")
      const cgroup = probe.read("/proc/1/cgroup")
      const match = cgroup === undefined ? null : cgroupMarker.exec(cgroup)
      if (match) found.push(`/proc/1/cgroup mentions ${match[1]}`)
      break
    }
    case "systemd":
      if (has("NOTIFY_SOCKET")) found.push("env NOTIFY_SOCKET")
      if (has("INVOCATION_ID")) found.push("env INVOCATION_ID")
      if (has("LISTEN_PID") && env.LISTEN_PID === String(probe.pid)) found.push("env LISTEN_PID")
      if (has("WATCHDOG_USEC")) found.push("env WATCHDOG_USEC")
      break
    case "launchd":
      if (probe.os === "darwin" && has("XPC_SERVICE_NAME") && env.XPC_SERVICE_NAME !== "0") {
        found.push(`env XPC_SERVICE_NAME=${env.XPC_SERVICE_NAME}`)
      }
      break
    case "native":
      if (has("DUENDE_NOTIFY_FD")) found.push("env DUENDE_NOTIFY_FD")
      break
  }
  return found
}

/**
 * Finds the platform of a process. The first kind (in {@link kinds} order) with
 * a marker wins; `DUENDE_PLATFORM` overrides.
 *
 * @example
 * ```ts
 * import { Platform } from "@duende/core"
 *
 * const { kind, markers } = Platform.detect()
 * console.log(`running under ${kind} (${markers.join(", ") || "no markers"})`)
 * ```
 *
 * @since 0.1.0
 */
export const detect = (probe: Probe = processProbe()): Detection => {
  const override = probe.env.DUENDE_PLATFORM
  if (override !== undefined && override !== "") {
    if ((kinds as ReadonlyArray<string>).includes(override)) {
      return { kind: override as Kind, markers: [`env DUENDE_PLATFORM=${override}`] }
    }
  }
  for (const kind of kinds) {
    const markers = markersOf(kind, probe)
    if (markers.length > 0) return { kind, markers }
  }
  return { kind: "native", markers: [] }
}

/**
 * Every platform whose markers are present, for diagnostics (`duende doctor`).
 *
 * @example
 * ```ts
 * import { Platform } from "@duende/core"
 *
 * for (const { kind, markers } of Platform.survey()) console.log(kind, markers)
 * ```
 *
 * @since 0.1.0
 */
export const survey = (probe: Probe = processProbe()): ReadonlyArray<Detection> =>
  kinds.map((kind) => ({ kind, markers: markersOf(kind, probe) })).filter((d) => d.markers.length > 0)

/**
 * Whether `DUENDE_PLATFORM` holds a value that is not a platform (reported, then ignored).
 *
 * @example
 * ```ts
 * import { Platform } from "@duende/core"
 *
 * Platform.invalidOverride({ DUENDE_PLATFORM: "windows" }) // "windows"
 * ```
 *
 * @since 0.1.0
 */
export const invalidOverride = (env: Readonly<Record<string, string | undefined>>): string | undefined => {
  const value = env.DUENDE_PLATFORM
  return value !== undefined && value !== "" && !(kinds as ReadonlyArray<string>).includes(value) ? value : undefined
}
