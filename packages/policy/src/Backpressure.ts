/**
 * A bulkhead: at most `maxConcurrent` calls run at once, at most `maxQueued`
 * more wait for a slot (first come, first served), and any call beyond that
 * is **shed** at once with a typed {@link BulkheadFull} instead of piling up
 * on a dependency that is already saturated.
 *
 * - Admitted: fewer than `maxConcurrent` calls are running, so the call runs
 *   at once (a counter, no fiber, no queue).
 * - Queued: all the slots are taken but the queue has room; the call waits.
 *   A slot freed by a call that ends is handed **directly** to the oldest
 *   waiter, so a newcomer never jumps the queue. With a `queueTimeout`, a call
 *   that waited that long is shed (`reason: "queueTimeout"`).
 * - Shed: the queue is full too; the call fails at once (`reason: "full"`).
 *
 * Interruption is safe: an interrupted waiter leaves the queue (it never
 * runs, and takes no slot), an interrupted running call frees its slot, and a
 * slot is released exactly once whatever way the call ends (success, failure,
 * defect, interruption). A shed call can be retried with `Effect.retry`.
 *
 * Time is Effect's `Clock` (the one of the fiber that made the bulkhead), so
 * queue timeouts and queue times are deterministic under `TestClock`.
 *
 * Metrics (`effect/Metric`, so `@duende/observe` exports them), all tagged
 * `policy=<name>`: the {@link names} gauges of running and queued calls, a
 * counter of shed calls (also tagged `reason`), and a histogram of the time
 * queued calls waited for their slot.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"

/**
 * A call shed by the bulkhead: `reason` is `"full"` when every slot and every
 * queue place was taken as it arrived, `"queueTimeout"` when it waited in the
 * queue for `queueTimeout` without getting a slot. `active` and `queued` are
 * the bulkhead's counts as it was shed, not counting the shed call.
 *
 * @example
 * ```ts
 * import { Backpressure } from "@duende/policy"
 *
 * new Backpressure.BulkheadFull({ name: "db", reason: "full", active: 4, queued: 10 }).message
 * // 'bulkhead "db" is full (4 running, 10 queued): call shed'
 * ```
 *
 * @since 0.1.0
 */
export class BulkheadFull extends Data.TaggedError("BulkheadFull")<{
  readonly name: string
  readonly reason: "full" | "queueTimeout"
  /** Calls running when this one was shed. */
  readonly active: number
  /** Calls waiting when this one was shed (not counting it). */
  readonly queued: number
}> {
  override get message(): string {
    return this.reason === "full"
      ? `bulkhead "${this.name}" is full (${this.active} running, ${this.queued} queued): call shed`
      : `bulkhead "${this.name}" shed a call that waited its queueTimeout for a slot (${this.active} running, ${this.queued} queued)`
  }
}

/**
 * Options of {@link make}. `make`, `layer` and `promise` throw a `RangeError`
 * naming the field when one is invalid (a programming error, not a failure of
 * the effect): `maxConcurrent` must be a positive integer, `maxQueued` a
 * non-negative integer or `Infinity`, `queueTimeout` a valid, positive duration.
 *
 * @since 0.1.0
 */
export interface Options {
  /** For errors and the `policy` tag of the metrics; one name per bulkhead. */
  readonly name: string
  /** Calls that may run at once. */
  readonly maxConcurrent: number
  /** Calls that may wait for a slot (default 0: shed as soon as every slot is taken; `Infinity`: never shed as full). */
  readonly maxQueued?: number
  /** How long a call may wait in the queue before it is shed (default: as long as it takes). `Infinity` is no timeout. */
  readonly queueTimeout?: Duration.DurationInput
}

/**
 * How many calls are running and how many are waiting.
 *
 * @since 0.1.0
 */
export interface Stats {
  readonly active: number
  readonly queued: number
}

/**
 * A bulkhead, as a service.
 *
 * @since 0.1.0
 */
export interface Backpressure {
  readonly name: string
  readonly maxConcurrent: number
  readonly maxQueued: number
  /**
   * Runs `effect` in a slot: at once if one is free, after the calls queued
   * before it if not, or fails with `BulkheadFull` (the queue is full, or it
   * waited `queueTimeout`). Each run of the returned effect is a new call, so
   * it can be retried.
   */
  readonly execute: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadFull, R>
  readonly stats: Effect.Effect<Stats>
}

