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
import type * as JSONSchema from "effect/JSONSchema"
import { resolve } from "node:path"
import type { ConfigError } from "./ConfigError.js"
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

/**
 * Loads a config file: `.json`, or a module (`.js`, `.mjs`, `.cjs`, `.ts`,
 * `.mts`, `.cts`) whose default export is the config. A relative
 * `workingDirectory` (or none) is resolved against the file's directory.
 * Numbers and booleans in `env` (`"PORT": 8080`) are taken as their text,
 * with a warning logged for each.
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
    Effect.map(
      // A number or boolean in env is taken as its text: said once per value, as a warning.
      Effect.tap(decode(input, source), () => Effect.forEach(EnvText.notes(input), (note) => Effect.logWarning(`${source}: ${note}`))),
      (config) => ({
        ...config,
        workingDirectory: resolve(directory, config.workingDirectory ?? ".")
      })
    ))

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
