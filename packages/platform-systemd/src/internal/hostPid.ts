/**
 * systemd names a unit's main process by its pid in systemd's own pid
 * namespace: the host's pid when systemd is the host's PID 1, another number
 * when it is the PID 1 of a container (reached through a command prefix, as
 * in `systemd-nspawn`). The host's pid is the process whose innermost pid
 * (the last of `NSpid:` in /proc/<pid>/status) is that number and whose start
 * time is the unit's `ExecMainStartTimestamp`.
 *
 * @internal
 */
import { ProcessTree } from "@duende/core/manager"
import { readdirSync, readFileSync } from "node:fs"

/** A process's pids, outermost (this host's) first; undefined when it is gone or /proc has no NSpid. */
const namespacePids = (pid: number): ReadonlyArray<number> | undefined => {
  try {
    const line = /^NSpid:\s+(.+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return line === null ? undefined : line[1]!.trim().split(/\s+/).map(Number)
  } catch {
    return undefined
  }
}

/**
 * The host pids that are `pid` in their own namespace and started at
 * `startedAt` (epoch ms): one, unless the process is gone (none) or two
 * namespaces started a process of that pid within the same second (several).
 */
export const hostPids = (pid: number, startedAt: number): ReadonlyArray<number> => {
  const ownNamespace = namespacePids(pid)
  if (ownNamespace?.length === 1 && ProcessTree.isSame(pid, startedAt)) return [pid]
  let names: Array<string>
  try {
    names = readdirSync("/proc")
  } catch {
    return []
  }
  return names
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((candidate) => namespacePids(candidate)?.at(-1) === pid && ProcessTree.isSame(candidate, startedAt))
}
