/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing and
 * formatting of the `traceparent` and `tracestate` headers, and carrying them
 * to a child process in its environment as `TRACEPARENT` / `TRACESTATE` (the
 * OpenTelemetry convention for environment carriers).
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"

/**
 * A parsed trace context: the trace, the span that is the parent of whatever
 * the receiver starts, the trace flags (bit 0: sampled) and the vendor
 * `tracestate` list, forwarded unchanged.
 *
 * @since 0.1.0
 */
export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string
  /** 16 lowercase hex digits, not all zero. */
  readonly spanId: string
  /** 0 to 255; bit 0 (`0x01`) means sampled. */
  readonly flags: number
  /** The `tracestate` list-members, in order (the most recent vendor first). */
  readonly traceState: ReadonlyArray<readonly [key: string, value: string]>
}

/**
 * The environment variable carrying `traceparent` to a child process.
 *
 * @example
 * ```ts
 * import { TraceContext } from "@duende/observe"
 *
 * const traceparent = process.env[TraceContext.traceparentVariable]
 * ```
 *
 * @since 0.1.0
 */
export const traceparentVariable = "TRACEPARENT"

/**
 * The environment variable carrying `tracestate` to a child process.
 *
 * @example
 * ```ts
 * import { TraceContext } from "@duende/observe"
 *
 * const tracestate = process.env[TraceContext.tracestateVariable]
 * ```
 *
 * @since 0.1.0
 */
export const tracestateVariable = "TRACESTATE"

const hex = /^[0-9a-f]+$/
const allZero = /^0+$/
const keyPattern = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/
// chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E; the last character is not a space.
const valuePattern = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/
const maxMembers = 32

/**
 * Parses a `traceparent` header, and `tracestate` along with it. Follows the
 * spec's rules: version `ff` and malformed or all-zero ids are rejected;
 * versions above `00` are read by their first four fields. An invalid
 * `tracestate` is dropped (empty list) without rejecting the `traceparent`.
 *
 * @example
 * ```ts
 * import { TraceContext } from "@duende/observe"
 * import { Option } from "effect"
 *
 * const context = TraceContext.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "congo=t61rcWkgMzE")
 * Option.map(context, (c) => c.spanId) // Option.some("00f067aa0ba902b7")
 * ```
 *
 * @since 0.1.0
 */
export const parse = (traceparent: string, tracestate?: string): Option.Option<TraceContext> => {
  const header = traceparent.trim()
  if (header.length < 55) return Option.none()
  const version = header.slice(0, 2)
  if (!hex.test(version) || version === "ff") return Option.none()
  if (version === "00" ? header.length !== 55 : header.length > 55 && header[55] !== "-") return Option.none()
  if (header[2] !== "-" || header[35] !== "-" || header[52] !== "-") return Option.none()
  const traceId = header.slice(3, 35)
  const spanId = header.slice(36, 52)
  const flags = header.slice(53, 55)
  if (!hex.test(traceId) || !hex.test(spanId) || !hex.test(flags)) return Option.none()
  if (allZero.test(traceId) || allZero.test(spanId)) return Option.none()
  return Option.some({
    traceId,
    spanId,
    flags: Number.parseInt(flags, 16),
    traceState: tracestate === undefined ? [] : Option.getOrElse(parseTraceState(tracestate), () => [])
  })
}

/**
 * Parses a `tracestate` header into its list-members. `None` when any member
 * is malformed, a key repeats or there are more than 32 members (the spec lets
 * a receiver drop such a header whole).
 *
 * @example
 * ```ts
 * import { TraceContext } from "@duende/observe"
 *
 * TraceContext.parseTraceState("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")
 * // Option.some([["rojo", "00f067aa0ba902b7"], ["congo", "t61rcWkgMzE"]])
 * ```
 *
 * @since 0.1.0
 */
export const parseTraceState = (
  header: string
): Option.Option<ReadonlyArray<readonly [key: string, value: string]>> => {
  const members: Array<readonly [string, string]> = []
  const seen = new Set<string>()
  for (const raw of header.split(",")) {
    const member = raw.replace(/^[ \t]+|[ \t]+$/g, "")
    if (member === "") continue
    const equals = member.indexOf("=")
    if (equals <= 0) return Option.none()
    const key = member.slice(0, equals)
    const value = member.slice(equals + 1)
    if (!keyPattern.test(key) || !valuePattern.test(value) || seen.has(key)) return Option.none()
    seen.add(key)
    members.push([key, value])
  }
  return members.length > maxMembers ? Option.none() : Option.some(members)
}

/**
 * Formats the `traceparent` header (version `00`).
 *
 * @example
 * ```ts
 * import { TraceContext } from "@duende/observe"
 *
 * TraceContext.format({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: 1, traceState: [] })
 * // "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
 * ```
 *
 * @since 0.1.0
 */
export const format = (context: TraceContext): string =>
  `00-${context.traceId}-${context.spanId}-${(context.flags & 0xff).toString(16).padStart(2, "0")}`

/**
 * Formats the `tracestate` header ("" for an empty list).
 *
 * @example
 * ```ts
 * import { TraceContext } from "@duende/observe"
 *
 * TraceContext.formatTraceState([["rojo", "00f067aa0ba902b7"], ["congo", "t61rcWkgMzE"]])
 * // "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
 * ```
 *
 * @since 0.1.0
 */
export const formatTraceState = (members: ReadonlyArray<readonly [key: string, value: string]>): string =>
  members.map(([key, value]) => `${key}=${value}`).join(",")

/**
 * Whether the sampled flag is set.
 *
 * @example
 * ```ts
 * import { TraceContext } from "@duende/observe"
 *
 * TraceContext.isSampled({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: 1, traceState: [] }) // true
 * ```
 *
 * @since 0.1.0
 */
export const isSampled = (context: TraceContext): boolean => (context.flags & 1) === 1

/**
 * Reads `TRACEPARENT` / `TRACESTATE` from an environment (default: this
 * process's): how a daemon finds the span of the supervisor that spawned it.
 *
 * @example
 * ```ts
 * import { TraceContext } from "@duende/observe"
 *
 * const parent = TraceContext.fromEnv() // Option.none() when no supervisor passed one
 * ```
 *
 * @since 0.1.0
 */
export const fromEnv = (
  env: Readonly<Record<string, string | undefined>> = process.env
): Option.Option<TraceContext> => {
  const traceparent = env[traceparentVariable]
  return traceparent === undefined ? Option.none() : parse(traceparent, env[tracestateVariable])
}

/**
 * The variables that pass a trace context to a child process: `TRACEPARENT`,
 * and `TRACESTATE` when the list is not empty.
 *
 * @example
 * ```ts
 * import { TraceContext } from "@duende/observe"
 * import { spawn } from "node:child_process"
 *
 * const context = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: 1, traceState: [] }
 * spawn("my-daemon", [], { env: { ...process.env, ...TraceContext.toEnv(context) } })
 * ```
 *
 * @since 0.1.0
 */
export const toEnv = (context: TraceContext): Record<string, string> => {
  const env: Record<string, string> = { [traceparentVariable]: format(context) }
  if (context.traceState.length > 0) env[tracestateVariable] = formatTraceState(context.traceState)
  return env
}
