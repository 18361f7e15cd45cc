/**
 * @duende/platform-wos/adapter: the manager half. Core's `PlatformAdapter` on
 * the WOS kernel (`WosAdapter`), with the platform module shape every
 * platform package exports: `kind`, `formats`, `flags`, `options`, `render`,
 * `make` and `layer` are what the `duende` command uses for `render wos` and
 * `--platform wos`.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import { PlatformAdapter, PlatformModule } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { join } from "node:path"
import * as Adapter from "./WosAdapter.js"
import * as Remote from "./WosRemote.js"

/** @since 0.1.0 */
export * as WosAdapter from "./WosAdapter.js"
/** @since 0.1.0 */
export * as WosRemote from "./WosRemote.js"

/**
 * The platform's options: a kernel of the adapter's own (CPUs, time slice,
 * limits), or the one `wos-ctl boot` runs on `socket` (with the records of
 * installed daemons in `stateDirectory`).
 *
 * @example
 * ```ts
 * import type { Options } from "@duende/platform-wos/adapter"
 *
 * const own: Options = { cpus: 2 }
 * const booted: Options = { socket: "/tmp/wos.sock", stateDirectory: "/var/lib/duende/wos" }
 * ```
 *
 * @since 0.1.0
 */
export type Options = Adapter.Options | Remote.Options

/**
 * The platform kind.
 *
 * @example
 * ```ts
 * import { kind } from "@duende/platform-wos/adapter"
 *
 * kind // "wos"
 * ```
 *
 * @since 0.1.0
 */
export const kind = "wos" as const

/**
 * The formats it renders: `wos` (the kernel's spawn request, JSON).
 *
 * @example
 * ```ts
 * import { formats } from "@duende/platform-wos/adapter"
 *
 * formats // ["wos"]
 * ```
 *
 * @since 0.1.0
 */
export const formats: ReadonlyArray<"wos"> = ["wos"]

/**
 * Its command-line flags: `--socket PATH`, the kernel `wos-ctl boot` runs
 * there (without it the adapter runs a kernel of its own, which lives as long
 * as the command); `--cpus N`, the processes an own kernel runs at once.
 *
 * @example
 * ```ts
 * import { flags } from "@duende/platform-wos/adapter"
 *
 * flags.map((flag) => flag.name) // ["socket", "cpus"]
 * ```
 *
 * @since 0.1.0
 */
export const flags: ReadonlyArray<PlatformModule.Flag> = [
  {
    name: "socket",
    type: "text",
    description: "the socket of the kernel `wos-ctl boot` runs (default: a kernel of the command's own)",
    appliesTo: ["manage"]
  },
  {
    name: "cpus",
    type: "integer",
    description: "processes the command's own WOS kernel runs at once (default 1, so priorities matter)",
    appliesTo: ["manage"]
  }
]

/**
 * Options from flags: `--socket` (records under the tool's state directory),
 * else `--cpus`, a whole number from 1 to 64.
 *
 * @example
 * ```ts
 * import { options } from "@duende/platform-wos/adapter"
 *
 * options({ cpus: 2 }, { stateDirectory: "/tmp/duende" }) // Either.right({ cpus: 2 })
 * options({ socket: "/tmp/wos.sock" }, { stateDirectory: "/tmp/duende" }) // Either.right({ socket: ..., stateDirectory: "/tmp/duende/wos" })
 * options({ cpus: 0 }, { stateDirectory: "/tmp/duende" }) // Either.left("--cpus: ...")
 * ```
 *
 * @since 0.1.0
 */
export const options = (
  values: PlatformModule.FlagValues,
  context: PlatformModule.Context
): Either.Either<Options, string> => {
  if (typeof values.socket === "string") {
    return values.cpus === undefined
      ? Either.right({ socket: values.socket, stateDirectory: join(context.stateDirectory, "wos") })
      : Either.left("--cpus is the booted kernel's (wos-ctl boot --cpus N), not --socket's")
  }
  const cpus = values.cpus
  if (cpus === undefined) return Either.right({})
  const n = typeof cpus === "string" ? Number(cpus) : cpus
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 64
    ? Either.right({ cpus: n })
    : Either.left(`--cpus: expected a whole number from 1 to 64, got ${String(cpus)}`)
}

/**
 * The spawn request a config becomes (JSON); each setting WOS cannot express
 * is logged as a warning naming its field.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { render } from "@duende/platform-wos/adapter"
 * import { Effect } from "effect"
 *
 * const request = Effect.flatMap(DaemonConfig.load("duende.json"), (config) => render(config, { format: "wos" }))
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  _options: Options & { readonly format: "wos" }
): Effect.Effect<ReadonlyArray<PlatformAdapter.Artifact>, PlatformModule.RenderError> =>
  Effect.gen(function*() {
    if (!config.command.program.endsWith(".wasm")) {
      return yield* new PlatformModule.RenderError({
        platform: "wos",
        format: "wos",
        reason: `command.program: WOS runs WebAssembly modules (a WASI command, .wasm), got ${JSON.stringify(config.command.program)}`
      })
    }
    for (const { field, reason } of Adapter.spawnRequest(config).ignored) {
      yield* Effect.logWarning(`WOS cannot express ${field}: ${reason}`)
    }
    return [Adapter.artifact(config)]
  })

/**
 * The adapter: `WosRemote.make` with a socket, else `WosAdapter.make`.
 *
 * @example
 * ```ts
 * import { make } from "@duende/platform-wos/adapter"
 * import { Effect } from "effect"
 *
 * const state = Effect.scoped(Effect.flatMap(make({ socket: "/tmp/wos.sock", stateDirectory: "/tmp/duende/wos" }), (adapter) =>
 *   Effect.flatMap(adapter.find("api"), adapter.status)))
 * ```
 *
 * @since 0.1.0
 */
export const make = (adapterOptions: Options): Effect.Effect<PlatformModule.Adapter, never, Scope.Scope> =>
  "socket" in adapterOptions ? Remote.make(adapterOptions) : Adapter.make(adapterOptions)

/**
 * The adapter as a layer (see `WosAdapter.layer`).
 *
 * @example
 * ```ts
 * import { layer } from "@duende/platform-wos/adapter"
 *
 * const adapter = layer({ cpus: 2 })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (adapterOptions: Options): Layer.Layer<PlatformAdapter.PlatformAdapter> =>
  Layer.scoped(PlatformAdapter.PlatformAdapter, make(adapterOptions))

/**
 * The compiler's check that this entry has core's `PlatformModule` shape.
 *
 * @example
 * ```ts
 * import type { Conformance } from "@duende/platform-wos/adapter"
 *
 * const conforms: Conformance = true
 * ```
 *
 * @since 0.1.0
 */
export type Conformance = PlatformModule.Conforms<typeof import("./adapter.js"), Options, "wos">
