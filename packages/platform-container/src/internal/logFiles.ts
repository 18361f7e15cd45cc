/**
 * The two log files of a runc/crun container (its stdout and stderr are
 * these files, opened in append mode and inherited through the runtime):
 * reading their tails, following them, and keeping them bounded by copying a
 * large file to `<file>.1` and truncating it in place (the container keeps
 * appending at the new end).
 *
 * @internal
 */
import type { PlatformAdapter } from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { closeSync, copyFileSync, openSync, readSync, statSync, truncateSync, watch } from "node:fs"

type Source = "stdout" | "stderr"

const sizeOf = (path: string): number => {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

const readRange = (path: string, from: number, to: number): string => {
  if (to <= from) return ""
  const fd = openSync(path, "r")
  try {
    const buffer = Buffer.alloc(to - from)
    const read = readSync(fd, buffer, 0, buffer.length, from)
    return buffer.subarray(0, read).toString()
  } finally {
    closeSync(fd)
  }
}

/** The last `count` lines of a file (at most the last 1 MiB is read). */
export const tail = (path: string, count: number): ReadonlyArray<string> => {
  const size = sizeOf(path)
  if (size === 0 || count <= 0) return []
  const text = readRange(path, Math.max(0, size - 1024 * 1024), size)
  const lines = text.split("\n")
  if (lines[lines.length - 1] === "") lines.pop()
  return lines.slice(-count)
}

/** Tails of both files: stdout lines then stderr lines, `count` in all (they carry no timestamps to interleave by). */
export const tailBoth = (stdout: string, stderr: string, count: number): ReadonlyArray<PlatformAdapter.LogLine> => {
  const out = tail(stdout, count).map((text) => ({ at: 0, stream: "stdout" as const, text }))
  const err = tail(stderr, count).map((text) => ({ at: 0, stream: "stderr" as const, text }))
  return [...out, ...err].slice(-count)
}

/** Copies a file larger than `max` to `<file>.1` and empties it; the writer keeps appending. */
export const rotateIfLarge = (path: string, max: number): void => {
  if (sizeOf(path) <= max) return
  try {
    copyFileSync(path, `${path}.1`)
    truncateSync(path, 0)
  } catch {
    // a log that cannot be rotated keeps growing; the next check tries again
  }
}

/** Lines appended to the files from now on, until the scope closes. */
export const follow = (
  files: ReadonlyArray<readonly [Source, string]>,
  poll: Duration.Duration
): Effect.Effect<Stream.Stream<PlatformAdapter.LogLine>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<PlatformAdapter.LogLine>(), Queue.shutdown)
    const wake = yield* Queue.sliding<void>(1)
    const offsets = files.map(([, path]) => sizeOf(path))
    const partials = files.map(() => "")
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        files.flatMap(([, path]) => {
          try {
            const watcher = watch(path, () => Queue.unsafeOffer(wake, undefined))
            watcher.on("error", () => undefined)
            return [watcher]
          } catch {
            return []
          }
        })
      ),
      (list) => Effect.sync(() => list.forEach((w) => w.close()))
    )
    const drain = Effect.flatMap(Clock.currentTimeMillis, (at) =>
      Effect.sync(() => {
        files.forEach(([stream, path], i) => {
          const size = sizeOf(path)
          if (size < offsets[i]!) offsets[i] = 0 // rotated: it was truncated
          if (size === offsets[i]) return
          const text = partials[i] + readRange(path, offsets[i]!, size)
          offsets[i] = size
          const lines = text.split("\n")
          partials[i] = lines.pop()!
          for (const line of lines) Queue.unsafeOffer(queue, { at, stream, text: line })
        })
      }))
    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(drain, Effect.race(Queue.take(wake), Effect.sleep(poll))))
    )
    return Stream.fromQueue(queue)
  })
