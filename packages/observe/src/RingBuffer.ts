/**
 * A bounded history of timestamped snapshots: fixed capacity chosen up front,
 * O(1) push that overwrites the oldest entry once full, no allocation or
 * growth after creation, and time-range queries by binary search.
 *
 * @since 0.1.0
 */

/**
 * One stored snapshot.
 *
 * @since 0.1.0
 */
export interface Entry<A> {
  /** Epoch milliseconds. */
  readonly at: number
  readonly value: A
}

/**
 * A ring buffer of snapshots. Not safe to share between threads (there are
 * none in Node); safe to share between fibers, as every method is synchronous.
 *
 * @since 0.1.0
 */
export interface RingBuffer<A> {
  readonly capacity: number
  /** How many entries are stored (at most `capacity`). */
  readonly size: number
  /**
   * Stores a snapshot taken at `at` (epoch ms), dropping the oldest when full.
   * Times never go backwards in the buffer: an `at` earlier than the newest
   * entry's (a wall clock stepped back) is stored as the newest entry's time.
   */
  readonly push: (at: number, value: A) => void
  /** The newest entry. */
  readonly latest: () => Entry<A> | undefined
  /** Every entry, oldest first. */
  readonly toArray: () => ReadonlyArray<Entry<A>>
  /** The entries with `from <= at <= to`, oldest first. */
  readonly range: (from: number, to: number) => ReadonlyArray<Entry<A>>
  readonly clear: () => void
}

class Ring<A> implements RingBuffer<A> {
  private readonly times: Float64Array
  private readonly values: Array<A | undefined>
  private start = 0
  size = 0

  constructor(readonly capacity: number) {
    this.times = new Float64Array(capacity)
    this.values = new Array<A | undefined>(capacity).fill(undefined)
  }

  push = (at: number, value: A): void => {
    const newest = this.size === 0 ? -Infinity : this.times[this.slot(this.size - 1)]!
    const time = at < newest ? newest : at
    if (this.size < this.capacity) {
      const slot = this.slot(this.size)
      this.times[slot] = time
      this.values[slot] = value
      this.size++
    } else {
      this.times[this.start] = time
      this.values[this.start] = value
      this.start = this.start + 1 === this.capacity ? 0 : this.start + 1
    }
  }

  latest = (): Entry<A> | undefined => (this.size === 0 ? undefined : this.entry(this.size - 1))

  toArray = (): ReadonlyArray<Entry<A>> => this.slice(0, this.size)

  range = (from: number, to: number): ReadonlyArray<Entry<A>> =>
    to < from ? [] : this.slice(this.lowerBound(from), this.upperBound(to))

  clear = (): void => {
    this.values.fill(undefined)
    this.start = 0
    this.size = 0
  }

  private slot(index: number): number {
    const slot = this.start + index
    return slot >= this.capacity ? slot - this.capacity : slot
  }

  private entry(index: number): Entry<A> {
    const slot = this.slot(index)
    return { at: this.times[slot]!, value: this.values[slot] as A }
  }

  private slice(from: number, to: number): ReadonlyArray<Entry<A>> {
    const out: Array<Entry<A>> = []
    for (let index = from; index < to; index++) out.push(this.entry(index))
    return out
  }

  /** The first index whose time is >= `time`. */
  private lowerBound(time: number): number {
    let low = 0
    let high = this.size
    while (low < high) {
      const mid = (low + high) >>> 1
      if (this.times[this.slot(mid)]! < time) low = mid + 1
      else high = mid
    }
    return low
  }

  /** The first index whose time is > `time`. */
  private upperBound(time: number): number {
    let low = 0
    let high = this.size
    while (low < high) {
      const mid = (low + high) >>> 1
      if (this.times[this.slot(mid)]! <= time) low = mid + 1
      else high = mid
    }
    return low
  }
}

/**
 * A ring buffer holding up to `capacity` snapshots (a positive integer).
 *
 * @example
 * ```ts
 * import { RingBuffer } from "@duende/observe"
 *
 * const history = RingBuffer.make<number>(3)
 * history.push(1_000, 10)
 * history.push(2_000, 20)
 * history.push(3_000, 30)
 * history.push(4_000, 40) // drops the entry at 1_000
 * history.range(2_000, 3_000).map((entry) => entry.value) // [20, 30]
 * ```
 *
 * @since 0.1.0
 */
export const make = <A>(capacity: number): RingBuffer<A> => {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`a ring buffer's capacity must be a positive integer, got ${capacity}`)
  }
  return new Ring<A>(capacity)
}
