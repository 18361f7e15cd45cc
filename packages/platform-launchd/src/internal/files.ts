/**
 * The files the adapter owns (plists, its records), as Effects failing with
 * core's `AdapterIOError`. Writes are atomic: a temporary file in the same
 * directory, fsync'd, renamed over the target, and the directory fsync'd.
 *
 * @internal
 */
import { AdapterIOError } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import { randomBytes } from "node:crypto"
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync
} from "node:fs"
import { basename, dirname, join } from "node:path"

const ioError = (path: string) => (error: unknown) =>
  new AdapterIOError({ path, reason: error instanceof Error ? error.message : String(error) })

const missing = (error: unknown) => (error as NodeJS.ErrnoException).code === "ENOENT"

export const ensureDirectory = (path: string): Effect.Effect<void, AdapterIOError> =>
  Effect.try({ try: () => void mkdirSync(path, { recursive: true }), catch: ioError(path) })

export const writeAtomic = (path: string, content: string, mode = 0o644): Effect.Effect<void, AdapterIOError> =>
  Effect.try({ try: () => writeAtomicSync(path, content, mode), catch: ioError(path) })

/** The file's text, or undefined when it does not exist (throws on other errors). */
export const readSync = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch (error) {
    if (missing(error)) return undefined
    throw error
  }
}

/** {@link writeAtomic} as a plain function (throws). */
export const writeAtomicSync = (path: string, content: string, mode = 0o644): void => {
  const directory = dirname(path)
  mkdirSync(directory, { recursive: true })
  const temporary = join(directory, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`)
  try {
    const fd = openSync(temporary, "wx", mode)
    try {
      // The mode asked for, whatever the umask (launchd refuses group- or world-writable plists).
      fchmodSync(fd, mode)
      const bytes = Buffer.from(content, "utf8")
      let written = 0
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, path)
  } catch (error) {
    rmSync(temporary, { force: true })
    throw error
  }
  const dir = openSync(directory, "r")
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}

/** The file's text, or undefined when it does not exist. */
export const readIfExists = (path: string): Effect.Effect<string | undefined, AdapterIOError> =>
  Effect.try({ try: () => readSync(path), catch: ioError(path) })

export const exists = (path: string): boolean => {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}

export const remove = (path: string): Effect.Effect<void, AdapterIOError> =>
  Effect.try({ try: () => rmSync(path, { force: true }), catch: ioError(path) })

/** Names in a directory (none when it does not exist). */
export const list = (directory: string): Effect.Effect<ReadonlyArray<string>, AdapterIOError> =>
  Effect.try({
    try: () => {
      try {
        return readdirSync(directory)
      } catch (error) {
        if (missing(error)) return []
        throw error
      }
    },
    catch: ioError(directory)
  })
