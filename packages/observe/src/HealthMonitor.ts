/**
 * Health history of many daemons: each daemon's recent health checks and
 * process samples in bounded ring buffers, its failure rate, a stream of
 * events when its health state changes, and z-score anomaly alerts on health
 * check latency and on memory.
 *
 * Fed by whoever sees the daemons: the supervisor records the health events
 * the daemons report and the process samples it takes; a daemon can record
 * its own checks.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as AnomalyDetector from "./AnomalyDetector.js"
import type { ProcessSample } from "./ProcessSampler.js"
import * as RingBuffer from "./RingBuffer.js"

/**
 * A daemon's health state, as core's health loop reports it.
 *
 * @since 0.1.0
 */
export type HealthState = "starting" | "healthy" | "unhealthy"

/**
 * One health check result. Core's `HealthReport` and the native adapter's
 * `Health` event both fit.
 *
 * @since 0.1.0
 */
export interface HealthObservation {
  readonly state: HealthState
  /** How long the check took. */
  readonly latencyMs?: number | undefined
  /** What failed, in one line. */
  readonly summary?: string | undefined
  /** When (epoch ms); default: now by Clock. */
  readonly at?: number | undefined
}

/**
 * A stored health check.
 *
 * @since 0.1.0
 */
export interface HealthRecord {
  readonly state: HealthState
  readonly latencyMs: number | undefined
  readonly summary: string | undefined
}

/**
 * What the monitor tells its subscribers.
 *
 * @since 0.1.0
 */
export type HealthEvent =
  | {
    readonly _tag: "Transition"
    readonly daemon: string
    /** Undefined for the first record of a daemon. */
    readonly from: HealthState | undefined
    readonly to: HealthState
    readonly summary: string | undefined
    readonly at: number
  }
  | {
    readonly _tag: "Anomaly"
    readonly daemon: string
    readonly metric: "latency" | "memory"
    readonly score: AnomalyDetector.Score
    readonly at: number
  }

/**
 * Counts since the daemon was first recorded (not limited by the history's capacity).
 *
 * @since 0.1.0
 */
export interface HealthStats {
  readonly state: HealthState | undefined
  /** Checks that ran to a verdict (healthy or unhealthy; "starting" is not one). */
  readonly checks: number
  readonly failures: number
}

/**
 * The monitor.
 *
 * @since 0.1.0
 */
export interface HealthMonitor {
  /** Records a health check result. */
  readonly record: (daemon: string, observation: HealthObservation) => Effect.Effect<void>
  /** Records a process sample (for history and the memory detector). */
  readonly recordProcess: (daemon: string, sample: ProcessSample) => Effect.Effect<void>
  /** Stored health checks with `from <= at <= to` (default: all stored), oldest first. */
  readonly history: (
    daemon: string,
    range?: { readonly from?: number; readonly to?: number }
  ) => Effect.Effect<ReadonlyArray<RingBuffer.Entry<HealthRecord>>>
  /** Stored process samples with `from <= at <= to`, oldest first. */
  readonly samples: (
    daemon: string,
    range?: { readonly from?: number; readonly to?: number }
  ) => Effect.Effect<ReadonlyArray<RingBuffer.Entry<ProcessSample>>>
  /**
   * Failed checks / checks, over the stored checks of the last `window`
   * (default: every stored check); 0 when there were none.
   */
  readonly failureRate: (daemon: string, window?: Duration.DurationInput) => Effect.Effect<number>
  readonly stats: (daemon: string) => Effect.Effect<HealthStats>
  /** Subscribes now, for the life of the scope, to what happens from this moment. */
  readonly events: Effect.Effect<Stream.Stream<HealthEvent>, never, Scope.Scope>
  /** Forgets a daemon (when it is removed). */
  readonly forget: (daemon: string) => Effect.Effect<void>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { HealthMonitor } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const rate = Effect.flatMap(HealthMonitor.HealthMonitor, (monitor) => monitor.failureRate("orders", "5 minutes"))
 * ```
 *
 * @since 0.1.0
 */
export const HealthMonitor: Context.Tag<HealthMonitor, HealthMonitor> = Context.GenericTag<HealthMonitor>(
  "@duende/observe/HealthMonitor"
)

/**
 * Monitor settings.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Health checks kept per daemon (default 1024). */
  readonly historySize?: number
  /** Process samples kept per daemon (default 1024). */
  readonly samplesSize?: number
  /** The anomaly detectors' window, threshold and minimum samples. */
  readonly anomaly?: AnomalyDetector.Options
  /** Events kept for a subscriber that falls behind; older ones are dropped (default 1024). */
  readonly eventBuffer?: number
}

interface DaemonHealth {
  readonly history: RingBuffer.RingBuffer<HealthRecord>
  readonly samples: RingBuffer.RingBuffer<ProcessSample>
  readonly latency: AnomalyDetector.AnomalyDetector
  readonly memory: AnomalyDetector.AnomalyDetector
  state: HealthState | undefined
  checks: number
  failures: number
}

/**
 * A monitor, open for the life of the scope.
 *
 * @example
 * ```ts
 * import { HealthMonitor } from "@duende/observe/manager"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const monitor = yield* HealthMonitor.make({ anomaly: { threshold: 3 } })
 *     const events = yield* monitor.events
 *     yield* monitor.record("orders", { state: "healthy", latencyMs: 4 })
 *     yield* monitor.record("orders", { state: "unhealthy", summary: "database: timeout" })
 *     yield* monitor.failureRate("orders") // 0.5
 *     return yield* Stream.runCollect(Stream.take(events, 2)) // two Transition events
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<HealthMonitor, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pubsub = yield* Effect.acquireRelease(PubSub.sliding<HealthEvent>(options.eventBuffer ?? 1024), PubSub.shutdown)
    const daemons = new Map<string, DaemonHealth>()
    const historySize = options.historySize ?? 1024
    const samplesSize = options.samplesSize ?? 1024

