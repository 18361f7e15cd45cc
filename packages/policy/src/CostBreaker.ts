/**
 * A cost breaker: a budget per window for anything that can be counted
 * (requests, an LLM's tokens, money), which **opens** like a circuit breaker
 * once the budget is spent and refuses calls with a typed
 * {@link BudgetSpent}, which says when enough of the budget frees again.
 * It cuts *muda*, waste: work that would go over the budget is not started.
 *
 * - The window slides: what was spent at `t` counts until `t + window`, and
 *   frees exactly then, so `retryAt` is exact (if nothing else is spent
 *   meanwhile).
 * - A cost known before the call (`spend(amount)`, `execute(effect, amount)`;
 *   the default amount is 1, one request) is charged when the call is let
 *   through, and only if it fits: the spend within the window never exceeds
 *   the budget. The charge stays if the call then fails or is interrupted:
 *   the attempt was made.
 * - A cost known only after the call (`execute(effect, (result) => tokens)`)
 *   is charged when the call succeeds (nothing when it fails). The call is let
 *   through while any budget is left, so the calls under way when it runs out
 *   can go over the budget; the breaker then stays open until the excess has
 *   freed.
 * - Open means no budget left (spent ≥ budget); it closes when the window has
 *   freed some, at that moment (a fiber of the breaker's scope wakes then), so
 *   `changes` and the `duende_policy_cost_open` gauge are on time for an idle
 *   daemon too. A pre-charged cost that does not fit is refused while the
 *   breaker is still closed, if some budget is left.
 *
 * Amounts may be fractional (money): they are non-negative finite numbers,
 * anything else is a `RangeError` naming the field. Sums are compared within a
 * billionth of the budget, so 0.1 + 0.2 fits a budget of 0.3. Time is Effect's
 * `Clock`, so the breaker is deterministic under `TestClock`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * Where the breaker is: `Open` while the budget is spent, until `retryAt`,
 * when some of it frees (unless a charge of a call under way postpones it).
 *
 * @since 0.1.0
 */
export type State =
  | { readonly _tag: "Closed" }
  | { readonly _tag: "Open"; readonly openedAt: number; readonly retryAt: number }

/**
 * A call refused because the budget is spent, or because its cost does not
 * fit in what is left.
 *
 * @example
 * ```ts
 * import { CostBreaker } from "@duende/policy"
 *
 * new CostBreaker.BudgetSpent({ name: "llm", spent: 9_500, budget: 10_000, amount: 800, retryAt: 60_000 }).message
 * // 'cost breaker "llm": 9500 of the budget 10000 spent in the window, 800 more does not fit until 1970-01-01T00:01:00.000Z'
 * ```
 *
 * @since 0.1.0
 */
export class BudgetSpent extends Data.TaggedError("BudgetSpent")<{
  readonly name: string
  /** Spent within the window when the call was refused. */
  readonly spent: number
  readonly budget: number
  /** The refused cost; `undefined` when the cost was to be known after the call. */
  readonly amount: number | undefined
  /**
   * When enough of the budget frees for this call (epoch ms, by the breaker's
   * Clock), if nothing else is spent meanwhile; `Infinity` when the amount is
   * more than the whole budget.
   */
  readonly retryAt: number
}> {
  override get message(): string {
    const spent = `cost breaker "${this.name}": ${this.spent} of the budget ${this.budget} spent in the window`
    if (this.retryAt === Infinity) return `${spent}, ${this.amount} is more than the whole budget`
    const until = new Date(this.retryAt).toISOString()
    return this.amount === undefined
      ? `${spent}, nothing left until ${until}`
      : `${spent}, ${this.amount} more does not fit until ${until}`
  }
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** For errors, metrics (the `policy` tag) and logs. */
  readonly name: string
  /** What may be spent within any window: a positive finite number. */
  readonly budget: number
  /** How long a spend counts: a positive finite duration. */
  readonly window: Duration.DurationInput
}

/**
 * The metric names, tagged `policy=<breaker name>`.
 *
 * @example
 * ```ts
 * import { CostBreaker } from "@duende/policy"
 *
 * CostBreaker.names.spent // "duende_policy_cost_spent_total"
 * ```
 *
 * @since 0.1.0
 */
