/**
 * How the supervisor hands a decoded config to the daemon it starts, without
 * the daemon paying for effect/Schema at start-up: JSON with every default
 * filled in and durations as milliseconds, read back by a small trusted
 * converter. Anything unexpected falls back to the full Schema decode, which
 * gives field-naming errors.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type { DaemonConfig } from "../DaemonConfig.js"

const durationPaths: ReadonlyArray<ReadonlyArray<string>> = [
  ["health", "interval"],
  ["health", "timeout"],
  ["health", "startPeriod"],
  ["restart", "backoff", "initial"],
  ["restart", "backoff", "max"],
  ["restart", "crashLoop", "interval"],
  ["restart", "minUptime"],
  ["initTimeout"],
  ["shutdownTimeout"],
  ["watchdogInterval"]
]

const mapPath = (
  root: Record<string, unknown>,
  path: ReadonlyArray<string>,
  f: (value: unknown) => unknown
): Record<string, unknown> => {
  const [head, ...rest] = path
  if (head === undefined || !(head in root)) return root
  const value = root[head]
  if (rest.length === 0) return { ...root, [head]: f(value) }
  if (value === null || typeof value !== "object") return root
  return { ...root, [head]: mapPath(value as Record<string, unknown>, rest, f) }
}

const handoffVersion = 1

/** The handoff text for a decoded config. */
export const toHandoff = (config: DaemonConfig): string =>
  JSON.stringify({
    v: handoffVersion,
    config: durationPaths.reduce(
      (out, path) => mapPath(out, path, (d) => Duration.toMillis(d as Duration.Duration)),
      config as unknown as Record<string, unknown>
    )
  })

/** The encoded config inside a handoff text (for the Schema fallback), if it parses at all. */
export const handoffInput = (text: string): unknown => {
  try {
    const parsed = JSON.parse(text) as { config?: unknown }
    return parsed.config
  } catch {
    return undefined
  }
}

/** Reads a handoff written by {@link toHandoff}; undefined when it is not exactly that shape. */
export const fromHandoff = (text: string): DaemonConfig | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (parsed === null || typeof parsed !== "object") return undefined
  const { config, v } = parsed as { v?: unknown; config?: unknown }
  if (v !== handoffVersion || config === null || typeof config !== "object") return undefined
  const c = config as Record<string, unknown>
  if (typeof c.name !== "string" || typeof c.command !== "object" || typeof c.health !== "object") return undefined
  let valid = true
  const converted = durationPaths.reduce(
    (out, path) =>
      mapPath(out, path, (ms) => {
        if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) valid = false
        return Duration.millis(Number(ms))
      }),
    c
  )
  return valid ? (converted as unknown as DaemonConfig) : undefined
}
