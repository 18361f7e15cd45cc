/**
 * The logic of `duende health`, the command to use as a container's
 * `HEALTHCHECK`: it reads the daemon's state file and exits 0 when the daemon
 * is ready, its heartbeat is fresh and its own health loop does not say
 * otherwise, 1 in every other case, with a one-line reason. The daemon's
 * health loop already counts consecutive failures (`health.retries`), so the
 * engine's healthcheck is rendered with one retry.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as StateFile from "./StateFile.js"

/**
 * The answer of a health check: the exit code for the engine and why.
 *
 * @since 0.1.0
 */
export interface HealthVerdict {
  readonly exitCode: 0 | 1
  readonly reason: string
  /** The state directory the answer comes from, if a state file was found. */
  readonly directory: string | undefined
}

/**
 * How many heartbeat intervals may pass before the daemon counts as hung.
 *
 * @since 0.1.0
 */
export const staleAfterBeats = 3

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`

/**
 * Judges a state at time `now` (epoch ms).
 *
 * @example
 * ```ts
 * import { Healthcheck } from "@duende/platform-container"
 *
 * const now = Date.now()
 * Healthcheck.judge({
 *   v: 1, pid: 1, startedAt: now, phase: "ready", readyCount: 1, reloadCount: 0,
 *   status: "serving", health: undefined, heartbeatAt: now, heartbeatMs: 5000
 * }, now) // { exitCode: 0, reason: "ready (serving)" }
 * ```
 *
 * @since 0.1.0
 */
export const judge = (state: StateFile.State, now: number): Omit<HealthVerdict, "directory"> => {
  const status = state.status !== undefined && state.status !== "" ? ` (${state.status})` : ""
  const age = now - state.heartbeatAt
  if (state.phase === "stopping" || state.phase === "stopped") {
    return { exitCode: 1, reason: `${state.phase}${status}` }
  }
  if (age > staleAfterBeats * state.heartbeatMs + 1000) {
    return {
      exitCode: 1,
      reason: `no heartbeat from pid ${state.pid} for ${seconds(age)}: its event loop is blocked or it is gone`
    }
  }
  if (state.phase === "starting") return { exitCode: 1, reason: `starting${status}` }
  const health = state.health
  if (health === undefined) return { exitCode: 0, reason: `${state.phase}${status}` }
  switch (health.state) {
    case "healthy":
      return { exitCode: 0, reason: `healthy${status}` }
    case "starting":
      return { exitCode: 1, reason: `not healthy yet: ${health.summary}` }
    case "unhealthy":
      return {
        exitCode: 1,
        reason: `unhealthy after ${health.consecutiveFailures} consecutive failures: ${health.summary}`
      }
  }
}

/**
 * Options of {@link checkHealth}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The state directory; default: `$DUENDE_STATE_DIR`, `/run/duende`, `<tmpdir>/duende`, first with a state file. */
  readonly directory?: string
  readonly env?: Readonly<Record<string, string | undefined>>
}

/**
 * Checks the health of the daemon of this container. Never fails: every
 * problem (no state file, an unreadable one, a stale heartbeat) is an exit
 * code of 1 with its reason. Time comes from Effect's Clock.
 *
 * @example
 * ```ts
 * import { checkHealth } from "@duende/platform-container"
 * import { Effect } from "effect"
 *
 * // What `duende health` does:
 * const main = Effect.flatMap(checkHealth(), ({ exitCode, reason }) =>
 *   Effect.sync(() => {
 *     process.stdout.write(`${reason}\n`)
 *     process.exitCode = exitCode
 *   }))
 * Effect.runPromise(main)
 * ```
 *
 * @since 0.1.0
 */
export const checkHealth = (options: Options = {}): Effect.Effect<HealthVerdict> =>
  Effect.gen(function*() {
    const directories = StateFile.candidates(options.env ?? process.env, options.directory)
    const invalid: Array<string> = []
    for (const directory of options.directory !== undefined ? [options.directory] : directories) {
      const result = StateFile.read(directory)
      if (result === "missing") continue
      if (result === "invalid") {
        invalid.push(directory)
        continue
      }
      const now = yield* Clock.currentTimeMillis
      return { ...judge(result.state, now), directory }
    }
    return {
      exitCode: 1 as const,
      directory: undefined,
      reason: invalid.length > 0
        ? `the state file in ${invalid.join(", ")} cannot be read`
        : `no daemon state in ${
          (options.directory !== undefined ? [options.directory] : directories).join(", ")
        }: the daemon has not started, or it does not use @duende/platform-container`
    }
  })
