/**
 * `duende render <format> <config>`: what a daemon config becomes on a
 * platform, without installing anything. The format names the platform
 * whose module renders it (see `platforms.ts`); this file prints or writes
 * the artifacts.
 *
 * @internal
 */
import type { PlatformAdapter } from "@duende/core/manager"
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs"
import { join } from "node:path"
import type { Module } from "./platforms.js"

/** The module that renders `format`, among those loaded. */
export const moduleOf = (modules: ReadonlyMap<string, Module>, format: string): readonly [string, Module] | undefined =>
  [...modules].find(([, module]) => module.formats.includes(format))

/** Every format the loaded modules render, in table order. */
export const formats = (modules: ReadonlyMap<string, Module>): ReadonlyArray<string> =>
  [...modules.values()].flatMap((module) => module.formats)

/** The artifacts as one text: one alone as it is; several, each under a comment naming its file. */
export const text = (artifacts: ReadonlyArray<PlatformAdapter.Artifact>): string =>
  artifacts.length === 1
    ? artifacts[0]!.content
    : artifacts.map((artifact) => `# ${artifact.name} (${artifact.kind})\n${artifact.content}`).join("\n")

/** Writes each artifact into `directory` atomically (temporary file, fsync, rename); returns the paths. */
export const write = (artifacts: ReadonlyArray<PlatformAdapter.Artifact>, directory: string): ReadonlyArray<string> => {
  mkdirSync(directory, { recursive: true })
  return artifacts.map((artifact) => {
    const target = join(directory, artifact.name)
    const temporary = `${target}.${process.pid}.tmp`
    try {
      const fd = openSync(temporary, "w", 0o644)
      try {
        writeSync(fd, artifact.content)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(temporary, target)
    } catch (error) {
      rmSync(temporary, { force: true })
      throw error
    }
    return target
  })
}
