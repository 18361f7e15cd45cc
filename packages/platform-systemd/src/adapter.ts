/**
 * @duende/platform-systemd/adapter: the manager half. Unit files (model,
 * escaping, render and parse), a `DaemonConfig` rendered as hardened units,
 * the systemd tools as a service, and core's `PlatformAdapter` for systemd.
 *
 * The entry is a platform module (core's `PlatformModule`): `kind`,
 * `formats`, `flags`, `options`, `render`, `make` and `layer` are what the
 * `duende` command uses for `render systemd` and `--platform systemd [--user]`.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import { type PlatformAdapter, PlatformModule } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Systemctl from "./Systemctl.js"
import * as SystemdAdapter from "./SystemdAdapter.js"
import * as SystemdUnit from "./SystemdUnit.js"

/** @since 0.1.0 */
export * as Systemctl from "./Systemctl.js"
/** @since 0.1.0 */
export * as SystemdAdapter from "./SystemdAdapter.js"
/** @since 0.1.0 */
export * as SystemdSection from "./SystemdSection.js"
/** @since 0.1.0 */
export * as SystemdUnit from "./SystemdUnit.js"
/** @since 0.1.0 */
export * as UnitFile from "./UnitFile.js"

/**
 * The platform's options: the adapter's, and the systemd version to render for.
 *
 * @since 0.1.0
 */
export interface Options extends SystemdAdapter.Options {
  /** The version units are rendered for; default this machine's (`systemctl --version`), else 252. */
  readonly systemdVersion?: number
}

/**
 * The platform kind.
 *
 * @example
 * ```ts
 * import { kind } from "@duende/platform-systemd/adapter"
 *
 * kind // "systemd"
 * ```
 *
 * @since 0.1.0
 */
export const kind = "systemd" as const

/**
 * The formats it renders: `systemd` (the service unit, and a socket unit with socket activation).
 *
 * @example
 * ```ts
 * import { formats } from "@duende/platform-systemd/adapter"
 *
 * formats.includes("systemd") // true
 * ```
 *
 * @since 0.1.0
 */
export const formats: ReadonlyArray<"systemd"> = ["systemd"]

/**
 * Its command-line flags: `--user` (the user's manager) and `--systemd-version N` (render).
 *
 * @example
 * ```ts
 * import { flags } from "@duende/platform-systemd/adapter"
 *
 * flags.map((flag) => flag.name) // ["user", "systemd-version"]
 * ```
 *
 * @since 0.1.0
 */
export const flags: ReadonlyArray<PlatformModule.Flag> = [
  {
    name: "user",
    type: "boolean",
    description: "the user's manager (systemctl --user) instead of the system's",
    appliesTo: ["render", "manage"]
  },
  {
    name: "systemd-version",
    type: "integer",
    description: "the systemd version to render for (default: this machine's)",
    appliesTo: ["render"]
  }
]

/**
 * Options from flags: `--user`, else the config's own `platform.systemd.scope`;
 * `--systemd-version`.
 *
 * @example
 * ```ts
 * import { options } from "@duende/platform-systemd/adapter"
 *
 * options({ user: true }, { stateDirectory: "/tmp/duende" }) // Either.right({ scope: "user" })
 * ```
 *
 * @since 0.1.0
 */
export const options = (
  values: PlatformModule.FlagValues,
  context: PlatformModule.Context
): Either.Either<Options, string> => {
  const version = values["systemd-version"]
  if (version !== undefined && (typeof version !== "number" || !Number.isInteger(version) || version < 1)) {
    return Either.left(`--systemd-version takes a version number such as 252, got ${JSON.stringify(version)}`)
  }
  const scope = values.user === true ? "user" : context.config?.platform.systemd?.scope
  return Either.right({ ...(scope !== undefined ? { scope } : {}), ...(version !== undefined ? { systemdVersion: version } : {}) })
}

/** The oldest systemd Duende's units are written for (Debian 12's). */
const baselineVersion = 252

/**
 * The units a config becomes, for `options.systemdVersion` or this machine's
 * systemd (a warning is logged when there is none and 252 is used).
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { render } from "@duende/platform-systemd/adapter"
 * import { Effect } from "effect"
 *
 * const units = Effect.flatMap(DaemonConfig.load("duende.json"), (config) =>
 *   render(config, { format: "systemd", scope: "user", systemdVersion: 256 }))
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  options: Options & { readonly format: "systemd" }
): Effect.Effect<ReadonlyArray<PlatformAdapter.Artifact>, PlatformModule.RenderError> =>
  Effect.gen(function*() {
    const scope = options.scope ?? config.platform.systemd?.scope ?? "system"
    // This machine's systemd, if it has one (a missing systemctl is a failure, not a version).
    const local = Effect.flatMap(
      Systemctl.make({ scope, ...(options.env ? { env: options.env } : {}), ...(options.prefix ? { prefix: options.prefix } : {}) }),
      (systemctl) => Effect.option(systemctl.version)
    )
    let version = options.systemdVersion ?? Option.getOrUndefined(yield* local)
    if (version === undefined) {
      version = baselineVersion
      yield* Effect.logWarning(`no systemctl here; rendered for systemd ${version} (say --systemd-version N for another)`)
    }
    return yield* Either.mapLeft(
      SystemdUnit.render(config, { scope, version, ...(options.host ? { host: options.host } : {}) }),
      (error) => new PlatformModule.RenderError({ platform: kind, format: options.format, reason: error.message })
    )
  })

/**
 * The adapter (see `SystemdAdapter.make`).
 *
 * @example
 * ```ts
 * import { make } from "@duende/platform-systemd/adapter"
 * import { Effect } from "effect"
 *
 * const state = Effect.flatMap(make({ scope: "user" }), (adapter) =>
 *   Effect.flatMap(adapter.find("api"), adapter.status))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<SystemdAdapter.SystemdAdapter> => SystemdAdapter.make(options)

/**
 * The adapter as a layer (see `SystemdAdapter.layer`).
 *
 * @example
 * ```ts
 * import { layer } from "@duende/platform-systemd/adapter"
 *
 * const adapter = layer({ scope: "system" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options) => SystemdAdapter.layer(options)

/**
 * The compiler's check that this entry has core's `PlatformModule` shape.
 *
 * @since 0.1.0
 */
export type Conformance = PlatformModule.Conforms<typeof import("./adapter.js"), Options, "systemd">
