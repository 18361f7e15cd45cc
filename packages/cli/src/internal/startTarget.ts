/**
 * What `duende start X` was given: a config file, a script to run (PM2's
 * `pm2 start app.js`), a command line (`pm2 start "python3 -m http.server"`),
 * or the name of a registered daemon — and the config of a script or command
 * line: `.js/.mjs/.cjs` run with the CLI's node, `.ts` with tsx, other files
 * as executables.
 *
 * @internal
 */
import { DaemonConfig } from "@duende/core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { accessSync, constants, existsSync, statSync } from "node:fs"
import { basename, delimiter, dirname, extname, join, resolve } from "node:path"
import * as Ecosystem from "./ecosystem.js"

/** What the argument of `duende start` means. */
export type StartTarget =
  | { readonly _tag: "ConfigFile"; readonly path: string }
  | { readonly _tag: "Script"; readonly path: string }
  | { readonly _tag: "CommandLine"; readonly line: string }
  | { readonly _tag: "Name"; readonly name: string }

/** A module that is a config (Duende's or a PM2 ecosystem file) rather than a script: named `*.config.*` or `duende.*`. */
const configModule = /(?:^|[./\\])(?:[^/\\]*\.config|duende)\.[cm]?[jt]s$/

const isFile = (path: string) => {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/**
 * Tells what `arg` is: an existing `.json` file or a module named `*.config.*`
 * / `duende.*` is a config; another existing file a script; text with a space
 * a command line; a path to nothing a config path (so its problem is told);
 * anything else a daemon's name.
 */
export const classify = (arg: string, cwd: string): StartTarget => {
  const path = resolve(cwd, arg)
  if (isFile(path)) {
    return arg.endsWith(".json") || configModule.test(arg) ? { _tag: "ConfigFile", path: arg } : { _tag: "Script", path: arg }
  }
  if (/\s/.test(arg.trim())) return { _tag: "CommandLine", line: arg.trim() }
  if (/\.(json|[cm]?[jt]s)$/.test(arg) || arg.includes("/") || existsSync(path)) return { _tag: "ConfigFile", path: arg }
  return { _tag: "Name", name: arg }
}

/** What the command line said about the script beside it: `--name`, `--interpreter`, the arguments after `--`. */
export interface ScriptOptions {
  readonly name: string | undefined
  readonly interpreter: string | undefined
  readonly args: ReadonlyArray<string>
  readonly cwd: string
}

/** A daemon name made of a file's name: lowercase letters, digits and "-" (`My_App.js` → `my-app`). */
export const nameOf = (text: string): string => {
  const name = text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63).replace(/-+$/, "")
  return name === "" ? "app" : name
}

