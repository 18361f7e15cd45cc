/**
 * `duende health [name]`: exit 0 when a daemon is healthy, 1 with the reason
 * when it is not. Without a name it answers for the daemon of this container
 * (its state file, see `@duende/platform-container`), which makes it the
 * container's `HEALTHCHECK CMD`; with a name, for a daemon of the native
 * supervisor.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { DaemonInfo } from "../ControlProtocol.js"

export interface Verdict {
  readonly exitCode: 0 | 1
  readonly reason: string
}

/** The daemon of this container, from the state file its runtime keeps (`--state-dir`, else the usual places). */
export const ofContainer = (directory: string | undefined): Effect.Effect<Verdict> =>
  Effect.flatMap(
    Effect.promise(() => import("@duende/platform-container")),
    ({ checkHealth }) => checkHealth(directory === undefined ? {} : { directory })
  )

/** A supervised daemon: healthy when it runs and its own health checks (if any) do not say otherwise. */
export const ofSupervised = (info: DaemonInfo): Verdict => {
  const text = info.statusText ? ` (${info.statusText})` : ""
  if (info.statusTag !== "Running") return { exitCode: 1, reason: `${info.name}: ${info.status}` }
  switch (info.health) {
    case null:
    case "healthy":
      return { exitCode: 0, reason: `${info.name}: ${info.health ?? "running"}${text}` }
    default:
      return { exitCode: 1, reason: `${info.name}: running but ${info.health}${text}` }
  }
}