/**
 * The tag of the default bulkhead. For several bulkheads in one program, give
 * each its own tag: `Layer.effect(MyTag, Backpressure.make(options))`.
 *
 * @example
 * ```ts
 * import { Backpressure } from "@duende/policy"
 * import { Context, Effect, Layer } from "effect"
 *
 * // The default tag:
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Backpressure.Backpressure
 *   return yield* bulkhead.execute(Effect.succeed("ok"))
 * }).pipe(Effect.provide(Backpressure.layer({ name: "db", maxConcurrent: 8 })))
 *
 * // A second bulkhead with a tag of its own:
 * class Payments extends Context.Tag("Payments")<Payments, Backpressure.Backpressure>() {}
 * const PaymentsLive = Layer.effect(Payments, Backpressure.make({ name: "payments", maxConcurrent: 2, maxQueued: 20 }))
 * ```
 *
 * @since 0.1.0
 */
export const Backpressure: Context.Tag<Backpressure, Backpressure> = Context.GenericTag<Backpressure>(
  "@duende/policy/Backpressure"
)

/**
 * The metric names. All are tagged `policy=<name>`; `shed` also `reason=full`
 * or `reason=queueTimeout`. `queueTime` records, in seconds, how long each
 * call that had to queue waited before it got its slot; calls admitted at once
 * are not recorded (its count is the number of calls that queued and ran),
 * nor are calls shed or interrupted while queued.
 *
 * @example
 * ```ts
 * import { Backpressure } from "@duende/policy"
 *
 * Backpressure.names.shed // "duende_policy_bulkhead_shed_total"
 * ```
 *
 * @since 0.1.0
 */
export const names = {
  active: "duende_policy_bulkhead_active",
  queued: "duende_policy_bulkhead_queued",
  shed: "duende_policy_bulkhead_shed_total",
  queueTime: "duende_policy_bulkhead_queue_seconds"
} as const

const base = {
  active: Metric.gauge(names.active, { description: "Calls running in the bulkhead." }),
  queued: Metric.gauge(names.queued, { description: "Calls waiting for a slot of the bulkhead." }),
  shed: Metric.counter(names.shed, { description: "Calls the bulkhead shed, by reason.", incremental: true }),
  queueTime: Metric.histogram(
    names.queueTime,
    MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 17 }),
    "How long calls that queued waited for a slot of the bulkhead, in seconds."
  )
}

/**
 * The metrics of the bulkheads named `name` (see {@link metrics}).
 *
 * @since 0.1.0
 */
export interface Metrics {
  readonly active: Metric.Metric.Gauge<number>
  readonly queued: Metric.Metric.Gauge<number>
  /** The calls shed for one reason. */
  readonly shed: (reason: BulkheadFull["reason"]) => Metric.Metric.Counter<number>
  readonly queueTime: typeof base.queueTime
}

/**
 * The metrics of the bulkheads named `name`, tagged `policy=<name>` (and
 * `reason` for `shed`): to read them, or to chart them. Bulkheads that share
 * a name share the series, and the gauges add up. The histogram's buckets go
 * from 1 ms to about 33 s, doubling.
 *
 * @example
 * ```ts
 * import { Backpressure } from "@duende/policy"
 * import { Metric } from "effect"
 *
 * const queued = Metric.value(Backpressure.metrics("db").queued)
 * const shedFull = Metric.value(Backpressure.metrics("db").shed("full"))
 * ```
 *
 * @since 0.1.0
 */
export const metrics = (name: string): Metrics => ({
  active: Metric.tagged(base.active, "policy", name),
  queued: Metric.tagged(base.queued, "policy", name),
  shed: (reason) => base.shed.pipe(Metric.tagged("policy", name), Metric.tagged("reason", reason)),
  queueTime: Metric.tagged(base.queueTime, "policy", name)
})

// --- the core: counters and a FIFO of waiters, shared by the Effect and the Promise sides ---

