/**
 * A small load tester: `concurrency` workers call a handler until a number of
 * requests or a duration is reached, and the report gives throughput and
 * latency percentiles. The benchmarks use it against real daemons.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * What to run.
 *
 * @since 0.1.0
 */
export interface Options<E> {
  readonly concurrency: number
  /** Stop after this many calls in all… */
  readonly requests?: number
  /** …or after this long (one of the two is required). */
  readonly duration?: Duration.DurationInput
  /** One call. A failure counts as an error; its latency is still measured. */
  readonly call: Effect.Effect<unknown, E> | (() => Promise<unknown>)
}

/**
 * The result of a load test. Latencies in milliseconds.
 *
 * @since 0.1.0
 */
export interface Report {
  readonly requests: number
  readonly errors: number
  readonly durationMs: number
  readonly throughputPerSecond: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
  readonly maxMs: number
}

/**
 * The latency below which `p` percent of the sorted samples fall (nearest rank).
 *
 * @example
 * ```ts
 * import { LoadTest } from "@duende/testing"
 *
 * LoadTest.percentile([1, 2, 3, 4], 50) // 2
 * ```
 *
 * @since 0.1.0
 */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

/**
 * Runs a load test (on the live clock).
 *
 * @example
 * ```ts
 * import { LoadTest } from "@duende/testing"
 * import { Effect } from "effect"
 *
 * const report = Effect.runPromise(LoadTest.run({
 *   concurrency: 16,
 *   requests: 10_000,
 *   call: () => fetch("http://127.0.0.1:8080/").then((r) => r.text())
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const run = <E>(options: Options<E>): Effect.Effect<Report> =>
  Effect.gen(function*() {
    if (options.requests === undefined && options.duration === undefined) {
      return yield* Effect.dieMessage("LoadTest.run needs `requests` or `duration`")
    }
    const call: Effect.Effect<unknown, unknown> = typeof options.call === "function"
      ? Effect.tryPromise(options.call as () => Promise<unknown>)
      : options.call
    const latencies: Array<number> = []
    let errors = 0
    let issued = 0
    const start = yield* Clock.currentTimeNanos
    const end = options.duration === undefined
      ? undefined
      : start + BigInt(Duration.toMillis(Duration.decode(options.duration))) * 1_000_000n
    const worker = Effect.gen(function*() {
      while (true) {
        if (options.requests !== undefined && issued >= options.requests) return
        const before = yield* Clock.currentTimeNanos
        if (end !== undefined && before >= end) return
        issued++
        const result = yield* Effect.either(call)
        const after = yield* Clock.currentTimeNanos
        latencies.push(Number(after - before) / 1e6)
        if (result._tag === "Left") errors++
      }
    })
    yield* Effect.all(Array.from({ length: Math.max(1, options.concurrency) }, () => worker), {
      concurrency: "unbounded",
      discard: true
    })
    const durationMs = Number((yield* Clock.currentTimeNanos) - start) / 1e6
    const sorted = latencies.sort((a, b) => a - b)
    return {
      requests: sorted.length,
      errors,
      durationMs,
      throughputPerSecond: durationMs > 0 ? (sorted.length / durationMs) * 1000 : 0,
      p50Ms: percentile(sorted, 50),
      p95Ms: percentile(sorted, 95),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted[sorted.length - 1] ?? 0
    }
  })
