/**
 * Reads the raw content of a config file (JSON or a module's default export),
 * turning every failure into a ConfigError that says what to fix.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { readFile } from "node:fs/promises"
import { dirname, extname, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { ConfigError } from "../ConfigError.js"

const problem = (source: string, message: string) => new ConfigError({ source, problems: [{ path: "", message }] })

/** Line and column of a character offset, for JSON syntax errors. */
const position = (text: string, offset: number): string => {
  const before = text.slice(0, offset).split("\n")
  return `line ${before.length}, column ${before[before.length - 1]!.length + 1}`
}

const parseJson = (text: string, source: string): Effect.Effect<unknown, ConfigError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (error) => {
      const message = error instanceof Error ? error.message : String(error)
      const offset = /position (\d+)/.exec(message)
      return problem(
        source,
        `not valid JSON${offset ? ` at ${position(text, Number(offset[1]))}` : ""}: ${message}`
      )
    }
  })

const importModule = (file: string, source: string): Effect.Effect<unknown, ConfigError> =>
  Effect.tryPromise({
    try: async () => {
      const typescript = /\.[mc]?ts$/.test(file)
      const module = typescript
        ? await (await import("jiti")).createJiti(import.meta.url ?? pathToFileURL(__filename).href, {
          interopDefault: true,
          moduleCache: false
        }).import<unknown>(file, { default: true })
        : await import(pathToFileURL(file).href)
      return typescript ? module : (module as { default?: unknown }).default ?? module
    },
    catch: (error) =>
      problem(source, `could not load the config module: ${error instanceof Error ? error.message : String(error)}`)
  })

/** @internal */
export const readConfigSource = (
  path: string
): Effect.Effect<{ readonly input: unknown; readonly directory: string; readonly source: string }, ConfigError> => {
  const file = resolve(path)
  const source = path
  const extension = extname(file)
  return Effect.gen(function*() {
    let input: unknown
    if (extension === ".json") {
      const text = yield* Effect.tryPromise({
        try: () => readFile(file, "utf8"),
        catch: (error) =>
          problem(
            source,
            (error as NodeJS.ErrnoException).code === "ENOENT"
              ? `no such file: ${file}`
              : `cannot read ${file}: ${(error as Error).message}`
          )
      })
      input = yield* parseJson(text, source)
    } else if ([".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"].includes(extension)) {
      input = yield* importModule(file, source)
    } else {
      return yield* Effect.fail(
        problem(source, `unsupported config file type "${extension || "(none)"}": use .json, .js, .mjs, .cjs or .ts`)
      )
    }
    return { input, directory: dirname(file), source }
  })
}
