/**
 * Rate limits, per key: a **token bucket** (bursts up to `capacity`, then
 * `refill.tokens` per `refill.every`) or a **sliding window** (at most `limit`
 * in any `window`). `acquire` admits at once, or, when the key is over its
 * limit, fails with a typed {@link RateLimited} (`onLimit: "fail"`, the
 * default) or waits for its turn (`onLimit: "wait"`, bounded by `maxWait`).
 *
 * - Token bucket: the bucket refills continuously (`refill.tokens` every
 *   `refill.every`, so 10 per second is one every 100 ms), never above
 *   `capacity`. In any interval of length `d` it admits at most
 *   `capacity + rate × d` permits.
 * - Sliding window: a true sliding log (a ring buffer of the last `limit`
 *   admission times per key), not the two-bucket estimate: it never admits more
 *   than `limit` permits in any window of length `window`, wherever that window
 *   starts. A permit admitted at `t` counts until `t + window` (exclusive).
 *   Memory is O(`limit`) numbers per busy key: for big limits prefer the bucket.
 * - Waiting reserves at once: the permit is taken at decision time for the
 *   exact moment it becomes available (the bucket goes into debt, the window
 *   books a future slot) and the caller sleeps until then with `Effect.sleep`.
 *   Waiters are served in order (a later call never overtakes a waiting one on
 *   the same key), so nothing is ever admitted twice. An interrupted waiter
 *   gives its reservation back when no later call reserved after it on the
 *   key; otherwise its permits are forfeited (the limiter under-admits a
 *   little, never over-admits).
 * - Keys: each has its own state; at most `maxKeys` (default 10 000) are
 *   kept. A new key beyond that evicts the least recently used one. A key
 *   that is idle (a full bucket; nothing admitted within the last window) is
 *   forgotten without any effect; forgetting a key still limited lets it start
 *   afresh (it may then be admitted early), which is counted by
 *   `duende_policy_rate_limit_evicted_keys_total`: keep `maxKeys` above the
 *   number of keys limited at the same time. Untrusted keys (client
 *   addresses, user ids) cannot grow memory beyond `maxKeys`.
 * - Metrics (`effect/Metric`, see {@link names}): admitted and rejected
 *   acquisitions, a histogram of waits, and busy keys evicted, tagged
 *   `policy=<name>` and never by key (keys are unbounded: one series each
 *   would be unbounded too). Limiters with the same name share their series.
 * - Time is Effect's `Clock`, so everything is deterministic under
 *   `TestClock`; exact in whole milliseconds. A step back of the wall clock
 *   does not stall the limiter (its time never goes backwards).
 * - Invalid options (`capacity`, `limit`, `refill.tokens`, `maxKeys` not
 *   positive integers; `refill.every`, `window` not positive finite durations;
 *   a `maxWait` that is not a duration) throw a `RangeError` naming the field
 *   (`make` dies with it); `permits` beyond `capacity`/`limit` (it could never
 *   be granted), or not a positive integer, dies with a `RangeError` too.
 *
 * Without Effect, {@link promise} makes the same limiter on the real clock
 * (`Date.now`, `setTimeout`), with `acquire`, `tryAcquire` and `withPermit`.
 *
 * The hot path is a few comparisons on plain mutable state: no fiber, queue
 * or lock per call, and no allocation of its own for `acquire()` on the default key;
 * only a call that must wait sleeps.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricState from "effect/MetricState"
import { withoutStack } from "./internal/withoutStack.js"

/**
 * How a key is limited.
 *
 * - `TokenBucket`: up to `capacity` at once, refilled continuously at
 *   `refill.tokens` per `refill.every`.
 * - `SlidingWindow`: at most `limit` in any `window` (a sliding log).
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "@duende/policy"
 *
 * const bursty: RateLimiter.Algorithm = { _tag: "TokenBucket", capacity: 20, refill: { tokens: 10, every: "1 second" } }
 * const strict: RateLimiter.Algorithm = { _tag: "SlidingWindow", limit: 100, window: "1 minute" }
 * ```
 *
 * @since 0.1.0
 */
