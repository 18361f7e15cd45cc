/**
 * The WOS host as a service, whatever runs its processes: `NodeWosHost`
 * (worker threads and `node:wasi`) or `BrowserWosHost` (Web Workers and
 * `@bjorn3/browser_wasi_shim`). What a spawn is given, what a process shows,
 * and the events of all of them.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as WosError from "./WosError.js"
import type * as WosKernel from "./WosKernel.js"

const PAGE = 65_536
const MiB = 1024 * 1024

/**
 * What `spawn` is given; decoded, so a bad request names its field.
 *
 * @example
 * ```ts
 * import { WosHost } from "@duende/platform-wos"
 * import * as Schema from "effect/Schema"
 *
 * Schema.decodeUnknownSync(WosHost.SpawnOptions)({ name: "api", module: "api.wasm" }).memory // 16777216
 * ```
 *
 * @since 0.1.0
 */
export const SpawnOptions = Schema.Struct({
  name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)),
  /** The `.wasm` module: a file path under `NodeWosHost`, a URL under `BrowserWosHost`. */
  module: Schema.String.pipe(Schema.minLength(1)),
  /** Arguments after argv[0] (which is the name). */
  args: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  env: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) }),
  priority: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 7)), { default: () => 4 }),
  /** The process's memory cap in bytes (rounded up to 64 KiB pages); reserved in the kernel. Default 16 MiB. */
  memory: Schema.optionalWith(Schema.Int.pipe(Schema.between(PAGE, 256 * MiB)), { default: () => 16 * MiB }),
  /**
   * `NodeWosHost`: a directory preopened as `/sandbox`; default a fresh temporary directory, removed when
   * the process exits. `BrowserWosHost` has no directories: each process's `/sandbox` is in its worker's memory.
   */
  sandbox: Schema.optional(Schema.String.pipe(Schema.minLength(1))),
  /** The parent pid; init by default. */
  parent: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

/**
 * A spawn request as a caller writes it.
 *
 * @example
 * ```ts
 * import type { WosHost } from "@duende/platform-wos"
 *
 * const request: WosHost.SpawnOptions = { name: "api", module: "api.wasm", args: ["--port", "80"], priority: 2 }
 * ```
 *
 * @since 0.1.0
 */
export type SpawnOptions = Schema.Schema.Encoded<typeof SpawnOptions>

/**
 * How a process ended.
 *
 * @example
 * ```ts
 * import type { WosHost } from "@duende/platform-wos"
 *
 * const killed: WosHost.ExitInfo = { code: 9, signal: 9, reason: "killed by KILL", at: 0 }
 * ```
 *
 * @since 0.1.0
 */
export interface ExitInfo {
  readonly code: number
  /** The signal that ended it (KILL, or a signal's default action); undefined when it exited by itself. */
  readonly signal: number | undefined
  /** "exit 0", "killed by KILL", "terminated by signal 15", "trap: unreachable". */
  readonly reason: string
  /** Epoch ms. */
  readonly at: number
}

/**
 * A line a process wrote.
 *
 * @example
 * ```ts
 * import type { WosHost } from "@duende/platform-wos"
 *
 * const line: WosHost.LogLine = { at: 0, stream: "stdout", text: "count 100" }
 * ```
 *
 * @since 0.1.0
 */
export interface LogLine {
  readonly at: number
  readonly stream: "stdout" | "stderr"
  readonly text: string
}

/**
 * What happens to a process, as it happens.
 *
 * @example
 * ```ts
 * import type { WosHost } from "@duende/platform-wos"
 *
 * const describe = (event: WosHost.ProcessEvent) => event._tag === "Exited" ? `${event.pid}: ${event.exit.reason}` : event._tag
 * ```
 *
 * @since 0.1.0
 */
export type ProcessEvent =
  | { readonly _tag: "Ready"; readonly pid: WosKernel.Pid; readonly at: number }
  | { readonly _tag: "Health"; readonly pid: WosKernel.Pid; readonly healthy: boolean; readonly at: number }
  | { readonly _tag: "Log"; readonly pid: WosKernel.Pid; readonly line: LogLine }
  | { readonly _tag: "Exited"; readonly pid: WosKernel.Pid; readonly exit: ExitInfo }

/**
 * A process of the host.
 *
 * @example
 * ```ts
 * import type { WosHost } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const lastLine = (proc: WosHost.WosProcess) => Effect.map(proc.logs, (lines) => lines.at(-1)?.text)
 * ```
 *
 * @since 0.1.0
 */
export interface WosProcess {
  readonly pid: WosKernel.Pid
  readonly name: string
  /** Whether its module imports `duende.ready`, i.e. it will say when it is ready. */
  readonly reportsReady: boolean
  /** Waits until it reported ready (true) or exited before (false). */
  readonly awaitReady: Effect.Effect<boolean>
  /** Waits until it exited. */
  readonly awaitExit: Effect.Effect<ExitInfo>
  readonly exit: Effect.Effect<Option.Option<ExitInfo>>
  readonly ready: Effect.Effect<boolean>
  /** Its last `duende_health` report, if any. */
  readonly healthy: Effect.Effect<boolean | undefined>
  /** Its last lines (at most 1000). */
  readonly logs: Effect.Effect<ReadonlyArray<LogLine>>
}

/**
 * The host's options: the kernel's.
 *
 * @example
 * ```ts
 * import { WosHost } from "@duende/platform-wos"
 *
 * const options: WosHost.Options = { cpus: 2, quantum: "5 millis", limits: { processes: 100 } }
 * ```
 *
 * @since 0.1.0
 */
export type Options = WosKernel.Options

/**
 * The host.
 *
 * @example
 * ```ts
 * import { WosHost } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const stop = (host: WosHost.WosHost, pid: number) => Effect.zipRight(host.signal(pid, 15), Effect.flatMap(host.process(pid), (p) => p.awaitExit))
 * ```
 *
 * @since 0.1.0
 */
export interface WosHost {
  readonly kernel: WosKernel.WosKernel
  /** Starts a process under its parent (init by default); it runs once scheduled. */
  readonly spawn: (
    options: SpawnOptions
  ) => Effect.Effect<WosProcess, WosError.KernelError | WosError.ModuleRefused | WosError.HostFailed>
  readonly signal: (pid: WosKernel.Pid, signal: number) => Effect.Effect<void, WosError.NoSuchProcess | WosError.InvalidRequest>
  /** A process spawned by this host, running or exited (the last 100 exited are kept). */
  readonly process: (pid: WosKernel.Pid) => Effect.Effect<WosProcess, WosError.NoSuchProcess>
  /** Subscribes now, for the life of the scope, to every process's events. */
  readonly events: Effect.Effect<Stream.Stream<ProcessEvent>, never, Scope.Scope>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { WosHost } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const exit = Effect.gen(function*() {
 *   const host = yield* WosHost.WosHost
 *   const process = yield* host.spawn({ name: "hello", module: "hello.wasm" })
 *   return yield* process.awaitExit
 * })
 * ```
 *
 * @since 0.1.0
 */
export const WosHost: Context.Tag<WosHost, WosHost> = Context.GenericTag<WosHost>("@duende/platform-wos/WosHost")
