/**
 * The metric families of a MetricsRegistry and their series: plain objects
 * with synchronous updates (a field write), and exposition text prepared when
 * a series is created so that rendering is string concatenation.
 *
 * @internal
 */
import { InvalidMetric } from "../InvalidMetric.js"
import { escapeLabelValue, formatValue, header, labelText } from "./exposition.js"

export type Labels = Readonly<Record<string, string | number>>

export class CounterSeries {
  value = 0
  constructor(readonly prefix: string) {}
  inc(by = 1): void {
    if (!(by >= 0)) throw new InvalidMetric({ metric: this.prefix.trim(), reason: `a counter only goes up, got inc(${by})` })
    this.value += by
  }
  render(): string {
    return `${this.prefix}${formatValue(this.value)}\n`
  }
}

export class GaugeSeries {
  value = 0
  constructor(readonly prefix: string) {}
  set(value: number): void {
    this.value = value
  }
  inc(by = 1): void {
    this.value += by
  }
  dec(by = 1): void {
    this.value -= by
  }
  render(): string {
    return `${this.prefix}${formatValue(this.value)}\n`
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot is above the highest bound. */
  readonly counts: Float64Array
  sum = 0
  count = 0
  private readonly linear: boolean
  constructor(
    readonly bounds: Float64Array,
    private readonly bucketPrefixes: ReadonlyArray<string>,
    private readonly sumPrefix: string,
    private readonly countPrefix: string
  ) {
    this.counts = new Float64Array(bounds.length + 1)
    this.linear = bounds.length <= 16
  }
  observe(value: number): void {
    const bounds = this.bounds
    let index: number
    if (this.linear) {
      index = 0
      while (index < bounds.length && value > bounds[index]!) index++
    } else {
      let low = 0
      let high = bounds.length
      while (low < high) {
        const mid = (low + high) >>> 1
        if (value > bounds[mid]!) low = mid + 1
        else high = mid
      }
      index = low
    }
    this.counts[index]!++
    this.sum += value
    this.count++
  }
  render(): string {
    let text = ""
    let cumulative = 0
    const prefixes = this.bucketPrefixes
    for (let i = 0; i < prefixes.length; i++) {
      cumulative += this.counts[i]!
      text += `${prefixes[i]}${cumulative}\n`
    }
    return `${text}${this.sumPrefix}${formatValue(this.sum)}\n${this.countPrefix}${this.count}\n`
  }
}

type AnySeries = CounterSeries | GaugeSeries | HistogramSeries

/** A family: a name, its label names, and one series per label values. */
export class Family<S extends AnySeries> {
  readonly header: string
  readonly series = new Map<string, S>()
  constructor(
    readonly type: "counter" | "gauge" | "histogram",
    readonly name: string,
    readonly help: string,
    readonly labelNames: ReadonlyArray<string>,
    private readonly create: (labels: string) => S,
    readonly bounds: ReadonlyArray<number> | undefined
  ) {
    this.header = header(name, help, type)
  }

  /** The series key: the label values, length-prefixed so no two lists share a key. */
  private key(labels: Labels | undefined): string {
    const names = this.labelNames
    let given = 0
    if (labels !== undefined) for (const _ in labels) given++
    if (given !== names.length) throw this.mismatch(labels)
    if (names.length === 0) return ""
    if (names.length === 1) {
      const value = labels![names[0]!]
      if (value === undefined) throw this.mismatch(labels)
      return typeof value === "string" ? value : String(value)
    }
    let key = ""
    for (let i = 0; i < names.length; i++) {
      const value = labels![names[i]!]
      if (value === undefined) throw this.mismatch(labels)
      const text = typeof value === "string" ? value : String(value)
      key += `${text.length}:${text}`
    }
    return key
  }

  private mismatch(labels: Labels | undefined): InvalidMetric {
    return new InvalidMetric({
      metric: this.name,
      reason: `takes the labels [${this.labelNames.join(", ")}], got {${Object.keys(labels ?? {}).join(", ")}}`
    })
  }

  with(labels: Labels | undefined): S {
    const key = this.key(labels)
    let series = this.series.get(key)
    if (series === undefined) {
      const values = this.labelNames.map((name) => String(labels![name]))
      series = this.create(labelText(this.labelNames, values))
      this.series.set(key, series)
    }
    return series
  }

  remove(labels: Labels | undefined): boolean {
    return this.series.delete(this.key(labels))
  }

  clear(): void {
    this.series.clear()
  }

  render(): string {
    let text = this.header
    for (const series of this.series.values()) text += series.render()
    return text
  }
}

export class CounterFamily extends Family<CounterSeries> {
  constructor(name: string, help: string, labelNames: ReadonlyArray<string>) {
    super("counter", name, help, labelNames, (labels) => new CounterSeries(`${name}${labels} `), undefined)
  }
  inc(labels: Labels, by?: number): void {
    this.with(labels).inc(by)
  }
}

export class GaugeFamily extends Family<GaugeSeries> {
  constructor(name: string, help: string, labelNames: ReadonlyArray<string>) {
    super("gauge", name, help, labelNames, (labels) => new GaugeSeries(`${name}${labels} `), undefined)
  }
  set(labels: Labels, value: number): void {
    this.with(labels).set(value)
  }
}

export class HistogramFamily extends Family<HistogramSeries> {
  constructor(name: string, help: string, labelNames: ReadonlyArray<string>, bounds: ReadonlyArray<number>) {
    const floats = Float64Array.from(bounds)
    const les = [...bounds.map(formatValue), "+Inf"].map(escapeLabelValue)
    super("histogram", name, help, labelNames, (labels) => {
      const open = labels === "" ? "{" : `${labels.slice(0, -1)},`
      return new HistogramSeries(
        floats,
        les.map((le) => `${name}_bucket${open}le="${le}"} `),
        `${name}_sum${labels} `,
        `${name}_count${labels} `
      )
    }, bounds)
  }
  observe(labels: Labels, value: number): void {
    this.with(labels).observe(value)
  }
}