export type Algorithm =
  | {
    readonly _tag: "TokenBucket"
    /** The most permits available at once (the burst); a positive integer. */
    readonly capacity: number
    /** `tokens` (a positive integer) are added every `every`, continuously, up to `capacity`. */
    readonly refill: { readonly tokens: number; readonly every: Duration.DurationInput }
  }
  | {
    readonly _tag: "SlidingWindow"
    /** The most permits in any window; a positive integer. */
    readonly limit: number
    readonly window: Duration.DurationInput
  }

/**
 * Options of {@link make}.
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "@duende/policy"
 *
 * const options: RateLimiter.Options = {
 *   name: "login",
 *   algorithm: { _tag: "SlidingWindow", limit: 5, window: "1 minute" },
 *   onLimit: "wait",
 *   maxWait: "5 seconds",
 *   maxKeys: 50_000
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  /** For errors and metrics (the `policy` tag). */
  readonly name: string
  readonly algorithm: Algorithm
  /** Over the limit: fail with `RateLimited` at once (`"fail"`, the default) or wait for the permit (`"wait"`). */
  readonly onLimit?: "wait" | "fail"
  /** With `onLimit: "wait"`: a call that would wait longer than this fails at once instead (default: no bound). */
  readonly maxWait?: Duration.DurationInput
  /** The most keys whose state is kept (default 10 000); the least recently used is evicted beyond it. */
  readonly maxKeys?: number
}

/**
 * An acquisition refused: the key is over its limit (with `onLimit: "fail"`,
 * or a wait longer than `maxWait`). `retryAfter` is in milliseconds: the same
 * call would be admitted that much later if nothing else took the permits
 * first.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@duende/policy"
 *
 * new RateLimiter.RateLimited({ name: "api", key: "10.0.0.7", retryAfter: 250 }).message
 * // 'rate limiter "api" refused key "10.0.0.7": over its limit, retry after 250 ms'
 * ```
 *
 * @since 0.1.0
 */
export class RateLimited extends Data.TaggedError("RateLimited")<{
  readonly name: string
  readonly key: string
  /** Milliseconds until the permits would be available. */
  readonly retryAfter: number
}> {
  override get message(): string {
    return `rate limiter "${this.name}" refused key "${this.key}": over its limit, retry after ${this.retryAfter} ms`
  }
}

// A refusal is a new RateLimited each time, made without a stack trace (its fields say it all).
const refusal = (name: string, key: string, retryAfter: number): RateLimited =>
  withoutStack(() => new RateLimited({ name, key, retryAfter }))

/**
 * A rate limiter. Every method takes a key (default `"default"`) and a number
 * of permits (default 1, at most the capacity or limit).
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "@duende/policy"
 * import { Effect } from "effect"
 *
 * const upload = (limiter: RateLimiter.RateLimiter, user: string, megabytes: number) =>
 *   Effect.log(`storing ${megabytes} MB`).pipe(limiter.withPermit(user, megabytes))
 * ```
 *
 * @since 0.1.0
 */
export interface RateLimiter {
  readonly name: string
  /** Admits the permits: at once, after a wait (`onLimit: "wait"`), or fails with `RateLimited`. */
  readonly acquire: (key?: string, permits?: number) => Effect.Effect<void, RateLimited>
  /** Admits the permits if they are available now (`true`); never waits (`false` otherwise). */
  readonly tryAcquire: (key?: string, permits?: number) => Effect.Effect<boolean>
  /** Runs the effect once `acquire` admits it: `effect.pipe(limiter.withPermit(userId))`. */
  readonly withPermit: (
    key?: string,
    permits?: number
  ) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RateLimited, R>
}

