/**
 * Renders the metrics recorded through Effect's Metric API (the global
 * registry's snapshot) in the Prometheus text format: counters (incremental:
 * counter, otherwise gauge), gauges, histograms, summaries, and frequencies
 * as a counter with a `key` label. Counter names get the `_total` suffix when
 * they lack it, and a metric without a description a generic HELP line, as
 * `promtool check metrics` asks.
 *
 * @internal
 */
import * as Metric from "effect/Metric"
import * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"
import {
  formatValue,
  header,
  labelNamePattern,
  labelText,
  metricNamePattern,
  sanitizeName
} from "./exposition.js"

interface Family {
  readonly type: string
  readonly help: string
  readonly series: Set<string>
  body: string
}

const number = (value: number | bigint): string => (typeof value === "bigint" ? value.toString() : formatValue(value))

const typeOf = (key: MetricKeyType.MetricKeyType.Untyped): string | undefined => {
  if (MetricKeyType.isCounterKey(key)) return key.incremental ? "counter" : "gauge"
  if (MetricKeyType.isGaugeKey(key)) return "gauge"
  if (MetricKeyType.isHistogramKey(key)) return "histogram"
  if (MetricKeyType.isSummaryKey(key)) return "summary"
  if (MetricKeyType.isFrequencyKey(key)) return "counter"
  return undefined
}

const labelsOf = (pair: MetricPair.MetricPair.Untyped) => {
  const names: Array<string> = []
  const values: Array<string> = []
  for (const tag of pair.metricKey.tags) {
    const labelName = sanitizeName(tag.key, labelNamePattern)
    const at = names.indexOf(labelName)
    // A tag set twice: the later value wins, as in Effect.
    if (at >= 0) values[at] = tag.value
    else {
      names.push(labelName)
      values.push(tag.value)
    }
  }
  return { names, values }
}

const renderPair = (
  name: string,
  { names, values }: { readonly names: ReadonlyArray<string>; readonly values: ReadonlyArray<string> },
  pair: MetricPair.MetricPair.Untyped
): string => {
  const state = pair.metricState
  const plain = labelText(names, values)
  const withLabel = (label: string, value: string) => labelText([...names, label], [...values, value])
  if (MetricState.isCounterState(state)) return `${name}${plain} ${number(state.count)}\n`
  if (MetricState.isGaugeState(state)) return `${name}${plain} ${number(state.value)}\n`
  if (MetricState.isHistogramState(state)) {
    let text = ""
    for (const [boundary, count] of state.buckets) {
      if (boundary !== Infinity) text += `${name}_bucket${withLabel("le", formatValue(boundary))} ${count}\n`
    }
    return `${text}${name}_bucket${withLabel("le", "+Inf")} ${state.count}\n` +
      `${name}_sum${plain} ${formatValue(state.sum)}\n${name}_count${plain} ${state.count}\n`
  }
  if (MetricState.isSummaryState(state)) {
    let text = ""
    for (const [quantile, value] of state.quantiles) {
      text += `${name}${withLabel("quantile", formatValue(quantile))} ${formatValue(Option.getOrElse(value, () => NaN))}\n`
    }
    return `${text}${name}_sum${plain} ${formatValue(state.sum)}\n${name}_count${plain} ${state.count}\n`
  }
  if (MetricState.isFrequencyState(state)) {
    let text = ""
    for (const [key, count] of state.occurrences) text += `${name}${withLabel("key", key)} ${count}\n`
    return text
  }
  return ""
}

/**
 * The exposition of every Effect metric whose (sanitized) name is not in
 * `taken`; a name used with two different types keeps the first type seen.
 */
export const render = (taken: ReadonlySet<string>): string => {
  const families = new Map<string, Family>()
  for (const pair of Metric.unsafeSnapshot()) {
    const type = typeOf(pair.metricKey.keyType)
    if (type === undefined) continue
    const base = sanitizeName(pair.metricKey.name, metricNamePattern)
    // Prometheus' convention (promtool lints it): counters end in _total.
    const name = type === "counter" && !base.endsWith("_total") ? `${base}_total` : base
    if (taken.has(name)) continue
    let family = families.get(name)
    if (family === undefined) {
      const help = Option.getOrElse(pair.metricKey.description, () => "Effect metric without a description.")
      family = { type, help, series: new Set(), body: "" }
      families.set(name, family)
    } else if (family.type !== type) {
      continue
    }
    // Two keys differing only in their description are one series to Prometheus.
    const labels = labelsOf(pair)
    const series = labelText(labels.names, labels.values)
    if (family.series.has(series)) continue
    family.series.add(series)
    family.body += renderPair(name, labels, pair)
  }
  let out = ""
  for (const name of [...families.keys()].sort()) {
    const family = families.get(name)!
    out += header(name, family.help, family.type) + family.body
  }
  return out
}
