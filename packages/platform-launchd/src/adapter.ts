/**
 * @duende/platform-launchd/adapter: the manager half. Property lists (model,
 * XML writer and parser), a `DaemonConfig` rendered as a launchd job,
 * `launchctl` as a service, and core's `PlatformAdapter` for launchd.
 *
 * The entry has the platform module shape every platform package exports:
 * `kind`, `formats`, `flags`, `options`, `render`, `make` and `layer` are what
 * the `duende` command uses for `render launchd [--agent|--daemon]` and
 * `--platform launchd`.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import { type PlatformAdapter, PlatformModule } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { join } from "node:path"
import * as Adapter from "./LaunchdAdapter.js"
import * as LaunchdJob from "./LaunchdJob.js"

/** @since 0.1.0 */
export * as Launchctl from "./Launchctl.js"
/** @since 0.1.0 */
export * as LaunchdAdapter from "./LaunchdAdapter.js"
/** @since 0.1.0 */
export * as LaunchdJob from "./LaunchdJob.js"
/** @since 0.1.0 */
export * as Plist from "./Plist.js"

/**
 * The platform's options: the adapter's (scope, directories, launchctl…).
 *
 * @since 0.1.0
 */
export type Options = Adapter.Options

/**
 * The platform kind.
 *
 * @example
 * ```ts
 * import { kind } from "@duende/platform-launchd/adapter"
 *
 * kind // "launchd"
 * ```
 *
 * @since 0.1.0
 */
export const kind = "launchd" as const

/**
 * The formats it renders: `launchd` (one plist).
 *
 * @example
 * ```ts
 * import { formats } from "@duende/platform-launchd/adapter"
 *
 * formats.includes("launchd") // true
 * ```
 *
 * @since 0.1.0
 */
export const formats: ReadonlyArray<"launchd"> = ["launchd"]

/**
 * Its command-line flags: `--agent` (a LaunchAgent of the logged-in user, the
 * default) and `--daemon` (a LaunchDaemon in the system domain).
 *
 * @example
 * ```ts
 * import { flags } from "@duende/platform-launchd/adapter"
 *
 * flags.map((flag) => flag.name) // ["agent", "daemon"]
 * ```
 *
 * @since 0.1.0
 */
export const flags: ReadonlyArray<PlatformModule.Flag> = [
  {
    name: "agent",
    type: "boolean",
    description: "a LaunchAgent of the logged-in user (gui/<uid>, ~/Library/LaunchAgents); the default",
    appliesTo: ["render", "manage"]
  },
  {
    name: "daemon",
    type: "boolean",
    description: "a LaunchDaemon in the system domain (/Library/LaunchDaemons, needs root)",
    appliesTo: ["render", "manage"]
  }
]

/**
 * Options from flags: `--agent` or `--daemon`, else the config's own
 * `platform.launchd.domain`; the adapter's records go under the tool's state
 * directory when it has one.
 *
 * @example
 * ```ts
 * import { options } from "@duende/platform-launchd/adapter"
 *
 * options({ daemon: true }, { stateDirectory: "/tmp/duende" }) // Either.right({ scope: "daemon", ... })
 * options({ agent: true, daemon: true }, { stateDirectory: "/tmp/duende" }) // Either.left("...")
 * ```
 *
 * @since 0.1.0
 */
export const options = (
  values: PlatformModule.FlagValues,
  context: PlatformModule.Context
): Either.Either<Options, string> => {
  if (values.agent === true && values.daemon === true) {
    return Either.left("--agent and --daemon exclude each other: a job is a LaunchAgent or a LaunchDaemon")
  }
  const scope: LaunchdJob.Scope = values.daemon === true
    ? "daemon"
    : values.agent === true
    ? "agent"
    : LaunchdJob.scopeOf(context.config?.platform.launchd)
  return Either.right({ scope, directories: { state: join(context.stateDirectory, "launchd", scope) } })
}

/**
 * The plist a config becomes, in the options' scope (default: the config's
 * own domain). Each setting launchd cannot express is logged as a warning
 * naming its field (and listed in the plist's header comment).
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { render } from "@duende/platform-launchd/adapter"
 * import { Effect } from "effect"
 *
 * const plist = Effect.flatMap(DaemonConfig.load("duende.json"), (config) =>
 *   render(config, { format: "launchd", scope: "agent" }))
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  renderOptions: Options & { readonly format: "launchd" }
): Effect.Effect<ReadonlyArray<PlatformAdapter.Artifact>, PlatformModule.RenderError> =>
  Effect.gen(function*() {
    const fail = (reason: string) => new PlatformModule.RenderError({ platform: kind, format: renderOptions.format, reason })
    const scope = renderOptions.scope ?? LaunchdJob.scopeOf(config.platform.launchd)
    const job = LaunchdJob.make(config, {
      scope,
      ...(renderOptions.directories === undefined ? {} : { directories: renderOptions.directories }),
      ...(renderOptions.host === undefined ? {} : { host: renderOptions.host })
    })
    if (Either.isLeft(job)) return yield* fail(job.left.message)
    for (const warning of job.right.warnings) {
      yield* Effect.logWarning(`launchd cannot express ${warning.field}: ${warning.reason}`)
    }
    const content = LaunchdJob.text(job.right)
    if (Either.isLeft(content)) return yield* fail(content.left.message)
    return [{ name: job.right.fileName, kind: "launchd plist", content: content.right }]
  })

/**
 * The adapter (see `LaunchdAdapter.make`).
 *
 * @example
 * ```ts
 * import { make } from "@duende/platform-launchd/adapter"
 * import { Effect } from "effect"
 *
 * const state = Effect.flatMap(make({ scope: "agent" }), (adapter) =>
 *   Effect.flatMap(adapter.find("api"), adapter.status))
 * ```
 *
 * @since 0.1.0
 */
export const make = (adapterOptions: Options): Effect.Effect<Adapter.LaunchdAdapter> => Adapter.make(adapterOptions)

/**
 * The adapter as a layer (see `LaunchdAdapter.layer`).
 *
 * @example
 * ```ts
 * import { layer } from "@duende/platform-launchd/adapter"
 *
 * const adapter = layer({ scope: "daemon" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (adapterOptions: Options) => Adapter.layer(adapterOptions)

/**
 * The compiler's check that this entry has core's `PlatformModule` shape.
 *
 * @since 0.1.0
 */
export type Conformance = PlatformModule.Conforms<typeof import("./adapter.js"), Options, "launchd">