/**
 * The service of one rate limiter. For several limiters in one program, give
 * each its own tag:
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@duende/policy"
 * import { Context, Effect, Layer } from "effect"
 *
 * // One limiter, the default tag:
 * const ApiLimit = RateLimiter.layer({ name: "api", algorithm: { _tag: "SlidingWindow", limit: 100, window: "1 minute" } })
 * const handle = (client: string) => Effect.flatMap(RateLimiter.RateLimiter, (limiter) => limiter.acquire(client))
 *
 * // Several limiters, a tag each:
 * class LoginLimiter extends Context.Tag("LoginLimiter")<LoginLimiter, RateLimiter.RateLimiter>() {}
 * const LoginLimit = Layer.effect(
 *   LoginLimiter,
 *   RateLimiter.make({ name: "login", algorithm: { _tag: "TokenBucket", capacity: 5, refill: { tokens: 1, every: "10 seconds" } } })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const RateLimiter: Context.Tag<RateLimiter, RateLimiter> = Context.GenericTag<RateLimiter>(
  "@duende/policy/RateLimiter"
)

/**
 * The metric names. All are tagged `policy=<name>`, never by key.
 *
 * - `admitted`: acquisitions admitted (at once or after a wait), a counter.
 * - `rejected`: acquisitions refused (`RateLimited`, or `tryAcquire` answering `false`), a counter.
 * - `waitSeconds`: how long the acquisitions that had to wait waited, a histogram.
 * - `evictedKeys`: keys forgotten while still limited, to stay within `maxKeys`, a counter.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@duende/policy"
 *
 * RateLimiter.names.admitted // "duende_policy_rate_limit_admitted_total"
 * ```
 *
 * @since 0.1.0
 */
export const names = {
  admitted: "duende_policy_rate_limit_admitted_total",
  rejected: "duende_policy_rate_limit_rejected_total",
  waitSeconds: "duende_policy_rate_limit_wait_seconds",
  evictedKeys: "duende_policy_rate_limit_evicted_keys_total"
} as const

/**
 * Histogram buckets of `waitSeconds`, 1 ms to 1 minute.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@duende/policy"
 *
 * RateLimiter.waitBuckets.at(-1) // 60
 * ```
 *
 * @since 0.1.0
 */
export const waitBuckets: ReadonlyArray<number> = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

// One instance: Effect compares histogram boundaries by reference, so boundaries made twice
// would be two different series of the same name and tags.
const waitBoundaries = MetricBoundaries.fromIterable(waitBuckets)

/**
 * The metrics of the limiters named `name` (see {@link metrics}).
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@duende/policy"
 * import { Metric } from "effect"
 *
 * const { waitSeconds }: RateLimiter.Metrics = RateLimiter.metrics("api")
 * const waits = Metric.value(waitSeconds) // Effect of the histogram's state
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  readonly admitted: Metric.Metric.Counter<number>
  readonly rejected: Metric.Metric.Counter<number>
  readonly waitSeconds: Metric.Metric<MetricKeyType.MetricKeyType.Histogram, number, MetricState.MetricState.Histogram>
  readonly evictedKeys: Metric.Metric.Counter<number>
}

/**
 * The metrics of the limiters named `name`, tagged `policy=<name>` (to read
 * them, or to chart them under the same keys).
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@duende/policy"
 * import { Effect, Metric } from "effect"
 *
 * const refused = Effect.map(Metric.value(RateLimiter.metrics("api").rejected), (state) => state.count)
 * ```
 *
 * @since 0.1.0
 */
export const metrics = (name: string): Metrics => ({
  admitted: Metric.fromMetricKey(MetricKey.tagged(
    MetricKey.counter(names.admitted, { description: "Acquisitions a rate limiter admitted.", incremental: true }),
    "policy",
    name
  )),
  rejected: Metric.fromMetricKey(MetricKey.tagged(
    MetricKey.counter(names.rejected, { description: "Acquisitions a rate limiter refused.", incremental: true }),
    "policy",
    name
  )),
  waitSeconds: Metric.fromMetricKey(MetricKey.tagged(
    MetricKey.histogram(
      names.waitSeconds,
      waitBoundaries,
      "How long acquisitions waited for a rate limiter's permit, in seconds."
    ),
    "policy",
    name
  )),
  evictedKeys: Metric.fromMetricKey(MetricKey.tagged(
    MetricKey.counter(names.evictedKeys, {
      description: "Keys a rate limiter forgot while still limited, to stay within maxKeys.",
      incremental: true
    }),
    "policy",
    name
  ))
})

// ---------------------------------------------------------------------------------------------
// The engine: plain mutable state, shared by the Effect and the Promise faces.

