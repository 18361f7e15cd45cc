/**
 * Makes the supervisor a child subreaper (Linux prctl PR_SET_CHILD_SUBREAPER,
 * through koffi, loaded lazily) so that processes orphaned by a daemon are
 * re-parented to the supervisor instead of to PID 1, and reaps them at once.
 * Without it an orphan ends as a zombie of PID 1, which some PID 1s reap late
 * (seen here: about a second) and some never (a container whose PID 1 is the
 * application). Only orphans of daemon sessions are reaped, never Node's own
 * children (libuv waits for those by pid).
 *
 * @internal
 */
import { readdirSync, readFileSync } from "node:fs"
import { parseStat, type ProcessEntry, scanProcesses } from "../procfs.js"
import { libc } from "./libc.js"

/**
 * This process's children (its own and the orphans it adopted as subreaper)
 * except those in `skip`, from /proc/self/task/<tid>/children: a few files,
 * not all of /proc. Only the others' stat files are read, so that with a
 * thousand daemons (whose running main processes are in `skip`) a reap after
 * each exit costs a few reads, not a thousand. Falls back to a full scan where the
 * kernel lacks that file.
 */
const ownChildren = (skip: ReadonlySet<number>): ReadonlyArray<ProcessEntry> => {
  let pids: Array<number>
  try {
    pids = readdirSync("/proc/self/task").flatMap((tid) =>
      readFileSync(`/proc/self/task/${tid}/children`, "utf8").split(" ").filter((p) => p !== "").map(Number)
    ).filter((pid) => !skip.has(pid))
  } catch {
    return scanProcesses().filter((entry) => entry.ppid === process.pid && !skip.has(entry.pid))
  }
  return pids.flatMap((pid) => {
    try {
      return [parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"))].filter((e): e is ProcessEntry => e !== undefined)
    } catch {
      return []
    }
  })
}

export interface Reaper {
  /** Whether this process is a subreaper (false off Linux or without koffi). */
  readonly active: boolean
  /** Why not, when not active. */
  readonly reason: string | undefined
  /**
   * Reaps zombie children of this process that belong to one of `sessions`
   * and are not session leaders, or are in `escaped` (processes of a daemon
   * that had left its session), looking only at children not in `own` (the
   * main processes Node spawned and reaps itself).
   */
  readonly reap: (sessions: ReadonlySet<number>, own: ReadonlySet<number>, escaped?: ReadonlySet<number>) => number
  /** The living children of this process not in `own`: orphans of daemons it adopted (empty when not active). */
  readonly orphans: (own: ReadonlySet<number>) => ReadonlyArray<number>
  /** The same, with what /proc says of each. */
  readonly orphanEntries: (own: ReadonlySet<number>) => ReadonlyArray<ProcessEntry>
}

const PR_SET_CHILD_SUBREAPER = 36
const WNOHANG = 1

let shared: Reaper | undefined

export const reaper = (): Reaper => {
  if (shared !== undefined) return shared
  shared = load()
  return shared
}

const inactive = (reason: string): Reaper => ({ active: false, reason, reap: () => 0, orphans: () => [], orphanEntries: () => [] })

const load = (): Reaper => {
  if (process.platform !== "linux") return inactive("subreaping needs Linux")
  const loaded = libc()
  if (typeof loaded === "string") return inactive(loaded)
  try {
    const lib = loaded.libc
    const prctl = lib.func("int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)")
    const waitpid = lib.func("int waitpid(int pid, _Out_ int *status, int options)")
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) return inactive("prctl(PR_SET_CHILD_SUBREAPER) failed")
    return {
      active: true,
      reason: undefined,
      reap: (sessions, own, escaped) => {
        let reaped = 0
        for (const entry of ownChildren(own)) {
          if (entry.state !== "Z") continue
          if (escaped?.has(entry.pid) !== true && (!sessions.has(entry.sid) || entry.pid === entry.sid)) continue
          if (waitpid(entry.pid, [0], WNOHANG) === entry.pid) reaped++
        }
        return reaped
      },
      orphans: (own) => ownChildren(own).filter((entry) => entry.state !== "Z" && entry.state !== "X").map((entry) => entry.pid),
      orphanEntries: (own) => ownChildren(own).filter((entry) => entry.state !== "Z" && entry.state !== "X")
    }
  } catch (error) {
    return inactive(`libc could not be loaded through koffi (${(error as Error).message})`)
  }
}
