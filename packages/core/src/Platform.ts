/**
 * Which platform a daemon process runs under, and where its runtime layer
 * comes from: one table, one row per platform, that `Platform.detect` and
 * `PlatformRuntime.layerDetect` (so `Daemon.runMain`) both read.
 *
 * Detection looks at real markers in two tiers. First the protocol variables a
 * manager sets for this very process to talk back to it (`NOTIFY_SOCKET`,
 * `LISTEN_FDS` with our `LISTEN_PID`, `WATCHDOG_USEC`, the native
 * supervisor's `DUENDE_NOTIFY_FD`, `WOS_PID`, `DUENDE_WOS_ABI`, `PEPITA_VM`): the first row
 * with one wins. Only without any, the ambient markers (`/.dockerenv`,
 * cgroups, `container=`, `KUBERNETES_SERVICE_HOST`, `INVOCATION_ID`,
 * `XPC_SERVICE_NAME`, the pepita agent port), again in row order WOS, pepita,
 * kubernetes, container, systemd, launchd, native.
 * An ambient marker says where a process is, a protocol variable who is
 * waiting to hear from it: under systemd inside a container the daemon must
 * still send READY=1. `DUENDE_PLATFORM` overrides both.
 *
 * A row may name a `fallback`: a pod is also a container, so a daemon in a
 * pod whose application lacks `@duende/platform-kubernetes` gets the container
 * platform's runtime (its state file answers the exec probes) instead of none.
 *
 * @since 0.1.0
 */
import { existsSync, readFileSync } from "node:fs"

/**
 * A platform a daemon can run under.
 *
 * @since 0.1.0
 */
export type Kind = "native" | "systemd" | "launchd" | "container" | "kubernetes" | "pepita" | "wos"

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

const serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

const cgroupMarker = /(docker|kubepods|containerd|libpod|lxc|crio)/

const has = (probe: Probe, name: string) => probe.env[name] !== undefined && probe.env[name] !== ""

/**
 * One platform, as the runtime half knows it.
 *
 * @since 0.1.0
 */
export interface Row {
  readonly kind: Kind
  /** The package whose `platformRuntime` layer runs a daemon on this platform; none for core's own (native). */
  readonly runtimePackage: string | undefined
  /** Variables this platform's manager set for this process to talk back to it: they decide first. */
  readonly protocol: (probe: Probe) => ReadonlyArray<string>
  /** What the surroundings show (files, cgroups, inherited variables): they decide only when no protocol variable does. */
  readonly ambient: (probe: Probe) => ReadonlyArray<string>
  /** The platform whose runtime serves when this one's package is not installed (a pod is a container). */
  readonly fallback?: Kind
}

const found = (...markers: ReadonlyArray<string | false>): ReadonlyArray<string> =>
  markers.filter((marker): marker is string => marker !== false)

/**
 * Inside WOS: a WOS host gives every process `WOS_PID` and `DUENDE_WOS_ABI`, the
 * version of the `duende` import ABI it provides (platform-wos's
 * include/duende_wos.h) — what a JavaScript runtime running as a WOS process sees
 * of the ABI. A WebAssembly module needs no marker: it imports the ABI, and
 * only a WOS host instantiates it.
 */
const wos = (probe: Probe) =>
  found(
    has(probe, "WOS_PID") && "env WOS_PID",
    /^[1-9][0-9]{0,3}$/.test(probe.env.DUENDE_WOS_ABI ?? "") && `env DUENDE_WOS_ABI=${probe.env.DUENDE_WOS_ABI}`
  )

/**
 * The runtime table: every platform, in detection order (native last: it is the
 * fallback). Adding a platform is one row here (and one in the CLI's table).
 *
 * @example
 * ```ts
 * import { Platform } from "@duende/core"
 *
 * Platform.table.find((row) => row.kind === "systemd")?.runtimePackage // "@duende/platform-systemd"
 * ```
 *
 * @since 0.1.0
 */