/** One algorithm over one key's state `S`. */
interface Kind<S> {
  /** The most permits one acquisition may take. */
  readonly max: number
  readonly field: string
  readonly fresh: (now: number) => S
  /** Whether the state is the same as a fresh one (forgetting it changes nothing). */
  readonly idle: (state: S, now: number) => boolean
  /**
   * Reserves `permits` on `state` for the earliest moment they are available (in
   * order after earlier reservations) and returns the wait (0: now), unless it is
   * longer than `maxWait`: then it reserves nothing and returns minus the wait.
   * A reservation with a wait leaves its undo in `undo`.
   */
  readonly take: (state: S, now: number, permits: number, maxWait: number) => number
  undo: () => void
}

const noUndo = () => {}

/** The longest a JS timer can wait; Effect's timers never fire beyond it, Node's fire at once. */
const maxTimer = 2 ** 31 - 1

const sleep = (ms: number): Effect.Effect<void> =>
  ms <= maxTimer ? Effect.sleep(Duration.millis(ms)) : Effect.zipRight(Effect.sleep(Duration.millis(maxTimer)), sleep(ms - maxTimer))

const setTimer = (ms: number, then: () => void): void => {
  if (ms <= maxTimer) setTimeout(then, ms)
  else setTimeout(() => setTimer(ms - maxTimer, then), maxTimer)
}

class Bucket {
  constructor(
    /** Tokens × `everyMs` (so integer arithmetic stays exact), at `at`, after every reservation. */
    public level: number,
    /** The time of the latest reservation (in the future while someone waits), or of the latest refill. */
    public at: number,
    public seq: number
  ) {}
}

const tokenBucket = (capacity: number, tokens: number, everyMs: number): Kind<Bucket> => {
  const full = capacity * everyMs
  const kind: Kind<Bucket> = {
    max: capacity,
    field: "the capacity",
    fresh: (now) => new Bucket(full, now, 0),
    idle: (bucket, now) => bucket.at <= now && bucket.level + (now - bucket.at) * tokens >= full,
    take: (bucket, now, permits, maxWait) => {
      let level = bucket.level
      let at = bucket.at
      if (now > at) {
        level = Math.min(full, level + (now - at) * tokens)
        at = now
      }
      const need = permits * everyMs
      if (level < need) {
        // The first whole millisecond at which the bucket holds enough (it cannot pass `full` before).
        const ms = Math.ceil((need - level) / tokens)
        level = Math.min(full, level + ms * tokens)
        at += ms
      }
      const wait = at - now
      if (wait > maxWait) return -wait
      if (wait > 0) {
        const level0 = bucket.level
        const at0 = bucket.at
        const seq0 = bucket.seq
        kind.undo = () => {
          if (bucket.seq !== seq0 + 1) return // someone reserved after: forfeit, never over-admit
          bucket.level = level0
          bucket.at = at0
          bucket.seq = seq0
        }
      }
      bucket.level = level - need
      bucket.at = at
      bucket.seq++
      return wait
    },
    undo: noUndo
  }
  return kind
}

class Log {
  /** The latest admission times, oldest first from `head` once `limit` long (a ring), in order. */
  readonly times: Array<number> = []
  head = 0
  seq = 0
}

const slidingWindow = (limit: number, windowMs: number): Kind<Log> => {
  const newest = (log: Log) => log.times[log.times.length < limit ? log.times.length - 1 : (log.head + limit - 1) % limit]!
  const kind: Kind<Log> = {
    max: limit,
    field: "the limit",
    fresh: () => new Log(),
    idle: (log, now) => log.times.length === 0 || newest(log) + windowMs <= now,
    take: (log, now, permits, maxWait) => {
      const times = log.times
      const size = times.length
      let at = now
      if (size > 0) {
        const last = newest(log) // in order after any booked slot (implied by the next bound; kept as a guard)
        if (last > at) at = last
        // After these permits, the `limit` latest admissions must span at least `window`: the
        // permits push out the `permits` oldest of the last `limit` slots (empty slots first).
        const k = permits - 1 - (limit - size)
        if (k >= 0) {
          const free = times[(log.head + k) % size]! + windowMs
          if (free > at) at = free
        }
      }
      const wait = at - now
      if (wait > maxWait) return -wait
      let i = 0
      for (; i < permits && times.length < limit; i++) times.push(at)
      const pushed = i
      const overwritten: Array<number> | undefined = wait > 0 && i < permits ? [] : undefined
      for (; i < permits; i++) {
        overwritten?.push(times[log.head]!)
        times[log.head] = at
        log.head = log.head + 1 === limit ? 0 : log.head + 1
      }
      if (wait > 0) {
        const seq0 = log.seq
        kind.undo = () => {
          if (log.seq !== seq0 + 1) return // someone reserved after: forfeit, never over-admit
          if (overwritten !== undefined) {
            for (let j = overwritten.length - 1; j >= 0; j--) {
              log.head = (log.head === 0 ? limit : log.head) - 1
              log.times[log.head] = overwritten[j]!
            }
          }
          log.times.length -= pushed
          log.seq = seq0
        }
      }
      log.seq++
      return wait
    },
    undo: noUndo
  }
  return kind
}

