/**
 * Files the adapter owns are written atomically: a temporary file in the same
 * directory, then a rename.
 *
 * @internal
 */
import { AdapterIOError } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import { renameSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"

export const writeAtomic = (path: string, content: string, mode = 0o644): Effect.Effect<void, AdapterIOError> =>
  Effect.try({
    try: () => {
      const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
      try {
        writeFileSync(temporary, content, { mode })
        renameSync(temporary, path)
      } catch (error) {
        rmSync(temporary, { force: true })
        throw error
      }
    },
    catch: (error) => new AdapterIOError({ path, reason: (error as Error).message })
  })
