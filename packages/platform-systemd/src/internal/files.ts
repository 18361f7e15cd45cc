/**
 * The unit files the adapter owns: written atomically (a temporary file in
 * the same directory, then rename), read and removed, as Effects failing
 * with `AdapterIOError`.
 *
 * @internal
 */
import { AdapterIOError } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import { randomBytes } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"

const ioError = (path: string) => (error: unknown) =>
  new AdapterIOError({ path, reason: error instanceof Error ? error.message : String(error) })

export const writeAtomic = (path: string, content: string): Effect.Effect<void, AdapterIOError> =>
  Effect.try({
    try: () => {
      mkdirSync(dirname(path), { recursive: true })
      const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`)
      try {
        writeFileSync(temporary, content, { mode: 0o644, flag: "wx" })
        renameSync(temporary, path)
      } catch (error) {
        rmSync(temporary, { force: true })
        throw error
      }
    },
    catch: ioError(path)
  })

/** The file's text, or undefined when it does not exist. */
export const readIfExists = (path: string): Effect.Effect<string | undefined, AdapterIOError> =>
  Effect.try({
    try: () => {
      try {
        return readFileSync(path, "utf8")
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
        throw error
      }
    },
    catch: ioError(path)
  })

export const remove = (path: string): Effect.Effect<void, AdapterIOError> =>
  Effect.try({ try: () => rmSync(path, { force: true }), catch: ioError(path) })

/** Names in a directory (none when it does not exist). */
export const list = (directory: string): Effect.Effect<ReadonlyArray<string>, AdapterIOError> =>
  Effect.try({
    try: () => {
      try {
        return readdirSync(directory)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return []
        throw error
      }
    },
    catch: ioError(directory)
  })
