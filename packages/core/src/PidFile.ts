/**
 * An optional PID file: created atomically and exclusively while the daemon
 * runs, removed when it ends. A second instance finds a live owner and fails
 * with {@link AlreadyRunning}; a file left by a dead process (or by a process
 * whose pid has since been reused) is detected as stale and replaced.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { pidRunning, processStartTimeMs } from "./internal/procfs.js"

/**
 * The PID file belongs to a live process.
 *
 * @since 0.1.0
 */
export class AlreadyRunning extends Data.TaggedError("AlreadyRunning")<{
  readonly path: string
  readonly pid: number
}> {
  override get message(): string {
    return `another instance is running as pid ${this.pid} (PID file ${this.path}); stop it first`
  }
}

/**
 * The PID file could not be written.
 *
 * @since 0.1.0
 */
export class PidFileError extends Data.TaggedError("PidFileError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot create PID file ${this.path}: ${this.reason}`
  }
}

/**
 * Who holds a PID file now.
 *
 * @since 0.1.0
 */
export type Owner =
  | { readonly _tag: "None" }
  | { readonly _tag: "Live"; readonly pid: number }
  | { readonly _tag: "Stale"; readonly pid: number | undefined; readonly why: string }

/**
 * Reads a PID file and decides whether its process is alive. A pid that exists
 * but started after the file was written is a reused pid: stale. So is our own
 * pid (a container restarted with the same pid 1).
 *
 * @example
 * ```ts
 * import { PidFile } from "@duende/core"
 *
 * const owner = PidFile.owner("/run/my-daemon.pid")
 * if (owner._tag === "Live") console.log(`running as ${owner.pid}`)
 * ```
 *
 * @since 0.1.0
 */
export const owner = (path: string): Owner => {
  let text: string
  let writtenAt: number
  try {
    text = readFileSync(path, "utf8")
    writtenAt = statSync(path).mtimeMs
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { _tag: "None" }
    throw error
  }
  const trimmed = text.trim()
  if (!/^\d+$/.test(trimmed)) return { _tag: "Stale", pid: undefined, why: `no pid in it (${JSON.stringify(trimmed.slice(0, 20))})` }
  const pid = Number(trimmed)
  if (pid === process.pid) return { _tag: "Stale", pid, why: "it names this process, which did not write it" }
  if (!pidRunning(pid)) return { _tag: "Stale", pid, why: `pid ${pid} is not running` }
  const startedAt = processStartTimeMs(pid)
  // Start times have 10 ms resolution and mtimes can lag: allow 1 s.
  if (startedAt !== undefined && startedAt > writtenAt + 1_000) {
    return { _tag: "Stale", pid, why: `pid ${pid} was reused by a process started after the file was written` }
  }
  return { _tag: "Live", pid }
}

const removeIfOurs = (path: string, content: string) => {
  try {
    if (readFileSync(path, "utf8") === content) unlinkSync(path)
  } catch {
    // already gone
  }
}

/**
 * Creates the PID file for this process for the life of the scope. The content
 * is written to a temporary file and linked into place, so the file appears
 * whole or not at all and only one of two racing instances can win. The file
 * is removed when the scope closes, and also if the process exits without
 * closing it (a forced exit).
 *
 * @example
 * ```ts
 * import { PidFile } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     yield* PidFile.acquire("/tmp/my-daemon.pid")
 *     // ... the daemon runs; a second copy fails with AlreadyRunning
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const acquire = (path: string): Effect.Effect<void, AlreadyRunning | PidFileError, Scope.Scope> => {
  const content = `${process.pid}\n`
  const create = Effect.suspend((): Effect.Effect<void, AlreadyRunning | PidFileError> => {
    const result = createExclusive(path, content)
    const warnings = Effect.forEach(result.replaced, (why) => Effect.logWarning(`replaced stale PID file ${path}: ${why}`))
    if (result._tag === "Created") return Effect.asVoid(warnings)
    const error: AlreadyRunning | PidFileError = result._tag === "Live"
      ? new AlreadyRunning({ path, pid: result.pid })
      : new PidFileError({ path, reason: result.reason })
    return Effect.zipRight(warnings, Effect.fail(error))
  })
  const onExit = () => removeIfOurs(path, content)
  return Effect.acquireRelease(
    Effect.zipRight(create, Effect.sync(() => void process.once("exit", onExit))),
    () =>
      Effect.sync(() => {
        process.off("exit", onExit)
        removeIfOurs(path, content)
      })
  )
}

type CreateResult =
  & { readonly replaced: ReadonlyArray<string> }
  & (
    | { readonly _tag: "Created" }
    | { readonly _tag: "Live"; readonly pid: number }
    | { readonly _tag: "Failed"; readonly reason: string }
  )

const createExclusive = (path: string, content: string): CreateResult => {
  const replaced: Array<string> = []
  const temp = `${path}.${process.pid}.${Date.now().toString(36)}.tmp`
  try {
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(temp, content, { mode: 0o644, flag: "wx" })
  } catch (error) {
    return { _tag: "Failed", reason: (error as Error).message, replaced }
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(temp, path)
        return { _tag: "Created", replaced }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
          return { _tag: "Failed", reason: (error as Error).message, replaced }
        }
      }
      const current = owner(path)
      if (current._tag === "Live") return { _tag: "Live", pid: current.pid, replaced }
      if (current._tag === "Stale") {
        // Moved aside, then judged again: between the look and the move another instance may
        // have replaced it with its own, live file — which must not be removed, but put back.
        const aside = `${temp}.stale-${attempt}`
        try {
          renameSync(path, aside)
        } catch {
          continue // another instance moved it first; try again
        }
        const moved = owner(aside)
        if (moved._tag === "Live") {
          try {
            linkSync(aside, path)
          } catch {
            // a third instance is in place already: it will be judged by the next look
          }
          unlinkSync(aside)
          return { _tag: "Live", pid: moved.pid, replaced }
        }
        replaced.push(current.why)
        unlinkSync(aside)
      }
    }
    return { _tag: "Failed", reason: "it kept changing while being replaced", replaced }
  } catch (error) {
    return { _tag: "Failed", reason: (error as Error).message, replaced }
  } finally {
    try {
      unlinkSync(temp)
    } catch {
      // nothing to clean
    }
  }
}