export const names = {
  /** Counter: everything charged (it may be fractional). */
  spent: "duende_policy_cost_spent_total",
  /** Gauge: 1 while the budget is spent, 0 otherwise. */
  open: "duende_policy_cost_open",
  /** Counter: calls refused. */
  refused: "duende_policy_cost_refused_total"
} as const

const spentCounter = Metric.counter(names.spent, { description: "Cost charged to the budget.", incremental: true })
const openGauge = Metric.gauge(names.open, { description: "1 while the cost breaker's budget is spent, 0 otherwise." })
const refusedCounter = Metric.counter(names.refused, {
  description: "Calls the cost breaker refused for want of budget.",
  incremental: true
})

/**
 * The metrics of the cost breakers named `name` (see {@link metrics}).
 *
 * @since 0.1.0
 */
export interface Metrics {
  readonly spent: Metric.Metric.Counter<number>
  readonly open: Metric.Metric.Gauge<number>
  readonly refused: Metric.Metric.Counter<number>
}

/**
 * The metrics of the cost breakers named `name`, tagged `policy=<name>`: to read them, or to chart them.
 *
 * @example
 * ```ts
 * import { CostBreaker } from "@duende/policy"
 * import { Metric } from "effect"
 *
 * const spent = Metric.value(CostBreaker.metrics("llm").spent)
 * ```
 *
 * @since 0.1.0
 */
export const metrics = (name: string): Metrics => ({
  spent: Metric.tagged(spentCounter, "policy", name),
  open: Metric.tagged(openGauge, "policy", name),
  refused: Metric.tagged(refusedCounter, "policy", name)
})

/**
 * A breaker.
 *
 * @since 0.1.0
 */
export interface CostBreaker {
  readonly name: string
  readonly budget: number
  /** Charges `amount` if it fits in what is left of the budget; `BudgetSpent` otherwise. */
  readonly spend: (amount: number) => Effect.Effect<void, BudgetSpent>
  /**
   * Runs `effect` if its cost fits: a number is charged before (default 1),
   * a function of the result after a success (then it runs while any budget is left).
   */
  readonly execute: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    cost?: number | ((result: A) => number)
  ) => Effect.Effect<A, E | BudgetSpent, R>
  /** What is left of the budget now (0 when it is spent or overrun). */
  readonly remaining: Effect.Effect<number>
  readonly state: Effect.Effect<State>
  /** Subscribes now (for the scope's life): the stream has every opening and closing from here on. */
  readonly changes: Effect.Effect<Stream.Stream<State>, never, Scope.Scope>
}

/**
 * The breaker as a service.
 *
 * @example
 * ```ts
 * import { CostBreaker } from "@duende/policy"
 * import { Effect } from "effect"
 *
 * const summarize = Effect.flatMap(CostBreaker.CostBreaker, (breaker) =>
 *   breaker.execute(Effect.succeed({ text: "…", tokens: 812 }), (response) => response.tokens))
 * ```
 *
 * @since 0.1.0
 */
export const CostBreaker: Context.Tag<CostBreaker, CostBreaker> = Context.GenericTag<CostBreaker>(
  "@duende/policy/CostBreaker"
)

const closed: State = { _tag: "Closed" }

const checkAmount = (name: string, field: string, amount: number): Effect.Effect<number> =>
  typeof amount === "number" && Number.isFinite(amount) && amount >= 0
    ? Effect.succeed(amount)
    : Effect.die(new RangeError(`CostBreaker "${name}": ${field} must be a non-negative finite number, got ${String(amount)}`))

