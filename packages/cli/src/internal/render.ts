/**
 * `duende render <format> <config>`: what a daemon config becomes on a
 * platform, without installing anything. The format names the platform
 * whose module renders it (see `platforms.ts`); this file prints or writes
 * the artifacts.
 *
 * @internal
 */
import type { PlatformAdapter } from "@duende/core/manager"
import { join } from "node:path"
import { writeAtomically } from "./atomicFile.js"
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

/** Writes each artifact into `directory` atomically (see `writeAtomically`); returns the paths. */
export const write = (artifacts: ReadonlyArray<PlatformAdapter.Artifact>, directory: string): ReadonlyArray<string> =>
  artifacts.map((artifact) => {
    const target = join(directory, artifact.name)
    writeAtomically(target, artifact.content)
    return target
  })
