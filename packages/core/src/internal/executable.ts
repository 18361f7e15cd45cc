/**
 * Finding a program the way `spawn` will: a path, or a name looked up in PATH.
 *
 * @internal
 */
import { accessSync, constants, statSync } from "node:fs"
import { delimiter, resolve } from "node:path"

/** The file `program` runs from `cwd` with `path`, or undefined when there is none (or it is not executable). */
export const findExecutable = (program: string, path: string | undefined, cwd: string): string | undefined => {
  const candidates = program.includes("/")
    ? [resolve(cwd, program)]
    : (path ?? "").split(delimiter).filter((dir) => dir !== "").map((dir) => resolve(cwd, dir, program))
  return candidates.find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK)
      return statSync(candidate).isFile()
    } catch {
      return false
    }
  })
}
