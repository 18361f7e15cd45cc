/**
 * Files the `duende` command writes (rendered artifacts, service units and
 * plists): whole or not at all, and on disk before the command says so.
 *
 * @internal
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs"
import { dirname } from "node:path"

/** Writes `content` to `path` atomically (temporary file, fsync, rename; the directory made 0755). */
export const writeAtomically = (path: string, content: string, mode = 0o644): void => {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 })
  const temporary = `${path}.${process.pid}.tmp`
  try {
    const fd = openSync(temporary, "w", mode)
    try {
      writeSync(fd, content)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, path)
    const directory = openSync(dirname(path), "r")
    try {
      fsyncSync(directory)
    } finally {
      closeSync(directory)
    }
  } catch (error) {
    rmSync(temporary, { force: true })
    throw error
  }
}
