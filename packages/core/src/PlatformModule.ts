/**
 * The one shape every platform package's manager entry
 * (`@duende/platform-<kind>/adapter`) exports, so that a tool (the `duende`
 * command) handles every platform the same way, through one table of
 * `kind → import()`: the platform's kind, the artifact formats it renders, its
 * own command-line flags and the parser that turns them into its options, a
 * `render`, and its `PlatformAdapter` as `make`/`layer` taking those options.
 *
 * A platform package checks itself against the shape with {@link Conforms},
 * so one that forgets a part does not compile.
 *
 * @example
 * ```ts
 * import type { PlatformModule } from "@duende/core/manager"
 *
 * const load: () => Promise<PlatformModule.PlatformModule<any>> = () => import("@duende/platform-systemd/adapter")
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { AdapterError } from "./AdapterError.js"
import type { DaemonConfig } from "./DaemonConfig.js"
import type * as Platform from "./Platform.js"
import type * as PlatformAdapter from "./PlatformAdapter.js"

/**
 * A command-line flag of a platform (`--user` for systemd, `--driver` for
 * containers), declared by its module so that the tool can offer it.
 *
 * @since 0.1.0
 */
export interface Flag {
  /** The flag without dashes: "user", "driver". */
  readonly name: string
  /** For the help text: what it does on this platform. */
  readonly description: string
  /** boolean: present or not; integer, text: takes a value; choice: one of `choices`. */
  readonly type: "boolean" | "integer" | "text" | "choice"
  readonly choices?: ReadonlyArray<string>
  /** Whether it applies to rendering (`duende render`), to managing daemons (install, start…), or both. */
  readonly appliesTo: ReadonlyArray<"render" | "manage">
}

/**
 * The values of the flags the user gave, by name (absent flags are absent or undefined).
 *
 * @since 0.1.0
 */
export type FlagValues = Readonly<Record<string, string | number | boolean | undefined>>

/**
 * What a tool knows besides the flags when it asks a module for its options.
 *
 * @since 0.1.0
 */
export interface Context {
  /** A directory the platform may keep files of its own in (bundles, logs, records of installed daemons). */
  readonly stateDirectory: string
  /** The daemon's config, when the command was given one. */
  readonly config?: DaemonConfig
}

/**
 * A platform's adapter as a module makes it: core's `PlatformAdapter`, and the
 * way back from a daemon's name to its handle, for commands that are given
 * only a name (`duende status api --platform …`), possibly in another process
 * than the one that installed it.
 *
 * @since 0.1.0
 */
export interface Adapter extends PlatformAdapter.PlatformAdapter {
  /** An installed daemon by its name; `DaemonNotFound` when the platform does not know it. */
  readonly find: (name: string) => Effect.Effect<PlatformAdapter.DaemonHandle, AdapterError>
}

/**
 * A config that cannot be rendered in a format, and why ("compose needs an
 * image: set platform.container.image in the config, or say --image").
 *
 * @example
 * ```ts
 * import { PlatformModule } from "@duende/core/manager"
 *
 * new PlatformModule.RenderError({ platform: "container", format: "compose", reason: "compose needs an image" }).message
 * ```
 *
 * @since 0.1.0
 */
export class RenderError extends Data.TaggedError("RenderError")<{
  readonly platform: Platform.Kind
  readonly format: string
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

/**
 * The module shape. `Options` is the platform's own options type (systemd's
 * scope, a container driver…), used by `render`, `make` and `layer` alike.
 *
 * @since 0.1.0
 */
export interface PlatformModule<Options, Format extends string = string> {
  readonly kind: Platform.Kind
  /** The artifact formats it renders (`duende render <format>`). */
  readonly formats: ReadonlyArray<Format>
  /** Its own command-line flags. */
  readonly flags: ReadonlyArray<Flag>
  /** Turns flag values (and what the tool knows) into options; a message saying what is wrong otherwise. */
  readonly options: (flags: FlagValues, context: Context) => Either.Either<Options, string>
  /** What a config becomes on this platform, in one of its formats, without installing anything. */
  readonly render: (
    config: DaemonConfig,
    options: Options & { readonly format: Format }
  ) => Effect.Effect<ReadonlyArray<PlatformAdapter.Artifact>, RenderError>
  /** Its adapter, for the life of the scope. */
  readonly make: (options: Options) => Effect.Effect<Adapter, AdapterError, Scope.Scope>
  /** Its adapter as a layer providing core's `PlatformAdapter`. */
  readonly layer: (options: Options) => Layer.Layer<PlatformAdapter.PlatformAdapter, AdapterError>
}

/**
 * `true` when module `M` has the shape for `Options` and `Format`; a compile error naming
 * the missing or mistyped part otherwise. A platform's entry checks itself:
 *
 * @example
 * ```ts
 * import type { PlatformModule } from "@duende/core/manager"
 *
 * // in src/adapter.ts of a platform package:
 * export type Conformance = PlatformModule.Conforms<typeof import("./adapter.js"), Options, "launchd">
 * ```
 *
 * @since 0.1.0
 */
export type Conforms<M extends PlatformModule<Options, Format>, Options, Format extends string = string> = M extends
  PlatformModule<Options, Format> ? true : never