/** The shell's operators: a command line with one of them is run by /bin/sh; one without is split into words. */
const shellSyntax = /[|&;<>()$`*?[\]{}~#]|\\$/

/** Splits a command line into words as a shell would for quotes and backslashes (no expansion). */
export const words = (line: string): Either.Either<ReadonlyArray<string>, string> => {
  const out: Array<string> = []
  // The word being read; undefined between words ('' is an empty word, as in "a '' b").
  let word: string | undefined
  let quote: "'" | '"' | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote === "'") {
      if (c === "'") quote = undefined
      else word = (word ?? "") + c
    } else if (quote === '"') {
      if (c === '"') quote = undefined
      else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) word = (word ?? "") + line[++i]!
      else word = (word ?? "") + c
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word)
      word = undefined
    } else if (c === "'" || c === '"') {
      quote = c
      word ??= ""
    } else if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[++i]!
    } else {
      word = (word ?? "") + c
    }
  }
  if (quote !== undefined) return Either.left(`the command line has an unclosed ${quote === "'" ? "single" : "double"} quote`)
  if (word !== undefined) out.push(word)
  return out.length === 0 ? Either.left("the command line is empty") : Either.right(out)
}

/** The first file named `name` in PATH that may be run, or undefined. */
const inPath = (name: string): string | undefined =>
  (process.env.PATH ?? "").split(delimiter).filter((dir) => dir !== "").map((dir) => join(dir, name)).find(isExecutable)

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return isFile(path)
  } catch {
    return false
  }
}

/** tsx from the nearest node_modules/.bin above `from`, else from PATH. */
const findTsx = (from: string): string | undefined => {
  for (let dir = from;; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", ".bin", "tsx")
    if (isExecutable(candidate)) return candidate
    if (dirname(dir) === dir) return inPath("tsx")
  }
}


/**
 * The command that runs script `path`: `[node, path]` for JavaScript, `[tsx,
 * path]` for TypeScript (tsx installed beside it or in PATH), `[path]` for an
 * executable, `[interpreter, path]` when one is named (`none`: the file itself).
 * `node` is the program given for node: by default the node that runs Duende.
 */
export const scriptCommand = (
  path: string,
  interpreter: string | undefined,
  node: string = process.execPath
): Either.Either<ReadonlyArray<string>, string> => {
  if (interpreter !== undefined && interpreter !== "none") return Either.right([interpreter === "node" ? node : interpreter, path])
  const extension = extname(path)
  if (interpreter === undefined && [".js", ".mjs", ".cjs"].includes(extension)) return Either.right([node, path])
  if (interpreter === undefined && [".ts", ".mts", ".cts"].includes(extension)) {
    const tsx = findTsx(dirname(path))
    return tsx === undefined
      ? Either.left(`${path} is TypeScript, which needs tsx to run: \`npm install -D tsx\` beside it (or give --interpreter)`)
      : Either.right([tsx, path])
  }
  return isExecutable(path)
    ? Either.right([path])
    : Either.left(`${path} is not executable: \`chmod +x\` it, or give --interpreter (e.g. --interpreter python3)`)
}

/** The config of a script or command line given to `duende start`, as a config file would have it. */
export const scriptConfig = (
  target: Extract<StartTarget, { readonly _tag: "Script" | "CommandLine" }>,
  options: ScriptOptions
): Either.Either<{ readonly name: string; readonly command: ReadonlyArray<string>; readonly workingDirectory: string }, string> => {
  if (target._tag === "Script") {
    const path = resolve(options.cwd, target.path)
    return Either.map(scriptCommand(path, options.interpreter), (command) => ({
      name: options.name ?? nameOf(basename(path, extname(path))),
      command: [...command, ...options.args],
      workingDirectory: options.cwd
    }))
  }
  if (options.interpreter !== undefined) return Either.left("--interpreter is for a script file, not a command line")
  const command = shellSyntax.test(target.line)
    ? Either.right(["/bin/sh", "-c", target.line] as ReadonlyArray<string>)
    : words(target.line)
  return Either.map(command, (argv) => ({
    // Named after the program: the first word (of a shell line, the first word before an operator).
    name: options.name ?? nameOf(basename(/^[^\s|&;<>()]+/.exec(target.line)?.[0] ?? argv[0]!)),
    command: [...argv, ...options.args],
    workingDirectory: options.cwd
  }))
}

/** What `duende start` and `duende import` were told besides the target. */
export interface StartOptions extends ScriptOptions {
  /** `--env NAME`: the env profile set over each config's env. */
  readonly profile: string | undefined
  /** `--only a,b`: of a file of several daemons, these. */
  readonly only: ReadonlyArray<string> | undefined
  /** `-i N|max`: instances of each. */
  readonly instances: number | "max" | undefined
  /** `--watch`: restart each on changes to its working directory. */
  readonly watch: boolean
}

/** The configs a start target stands for, what to record as their config file, and notes for stderr. */
export interface Resolved {
  readonly configs: ReadonlyArray<DaemonConfig.DaemonConfig>
  readonly configPath: string | undefined
  readonly notes: ReadonlyArray<string>
}

