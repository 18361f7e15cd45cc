/**
 * Whether this process is a launchd job, from real markers: macOS, and the
 * variable launchd sets for every job (`XPC_SERVICE_NAME`, the job's label),
 * or launchd (pid 1) as the parent. `DUENDE_PLATFORM` overrides both ways
 * (the plists Duende renders set `DUENDE_PLATFORM=launchd`).
 *
 * A terminal's shell inherits `XPC_SERVICE_NAME` too: "0" from Terminal and
 * `application.<bundle id>…` from apps launchd started for the GUI; neither
 * is a job label, so neither counts.
 *
 * @since 0.1.0
 */

/**
 * What detection looks at; tests pass their own.
 *
 * @since 0.1.0
 */
export interface Probe {
  readonly os: NodeJS.Platform
  readonly env: Readonly<Record<string, string | undefined>>
  /** The parent's pid. */
  readonly ppid: number
}

/**
 * The probe of this process.
 *
 * @example
 * ```ts
 * import { LaunchdDetection } from "@duende/platform-launchd"
 *
 * LaunchdDetection.processProbe().os
 * ```
 *
 * @since 0.1.0
 */
export const processProbe = (): Probe => ({ os: process.platform, env: process.env, ppid: process.ppid })

/**
 * The markers found: empty when this is not a launchd job.
 *
 * @example
 * ```ts
 * import { LaunchdDetection } from "@duende/platform-launchd"
 *
 * LaunchdDetection.markers({ os: "darwin", env: { XPC_SERVICE_NAME: "com.example.api" }, ppid: 1 })
 * // ["env XPC_SERVICE_NAME=com.example.api", "parent pid 1 (launchd)"]
 * LaunchdDetection.markers({ os: "darwin", env: { XPC_SERVICE_NAME: "0" }, ppid: 812 }) // []
 * ```
 *
 * @since 0.1.0
 */
export const markers = (probe: Probe = processProbe()): ReadonlyArray<string> => {
  const override = probe.env.DUENDE_PLATFORM
  if (override !== undefined && override !== "") return override === "launchd" ? ["env DUENDE_PLATFORM=launchd"] : []
  if (probe.os !== "darwin") return []
  const found: Array<string> = []
  const service = probe.env.XPC_SERVICE_NAME
  if (service !== undefined && service !== "" && service !== "0" && !service.startsWith("application.")) {
    found.push(`env XPC_SERVICE_NAME=${service}`)
  }
  if (probe.ppid === 1) found.push("parent pid 1 (launchd)")
  return found
}

/**
 * Whether this process runs under launchd.
 *
 * @example
 * ```ts
 * import { LaunchdDetection } from "@duende/platform-launchd"
 *
 * if (LaunchdDetection.isLaunchd()) console.log("a launchd job: do not daemonize")
 * ```
 *
 * @since 0.1.0
 */
export const isLaunchd = (probe: Probe = processProbe()): boolean => markers(probe).length > 0
