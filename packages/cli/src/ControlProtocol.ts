/**
 * The control protocol between the `duende` command and its supervisor: one
 * JSON object per line over the unix socket. A request carries an `id`; the
 * answer to it carries the same `id` and either `result` or `error`; a
 * streaming request (`logs` with `follow`) sends `{ id, line }` messages until
 * the client hangs up.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The largest request line the supervisor reads (bytes, newline excluded); a
 * longer one is answered with an error and the connection is closed.
 *
 * @example
 * ```ts
 * import { ControlProtocol } from "@duende/cli"
 *
 * const fits = (line: string) => Buffer.byteLength(line) <= ControlProtocol.maxMessageBytes
 * ```
 *
 * @since 0.1.0
 */
export const maxMessageBytes = 1024 * 1024

/**
 * The deepest nesting of arrays and objects a request may have; a deeper one is
 * refused before it is parsed.
 *
 * @example
 * ```ts
 * import { ControlProtocol } from "@duende/cli"
 *
 * ControlProtocol.maxDepth // 32
 * ```
 *
 * @since 0.1.0
 */
export const maxDepth = 32

/**
 * How deep a JSON text nests arrays and objects (strings skipped), counted
 * without parsing it; stops counting past `limit`.
 *
 * @example
 * ```ts
 * import { ControlProtocol } from "@duende/cli"
 *
 * ControlProtocol.depthOf(`{"a":[1,{"b":"]"}]}`, 32) // 3
 * ```
 *
 * @since 0.1.0
 */
export const depthOf = (text: string, limit: number): number => {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
      continue
    }
    if (c === 34) inString = true
    else if (c === 91 || c === 123) {
      depth++
      if (depth > deepest) deepest = depth
      if (deepest > limit) return deepest
    } else if (c === 93 || c === 125) depth--
  }
  return deepest
}

/** A daemon's name, or one instance of it (`api@3`). */
const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(72))

/**
 * A request to the supervisor.
 *
 * @since 0.1.0
 */
export const Request = Schema.Union(
  Schema.Struct({ method: Schema.Literal("ping") }),
  Schema.Struct({
    method: Schema.Literal("add"),
    /** The config in its file form; the supervisor decodes it. */
    config: Schema.Unknown,
    configPath: Schema.optional(Schema.String),
    start: Schema.Boolean
  }),
  Schema.Struct({
    method: Schema.Literal("start", "stop", "restart", "reload", "remove", "status"),
    name: Name
  }),
  Schema.Struct({ method: Schema.Literal("signal"), name: Name, signal: Schema.String }),
  Schema.Struct({
    method: Schema.Literal("scale"),
    name: Name,
    /** How many copies to run: 1–256, or "max" (one per CPU). */
    instances: Schema.Union(Schema.Number.pipe(Schema.int(), Schema.between(1, 256)), Schema.Literal("max"))
  }),
  Schema.Struct({ method: Schema.Literal("list", "resurrect", "shutdown", "stats", "notices") }),
  Schema.Struct({
    method: Schema.Literal("logs"),
    /** A daemon, a config's instances, or (left out) every daemon. */
    name: Schema.optional(Name),
    lines: Schema.Number.pipe(Schema.int(), Schema.between(0, 100_000)),
    follow: Schema.Boolean
  })
)

/** @since 0.1.0 */
export type Request = Schema.Schema.Type<typeof Request>

/**
 * A request with its id, as sent on the wire.
 *
 * @since 0.1.0
 */
export const Envelope = Schema.Struct({ id: Schema.Number, request: Request })

/** @since 0.1.0 */
export type Envelope = Schema.Schema.Type<typeof Envelope>

/**
 * A daemon as `status`, `ls` and the rest report it.
 *
 * @since 0.1.0
 */
export interface DaemonInfo {
  readonly id: string
  readonly name: string
  /** "running", "stopped", "failed: crash loop: …" */
  readonly status: string
  readonly statusTag: string
  readonly desired: "running" | "stopped"
  readonly pid: number | null
  readonly startedAt: number | null
  readonly uptimeMs: number | null
  readonly restarts: number
  readonly nextRestartAt: number | null
  /** Why the restart waits beyond its backoff: the restart circuit is open (many daemons crashing at once). */
  readonly restartHeld: string | null
  readonly cpuPercent: number | null
  readonly memoryBytes: number | null
  readonly health: string | null
  readonly statusText: string | null
  readonly lastExit: string | null
  /** How each configured resource limit is enforced ("cgroup v1 memory.limit_in_bytes …") or why it is not. */
  readonly limits: ReadonlyArray<{ readonly limit: string; readonly how: string | null; readonly why: string | null }>
  readonly command: ReadonlyArray<string>
  readonly configPath: string | null
  readonly logFile: string
  /** For a config with `instances`: each copy (`api@0`, `api@1`…); the fields above then sum or summarise them. */
  readonly instances?: ReadonlyArray<DaemonInfo>
}

/**
 * The supervisor's own resource use, as `stats` reports it.
 *
 * @since 0.1.0
 */
export interface SupervisorStats {
  readonly pid: number
  readonly uptimeMs: number
  readonly rssBytes: number
  readonly cpuUserMs: number
  readonly cpuSystemMs: number
  /** Event-loop delay since the previous `stats` (or the start), in ms. */
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number }
  readonly daemons: number
  readonly running: number
  /** The Prometheus endpoint, if on. */
  readonly metrics: string | null
}

/**
 * A log line as `logs` sends it.
 *
 * @since 0.1.0
 */
export interface LogLineInfo {
  /** Whose line it is, when a request covers several daemons (the instances of a config). */
  readonly daemon?: string
  readonly at: number
  readonly stream: "stdout" | "stderr"
  readonly text: string
}

/**
 * An error as the supervisor reports it: the tag of the failure and its message.
 *
 * @since 0.1.0
 */
export interface ErrorInfo {
  readonly tag: string
  readonly message: string
}

/**
 * What the supervisor writes back: an answer or, for streams, a line.
 *
 * @since 0.1.0
 */
export type Response =
  | { readonly id: number; readonly result: unknown }
  | { readonly id: number; readonly error: ErrorInfo }
  | { readonly id: number; readonly line: LogLineInfo }
