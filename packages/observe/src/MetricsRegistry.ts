/**
 * A Prometheus registry: counters, gauges and histograms with labels, whose
 * series can be removed (a daemon that is gone leaves no stale series),
 * collectors that run before each scrape (process metrics sampled on demand),
 * and the text exposition (format 0.0.4) of all of it plus, by default, every
 * metric recorded through Effect's Metric API (RedMetrics, LifecycleMetrics).
 *
 * Updates are synchronous field writes, so they cost as little as in
 * prom-client or less (see bench/observe); definitions and misuse throw
 * {@link InvalidMetric}.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { InvalidMetric } from "./InvalidMetric.js"
import * as EffectMetrics from "./internal/effectMetrics.js"
import { labelNamePattern, metricNamePattern } from "./internal/exposition.js"
import {
  CounterFamily,
  type CounterSeries as CounterSeriesImpl,
  type Family as FamilyImpl,
  GaugeFamily,
  type GaugeSeries as GaugeSeriesImpl,
  HistogramFamily,
  type HistogramSeries as HistogramSeriesImpl
} from "./internal/series.js"

/**
 * Label values by label name.
 *
 * @since 0.1.0
 */
export type LabelValues<L extends string> = { readonly [K in L]: string | number }

/**
 * One counter series (one set of label values).
 *
 * @since 0.1.0
 */
export interface CounterSeries {
  readonly value: number
  /** Adds `by` (default 1; never negative). */
  inc(by?: number): void
}

/**
 * One gauge series.
 *
 * @since 0.1.0
 */
export interface GaugeSeries {
  readonly value: number
  set(value: number): void
  inc(by?: number): void
  dec(by?: number): void
}

/**
 * One histogram series.
 *
 * @since 0.1.0
 */
export interface HistogramSeries {
  readonly sum: number
  readonly count: number
  observe(value: number): void
}

/**
 * What every family has: its name, help and label names, and its series by
 * label values. Keep a series from `with` to update it without a lookup.
 *
 * @since 0.1.0
 */
export interface Family<L extends string, S> {
  readonly name: string
  readonly help: string
  readonly labelNames: ReadonlyArray<L>
  /** The series for these label values, created at zero the first time. */
  with(labels: LabelValues<L>): S
  /** Drops a series; false when there was none. */
  remove(labels: LabelValues<L>): boolean
  /** Drops every series. */
  clear(): void
}

/**
 * A counter family.
 *
 * @since 0.1.0
 */
export interface Counter<L extends string = never> extends Family<L, CounterSeries> {
  inc(labels: LabelValues<L>, by?: number): void
}

/**
 * A gauge family.
 *
 * @since 0.1.0
 */
export interface Gauge<L extends string = never> extends Family<L, GaugeSeries> {
  set(labels: LabelValues<L>, value: number): void
}

/**
 * A histogram family.
 *
 * @since 0.1.0
 */
export interface Histogram<L extends string = never> extends Family<L, HistogramSeries> {
  readonly buckets: ReadonlyArray<number>
  observe(labels: LabelValues<L>, value: number): void
}

/**
 * How a family is defined.
 *
 * @since 0.1.0
 */
export interface MetricOptions<L extends string> {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters conventionally end in `_total`, with the unit before it. */
  readonly name: string
  readonly help: string
  readonly labelNames?: ReadonlyArray<L>
}

/**
 * How a histogram is defined; `buckets` are upper bounds, increasing (default:
 * Prometheus' 0.005 to 10 seconds). `+Inf` is implied.
 *
 * @since 0.1.0
 */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  readonly buckets?: ReadonlyArray<number>
}

/**
 * The registry.
 *
 * @since 0.1.0
 */
export interface MetricsRegistry {
  /** Defines a counter; defining the same counter again returns it. */
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L>
  /** Defines a gauge; defining the same gauge again returns it. */
  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L>
  /** Defines a histogram; defining the same histogram again returns it. */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L>
  /** Drops a family and its series; false when there was none. */
  remove(name: string): boolean
  /**
   * Runs `collect` before every scrape for the life of the scope: the place to
   * sample what is cheaper read on demand (process metrics) into gauges.
   * A collector that fails is logged and the scrape goes on.
   */
  addCollector(collect: Effect.Effect<void>): Effect.Effect<void, never, Scope.Scope>
  /** Runs the collectors, then renders. One scrape at a time. */
  readonly render: Effect.Effect<string>
  /** Renders the current values, without running collectors. */
  renderNow(): string
}

/**
 * The Content-Type of the exposition.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "@duende/observe/manager"
 * import { createServer } from "node:http"
 *
 * createServer((_, res) => res.writeHead(200, { "content-type": MetricsRegistry.contentType }).end("up 1\n"))
 * ```
 *
 * @since 0.1.0
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const countJob = Effect.map(MetricsRegistry.MetricsRegistry, (registry) =>
 *   registry.counter({ name: "jobs_total", help: "Jobs." }).inc({})
 * )
 * ```
 *
 * @since 0.1.0
 */
export const MetricsRegistry: Context.Tag<MetricsRegistry, MetricsRegistry> = Context.GenericTag<MetricsRegistry>(
  "@duende/observe/MetricsRegistry"
)

