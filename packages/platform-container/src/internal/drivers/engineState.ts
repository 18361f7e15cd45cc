/**
 * Reading what podman and the Docker Engine API say about a container: the
 * inspect document (podman's CLI and the Docker API share its State shape)
 * and timestamped log lines.
 *
 * @internal
 */
import type { PlatformAdapter } from "@duende/core/manager"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { Inspection, Lifecycle } from "../driver.js"

/** Epoch ms of an RFC 3339 timestamp; undefined for Go's zero time or garbage. */
export const parseTime = (text: unknown): number | undefined => {
  if (typeof text !== "string" || text.startsWith("0001-")) return undefined
  const ms = Date.parse(text)
  return Number.isFinite(ms) && ms > 0 ? ms : undefined
}

const statuses: Record<string, Inspection["status"]> = {
  created: "created",
  configured: "created",
  initialized: "created",
  running: "running",
  paused: "paused",
  restarting: "restarting",
  exited: "exited",
  stopped: "exited",
  dead: "exited",
  removing: "exited"
}

export const fromInspect = (value: unknown): Inspection | undefined => {
  if (value === null || typeof value !== "object") return undefined
  const doc = value as {
    State?: {
      Status?: string
      Pid?: number
      ExitCode?: number
      StartedAt?: string
      FinishedAt?: string
      Restarting?: boolean
      Health?: { Status?: string }
      Healthcheck?: { Status?: string }
    }
    RestartCount?: number
    Config?: { Labels?: Record<string, string> | null }
  }
  const state = doc.State
  if (state === undefined) return undefined
  const status = state.Restarting ? "restarting" : statuses[(state.Status ?? "").toLowerCase()] ?? "exited"
  const finishedAt = parseTime(state.FinishedAt)
  const health = (state.Health ?? state.Healthcheck)?.Status
  return {
    status,
    pid: status === "running" || status === "paused" ? (state.Pid || undefined) : undefined,
    startedAt: parseTime(state.StartedAt),
    exit: status === "exited" && finishedAt !== undefined ? { code: state.ExitCode ?? 0, at: finishedAt } : undefined,
    restarts: doc.RestartCount ?? 0,
    health: health === "starting" || health === "healthy" || health === "unhealthy" ? health : undefined,
    labels: doc.Config?.Labels ?? {}
  }
}

/** Splits "2026-01-01T00:00:00.123456789Z text" into a log line. */
export const timestamped = (stream: "stdout" | "stderr", line: string): PlatformAdapter.LogLine => {
  const space = line.indexOf(" ")
  const at = space > 0 ? parseTime(line.slice(0, space)) : undefined
  return at === undefined ? { at: 0, stream, text: line } : { at, stream, text: line.slice(space + 1) }
}

/** The last `count` lines of two streams, in time order. */
export const mergeLines = (
  lines: ReadonlyArray<PlatformAdapter.LogLine>,
  count: number
): ReadonlyArray<PlatformAdapter.LogLine> =>
  lines.map((line, i) => [line, i] as const).sort((a, b) => a[0].at - b[0].at || a[1] - b[1]).map(([line]) => line)
    .slice(-count)

/**
 * Follows a container's logs across its runs, in the background of the
 * scope: `once` follows one run and ends with it; then, if the container
 * still runs (the follow broke off), again after `poll`, else at its next
 * start in `starts`.
 */
export const followAcrossRuns = (options: {
  readonly name: string
  readonly once: Effect.Effect<void>
  readonly inspect: Effect.Effect<Inspection | undefined, unknown>
  readonly starts: Queue.Dequeue<Lifecycle>
  readonly poll: Duration.DurationInput
}): Effect.Effect<void, never, Scope.Scope> => {
  const nextStart: Effect.Effect<void> = Effect.flatMap(
    options.starts.take,
    (event) => (event._tag === "Started" && event.name === options.name ? Effect.void : nextStart)
  )
  return Effect.asVoid(Effect.forkScoped(Effect.forever(Effect.zipRight(
    options.once,
    Effect.flatMap(options.inspect.pipe(Effect.orElseSucceed(() => undefined)), (found) =>
      found?.status === "running" ? Effect.sleep(options.poll) : nextStart)
  ))))
}
