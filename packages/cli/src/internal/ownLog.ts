/**
 * The supervisor's own log, `supervisor.log`: the file its stdout and stderr
 * were opened on (append-only) by the `duende` command that started it. It is
 * rotated by size, as the daemons' logs are: past {@link limitBytes}, the
 * older copies move up (`.1` → `.2` …, {@link keep} kept), the file is copied
 * to `.1` and cut to zero in place (logrotate's "copytruncate": the open
 * descriptors stay valid, O_APPEND writes continue at the new end). A line
 * written between the copy and the cut is lost; the check runs once a minute.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { copyFileSync, fstatSync, ftruncateSync, renameSync, statSync } from "node:fs"

/** Size past which the log is rotated. */
export const limitBytes = 10 * 1024 * 1024

/** Rotated copies kept. */
export const keep = 3

/** Whether descriptor `fd` is the file at `path` (the supervisor may be run by hand, to a terminal). */
const isFile = (fd: number, path: string): boolean => {
  try {
    const open = fstatSync(fd)
    const named = statSync(path)
    return open.isFile() && open.ino === named.ino && open.dev === named.dev
  } catch {
    return false
  }
}

/**
 * Rotates `path` if `fds[0]` (default: stdout, then stderr) writes to it and it
 * is past `limit`; true when it did.
 */
export const rotate = (path: string, limit: number = limitBytes, fds: ReadonlyArray<number> = [1, 2]): boolean => {
  const mine = fds.filter((fd) => isFile(fd, path))
  if (mine.length === 0 || fstatSync(mine[0]!).size <= limit) return false
  for (let n = keep - 1; n >= 1; n--) {
    try {
      renameSync(`${path}.${n}`, `${path}.${n + 1}`)
    } catch {
      // no such copy yet
    }
  }
  copyFileSync(path, `${path}.1`)
  // One file however many descriptors: cutting it through one cuts it for all.
  ftruncateSync(mine[0]!, 0)
  return true
}

/** Checks once a minute, for the life of the scope. */
export const rotateEvery = (path: string, every: Duration.DurationInput = Duration.minutes(1)) =>
  Effect.forkScoped(
    Effect.forever(Effect.zipRight(
      Effect.sleep(every),
      Effect.flatMap(
        Effect.try(() => rotate(path)),
        (rotated) => (rotated ? Effect.log(`rotated ${path} (over ${limitBytes} bytes; ${keep} copies kept)`) : Effect.void)
      ).pipe(Effect.catchAll((error) => Effect.logWarning(`cannot rotate ${path}: ${String(error)}`)))
    ))
  )
