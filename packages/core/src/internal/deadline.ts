/**
 * A deadline that can be pushed back, measured on Effect's Clock (so TestClock
 * drives it in tests).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"

export interface Deadline {
  /** The full length given at creation (for messages). */
  readonly length: Duration.Duration
  /** Time left (zero once passed). */
  readonly remaining: Effect.Effect<Duration.Duration>
  /** Moves the deadline to at least now + duration. */
  readonly extend: (duration: Duration.Duration) => Effect.Effect<void>
  /** Completes when the deadline has passed. */
  readonly expired: Effect.Effect<void>
}

export const make = (length: Duration.Duration): Effect.Effect<Deadline> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const end = yield* Ref.make(start + Duration.toMillis(length))
    const remainingMillis = Effect.zipWith(Ref.get(end), Clock.currentTimeMillis, (e, now) => Math.max(0, e - now))
    const expired: Effect.Effect<void> = Effect.flatMap(remainingMillis, (left) =>
      left <= 0 ? Effect.void : Effect.zipRight(Effect.sleep(Duration.millis(left)), expired))
    return {
      length,
      remaining: Effect.map(remainingMillis, Duration.millis),
      extend: (duration) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.update(end, (e) => Math.max(e, now + Duration.toMillis(duration)))),
      expired
    }
  })
