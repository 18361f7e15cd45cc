/**
 * @duende/platform-pepita/adapter: the manager half. The VM image, the VMM
 * driver interface and its QEMU driver, the guest agent's channel, and core's
 * `PlatformAdapter` for pepita microVMs.
 *
 * The entry has the platform module shape every platform package exports:
 * `kind`, `formats`, `flags`, `options`, `render`, `make` and `layer` are what
 * the `duende` command uses for `render pepita` and `--platform pepita`.
 *
 * @since 0.1.0
 */
import type { DaemonConfig } from "@duende/core"
import type { PlatformAdapter, PlatformModule } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { join } from "node:path"
import * as Adapter from "./PepitaAdapter.js"
import type { PortForward } from "./VmmDriver.js"

/** @since 0.1.0 */
export * as AgentChannel from "./AgentChannel.js"
/** @since 0.1.0 */
export * as Frame from "./Frame.js"
/** @since 0.1.0 */
export * as Image from "./Image.js"
/** @since 0.1.0 */
export * as PepitaAdapter from "./PepitaAdapter.js"
/** @since 0.1.0 */
export * as QemuDriver from "./QemuDriver.js"
/** @since 0.1.0 */
export * as VmmDriver from "./VmmDriver.js"

/**
 * The platform's options: the adapter's (directories, kernel, forwarded ports, QEMU's accelerator…).
 *
 * @since 0.1.0
 */
export type Options = Adapter.Options

/**
 * The platform kind.
 *
 * @example
 * ```ts
 * import { kind } from "@duende/platform-pepita/adapter"
 *
 * kind // "pepita"
 * ```
 *
 * @since 0.1.0
 */
export const kind = "pepita" as const

/**
 * The formats it renders: `pepita` (the VM spec, JSON).
 *
 * @example
 * ```ts
 * import { formats } from "@duende/platform-pepita/adapter"
 *
 * formats // ["pepita"]
 * ```
 *
 * @since 0.1.0
 */
export const formats: ReadonlyArray<"pepita"> = ["pepita"]

/**
 * Its command-line flags: `--accel auto|kvm|tcg` and `--forward HOST:GUEST[,HOST:GUEST…]`.
 *
 * @example
 * ```ts
 * import { flags } from "@duende/platform-pepita/adapter"
 *
 * flags.map((flag) => flag.name) // ["accel", "forward"]
 * ```
 *
 * @since 0.1.0
 */
export const flags: ReadonlyArray<PlatformModule.Flag> = [
  {
    name: "accel",
    type: "choice",
    choices: ["auto", "kvm", "tcg"],
    description: "QEMU's accelerator: auto (default) uses KVM only if a probe boot under it works, else TCG",
    appliesTo: ["manage"]
  },
  {
    name: "forward",
    type: "text",
    description: "host ports on 127.0.0.1 forwarded into the VM: 8080:80 or 8080:80,9090:9090",
    appliesTo: ["render", "manage"]
  }
]

const forwardsOf = (text: string): Either.Either<ReadonlyArray<PortForward>, string> => {
  const out: Array<PortForward> = []
  for (const part of text.split(",")) {
    const match = /^(\d{1,5}):(\d{1,5})$/.exec(part.trim())
    const host = Number(match?.[1])
    const guest = Number(match?.[2])
    if (match === null || host < 1 || host > 65535 || guest < 1 || guest > 65535) {
      return Either.left(`--forward expects HOST:GUEST port pairs such as 8080:80, got "${part}"`)
    }
    out.push({ host, guest })
  }
  return Either.right(out)
}

/**
 * Options from flags: the accelerator and forwarded ports; VM directories
 * and the image cache go under the tool's state directory.
 *
 * @example
 * ```ts
 * import { options } from "@duende/platform-pepita/adapter"
 *
 * options({ forward: "8080:80" }, { stateDirectory: "/tmp/duende" }) // Either.right({ forwards: [{ host: 8080, guest: 80 }], ... })
 * options({ forward: "http" }, { stateDirectory: "/tmp/duende" }) // Either.left("--forward expects HOST:GUEST ...")
 * ```
 *
 * @since 0.1.0
 */
export const options = (
  values: PlatformModule.FlagValues,
  context: PlatformModule.Context
): Either.Either<Options, string> => {
  const accel = values.accel
  if (accel !== undefined && accel !== "auto" && accel !== "kvm" && accel !== "tcg") {
    return Either.left(`--accel expects auto, kvm or tcg, got "${String(accel)}"`)
  }
  const forwards = typeof values.forward === "string" ? forwardsOf(values.forward) : Either.right([])
  return Either.map(forwards, (forwards) => ({
    stateDirectory: join(context.stateDirectory, "pepita", "vms"),
    cacheDirectory: join(context.stateDirectory, "pepita", "images"),
    forwards,
    ...(accel === undefined ? {} : { qemu: { accel } })
  }))
}

/**
 * The VM spec a config becomes (JSON: machine and task).
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core"
 * import { render } from "@duende/platform-pepita/adapter"
 * import { Effect } from "effect"
 *
 * const spec = Effect.flatMap(DaemonConfig.load("duende.json"), (config) => render(config, { format: "pepita" }))
 * ```
 *
 * @since 0.1.0
 */
export const render = (
  config: DaemonConfig.DaemonConfig,
  renderOptions: Options & { readonly format: "pepita" }
): Effect.Effect<ReadonlyArray<PlatformAdapter.Artifact>, PlatformModule.RenderError> =>
  Effect.succeed([Adapter.artifact(config, renderOptions)])

/**
 * The adapter, for the life of the scope (see `PepitaAdapter.make`).
 *
 * @example
 * ```ts
 * import { make } from "@duende/platform-pepita/adapter"
 * import { Effect } from "effect"
 *
 * const state = Effect.scoped(Effect.flatMap(make({}), (adapter) => Effect.flatMap(adapter.find("api"), adapter.status)))
 * ```
 *
 * @since 0.1.0
 */
export const make = Adapter.make

/**
 * The adapter as a layer (see `PepitaAdapter.layer`).
 *
 * @example
 * ```ts
 * import { layer } from "@duende/platform-pepita/adapter"
 *
 * const adapter = layer({ qemu: { accel: "tcg" } })
 * ```
 *
 * @since 0.1.0
 */
export const layer = Adapter.layer

/**
 * The compiler's check that this entry has core's `PlatformModule` shape.
 *
 * @since 0.1.0
 */
export type Conformance = PlatformModule.Conforms<typeof import("./adapter.js"), Options, "pepita">