interface Engine {
  readonly name: string
  readonly max: number
  readonly field: string
  /** The `maxWait` of `acquire`: 0 with `onLimit: "fail"`. */
  readonly maxWait: number
  readonly metrics: Metrics
  /** See `Kind.take`; `now` is the clock's, in milliseconds. */
  readonly take: (now: number, key: string, permits: number, maxWait: number) => number
  /** The undo of the latest `take` that returned a wait. */
  readonly undo: () => () => void
}

const badOption = (name: string, field: string, value: unknown, must: string): never => {
  throw new RangeError(`rate limiter "${name}": ${field} must be ${must}, got ${String(value)}`)
}

const positiveInteger = (name: string, field: string, value: number) => {
  if (!Number.isSafeInteger(value) || value < 1) badOption(name, field, value, "a positive integer")
  return value
}

const millis = (name: string, field: string, input: Duration.DurationInput, zeroAndInfinity: boolean) => {
  let ms: number
  try {
    ms = Duration.toMillis(Duration.decode(input))
  } catch {
    return badOption(name, field, input, "a duration")
  }
  if (Number.isNaN(ms) || ms < 0 || (!zeroAndInfinity && (ms === 0 || !Number.isFinite(ms)))) {
    badOption(name, field, input, zeroAndInfinity ? "a duration of 0 or more" : "a positive, finite duration")
  }
  return ms
}

/** A key's state, and its neighbours in use order. */
interface Entry<S> {
  readonly key: string
  readonly state: S
  older: Entry<S> | undefined
  newer: Entry<S> | undefined
}

const makeEngine = <S>(name: string, kind: Kind<S>, maxKeys: number, maxWait: number): Engine => {
  const metrics_ = metrics(name)
  // Registered now, at zero: a series that appears only with the first refusal breaks rate() in Prometheus.
  metrics_.admitted.unsafeValue([])
  metrics_.rejected.unsafeValue([])
  metrics_.waitSeconds.unsafeValue([])
  metrics_.evictedKeys.unsafeValue([])
  // The keys in use order, a doubly linked list through their entries: `oldest` is the least
  // recently used, `newest` the last. A key used again is moved to the end by relinking two
  // entries, not by deleting it from the map and inserting it again (which cost several times
  // more, and left holes the map had to compact).
  const states = new Map<string, Entry<S>>()
  let oldest: Entry<S> | undefined
  let newest: Entry<S> | undefined
  let lastKey: string | undefined
  let lastState: S | undefined
  // The limiter's own time never goes backwards: a step back of the clock is absorbed in `offset`.
  let offset = 0
  let latest = -Infinity

  const unlink = (entry: Entry<S>) => {
    if (entry.older === undefined) oldest = entry.newer
    else entry.older.newer = entry.newer
    if (entry.newer === undefined) newest = entry.older
    else entry.newer.older = entry.older
    entry.older = entry.newer = undefined
  }
  const append = (entry: Entry<S>) => {
    entry.older = newest
    if (newest === undefined) oldest = entry
    else newest.newer = entry
    newest = entry
  }

  const stateOf = (key: string, now: number): S => {
    if (key === lastKey) return lastState!
    let entry = states.get(key)
    if (entry !== undefined) {
      if (entry !== newest) {
        unlink(entry)
        append(entry)
      }
    } else {
      if (states.size >= maxKeys && oldest !== undefined) {
        const evicted = oldest
        unlink(evicted)
        states.delete(evicted.key)
        if (!kind.idle(evicted.state, now)) metrics_.evictedKeys.unsafeUpdate(1, [])
      }
      entry = { key, state: kind.fresh(now), older: undefined, newer: undefined }
      states.set(key, entry)
      append(entry)
    }
    lastKey = key
    lastState = entry.state
    return entry.state
  }

  return {
    name,
    max: kind.max,
    field: kind.field,
    maxWait,
    metrics: metrics_,
    take: (clockNow, key, permits, maxWait) => {
      let now = clockNow + offset
      if (now < latest) {
        offset += latest - now
        now = latest
      } else latest = now
      return kind.take(stateOf(key, now), now, permits, maxWait)
    },
    undo: () => {
      const undo = kind.undo
      kind.undo = noUndo
      return undo
    }
  }
}

