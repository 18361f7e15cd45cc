// A metric's value read back from Effect's global registry by name and exact tags, as the
// exposition would see it: counters and gauges as numbers, anything else (or no such series)
// as undefined.
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricState from "effect/MetricState"

/** A metric's value in Effect's global registry, by name and exact tags. */
export const metric = (name: string, tags: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((pair) =>
      pair.metricKey.name === name &&
      pair.metricKey.tags.length === Object.keys(tags).length &&
      pair.metricKey.tags.every((tag) => tags[tag.key] === tag.value)
    )
    if (pair === undefined) return undefined
    const state = pair.metricState
    if (MetricState.isCounterState(state)) return Number(state.count)
    if (MetricState.isGaugeState(state)) return Number(state.value)
    return undefined
  })
