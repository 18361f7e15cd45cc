/**
 * The circuit breaker's window: the calls and the failures of the last
 * `windowMs` milliseconds, in bounded memory whatever the number of calls.
 *
 * Calls are counted in slices of `width = ceil(windowMs / 1000)` ms (1 ms for
 * windows up to 1 second): a slice holds two counts, and only the slices that
 * saw a call are kept, in a ring, oldest first. So the window never holds more
 * than 1,001 slices, and a call costs O(1) amortised (a push or an increment,
 * and dropping the slices that left the window). A slice `[s, s + width)`
 * counts while `s > now - windowMs`: with 1 ms slices a call made at `t`
 * counts exactly while `t > now - windowMs`; with wider ones a call leaves the
 * window up to one slice (a thousandth of the window) early, never late.
 *
 * If the clock steps back, calls go into the newest slice (the window never
 * reorders), so the bound holds then too.
 *
 * @internal
 */
export class Window {
  /** The slice width in ms. */
  readonly width: number
  /** Calls and failures in the slices kept. */
  calls = 0
  failures = 0
  private ids = new Float64Array(8)
  private callsOf = new Float64Array(8)
  private failuresOf = new Float64Array(8)
  private head = 0
  private length = 0

  constructor(readonly windowMs: number) {
    this.width = Math.max(1, Math.ceil(windowMs / 1000))
  }

  /** Slices held now (at most 1,001). */
  get slices(): number {
    return this.length
  }

  /** Counts a call at `now`, then drops what left the window. */
  record(now: number, failed: boolean): void {
    const id = Math.floor(now / this.width)
    const mask = this.ids.length - 1
    if (this.length > 0) {
      const tail = (this.head + this.length - 1) & mask
      if (id <= this.ids[tail]!) {
        this.callsOf[tail]!++
        if (failed) this.failuresOf[tail]!++
        this.count(failed)
        this.prune(now)
        return
      }
    }
    if (this.length === this.ids.length) this.grow()
    const slot = (this.head + this.length) & (this.ids.length - 1)
    this.ids[slot] = id
    this.callsOf[slot] = 1
    this.failuresOf[slot] = failed ? 1 : 0
    this.length++
    this.count(failed)
    this.prune(now)
  }

  /** Drops the slices that left the window at `now`. */
  prune(now: number): void {
    // A slice counts while its start is after now - windowMs.
    const oldest = Math.floor((now - this.windowMs) / this.width) + 1
    const mask = this.ids.length - 1
    while (this.length > 0 && this.ids[this.head]! < oldest) {
      this.calls -= this.callsOf[this.head]!
      this.failures -= this.failuresOf[this.head]!
      this.head = (this.head + 1) & mask
      this.length--
    }
    if (this.length === 0) this.head = 0
  }

  /** Forgets every call. */
  clear(): void {
    this.head = 0
    this.length = 0
    this.calls = 0
    this.failures = 0
  }

  private count(failed: boolean) {
    this.calls++
    if (failed) this.failures++
  }

  /** Doubles the ring (its capacity stays a power of two), oldest slice first. */
  private grow() {
    const size = this.ids.length
    const ids = new Float64Array(size * 2)
    const callsOf = new Float64Array(size * 2)
    const failuresOf = new Float64Array(size * 2)
    for (let i = 0; i < this.length; i++) {
      const from = (this.head + i) & (size - 1)
      ids[i] = this.ids[from]!
      callsOf[i] = this.callsOf[from]!
      failuresOf[i] = this.failuresOf[from]!
    }
    this.ids = ids
    this.callsOf = callsOf
    this.failuresOf = failuresOf
    this.head = 0
  }
}