const WAITING = 0
const GRANTED = 1
const TIMED_OUT = 2
const REMOVED = 3

/** A queued call: a node of the doubly linked FIFO (O(1) removal when its caller gives up). */
class Waiter {
  next: Waiter | undefined = undefined
  prev: Waiter | undefined = undefined
  state: 0 | 1 | 2 | 3 = WAITING
  /** Called once when it leaves the queue with a slot (GRANTED) or shed (TIMED_OUT); unset until its caller listens. */
  notify: ((state: typeof GRANTED | typeof TIMED_OUT) => void) | undefined = undefined
  error: BulkheadFull | undefined = undefined
  timer: Fiber.RuntimeFiber<void> | ReturnType<typeof setTimeout> | undefined = undefined
  constructor(readonly at: number) {}
}

interface Config {
  readonly name: string
  readonly maxConcurrent: number
  readonly maxQueued: number
  /** Milliseconds, or undefined for none. */
  readonly queueTimeout: number | undefined
}

/**
 * The bulkhead's state. Invariant: a waiter is queued only while every slot is
 * taken (`queued > 0` implies `active === maxConcurrent`), so `active <
 * maxConcurrent` alone admits a call; a freed slot goes to the head waiter
 * without `active` going down, which is what stops newcomers jumping the queue.
 */
class Gate {
  active = 0
  queued = 0
  head: Waiter | undefined = undefined
  tail: Waiter | undefined = undefined
  readonly tags: ReadonlyArray<MetricLabel.MetricLabel>
  readonly fullTags: ReadonlyArray<MetricLabel.MetricLabel>
  readonly timeoutTags: ReadonlyArray<MetricLabel.MetricLabel>

  constructor(readonly config: Config, readonly seconds: () => number) {
    // Constant arrays: Effect caches a metric's hook per tags array, so updates are a lookup, not a hash.
    const policy = MetricLabel.make("policy", config.name)
    this.tags = [policy]
    this.fullTags = [policy, MetricLabel.make("reason", "full")]
    this.timeoutTags = [policy, MetricLabel.make("reason", "queueTimeout")]
    // Registered now, at zero: a series that appears only with the first shed breaks rate() in Prometheus.
    base.active.unsafeValue(this.tags)
    base.queued.unsafeValue(this.tags)
    base.shed.unsafeValue(this.fullTags)
    base.shed.unsafeValue(this.timeoutTags)
    base.queueTime.unsafeValue(this.tags)
  }

  /** Takes a free slot, if there is one. */
  tryEnter(): boolean {
    if (this.active < this.config.maxConcurrent) {
      this.active++
      base.active.unsafeModify(1, this.tags)
      return true
    }
    return false
  }

  /** Sheds a call that finds the queue full (or undefined: it may queue). */
  refuse(): BulkheadFull | undefined {
    if (this.queued < this.config.maxQueued) return undefined
    base.shed.unsafeUpdate(1, this.fullTags)
    return new BulkheadFull({ name: this.config.name, reason: "full", active: this.active, queued: this.queued })
  }

  enqueue(): Waiter {
    const waiter = new Waiter(this.seconds())
    if (this.tail === undefined) this.head = waiter
    else {
      this.tail.next = waiter
      waiter.prev = this.tail
    }
    this.tail = waiter
    this.queued++
    base.queued.unsafeModify(1, this.tags)
    return waiter
  }

  private unlink(waiter: Waiter): void {
    if (waiter.prev === undefined) this.head = waiter.next
    else waiter.prev.next = waiter.next
    if (waiter.next === undefined) this.tail = waiter.prev
    else waiter.next.prev = waiter.prev
    waiter.next = waiter.prev = undefined
    this.queued--
    base.queued.unsafeModify(-1, this.tags)
  }

  /** Frees a slot: to the oldest waiter if there is one (active stays the same), else back to the pool. */
  leave(): void {
    const waiter = this.head
    if (waiter === undefined) {
      this.active--
      base.active.unsafeModify(-1, this.tags)
      return
    }
    this.unlink(waiter)
    waiter.state = GRANTED
    base.queueTime.unsafeUpdate(Math.max(0, this.seconds() - waiter.at), this.tags)
    waiter.notify?.(GRANTED)
  }

