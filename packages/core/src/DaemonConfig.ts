/**
 * The daemon config: what a daemon is called, the command that runs it, its
 * environment, resources, health check, restart policy, deadlines and the
 * per-platform sections. Written as JSON (`duende.json`) or TypeScript
 * (`defineConfig`); a bad config fails with a {@link ConfigError} that names
 * every bad field. The schema itself lives in `@duende/core/DaemonConfigSchema`
 * and is loaded on first use, so a daemon that needs no config file never pays
 * for `effect/Schema` at start-up.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as JSONSchema from "effect/JSONSchema"
import { resolve } from "node:path"
import { ConfigError } from "./ConfigError.js"
import type * as S from "./DaemonConfigSchema.js"
import { readConfigSource } from "./internal/configSource.js"
import * as EnvText from "./internal/envText.js"

/**
 * A decoded daemon config: durations are `Duration`s, sizes are bytes and every
 * default is filled in.
 *
 * @since 0.1.0
 */
export type DaemonConfig = S.DaemonConfig

/**
 * A daemon config as written by a user (JSON or `defineConfig`): durations as
 * "30s" or milliseconds, sizes as "512M" or bytes, defaults optional.
 *
 * @since 0.1.0
 */
export type Input = S.Input

/** @since 0.1.0 */
export type Command = S.Command
/** @since 0.1.0 */
export type Resources = S.Resources
/** @since 0.1.0 */
export type Listener = S.Listener
/** @since 0.1.0 */
export type HealthCheck = S.HealthCheck
/** @since 0.1.0 */
export type Restart = S.Restart
/** @since 0.1.0 */
export type RestartPolicyName = S.RestartPolicyName
/** @since 0.1.0 */
export type PlatformSections = S.PlatformSections
/** @since 0.1.0 */
export type Readiness = S.Readiness

const schema = Effect.promise(() => import("./DaemonConfigSchema.js"))

/**
 * Types a config written in TypeScript; it is checked when loaded.
 *
 * @example
 * ```ts
 * // duende.config.ts
 * import { DaemonConfig } from "@duende/core"
 *
 * export default DaemonConfig.defineConfig({
 *   name: "api",
 *   command: ["node", "dist/server.js"],
 *   restart: { policy: "always" }
 * })
 * ```
 *
 * @since 0.1.0
 */
export const defineConfig = (config: Input): Input => config

/**
 * Decodes a config from unknown input, reporting every bad field (unknown keys
 * included) in one {@link ConfigError}. `source` names where it came from.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const program = DaemonConfig.decode({ name: "api", command: ["node", "api.js"] }).pipe(
 *   Effect.tap((config) => Effect.log(`decoded ${config.name}`))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const decode = (input: unknown, source = "config"): Effect.Effect<DaemonConfig, ConfigError> =>
  Effect.flatMap(schema, (s) => s.decodeEither(input, source))

/**
 * Encodes a decoded config back to its file form (durations as "30s", sizes as "512M").
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const text = DaemonConfig.decode({ name: "api", command: ["api"] }).pipe(
 *   Effect.flatMap(DaemonConfig.encode),
 *   Effect.map((input) => JSON.stringify(input))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const encode = (config: DaemonConfig): Effect.Effect<Input> => Effect.map(schema, (s) => s.encode(config))

const problem = (source: string, message: string) => new ConfigError({ source, problems: [{ path: "", message }] })

/** A decoded config with its `workingDirectory` resolved against the directory of the file it came from. */
const fromFile = (input: unknown, source: string, directory: string) =>
  Effect.map(
    // A number or boolean in env is taken as its text: said once per value, as a warning.
    Effect.tap(decode(input, source), () => Effect.forEach(EnvText.notes(input), (note) => Effect.logWarning(`${source}: ${note}`))),
    (config): DaemonConfig => ({ ...config, workingDirectory: resolve(directory, config.workingDirectory ?? ".") })
  )

/**
 * Reads a config file's content without decoding it: the JSON value, or a
 * module's default export (CommonJS `module.exports` too, even in a package of
 * `"type": "module"`), bounded to 1 MiB, with the directory relative paths in
 * it are resolved against. For tools that read other formats from the same
 * kind of file (the CLI's PM2 ecosystem files).
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const { input } = await Effect.runPromise(DaemonConfig.read("ecosystem.config.js"))
 * ```
 *
 * @since 0.1.0
 */