/** A problem with what was given, with the exit code it maps to (2 bad usage, 78 a bad config). */
export class StartProblem extends Data.TaggedError("StartProblem")<{ readonly message: string; readonly code: 2 | 78 }> {}

const usage = (message: string) => new StartProblem({ message, code: 2 })

/**
 * The configs to start for `target`: a config file's daemon(s), a PM2
 * ecosystem file's apps, or the config of a script or command line; with
 * `--only`, `--env`, `-i` and `--watch` applied.
 */
export const configsOf = (
  target: Exclude<StartTarget, { readonly _tag: "Name" }>,
  options: StartOptions
): Effect.Effect<Resolved, StartProblem> =>
  Effect.gen(function*() {
    const notes: Array<string> = []
    const decodeInput = (input: unknown, source: string) =>
      DaemonConfig.decode(input, source).pipe(Effect.mapError((error) => new StartProblem({ message: error.message, code: 78 })))
    let configs: ReadonlyArray<DaemonConfig.DaemonConfig>
    let configPath: string | undefined
    if (target._tag === "ConfigFile") {
      if (options.name !== undefined || options.interpreter !== undefined || options.args.length > 0) {
        return yield* usage("--name, --interpreter and arguments after -- are for a script or a command line; a config file says them itself")
      }
      configPath = resolve(options.cwd, target.path)
      const { directory, input } = yield* DaemonConfig.read(target.path).pipe(
        Effect.mapError((error) => new StartProblem({ message: error.message, code: 78 }))
      )
      if (Ecosystem.isEcosystem(input)) {
        const apps = yield* Either.match(Ecosystem.fromEcosystem(input, directory), {
          onLeft: (why) => Effect.fail(new StartProblem({ message: `${target.path}: ${why}`, code: 78 })),
          onRight: Effect.succeed
        })
        for (const app of apps) {
          for (const key of app.keys) {
            if (key.to === undefined && key.note !== "") notes.push(`${target.path}: ${app.name}: ${key.key} is not mapped: ${key.note}`)
          }
        }
        configs = yield* Effect.forEach(apps, (app) => decodeInput(app.input, `${target.path} apps[${app.index}] (${app.name})`))
      } else {
        configs = yield* DaemonConfig.loadAll(target.path).pipe(
          Effect.mapError((error) => new StartProblem({ message: error.message, code: 78 }))
        )
      }
    } else {
      const input = yield* Either.match(scriptConfig(target, options), { onLeft: (why) => Effect.fail(usage(why)), onRight: Effect.succeed })
      configs = [yield* decodeInput(input, "the command line")]
    }
    if (options.only !== undefined) {
      const unknown = options.only.filter((name) => !configs.some((config) => config.name === name))
      if (unknown.length > 0) {
        return yield* usage(`--only: no daemon named ${unknown.join(", ")} here; there are: ${configs.map((c) => c.name).join(", ")}`)
      }
      configs = configs.filter((config) => options.only!.includes(config.name))
    }
    if (options.profile !== undefined) {
      const profile = options.profile
      const having = new Set(configs.filter((config) => Object.hasOwn(config.envProfiles, profile)).map((config) => config.name))
      if (having.size === 0) {
        return yield* usage(Either.getLeft(DaemonConfig.withProfile(configs[0]!, profile)).pipe(Option.getOrElse(() => "")))
      }
      configs = configs.map((config) => Either.getOrElse(DaemonConfig.withProfile(config, profile), () => config))
      for (const config of configs) {
        if (!having.has(config.name)) notes.push(`${config.name} has no env profile "${profile}": started with its env`)
      }
    }
    if (options.instances !== undefined) configs = configs.map((config) => ({ ...config, instances: options.instances! }))
    if (options.watch) configs = configs.map((config) => (config.watch === false ? { ...config, watch: true } : config))
    return { configs, configPath, notes }
  })