  /** A waiter whose caller gave up (interrupted) leaves the queue, if it is still in it. */
  remove(waiter: Waiter): void {
    if (waiter.state !== WAITING) return
    this.unlink(waiter)
    waiter.state = REMOVED
  }

  /** A waiter's queueTimeout has passed: shed it, if it is still queued. */
  expire(waiter: Waiter): void {
    if (waiter.state !== WAITING) return
    this.unlink(waiter)
    waiter.state = TIMED_OUT
    base.shed.unsafeUpdate(1, this.timeoutTags)
    waiter.error = new BulkheadFull({
      name: this.config.name,
      reason: "queueTimeout",
      active: this.active,
      queued: this.queued
    })
    waiter.notify?.(TIMED_OUT)
  }

  stats(): Stats {
    return { active: this.active, queued: this.queued }
  }
}

const isCount = (value: unknown, min: number): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= min

const validate = (options: Options): Config => {
  if (!isCount(options.maxConcurrent, 1)) {
    throw new RangeError(
      `Backpressure "${options.name}": maxConcurrent must be a positive integer, got ${String(options.maxConcurrent)}`
    )
  }
  const maxQueued = options.maxQueued ?? 0
  if (maxQueued !== Infinity && !isCount(maxQueued, 0)) {
    throw new RangeError(
      `Backpressure "${options.name}": maxQueued must be a non-negative integer or Infinity, got ${String(maxQueued)}`
    )
  }
  let queueTimeout: number | undefined = undefined
  if (options.queueTimeout !== undefined) {
    const decoded = Duration.decodeUnknown(options.queueTimeout)
    if (Option.isNone(decoded) || Duration.isZero(decoded.value)) {
      throw new RangeError(
        `Backpressure "${options.name}": queueTimeout must be a positive duration, got ${String(options.queueTimeout)}`
      )
    }
    if (Duration.isFinite(decoded.value)) queueTimeout = Duration.toMillis(decoded.value)
  }
  return { name: options.name, maxConcurrent: options.maxConcurrent, maxQueued, queueTimeout }
}