/**
 * Makes a breaker for the life of the scope (which holds the fiber that
 * closes it on time). Bad options are a `RangeError` defect naming the field.
 *
 * @example
 * ```ts
 * import { CostBreaker } from "@duende/policy"
 * import { Effect, Schedule } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const tokens = yield* CostBreaker.make({ name: "llm-tokens", budget: 100_000, window: "1 hour" })
 *     const complete = Effect.succeed({ text: "…", usage: { totalTokens: 812 } })
 *     return yield* tokens.execute(complete, (response) => response.usage.totalTokens).pipe(
 *       Effect.retry({ while: (error) => error._tag === "BudgetSpent", schedule: Schedule.spaced("1 minute") })
 *     )
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<CostBreaker, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { budget, name } = options
    if (typeof budget !== "number" || !Number.isFinite(budget) || budget <= 0) {
      return yield* Effect.die(new RangeError(`CostBreaker "${name}": budget must be a positive finite number, got ${String(budget)}`))
    }
    const windowMs = yield* Effect.sync(() => Duration.toMillis(Duration.decode(options.window)))
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      return yield* Effect.die(new RangeError(`CostBreaker "${name}": window must be a positive finite duration`))
    }
    const slack = budget * 1e-9
    const scope = yield* Effect.scope
    const changes = yield* Effect.acquireRelease(PubSub.unbounded<State>(), PubSub.shutdown)
    const spentTotal = Metric.tagged(spentCounter, "policy", name)
    const open = Metric.tagged(openGauge, "policy", name)
    const refused = Metric.tagged(refusedCounter, "policy", name)
    // Registered now, at zero.
    spentTotal.unsafeValue([])
    refused.unsafeValue([])
    open.unsafeUpdate(0, [])
    let state: State = closed
    /** The charges within the window, oldest first (unless the clock went back). */
    let charges: Array<{ readonly at: number; readonly amount: number }> = []
    let waking = false

    /** Forgets what the window freed; what is left spent. */
    const spentAt = (now: number) => {
      charges = charges.filter((charge) => charge.at > now - windowMs)
      return charges.reduce((sum, charge) => sum + charge.amount, 0)
    }

    /** When the spend left first `fits`, as the oldest charges free (sums taken from the newest down: no drift). */
    const freesAt = (fits: (spent: number) => boolean): number => {
      const sorted = [...charges].sort((a, b) => a.at - b.at)
      const after: Array<number> = new Array(sorted.length + 1).fill(0)
      for (let i = sorted.length - 1; i >= 0; i--) after[i] = after[i + 1]! + sorted[i]!.amount
      for (let i = 0; i < sorted.length; i++) if (fits(after[i + 1]!)) return sorted[i]!.at + windowMs
      return Infinity
    }

    const noneLeft = (spent: number) => spent >= budget - slack

    /** Moves the state to what the window says now, and keeps a wake-up for the closing. */
    const refresh = (now: number): Effect.Effect<number> =>
      Effect.suspend(() => {
        const spent = spentAt(now)
        if (noneLeft(spent)) {
          const retryAt = freesAt((left) => !noneLeft(left))
          const opened = state._tag === "Closed"
          const next: State = { _tag: "Open", openedAt: state._tag === "Open" ? state.openedAt : now, retryAt }
          if (!opened) state = next // a later retryAt is no change to publish
          // One wake-up at a time: waking at an older retryAt, it sets the next one.
          const wake = waking ? Effect.void : Effect.suspend(() => {
            waking = true
            return Effect.forkIn(
              Effect.sleep(Duration.millis(retryAt - now)).pipe(
                Effect.zipRight(Effect.sync(() => (waking = false))),
                Effect.zipRight(Clock.currentTimeMillis),
                Effect.flatMap(refresh)
              ),
              scope
            )
          })
          return Effect.as(Effect.zipRight(wake, opened ? moveTo(next) : Effect.void), spent)
        }
        if (state._tag === "Open") return Effect.as(moveTo(closed), spent)
        return Effect.succeed(spent)
      })

    const moveTo = (next: State) =>
      Effect.suspend(() => {
        state = next
        open.unsafeUpdate(next._tag === "Open" ? 1 : 0, [])
        return PubSub.publish(changes, next)
      })

    const charge = (amount: number, now: number) =>
      Effect.suspend(() => {
        charges.push({ at: now, amount })
        spentTotal.unsafeUpdate(amount, [])
        return refresh(now)
      })

    const refuse = (spent: number, amount: number | undefined, retryAt: number) =>
      Effect.suspend(() => {
        refused.unsafeUpdate(1, [])
        return Effect.fail(new BudgetSpent({ name, spent, budget, amount, retryAt }))
      })

    const spend = (amount: number, field = "amount"): Effect.Effect<void, BudgetSpent> =>
      Effect.gen(function*() {
        yield* checkAmount(name, field, amount)
        const now = yield* Clock.currentTimeMillis
        const spent = yield* refresh(now)
        if (spent + amount > budget + slack) {
          const retryAt = amount > budget + slack ? Infinity : freesAt((left) => left + amount <= budget + slack)
          return yield* refuse(spent, amount, retryAt)
        }
        yield* charge(amount, now)
      })

    /** Lets a call whose cost comes after through while any budget is left. */
    const admit = Effect.gen(function*() {
      const spent = yield* refresh(yield* Clock.currentTimeMillis)
      if (state._tag === "Open") return yield* refuse(spent, undefined, state.retryAt)
    })

    const execute = <A, E, R>(
      effect: Effect.Effect<A, E, R>,
      cost: number | ((result: A) => number) = 1
    ): Effect.Effect<A, E | BudgetSpent, R> =>
      typeof cost === "number"
        ? Effect.zipRight(spend(cost, "cost"), effect)
        : Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(
            admit,
            Effect.tap(restore(effect), (result) =>
              Effect.flatMap(checkAmount(name, "cost", cost(result)), (amount) =>
                Effect.flatMap(Clock.currentTimeMillis, (now) => charge(amount, now))))
          )
        )

    return {
      name,
      budget,
      spend: (amount) => spend(amount),
      execute,
      remaining: Effect.map(
        Effect.flatMap(Clock.currentTimeMillis, refresh),
        (spent) => Math.max(0, budget - spent)
      ),
      state: Effect.map(Effect.flatMap(Clock.currentTimeMillis, refresh), () => state),
      changes: Effect.map(PubSub.subscribe(changes), Stream.fromQueue)
    }
  })