export const table: ReadonlyArray<Row> = [
  {
    kind: "wos",
    runtimePackage: "@duende/platform-wos",
    protocol: wos,
    ambient: () => []
  },
  {
    kind: "pepita",
    runtimePackage: "@duende/platform-pepita",
    // The guest agent is the daemon's manager over the native notify pipe (DUENDE_NOTIFY_FD): core's runtime speaks it.
    fallback: "native",
    protocol: (probe) => found(has(probe, "PEPITA_VM") && "env PEPITA_VM"),
    ambient: (probe) =>
      found(probe.exists("/dev/virtio-ports/org.duende.agent.0") && "/dev/virtio-ports/org.duende.agent.0")
  },
  {
    kind: "kubernetes",
    runtimePackage: "@duende/platform-kubernetes",
    fallback: "container",
    protocol: () => [],
    ambient: (probe) => {
      const cgroup = probe.read("/proc/1/cgroup")
      return found(
        has(probe, "KUBERNETES_SERVICE_HOST") && "env KUBERNETES_SERVICE_HOST",
        probe.exists(serviceAccountDirectory) && serviceAccountDirectory,
        cgroup !== undefined && cgroup.includes("kubepods") && "/proc/1/cgroup mentions kubepods"
      )
    }
  },
  {
    kind: "container",
    runtimePackage: "@duende/platform-container",
    protocol: () => [],
    ambient: (probe) => {
      const cgroup = probe.read("/proc/1/cgroup")
      const match = cgroup === undefined ? null : cgroupMarker.exec(cgroup)
      return found(
        probe.exists("/.dockerenv") && "/.dockerenv",
        probe.exists("/run/.containerenv") && "/run/.containerenv",
        has(probe, "container") && `env container=${probe.env.container}`,
        match !== null && `/proc/1/cgroup mentions ${match[1]}`
      )
    }
  },
  {
    kind: "systemd",
    runtimePackage: "@duende/platform-systemd",
    protocol: (probe) => {
      const ours = (name: string) => has(probe, name) && probe.env[name] === String(probe.pid)
      return found(
        has(probe, "NOTIFY_SOCKET") && "env NOTIFY_SOCKET",
        ours("LISTEN_PID") && (has(probe, "LISTEN_FDS") ? "env LISTEN_FDS" : "env LISTEN_PID"),
        has(probe, "WATCHDOG_USEC") && (!has(probe, "WATCHDOG_PID") || ours("WATCHDOG_PID")) && "env WATCHDOG_USEC"
      )
    },
    ambient: (probe) => found(has(probe, "INVOCATION_ID") && "env INVOCATION_ID")
  },
  {
    kind: "launchd",
    runtimePackage: "@duende/platform-launchd",
    protocol: () => [],
    ambient: (probe) =>
      found(
        probe.os === "darwin" && has(probe, "XPC_SERVICE_NAME") && probe.env.XPC_SERVICE_NAME !== "0" &&
          `env XPC_SERVICE_NAME=${probe.env.XPC_SERVICE_NAME}`
      )
  },
  {
    kind: "native",
    runtimePackage: undefined,
    protocol: (probe) => found(has(probe, "DUENDE_NOTIFY_FD") && "env DUENDE_NOTIFY_FD"),
    ambient: () => []
  }
]

/**
 * Every platform kind, in detection order (native last: it is the fallback).
 *
 * @since 0.1.0
 */
export const kinds: ReadonlyArray<Kind> = table.map((row) => row.kind)

/**
 * The package that provides a platform's runtime layer (`platformRuntime`), or
 * undefined for native, which core provides itself.
 *
 * @example
 * ```ts
 * import { Platform } from "@duende/core"
 *
 * Platform.runtimePackage("container") // "@duende/platform-container"
 * ```
 *
 * @since 0.1.0
 */
export const runtimePackage = (kind: Kind): string | undefined => table.find((row) => row.kind === kind)?.runtimePackage

/**
 * The platform whose runtime serves when `kind`'s package is not installed, if any.
 *
 * @example
 * ```ts
 * import { Platform } from "@duende/core"
 *
 * Platform.fallback("kubernetes") // "container"
 * ```
 *
 * @since 0.1.0
 */
export const fallback = (kind: Kind): Kind | undefined => table.find((row) => row.kind === kind)?.fallback

const markersOf = (row: Row, probe: Probe): ReadonlyArray<string> => [...row.protocol(probe), ...row.ambient(probe)]

/**
 * Finds the platform of a process: `DUENDE_PLATFORM` if it names one, else the
 * first row (in {@link kinds} order) with a protocol variable, else the first
 * with an ambient marker, else native. `markers` are what decided.
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
  if (override !== undefined && override !== "" && (kinds as ReadonlyArray<string>).includes(override)) {
    return { kind: override as Kind, markers: [`env DUENDE_PLATFORM=${override}`] }
  }
  for (const tier of ["protocol", "ambient"] as const) {
    for (const row of table) {
      const markers = row[tier](probe)
      if (markers.length > 0) return { kind: row.kind, markers }
    }
  }
  return { kind: "native", markers: [] }
}

/**
 * One line saying what detection decided and why, naming the markers of other
 * platforms it overruled (what `PlatformRuntime.layerDetect` logs at debug level).
 *
 * @example
 * ```ts
 * import { Platform } from "@duende/core"
 *
 * console.log(Platform.explain())
 * // "systemd: protocol variable (env NOTIFY_SOCKET); overruled: container (/.dockerenv)"
 * ```
 *
 * @since 0.1.0
 */
export const explain = (probe: Probe = processProbe()): string => {
  const { kind, markers } = detect(probe)
  if (markers.length === 0) return "native: no markers"
  const why = markers[0]!.startsWith("env DUENDE_PLATFORM=")
    ? "override"
    : table.find((row) => row.kind === kind)!.protocol(probe).length > 0
    ? "protocol variable"
    : "ambient marker"
  const others = survey(probe).filter((other) => other.kind !== kind)
  return `${kind}: ${why} (${markers.join(", ")})${
    others.length === 0 ? "" : `; overruled: ${others.map((other) => `${other.kind} (${other.markers.join(", ")})`).join(", ")}`
  }`
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
  table.map((row) => ({ kind: row.kind, markers: markersOf(row, probe) })).filter((d) => d.markers.length > 0)

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
