/**
 * The processes of a daemon as Linux shows them in /proc: its tree (its
 * session and its descendants), when a process started (to tell a live
 * process from a reused pid), and stopping a tree Duende did not start itself
 * (a daemon left running by a supervisor that died).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { living, signalAll, treeOf } from "./internal/native/processTree.js"
import { readFileSync } from "node:fs"
import { pidRunning, type ProcessEntry, processStartTimeMs } from "./internal/procfs.js"

/**
 * One process: ids and state letter (R, S, D, Z zombie, T stopped…).
 *
 * @since 0.1.0
 */
export type Entry = ProcessEntry

/**
 * The living processes of the tree rooted at `pid`: its session and its
 * descendants. Empty off Linux.
 *
 * @example
 * ```ts
 * import { ProcessTree } from "@duende/core/manager"
 *
 * const pids = ProcessTree.members(1234).map((p) => p.pid)
 * ```
 *
 * @since 0.1.0
 */
export const members = (pid: number): ReadonlyArray<Entry> => living(treeOf(pid))

/**
 * When a process started (epoch ms, 10 ms resolution), or undefined if it is
 * gone or /proc is not there.
 *
 * @example
 * ```ts
 * import { ProcessTree } from "@duende/core/manager"
 *
 * const started = ProcessTree.startTime(process.pid)
 * ```
 *
 * @since 0.1.0
 */
export const startTime = (pid: number): number | undefined => processStartTimeMs(pid)

/**
 * Whether `pid` is still the process that started at `startedAt` (so not a
 * reused pid), within a second.
 *
 * @example
 * ```ts
 * import { ProcessTree } from "@duende/core/manager"
 *
 * ProcessTree.isSame(process.pid, ProcessTree.startTime(process.pid)!) // true
 * ```
 *
 * @since 0.1.0
 */
export const isSame = (pid: number, startedAt: number): boolean => {
  const now = processStartTimeMs(pid)
  return now !== undefined && Math.abs(now - startedAt) < 1_000
}

/**
 * The real user id a process runs as (from /proc/<pid>/status), or undefined
 * if it is gone or /proc is not there.
 *
 * @example
 * ```ts
 * import { ProcessTree } from "@duende/core/manager"
 *
 * ProcessTree.ownerOf(process.pid) === process.getuid?.() // true on Linux
 * ```
 *
 * @since 0.1.0
 */
export const ownerOf = (pid: number): number | undefined => {
  try {
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return uid === null ? undefined : Number(uid[1])
  } catch {
    return undefined
  }
}

/**
 * Stops a tree this process did not start: SIGTERM to its group and members,
 * up to `timeout` for it to end, then SIGKILL. Does nothing when `pid` is gone,
 * is another process by now (its start time differs) or runs as another user
 * than this process: a pid read from a file is never trusted further than that.
 * Members of the tree that run as another user are left alone too. Succeeds
 * with whether there was anything to stop.
 *
 * @example
 * ```ts
 * import { ProcessTree } from "@duende/core/manager"
 * import { Duration, Effect } from "effect"
 *
 * const stopped = ProcessTree.stopForeign(4321, 1_795_000_000_000, Duration.seconds(10))
 * ```
 *
 * @since 0.1.0
 */
export const stopForeign = (pid: number, startedAt: number, timeout: Duration.Duration): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const uid = process.getuid?.()
    const mine = (p: number) => uid === undefined || ownerOf(p) === uid
    if (!pidRunning(pid) || !isSame(pid, startedAt) || !mine(pid)) return false
    const alive = () => members(pid).filter((p) => mine(p.pid))
    signalAll(pid, alive(), "SIGTERM")
    const start = yield* Clock.currentTimeMillis
    const end = start + Duration.toMillis(timeout)
    while ((yield* Clock.currentTimeMillis) < end) {
      // members() leaves zombies out: a dead orphan stays a zombie until PID 1 reaps it.
      if (alive().length === 0) return true
      yield* Effect.sleep(Duration.millis(50))
    }
    signalAll(pid, alive(), "SIGKILL")
    return true
  })
