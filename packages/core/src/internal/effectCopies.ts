/**
 * Two copies of effect in one process break it in ways that are hard to read:
 * services provided through one copy are missing in the other's fibers, a
 * `yield*` of a foreign Effect fails, and an app on effect 4 cannot run
 * Duende's effect 3 code at all. It happens when an install nests a copy under
 * a package (an effect major that does not satisfy a peer range, a package that
 * lists effect as a plain dependency). At daemon start, `warnIfDuplicated`
 * compares the copy `@duende/core` runs on with the one the app's main module
 * resolves, and when they differ logs a warning naming both, their versions and
 * the package each was installed for.
 *
 * Cost: two walks up the directory tree (a stat per `node_modules` candidate);
 * files are read only when the copies differ.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { existsSync, readFileSync, realpathSync } from "node:fs"
import { createRequire } from "node:module"
import { basename, dirname, join, resolve, sep } from "node:path"
import { fileURLToPath } from "node:url"

/** Where a module finds `effect`: the directory Node's lookup lands on, and its real path. */
export interface Located {
  readonly directory: string
  readonly real: string
}

/** The `effect` package that `file` would load (Node's node_modules lookup), if any. */
export const locate = (file: string): Located | undefined => {
  let candidates: ReadonlyArray<string> | null
  try {
    candidates = createRequire(file).resolve.paths("effect")
  } catch {
    return undefined
  }
  for (const modules of candidates ?? []) {
    const directory = join(modules, "effect")
    if (existsSync(join(directory, "package.json"))) {
      try {
        return { directory, real: realpathSync(directory) }
      } catch {
        return undefined
      }
    }
  }
  return undefined
}

const readJson = (file: string): { readonly name?: unknown; readonly version?: unknown } | undefined => {
  try {
    return JSON.parse(readFileSync(file, "utf8"))
  } catch {
    return undefined
  }
}

/**
 * Who a copy was installed for, from where it sits: `<pkg>/node_modules/effect`
 * belongs to `<pkg>`; pnpm's `.pnpm/<name>@<version>…/node_modules/effect` to
 * `<name>`; a `node_modules` outside any package to the app in that directory.
 */
export const ownerOf = (directory: string): string => {
  const owner = dirname(dirname(directory))
  const parts = owner.split(sep)
  const last = parts.lastIndexOf("node_modules")
  if (last >= 0) {
    const rest = parts.slice(last + 1)
    if (rest[0] === ".pnpm" && rest[1] !== undefined) {
      const match = /^(@[^+]+\+[^@]+|[^@]+)@/.exec(rest[1])
      if (match) return match[1]!.replace("+", "/")
    }
    if (rest[0]?.startsWith("@") && rest[1] !== undefined) return `${rest[0]}/${rest[1]}`
    if (rest[0] !== undefined) return rest[0]
  }
  const name = readJson(join(owner, "package.json"))?.name
  return typeof name === "string" ? `your app (${name}, ${owner})` : `your app (${owner})`
}

const versionOf = (located: Located): string => {
  const version = readJson(join(located.real, "package.json"))?.version
  return typeof version === "string" ? version : "of unknown version"
}

/**
 * The warning for a core module at `coreFile` and an app whose main module is
 * `mainFile`, or undefined when both load the same copy (or either finds none,
 * as in a bundle).
 */
export const duplicateMessage = (coreFile: string, mainFile: string | undefined): string | undefined => {
  if (mainFile === undefined || mainFile === "") return undefined
  const core = locate(coreFile)
  if (core === undefined) return undefined
  let main: string
  try {
    main = realpathSync(resolve(mainFile))
  } catch {
    return undefined
  }
  const app = locate(main)
  if (app === undefined || app.real === core.real) return undefined
  const describe = (located: Located) =>
    `effect ${versionOf(located)} at ${located.directory}${
      located.real === located.directory ? "" : ` (${located.real})`
    }, installed for ${ownerOf(located.directory)}`
  return [
    "two copies of effect are loaded; Effect code from one does not run correctly in the other:",
    `  @duende/core runs on ${describe(core)}`,
    `  ${basename(main)} imports ${describe(app)}`,
    `Keep one copy: install effect@3 in the app (\`npm install effect@3\`) so that every package shares it; \`npm ls effect\` shows which package brought each.`
  ].join("\n")
}

const here = (): string => (import.meta.url ? fileURLToPath(import.meta.url) : __filename)

/** Logs {@link duplicateMessage} for this process, once, at start. */
export const warnIfDuplicated: Effect.Effect<void> = Effect.suspend(() => {
  const message = duplicateMessage(here(), process.argv[1])
  return message === undefined ? Effect.void : Effect.logWarning(message)
})