/**
 * Makes a bulkhead. Throws a `RangeError` at once on invalid options (see {@link Options}).
 *
 * @example
 * ```ts
 * import { Backpressure } from "@duende/policy"
 * import { Effect, Schedule } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Backpressure.make({ name: "db", maxConcurrent: 4, maxQueued: 100, queueTimeout: "2 seconds" })
 *   const query = Effect.tryPromise(() => fetch("http://127.0.0.1:9000/query"))
 *   // BulkheadFull when saturated; retried a few times, a little later each time
 *   return yield* bulkhead.execute(query).pipe(
 *     Effect.retry({
 *       schedule: Schedule.exponential("100 millis"),
 *       times: 3,
 *       while: (error) => error._tag === "BulkheadFull"
 *     })
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Backpressure> => {
  const config = validate(options)
  return Effect.map(Effect.clock, (clock) => {
    const gate = new Gate(config, () => Number(clock.unsafeCurrentTimeNanos()) / 1e9)
    const releaseSlot = Effect.sync(() => gate.leave())
    // Shared by every call: ends the call's effect, then gives its slot back (uninterruptibly, as both run in the mask).
    const release = {
      onFailure: (cause: Cause.Cause<unknown>) => Effect.zipRight(releaseSlot, Effect.failCause(cause)),
      onSuccess: (value: unknown) => Effect.as(releaseSlot, value)
    }
    const inSlot = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.matchCauseEffect(effect, release) as Effect.Effect<A, E, R>
    const timeout = config.queueTimeout
    const expireAfter = timeout === undefined ? undefined : (waiter: Waiter) =>
      Effect.interruptible(Effect.zipRight(clock.sleep(Duration.millis(timeout)), Effect.sync(() => gate.expire(waiter))))

    const stopTimer = (waiter: Waiter) => {
      if (waiter.timer !== undefined) (waiter.timer as Fiber.RuntimeFiber<void>).unsafeInterruptAsFork(FiberId.none)
    }

    const execute = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadFull, R> =>
      Effect.uninterruptibleMask((restore) => {
        // The mask's body runs when the call does, uninterruptibly: taking the slot and arranging its release are one step.
        if (gate.tryEnter()) return inSlot(restore(effect))
        const refused = gate.refuse()
        if (refused !== undefined) return Effect.fail(refused)
        const waiter = gate.enqueue()
        const wait = Effect.async<void, BulkheadFull>((resume) => {
          if (waiter.state === GRANTED) return resume(Effect.void)
          if (waiter.state === TIMED_OUT) return resume(Effect.fail(waiter.error!))
          waiter.notify = (state) => resume(state === GRANTED ? Effect.void : Effect.fail(waiter.error!))
        })
        const queued = Effect.matchCauseEffect(restore(wait), {
          onFailure: (cause) => {
            stopTimer(waiter)
            // Interrupted with the slot already handed over: pass it on. Still queued: leave the queue.
            if (waiter.state === GRANTED) gate.leave()
            else gate.remove(waiter)
            return Effect.failCause(cause)
          },
          onSuccess: () => {
            stopTimer(waiter)
            return inSlot(restore(effect))
          }
        })
        return expireAfter === undefined ? queued : Effect.flatMap(Effect.forkDaemon(expireAfter(waiter)), (timer) => {
          waiter.timer = timer
          return queued
        })
      })

    return {
      name: config.name,
      maxConcurrent: config.maxConcurrent,
      maxQueued: config.maxQueued,
      execute,
      stats: Effect.sync(() => gate.stats())
    }
  })
}

/**
 * The bulkhead as a layer of the default {@link Backpressure} tag. Throws a
 * `RangeError` at once on invalid options.
 *
 * @example
 * ```ts
 * import { Backpressure } from "@duende/policy"
 * import { Effect } from "effect"
 *
 * const BulkheadLive = Backpressure.layer({ name: "db", maxConcurrent: 4, maxQueued: 50 })
 * const program = Effect.flatMap(Backpressure.Backpressure, (bulkhead) => bulkhead.stats)
 * Effect.runPromise(Effect.provide(program, BulkheadLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Backpressure> => Layer.effect(Backpressure, make(options))

/**
 * A bulkhead for code that is not written with Effect: `execute` takes a
 * function returning a promise and settles as it does, once it has a slot;
 * it rejects with a {@link BulkheadFull} when the call is shed. The real clock
 * (`setTimeout` for `queueTimeout`), and no Effect runtime on the way: a
 * counter on the admitted path, a promise per queued call. The same metrics.
 * Throws a `RangeError` at once on invalid options.
 *
 * @example
 * ```ts
 * import { Backpressure } from "@duende/policy"
 *
 * const bulkhead = Backpressure.promise({ name: "db", maxConcurrent: 4, maxQueued: 100, queueTimeout: "2 seconds" })
 * const response = await bulkhead.execute(() => fetch("http://127.0.0.1:9000/query"))
 * bulkhead.stats() // { active: 0, queued: 0 }
 * ```
 *
 * @since 0.1.0
 */
export const promise = (options: Options): {
  readonly execute: <A>(call: () => Promise<A>) => Promise<A>
  readonly stats: () => Stats
} => {
  const config = validate(options)
  const gate = new Gate(config, () => performance.now() / 1000)
  const run = async <A>(call: () => Promise<A>): Promise<A> => {
    try {
      return await call()
    } finally {
      gate.leave()
    }
  }
  const execute = <A>(call: () => Promise<A>): Promise<A> => {
    if (gate.tryEnter()) return run(call)
    const refused = gate.refuse()
    if (refused !== undefined) return Promise.reject(refused)
    const waiter = gate.enqueue()
    return new Promise<void>((resolve, reject) => {
      waiter.notify = (state) => {
        if (waiter.timer !== undefined) clearTimeout(waiter.timer as ReturnType<typeof setTimeout>)
        if (state === GRANTED) resolve()
        else reject(waiter.error)
      }
      if (config.queueTimeout !== undefined) waiter.timer = setTimeout(() => gate.expire(waiter), config.queueTimeout)
    }).then(() => run(call))
  }
  return { execute, stats: () => gate.stats() }
}
