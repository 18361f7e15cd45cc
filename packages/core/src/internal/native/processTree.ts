/**
 * The process tree of a daemon started by the native adapter. The daemon is
 * started in a new session (detached), so its tree is every process in that
 * session plus every descendant of its pid (a child that left the session
 * with setsid is still found while its parent lives). A process that left the
 * session and lost its parent (a double fork, or its parent died) is
 * re-parented to the supervisor, a subreaper: it is found among the
 * supervisor's children by the `DUENDE_DAEMON_ID` it inherited. Off Linux only
 * the process group is known.
 *
 * @internal
 */
import { hasEnvironment, type ProcessEntry, sameProcess, scanProcesses } from "../procfs.js"

/** The daemon's tree: its session and the descendants of `root`, without `exclude` (the supervisor). */
export const treeOf = (root: number, processes: ReadonlyArray<ProcessEntry> = scanProcesses()): ReadonlyArray<ProcessEntry> => {
  const children = new Map<number, Array<ProcessEntry>>()
  for (const entry of processes) {
    const list = children.get(entry.ppid)
    if (list) list.push(entry)
    else children.set(entry.ppid, [entry])
  }
  const found = new Map<number, ProcessEntry>()
  for (const entry of processes) if (entry.sid === root) found.set(entry.pid, entry)
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.pop()!
    for (const child of children.get(pid) ?? []) {
      if (!found.has(child.pid)) {
        found.set(child.pid, child)
        queue.push(child.pid)
      }
    }
  }
  const self = processes.find((entry) => entry.pid === root)
  if (self) found.set(root, self)
  found.delete(process.pid)
  return [...found.values()]
}

/**
 * Of `orphans` (children this subreaper adopted), those that left every known
 * daemon session and were started, directly or not, by the daemon `daemonId`:
 * the variable is inherited, and only this process's children are looked at.
 */
export const escapedOf = (
  daemonId: string,
  orphans: ReadonlyArray<ProcessEntry>,
  sessions: ReadonlySet<number>
): ReadonlyArray<ProcessEntry> =>
  orphans.filter((entry) =>
    entry.state !== "Z" && !sessions.has(entry.sid) && hasEnvironment(entry.pid, "DUENDE_DAEMON_ID", daemonId)
  )

/** Members that still run (zombies have finished; only reaping removes them). */
export const living = (tree: ReadonlyArray<ProcessEntry>): ReadonlyArray<ProcessEntry> =>
  tree.filter((entry) => entry.state !== "Z" && entry.state !== "X")

/**
 * Sends a signal to a process group, and to each member outside that group
 * (one that changed its group), checking first that it is still the process
 * that was found (same start time: a pid may have been reused since). Members
 * of the group get it once: a second SIGTERM would mean "force" to a Duende daemon.
 */
export const signalAll = (pgid: number, members: ReadonlyArray<ProcessEntry>, signal: NodeJS.Signals): void => {
  const attempt = (target: number) => {
    try {
      process.kill(target, signal)
    } catch {
      // gone already, or not ours to signal
    }
  }
  attempt(-pgid)
  for (const member of members) if (member.pgid !== pgid && sameProcess(member) !== undefined) attempt(member.pid)
}

/** Whether any process is still in a process group (signal 0 to the group: ESRCH when it is empty). */
export const groupHasMembers = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}