    const entry = (daemon: string): DaemonHealth => {
      let found = daemons.get(daemon)
      if (found === undefined) {
        found = {
          history: RingBuffer.make(historySize),
          samples: RingBuffer.make(samplesSize),
          latency: AnomalyDetector.make(options.anomaly),
          memory: AnomalyDetector.make(options.anomaly),
          state: undefined,
          checks: 0,
          failures: 0
        }
        daemons.set(daemon, found)
      }
      return found
    }

    const publish = (events: ReadonlyArray<HealthEvent>) =>
      events.length === 0 ? Effect.void : PubSub.publishAll(pubsub, events)

    const inRange = <A>(buffer: RingBuffer.RingBuffer<A> | undefined, range?: { from?: number; to?: number }) =>
      buffer === undefined ? [] : buffer.range(range?.from ?? -Infinity, range?.to ?? Infinity)

    return {
      record: (daemon, observation) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const at = observation.at ?? now
          const health = entry(daemon)
          const events: Array<HealthEvent> = []
          health.history.push(at, {
            state: observation.state,
            latencyMs: observation.latencyMs,
            summary: observation.summary
          })
          if (observation.state !== "starting") health.checks++
          if (observation.state === "unhealthy") health.failures++
          if (observation.state !== health.state) {
            events.push({
              _tag: "Transition",
              daemon,
              from: health.state,
              to: observation.state,
              summary: observation.summary,
              at
            })
            health.state = observation.state
          }
          if (observation.latencyMs !== undefined) {
            const score = health.latency.observe(observation.latencyMs)
            if (score?.anomalous) events.push({ _tag: "Anomaly", daemon, metric: "latency", score, at })
          }
          return publish(events)
        }),
      recordProcess: (daemon, sample) =>
        Effect.suspend(() => {
          const health = entry(daemon)
          health.samples.push(sample.sampledAt, sample)
          const score = health.memory.observe(sample.residentBytes)
          return score?.anomalous
            ? publish([{ _tag: "Anomaly", daemon, metric: "memory", score, at: sample.sampledAt }])
            : Effect.void
        }),
      history: (daemon, range) => Effect.sync(() => inRange(daemons.get(daemon)?.history, range)),
      samples: (daemon, range) => Effect.sync(() => inRange(daemons.get(daemon)?.samples, range)),
      failureRate: (daemon, window) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const from = window === undefined ? -Infinity : now - Duration.toMillis(Duration.decode(window))
          let checks = 0
          let failures = 0
          for (const { value } of inRange(daemons.get(daemon)?.history, { from })) {
            if (value.state === "starting") continue
            checks++
            if (value.state === "unhealthy") failures++
          }
          return checks === 0 ? 0 : failures / checks
        }),
      stats: (daemon) =>
        Effect.sync(() => {
          const health = daemons.get(daemon)
          return { state: health?.state, checks: health?.checks ?? 0, failures: health?.failures ?? 0 }
        }),
      events: Effect.map(PubSub.subscribe(pubsub), Stream.fromQueue),
      forget: (daemon) => Effect.sync(() => void daemons.delete(daemon))
    }
  })

/**
 * A monitor as a layer.
 *
 * @example
 * ```ts
 * import { HealthMonitor } from "@duende/observe/manager"
 *
 * const monitor = HealthMonitor.layer({ historySize: 256, anomaly: { window: 30, threshold: 3.5 } })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<HealthMonitor> => Layer.scoped(HealthMonitor, make(options))
