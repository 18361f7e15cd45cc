/**
 * A z-score anomaly detector over a sliding window: each new value is scored
 * against the mean and standard deviation of the values before it, then joins
 * the window. A value whose |z| exceeds the threshold is an anomaly.
 *
 * @since 0.1.0
 */

/**
 * Detector settings.
 *
 * @since 0.1.0
 */
export interface Options {
  /** How many recent values the window holds (default 60). */
  readonly window?: number
  /** |z| above which a value is anomalous (default 3). */
  readonly threshold?: number
  /** How many values the window needs before it scores anything (default 10). */
  readonly minSamples?: number
}

/**
 * How a value compares with the window before it.
 *
 * @since 0.1.0
 */
export interface Score {
  readonly value: number
  readonly mean: number
  /** Population standard deviation of the window. */
  readonly stdDev: number
  /** (value - mean) / stdDev. */
  readonly zScore: number
  readonly anomalous: boolean
}

/**
 * A detector. `observe` is synchronous and allocation-free apart from the score.
 *
 * @since 0.1.0
 */
export interface AnomalyDetector {
  readonly window: number
  readonly threshold: number
  /**
   * Scores `value` against the window, then adds it. Undefined while the window
   * holds fewer than `minSamples` values, and when every value in it is the
   * same (no spread to score against). A value that is not finite is ignored.
   */
  readonly observe: (value: number) => Score | undefined
  readonly reset: () => void
}

/**
 * A detector with the given settings.
 *
 * @example
 * ```ts
 * import { AnomalyDetector } from "@duende/observe"
 *
 * const latency = AnomalyDetector.make({ window: 30, threshold: 3 })
 * for (const ms of [10, 12, 11, 9, 10, 11, 12, 10, 9, 11]) latency.observe(ms)
 * latency.observe(80)?.anomalous // true
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): AnomalyDetector => {
  const window = options.window ?? 60
  const threshold = options.threshold ?? 3
  const minSamples = options.minSamples ?? 10
  if (!Number.isInteger(window) || window < 2) throw new RangeError(`window must be an integer >= 2, got ${window}`)
  if (!(threshold > 0)) throw new RangeError(`threshold must be > 0, got ${threshold}`)
  if (!Number.isInteger(minSamples) || minSamples < 2 || minSamples > window) {
    throw new RangeError(`minSamples must be an integer from 2 to the window (${window}), got ${minSamples}`)
  }
  const values = new Float64Array(window)
  let next = 0
  let size = 0

  const score = (value: number): Score | undefined => {
    if (size < minSamples) return undefined
    let sum = 0
    for (let i = 0; i < size; i++) sum += values[i]!
    const mean = sum / size
    // Two passes: numerically sound for large values such as memory in bytes.
    let squares = 0
    for (let i = 0; i < size; i++) {
      const d = values[i]! - mean
      squares += d * d
    }
    const stdDev = Math.sqrt(squares / size)
    if (stdDev === 0) return undefined
    const zScore = (value - mean) / stdDev
    return { value, mean, stdDev, zScore, anomalous: Math.abs(zScore) > threshold }
  }

  return {
    window,
    threshold,
    observe: (value) => {
      if (!Number.isFinite(value)) return undefined
      const result = score(value)
      values[next] = value
      next = next + 1 === window ? 0 : next + 1
      if (size < window) size++
      return result
    },
    reset: () => {
      next = 0
      size = 0
    }
  }
}