/**
 * The breaker as a layer.
 *
 * @example
 * ```ts
 * import { CostBreaker } from "@duende/policy"
 *
 * const budget = CostBreaker.layer({ name: "openai-usd", budget: 25, window: "1 day" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<CostBreaker> => Layer.scoped(CostBreaker, make(options))

/** Runs `effect`, rejecting with its error (or defect) itself rather than a FiberFailure. */
const run = async <A, E>(effect: Effect.Effect<A, E>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

/**
 * A breaker for code that is not written with Effect, on the real clock:
 * `execute` takes a function returning a promise and rejects with its error,
 * or with a {@link BudgetSpent}. Bad options throw a `RangeError`. While the
 * budget is spent, its timer keeps the process alive (until the window frees
 * it, or `close`).
 *
 * @example
 * ```ts
 * import { CostBreaker } from "@duende/policy"
 *
 * const requests = CostBreaker.promise({ name: "geocoder", budget: 1_000, window: "1 day" })
 * const place = await requests.execute(() => fetch("http://127.0.0.1:9000/geocode?q=Madrid")) // 1 each
 * await requests.close()
 * ```
 *
 * @since 0.1.0
 */
export const promise = (options: Options): {
  readonly spend: (amount: number) => Promise<void>
  readonly execute: <A>(call: () => PromiseLike<A>, cost?: number | ((result: A) => number)) => Promise<A>
  readonly remaining: () => number
  readonly state: () => State
  /** Ends the breaker's timer. */
  readonly close: () => Promise<void>
} => {
  const scope = Effect.runSync(Scope.make())
  const made = Effect.runSyncExit(Scope.extend(make(options), scope))
  if (Exit.isFailure(made)) throw Cause.squash(made.cause)
  const breaker = made.value
  return {
    spend: (amount) => run(breaker.spend(amount)),
    execute: <A>(call: () => PromiseLike<A>, cost?: number | ((result: A) => number)) =>
      run(breaker.execute(Effect.tryPromise({ try: async () => call(), catch: (error) => error }), cost)),
    remaining: () => Effect.runSync(breaker.remaining),
    state: () => Effect.runSync(breaker.state),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