const makeUnsafe = (options: Options): Engine => {
  const name = options.name
  const algorithm = options.algorithm
  const maxKeys = positiveInteger(name, "maxKeys", options.maxKeys ?? 10_000)
  const onLimit = options.onLimit ?? "fail"
  if (onLimit !== "wait" && onLimit !== "fail") badOption(name, "onLimit", onLimit, `"wait" or "fail"`)
  const maxWait = onLimit === "fail"
    ? 0
    : options.maxWait === undefined
    ? Infinity
    : millis(name, "maxWait", options.maxWait, true)
  switch (algorithm?._tag) {
    case "TokenBucket":
      return makeEngine(
        name,
        tokenBucket(
          positiveInteger(name, "capacity", algorithm.capacity),
          positiveInteger(name, "refill.tokens", algorithm.refill?.tokens),
          millis(name, "refill.every", algorithm.refill?.every, false)
        ),
        maxKeys,
        maxWait
      )
    case "SlidingWindow":
      return makeEngine(
        name,
        slidingWindow(positiveInteger(name, "limit", algorithm.limit), millis(name, "window", algorithm.window, false)),
        maxKeys,
        maxWait
      )
    default:
      return badOption(name, "algorithm._tag", (algorithm as { _tag?: unknown } | undefined)?._tag, `"TokenBucket" or "SlidingWindow"`)
  }
}

/** The error for permits that could never be granted (or are not a count), else undefined. */
const invalidPermits = (engine: Engine, permits: number): RangeError | undefined =>
  Number.isSafeInteger(permits) && permits >= 1 && permits <= engine.max
    ? undefined
    : new RangeError(
      `rate limiter "${engine.name}": permits must be an integer from 1 to ${engine.max} (${engine.field}), got ${permits}`
    )