/**
 * Registry settings.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Also expose the metrics recorded through Effect's Metric API (default true). */
  readonly effectMetrics?: boolean
}

const defaultBuckets: ReadonlyArray<number> = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

type AnyFamily = FamilyImpl<CounterSeriesImpl | GaugeSeriesImpl | HistogramSeriesImpl>

const validate = (type: string, options: MetricOptions<string>, buckets?: ReadonlyArray<number>) => {
  const fail = (reason: string) => new InvalidMetric({ metric: options.name, reason })
  if (!metricNamePattern.test(options.name)) throw fail("the name must match [a-zA-Z_:][a-zA-Z0-9_:]*")
  const labels = options.labelNames ?? []
  for (const label of labels) {
    if (!labelNamePattern.test(label) || label.startsWith("__")) {
      throw fail(`label name "${label}" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"`)
    }
    if (type === "histogram" && label === "le") throw fail(`a histogram cannot have a label named "le"`)
  }
  if (new Set(labels).size !== labels.length) throw fail("a label name appears twice")
  if (buckets !== undefined) {
    if (buckets.length === 0) throw fail("a histogram needs at least one bucket")
    for (let i = 0; i < buckets.length; i++) {
      if (!Number.isFinite(buckets[i]!) || (i > 0 && buckets[i]! <= buckets[i - 1]!)) {
        throw fail("buckets must be finite and strictly increasing")
      }
    }
  }
}

const sameShape = (family: AnyFamily, type: string, labels: ReadonlyArray<string>, buckets?: ReadonlyArray<number>) =>
  family.type === type &&
  family.labelNames.length === labels.length && family.labelNames.every((label, i) => label === labels[i]) &&
  (buckets === undefined ||
    (family.bounds !== undefined && family.bounds.length === buckets.length &&
      family.bounds.every((bound, i) => bound === buckets[i])))

/**
 * A new, empty registry.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* MetricsRegistry.make()
 *   const jobs = registry.counter({ name: "jobs_done_total", help: "Jobs done.", labelNames: ["queue"] })
 *   const urgent = jobs.with({ queue: "urgent" })
 *   urgent.inc()
 *   return yield* registry.render // "# HELP jobs_done_total Jobs done.\n# TYPE jobs_done_total counter\njobs_done_total{queue=\"urgent\"} 1\n..."
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<MetricsRegistry> =>
  Effect.gen(function*() {
    const families = new Map<string, AnyFamily>()
    const collectors = new Set<Effect.Effect<void>>()
    const scrapes = yield* Effect.makeSemaphore(1)
    const withEffectMetrics = options.effectMetrics ?? true

    const define = <F extends AnyFamily>(
      type: "counter" | "gauge" | "histogram",
      definition: MetricOptions<string>,
      create: () => F,
      buckets?: ReadonlyArray<number>
    ): F => {
      validate(type, definition, buckets)
      const existing = families.get(definition.name)
      if (existing !== undefined) {
        if (sameShape(existing, type, definition.labelNames ?? [], buckets)) return existing as F
        throw new InvalidMetric({ metric: definition.name, reason: "already registered with another type, labels or buckets" })
      }
      const family = create()
      // A family without labels has its one series from the start, at zero.
      if (family.labelNames.length === 0) family.with({})
      families.set(definition.name, family)
      return family
    }

    const renderNow = (): string => {
      let out = ""
      for (const family of families.values()) out += family.render()
      if (withEffectMetrics) out += EffectMetrics.render(new Set(families.keys()))
      return out
    }

    const registry: MetricsRegistry = {
      counter: <L extends string = never>(definition: MetricOptions<L>) =>
        define("counter", definition, () =>
          new CounterFamily(definition.name, definition.help, definition.labelNames ?? [])) as unknown as Counter<L>,
      gauge: <L extends string = never>(definition: MetricOptions<L>) =>
        define("gauge", definition, () =>
          new GaugeFamily(definition.name, definition.help, definition.labelNames ?? [])) as unknown as Gauge<L>,
      histogram: <L extends string = never>(definition: HistogramOptions<L>) => {
        const buckets = definition.buckets ?? defaultBuckets
        return define(
          "histogram",
          definition,
          () => new HistogramFamily(definition.name, definition.help, definition.labelNames ?? [], buckets),
          buckets
        ) as unknown as Histogram<L>
      },
      remove: (name) => families.delete(name),
      addCollector: (collect) => {
        const guarded = Effect.catchAllCause(collect, (cause) => Effect.logWarning("a metrics collector failed", cause))
        return Effect.acquireRelease(
          Effect.sync(() => void collectors.add(guarded)),
          () => Effect.sync(() => void collectors.delete(guarded))
        )
      },
      render: scrapes.withPermits(1)(
        Effect.zipRight(
          Effect.suspend(() => Effect.forEach([...collectors], (collect) => collect, { discard: true })),
          Effect.sync(renderNow)
        )
      ),
      renderNow
    }
    return registry
  })

/**
 * A registry as a layer.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const text = Effect.flatMap(MetricsRegistry.MetricsRegistry, (registry) => registry.render).pipe(
 *   Effect.provide(MetricsRegistry.layer())
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<MetricsRegistry> => Layer.effect(MetricsRegistry, make(options))
