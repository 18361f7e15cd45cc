/**
 * The daemon side of containers: core's `PlatformRuntime` written to the
 * state file (see {@link StateFile}). Readiness, reloads, stopping, the status
 * text and every health report the daemon's health loop makes go there at
 * once, and a heartbeat refreshes it every few seconds, so `duende health`
 * (the container's `HEALTHCHECK`) answers from the daemon's real health and
 * notices a hung event loop, and Duende's container adapter sees READY
 * through the bind-mounted directory. At start it checks PID 1 and warns
 * when the daemon is PID 1 with nothing to reap orphaned processes.
 *
 * A notification never fails the daemon: a state directory that cannot be
 * written is reported once and the daemon runs on.
 *
 * @since 0.1.0
 */
import { HealthStatus, Platform, PlatformRuntime } from "@duende/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as ContainerEnvironment from "./ContainerEnvironment.js"
import * as StateFile from "./StateFile.js"

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The state directory, and no other; default the first writable of `$DUENDE_STATE_DIR`, `/run/duende`, `<tmpdir>/duende`. */
  readonly directory?: string
  /** How often the heartbeat refreshes the state file (default 5s); `duende health` fails after 3 missed beats. */
  readonly heartbeat?: Duration.DurationInput
  /** The environment and process to look at (default this process's). */
  readonly probe?: Platform.Probe
}

/**
 * The default heartbeat interval.
 *
 * @since 0.1.0
 */
export const defaultHeartbeat: Duration.Duration = Duration.seconds(5)

/**
 * Builds the container runtime for the life of the scope: checks PID 1,
 * writes the first state ("starting"), keeps the heartbeat going, and writes
 * "stopped" when the scope closes.
 *
 * @example
 * ```ts
 * import { ContainerRuntime } from "@duende/platform-container"
 * import { PlatformRuntime } from "@duende/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const runtime = yield* ContainerRuntime.make({ directory: "/tmp/duende-state" })
 *   yield* runtime.ready
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<PlatformRuntime.PlatformRuntime, never, Scope.Scope> =>
  Effect.gen(function*() {
    const probe = options.probe ?? Platform.processProbe()
    const heartbeatMs = Math.max(1, Math.round(Duration.toMillis(Duration.decode(options.heartbeat ?? defaultHeartbeat))))
    const init = ContainerEnvironment.checkInit(probe)
    if (init.warning !== undefined) yield* Effect.logWarning(init.warning)
    else yield* Effect.logDebug(`container PID 1: ${init.command ?? "unknown"} (${init.pid1})`)

    const prepared = StateFile.prepare(
      options.directory !== undefined ? [options.directory] : StateFile.candidates(probe.env)
    )
    if ("failures" in prepared) {
      yield* Effect.logWarning(
        `no writable state directory (${prepared.failures.join("; ")}): \`duende health\` and the container adapter ` +
          `will not see this daemon's readiness or health. Set ${StateFile.directoryVariable} to a writable directory.`
      )
      return PlatformRuntime.make({ platform: "container" })
    }
    const directory = prepared.directory
    const now = yield* Clock.currentTimeMillis
    let state: StateFile.State = {
      v: 1,
      pid: probe.pid,
      startedAt: now,
      phase: "starting",
      readyCount: 0,
      reloadCount: 0,
      status: undefined,
      health: undefined,
      heartbeatAt: now,
      heartbeatMs
    }
    let failing = false
    const save = Effect.suspend(() => {
      const failure = StateFile.write(directory, state)
      if (failure === undefined) {
        failing = false
        return Effect.void
      }
      if (failing) return Effect.void
      failing = true
      return Effect.logWarning(`cannot write the state file in ${directory}: ${failure}`)
    })
    const update = (change: (current: StateFile.State, now: number) => Partial<StateFile.State>) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Effect.suspend(() => {
          state = { ...state, ...change(state, at), heartbeatAt: at }
          return save
        }))

    yield* save
    yield* Effect.logDebug(`container state file: ${directory}/${StateFile.fileName}`)
    yield* Effect.addFinalizer(() => update(() => ({ phase: "stopped" })))
    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(heartbeatMs)), update(() => ({}))))
    )

    return PlatformRuntime.make({
      platform: "container",
      ready: update((current) => ({ phase: "ready", readyCount: current.readyCount + 1 })),
      reloading: update((current) => ({ phase: "reloading", reloadCount: current.reloadCount + 1 })),
      stopping: update(() => ({ phase: "stopping" })),
      status: (text) => update(() => ({ status: text })),
      health: (report) =>
        update((_, at) => ({
          health: {
            state: report.state,
            consecutiveFailures: report.consecutiveFailures,
            summary: HealthStatus.summary(report.status),
            at
          }
        })),
      watchdogPing: update(() => ({}))
    })
  })

/**
 * The container runtime with default options, as a layer.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { ContainerRuntime } from "@duende/platform-container"
 * import { Effect } from "effect"
 *
 * Daemon.runMain(Daemon.make({ name: "api", run: () => Effect.never }), { platform: ContainerRuntime.layer })
 * ```
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<PlatformRuntime.PlatformRuntime> = Layer.scoped(PlatformRuntime.PlatformRuntime, make())

/**
 * The container runtime with options, as a layer.
 *
 * @example
 * ```ts
 * import { ContainerRuntime } from "@duende/platform-container"
 *
 * const runtime = ContainerRuntime.layerWith({ heartbeat: "2 seconds" })
 * ```
 *
 * @since 0.1.0
 */
export const layerWith = (options: Options): Layer.Layer<PlatformRuntime.PlatformRuntime> =>
  Layer.scoped(PlatformRuntime.PlatformRuntime, make(options))
