/**
 * A config run as `instances`, reported as one: `status api` sums up
 * `api@0`, `api@1`… and lists each under `instances`.
 *
 * @internal
 */
import type { DaemonInfo } from "../ControlProtocol.js"

const sum = (values: ReadonlyArray<number | null>): number | null =>
  values.every((value) => value === null) ? null : values.reduce<number>((total, value) => total + (value ?? 0), 0)

const earliest = (values: ReadonlyArray<number | null>): number | null => {
  const known = values.filter((value): value is number => value !== null)
  return known.length === 0 ? null : Math.min(...known)
}

/** "running (3 instances)" when they agree, else how many are in each state: "running 2/3, failed: crash loop 1/3". */
const statusOf = (instances: ReadonlyArray<DaemonInfo>): string => {
  const counts = new Map<string, number>()
  for (const info of instances) counts.set(info.status, (counts.get(info.status) ?? 0) + 1)
  if (counts.size === 1) return `${instances[0]!.status} (${instances.length} instance${instances.length === 1 ? "" : "s"})`
  return [...counts].map(([status, count]) => `${status} ${count}/${instances.length}`).join(", ")
}

/** The worst health among them: a health check of the config fails when one instance is not healthy. */
const healthOf = (instances: ReadonlyArray<DaemonInfo>): string | null => {
  const reported = instances.filter((info) => info.health !== null)
  const unwell = reported.find((info) => info.health !== "healthy")
  if (unwell !== undefined) return `${unwell.health} (${unwell.name})`
  return reported.length === 0 ? null : "healthy"
}

/** Sums up the instances of config `name` (at least one). */
export const summary = (name: string, instances: ReadonlyArray<DaemonInfo>): DaemonInfo => {
  const first = instances[0]!
  const notRunning = instances.find((info) => info.statusTag !== "Running")
  return {
    ...first,
    name,
    status: statusOf(instances),
    // Running only when every one of them runs.
    statusTag: notRunning?.statusTag ?? "Running",
    desired: instances.some((info) => info.desired === "running") ? "running" : "stopped",
    pid: null,
    startedAt: earliest(instances.map((info) => info.startedAt)),
    uptimeMs: null,
    restarts: instances.reduce((total, info) => total + info.restarts, 0),
    nextRestartAt: earliest(instances.map((info) => info.nextRestartAt)),
    restartHeld: instances.find((info) => info.restartHeld !== null)?.restartHeld ?? null,
    cpuPercent: sum(instances.map((info) => info.cpuPercent)),
    memoryBytes: sum(instances.map((info) => info.memoryBytes)),
    health: healthOf(instances),
    statusText: null,
    lastExit: null,
    instances
  }
}
