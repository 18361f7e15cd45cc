/**
 * Seeded chaos: latency, crashes, errors and slow shutdowns drawn from a PRNG
 * seeded by the test, so a failing run replays exactly. Used by the test
 * platform for simulated daemons, and by {@link wrap} for a real daemon
 * definition run in the harness.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type { Daemon } from "@duende/core"
import { HealthStatus } from "@duende/core"

/**
 * How much chaos, and the seed that makes it repeatable.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly seed: number
  /** Extra time to ready, drawn uniformly from [0, max] ms. */
  readonly startLatencyMaxMs?: number
  /** Crashes per hour of running, on average (exponential inter-crash times). */
  readonly crashesPerHour?: number
  /** Probability that a health check fails. */
  readonly healthErrorRate?: number
  /** Probability that a shutdown is slow, and how slow: up to this many ms. */
  readonly slowShutdownRate?: number
  readonly slowShutdownMaxMs?: number
}

/**
 * A deterministic source of chaos decisions for one seed.
 *
 * @since 0.1.0
 */
export interface Source {
  /** Extra start latency in ms. */
  readonly startLatencyMs: Effect.Effect<number>
  /** ms until the next crash, or undefined for none. */
  readonly nextCrashMs: Effect.Effect<number | undefined>
  readonly healthFails: Effect.Effect<boolean>
  /** Extra shutdown time in ms (0 for a normal shutdown). */
  readonly extraShutdownMs: Effect.Effect<number>
}

/**
 * A chaos source for the options: every decision comes from one PRNG seeded
 * with `seed`.
 *
 * @example
 * ```ts
 * import { Chaos } from "@duende/testing"
 * import { Effect } from "effect"
 *
 * const source = Chaos.source({ seed: 42, crashesPerHour: 6 })
 * const firstCrash = Effect.runSync(source.nextCrashMs)
 * ```
 *
 * @since 0.1.0
 */
export const source = (options: Options): Source => {
  const random = Random.make(options.seed)
  const uniform = random.next
  return {
    startLatencyMs: Effect.map(uniform, (u) => Math.round(u * (options.startLatencyMaxMs ?? 0))),
    nextCrashMs: Effect.map(uniform, (u) => {
      const rate = options.crashesPerHour ?? 0
      return rate <= 0 ? undefined : Math.max(1, Math.round((-Math.log(1 - u) / rate) * 3_600_000))
    }),
    healthFails: Effect.map(uniform, (u) => u < (options.healthErrorRate ?? 0)),
    extraShutdownMs: Effect.zipWith(uniform, uniform, (a, b) =>
      a < (options.slowShutdownRate ?? 0) ? Math.round(b * (options.slowShutdownMaxMs ?? 0)) : 0)
  }
}

/**
 * A daemon definition with chaos woven into its hooks: init is delayed, run
 * fails at random times, health checks fail at random, shutdown is slowed.
 * With the same seed (and the test clock) every run is the same.
 *
 * @example
 * ```ts
 * import { Daemon } from "@duende/core"
 * import { Chaos } from "@duende/testing"
 * import { Effect } from "effect"
 *
 * const flaky = Chaos.wrap(Daemon.make({ name: "api", run: () => Effect.never }), {
 *   seed: 7,
 *   crashesPerHour: 30,
 *   healthErrorRate: 0.1
 * })
 * ```
 *
 * @since 0.1.0
 */
export const wrap = <E, R>(daemon: Daemon.Daemon<E, R>, options: Options): Daemon.Daemon<E | ChaosCrash, R> => {
  const chaos = source(options)
  const hooks = daemon.hooks
  return {
    _tag: "Daemon",
    name: daemon.name,
    hooks: {
      ...hooks,
      init: (ctx) =>
        Effect.zipRight(
          Effect.flatMap(chaos.startLatencyMs, (ms) => Effect.sleep(Duration.millis(ms))),
          hooks.init ? hooks.init(ctx) : Effect.void
        ),
      run: (ctx) =>
        Effect.flatMap(chaos.nextCrashMs, (crashMs) =>
          crashMs === undefined
            ? hooks.run(ctx)
            : Effect.raceFirst(
              hooks.run(ctx),
              Effect.zipRight(
                Effect.sleep(Duration.millis(crashMs)),
                Effect.fail(new ChaosCrash({ afterMs: crashMs }))
              )
            )),
      shutdown: (ctx) =>
        Effect.zipRight(
          Effect.flatMap(chaos.extraShutdownMs, (ms) => Effect.sleep(Duration.millis(ms))),
          hooks.shutdown ? hooks.shutdown(ctx) : Effect.void
        ),
      ...(hooks.health
        ? {
          health: (ctx: Parameters<NonNullable<typeof hooks.health>>[0]) =>
            Effect.flatMap(chaos.healthFails, (fails) =>
              fails ? Effect.succeed(HealthStatus.unhealthy("chaos: health check failed")) : hooks.health!(ctx))
        }
        : {})
    }
  }
}

/**
 * The failure chaos injects into a daemon's run.
 *
 * @since 0.1.0
 */
export class ChaosCrash extends Data.TaggedError("ChaosCrash")<{ readonly afterMs: number }> {
  override get message(): string {
    return `chaos: crashed after ${this.afterMs}ms`
  }
}