/**
 * Makes a rate limiter. Invalid options die with a `RangeError` naming the field.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@duende/policy"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({
 *     name: "api",
 *     algorithm: { _tag: "TokenBucket", capacity: 20, refill: { tokens: 10, every: "1 second" } },
 *     onLimit: "wait",
 *     maxWait: "2 seconds"
 *   })
 *   const handle = (client: string) => Effect.succeed(`hello ${client}`).pipe(limiter.withPermit(client))
 *   return yield* handle("10.0.0.7") // waits for a token, or RateLimited when that would take over 2 s
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<RateLimiter> =>
  Effect.sync(() => {
    const engine = makeUnsafe(options)
    const { admitted, rejected, waitSeconds } = engine.metrics

    const decide = (now: number, key: string, permits: number): Effect.Effect<void, RateLimited> => {
      const wait = engine.take(now, key, permits, engine.maxWait)
      if (wait === 0) {
        admitted.unsafeUpdate(1, [])
        return Effect.void
      }
      if (wait < 0) {
        rejected.unsafeUpdate(1, [])
        return Effect.fail(refusal(engine.name, key, -wait))
      }
      const undo = engine.undo()
      return Effect.zipRight(
        Effect.onInterrupt(sleep(wait), () => Effect.sync(undo)),
        Effect.sync(() => {
          admitted.unsafeUpdate(1, [])
          waitSeconds.unsafeUpdate(wait / 1000, [])
        })
      )
    }

    const acquireDefault = Effect.clockWith((clock) => decide(clock.unsafeCurrentTimeMillis(), "default", 1))
    const acquire = (key = "default", permits = 1): Effect.Effect<void, RateLimited> => {
      if (permits === 1) {
        return key === "default"
          ? acquireDefault
          : Effect.clockWith((clock) => decide(clock.unsafeCurrentTimeMillis(), key, 1))
      }
      const invalid = invalidPermits(engine, permits)
      return invalid !== undefined
        ? Effect.die(invalid)
        : Effect.clockWith((clock) => decide(clock.unsafeCurrentTimeMillis(), key, permits))
    }

    const yes = Effect.succeed(true)
    const no = Effect.succeed(false)
    const tryAcquire = (key = "default", permits = 1): Effect.Effect<boolean> => {
      const invalid = invalidPermits(engine, permits)
      if (invalid !== undefined) return Effect.die(invalid)
      return Effect.clockWith((clock) => {
        const admittedNow = engine.take(clock.unsafeCurrentTimeMillis(), key, permits, 0) === 0
        ;(admittedNow ? admitted : rejected).unsafeUpdate(1, [])
        return admittedNow ? yes : no
      })
    }

    const withPermit = (key?: string, permits?: number) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.zipRight(acquire(key, permits), effect)

    return { name: engine.name, acquire, tryAcquire, withPermit }
  })

/**
 * A layer of the default {@link RateLimiter} tag. For several limiters, use
 * your own tags: `Layer.effect(MyLimiter, RateLimiter.make(options))`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@duende/policy"
 * import { Effect } from "effect"
 *
 * const program = Effect.flatMap(RateLimiter.RateLimiter, (limiter) => limiter.acquire("user-1")).pipe(
 *   Effect.provide(RateLimiter.layer({ name: "api", algorithm: { _tag: "SlidingWindow", limit: 100, window: "1 minute" } }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<RateLimiter> => Layer.effect(RateLimiter, make(options))

/**
 * A rate limiter for code that is not written with Effect, on the real clock
 * (`Date.now`, `setTimeout`). `acquire` resolves when admitted (at once or
 * after its wait) and rejects with {@link RateLimited}; `withPermit` runs the
 * call once admitted. Invalid options throw a `RangeError`; invalid permits
 * reject with one (`tryAcquire` throws it). A waiting promise cannot be
 * cancelled: its reservation stands.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@duende/policy"
 *
 * const limiter = RateLimiter.promise({
 *   name: "github",
 *   algorithm: { _tag: "SlidingWindow", limit: 30, window: "1 minute" },
 *   onLimit: "wait"
 * })
 * const response = await limiter.withPermit(() => fetch("https://api.github.com/rate_limit"))
 * ```
 *
 * @since 0.1.0
 */
export const promise = (options: Options): {
  readonly acquire: (key?: string, permits?: number) => Promise<void>
  readonly tryAcquire: (key?: string, permits?: number) => boolean
  readonly withPermit: <A>(call: () => Promise<A>, key?: string, permits?: number) => Promise<A>
} => {
  const engine = makeUnsafe(options)
  const { admitted, rejected, waitSeconds } = engine.metrics
  const resolved = Promise.resolve()
  const acquire = (key = "default", permits = 1): Promise<void> => {
    const invalid = invalidPermits(engine, permits)
    if (invalid !== undefined) return Promise.reject(invalid)
    const wait = engine.take(Date.now(), key, permits, engine.maxWait)
    if (wait === 0) {
      admitted.unsafeUpdate(1, [])
      return resolved
    }
    if (wait < 0) {
      rejected.unsafeUpdate(1, [])
      return Promise.reject(refusal(engine.name, key, -wait))
    }
    engine.undo() // a promise cannot be interrupted: the reservation stands
    return new Promise((resolve) =>
      setTimer(wait, () => {
        admitted.unsafeUpdate(1, [])
        waitSeconds.unsafeUpdate(wait / 1000, [])
        resolve()
      })
    )
  }
  return {
    acquire,
    tryAcquire: (key = "default", permits = 1) => {
      const invalid = invalidPermits(engine, permits)
      if (invalid !== undefined) throw invalid
      const admittedNow = engine.take(Date.now(), key, permits, 0) === 0
      ;(admittedNow ? admitted : rejected).unsafeUpdate(1, [])
      return admittedNow
    },
    withPermit: <A>(call: () => Promise<A>, key?: string, permits?: number) => acquire(key, permits).then(call)
  }
}