export const read = (path: string): Effect.Effect<{ readonly input: unknown; readonly directory: string }, ConfigError> =>
  Effect.map(readConfigSource(path), ({ directory, input }) => ({ directory, input }))

/**
 * Loads a config file: `.json`, or a module (`.js`, `.mjs`, `.cjs`, `.ts`,
 * `.mts`, `.cts`) whose default export is the config. A relative
 * `workingDirectory` (or none) is resolved against the file's directory.
 * Numbers and booleans in `env` (`"PORT": 8080`) are taken as their text,
 * with a warning logged for each. A file that holds several daemons (an
 * array) is refused here: {@link loadAll} reads it.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const config = await Effect.runPromise(DaemonConfig.load("examples/http-counter/duende.json"))
 * ```
 *
 * @since 0.1.0
 */
export const load = (path: string): Effect.Effect<DaemonConfig, ConfigError> =>
  Effect.flatMap(readConfigSource(path), ({ directory, input, source }) =>
    Array.isArray(input)
      ? Effect.fail(
        problem(source, `this file holds ${input.length} daemons (an array); load it with loadAll, or \`duende start\` starts them all`)
      )
      : fromFile(input, source, directory))

/**
 * Loads a config file that holds one daemon (an object) or several (an array
 * of them, at most 256, with different names), each decoded as {@link load}
 * does; a bad entry is named by its index (`services.json[2]`).
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const configs = await Effect.runPromise(DaemonConfig.loadAll("services.json"))
 * ```
 *
 * @since 0.1.0
 */
export const loadAll = (path: string): Effect.Effect<ReadonlyArray<DaemonConfig>, ConfigError> =>
  Effect.flatMap(readConfigSource(path), ({ directory, input, source }) => {
    if (!Array.isArray(input)) return Effect.map(fromFile(input, source, directory), (config) => [config])
    if (input.length === 0) return Effect.fail(problem(source, "the array holds no daemon: put at least one config in it"))
    if (input.length > 256) return Effect.fail(problem(source, `the array holds ${input.length} daemons; a file may hold at most 256`))
    return Effect.flatMap(Effect.forEach(input, (each, index) => fromFile(each, `${source}[${index}]`, directory)), (configs) => {
      const seen = new Set<string>()
      const twice = configs.find((config) => seen.size === seen.add(config.name).size)
      return twice === undefined
        ? Effect.succeed(configs)
        : Effect.fail(problem(source, `two daemons are named "${twice.name}": each needs its own name`))
    })
  })

/**
 * The config with one of its `envProfiles` set over its `env` (PM2's
 * `--env production`), or the reason it has no such profile.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { Effect, Either } from "effect"
 *
 * const config = await Effect.runPromise(DaemonConfig.decode({
 *   name: "api",
 *   command: ["node", "api.js"],
 *   envProfiles: { production: { NODE_ENV: "production" } }
 * }))
 * const production = DaemonConfig.withProfile(config, "production") // Either.right, env.NODE_ENV = "production"
 * ```
 *
 * @since 0.1.0
 */
export const withProfile = (config: DaemonConfig, profile: string): Either.Either<DaemonConfig, string> => {
  const env = Object.hasOwn(config.envProfiles, profile) ? config.envProfiles[profile] : undefined
  if (env !== undefined) return Either.right({ ...config, env: { ...config.env, ...env } })
  const known = Object.keys(config.envProfiles)
  return Either.left(
    known.length === 0
      ? `${config.name} has no envProfiles, so there is no profile "${profile}" (add envProfiles.${profile} to its config)`
      : `${config.name} has no env profile "${profile}"; its profiles: ${known.join(", ")}`
  )
}

/**
 * The JSON Schema (draft-07) of config files, for editors. The same document
 * ships as `@duende/core/daemon-config.schema.json`: point `"$schema"` at it.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const schema = await Effect.runPromise(DaemonConfig.jsonSchema)
 * ```
 *
 * @since 0.1.0
 */
export const jsonSchema: Effect.Effect<JSONSchema.JsonSchema7Root> = Effect.map(schema, (s) => s.jsonSchema())
