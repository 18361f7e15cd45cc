/**
 * The systemd settings of a daemon: `platform.systemd` in its config (scope,
 * unit name, service type, opt-outs from the default hardening, writable
 * paths, capabilities, and the listen addresses of a `.socket` unit for
 * socket activation). The schema is core's, so a config file is checked once,
 * with every bad field named; this module adds the defaults and a decoder for
 * settings given to the adapter directly.
 *
 * @since 0.1.0
 */
import { ConfigError } from "@duende/core"
import { SystemdSection as Section } from "@duende/core/DaemonConfigSchema"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * The schema of the settings (core's `PlatformSections.systemd`).
 *
 * @example
 * ```ts
 * import { SystemdSection } from "@duende/platform-systemd/adapter"
 * import * as Schema from "effect/Schema"
 *
 * const section = Schema.decodeUnknownSync(SystemdSection.SystemdSection)({
 *   unit: "api",
 *   hardening: { ProtectHome: false },
 *   socket: { listen: ["8080"], name: "http" }
 * })
 * ```
 *
 * @since 0.1.0
 */
export const SystemdSection = Section

/**
 * Decoded settings, defaults filled in.
 *
 * @since 0.1.0
 */
export type SystemdSection = Schema.Schema.Type<typeof SystemdSection>

/**
 * Settings as written by a user.
 *
 * @since 0.1.0
 */
export type Input = Schema.Schema.Encoded<typeof SystemdSection>

/**
 * The defaults: system scope, the daemon's name as unit, Type=notify, full hardening, no socket.
 *
 * @example
 * ```ts
 * import { SystemdSection } from "@duende/platform-systemd/adapter"
 *
 * SystemdSection.defaults.type // "notify"
 * ```
 *
 * @since 0.1.0
 */
export const defaults: SystemdSection = { scope: "system", type: "notify", hardening: {}, readWritePaths: [], capabilities: [] }

/**
 * Decodes settings, naming every bad field in one `ConfigError`.
 *
 * @example
 * ```ts
 * import { SystemdSection } from "@duende/platform-systemd/adapter"
 *
 * const result = SystemdSection.decode({ socket: { listen: ["80"] }, capabilities: ["CAP_NET_BIND_SERVICE"] })
 * ```
 *
 * @since 0.1.0
 */
export const decode = (input: unknown, source = "platform.systemd"): Either.Either<SystemdSection, ConfigError> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(SystemdSection, { errors: "all", onExcessProperty: "error" })(input),
    (error) =>
      new ConfigError({
        source,
        problems: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
          path: issue.path.join("."),
          message: issue.message
        }))
      })
  )
