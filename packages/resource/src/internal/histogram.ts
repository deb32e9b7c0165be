import type * as Metric from "effect/Metric"

/** Bucket boundaries in seconds for wait, hold and create durations. @internal */
export const boundaries: ReadonlyArray<number> = [
  0.0001,
  0.0005,
  0.001,
  0.005,
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  10,
  30,
  60
]

/**
 * A histogram kept in plain fields so recording costs a few comparisons; read as an Effect
 * `HistogramState` when metrics are exported.
 *
 * @internal
 */
export class Histogram {
  readonly counts = new Array<number>(boundaries.length + 1).fill(0)
  count = 0
  sum = 0
  min = Number.POSITIVE_INFINITY
  max = Number.NEGATIVE_INFINITY

  record(seconds: number): void {
    let i = 0
    while (i < boundaries.length && seconds > boundaries[i]!) i++
    this.counts[i]!++
    this.count++
    this.sum += seconds
    if (seconds < this.min) this.min = seconds
    if (seconds > this.max) this.max = seconds
  }

  /** The state with `zeros` extra observations of 0 s (fast-path acquires that never waited). */
  state(zeros = 0): Metric.HistogramState {
    const buckets: Array<[number, number]> = []
    let cumulative = zeros
    for (let i = 0; i < boundaries.length; i++) {
      cumulative += this.counts[i]!
      buckets.push([boundaries[i]!, cumulative])
    }
    const count = this.count + zeros
    return {
      buckets,
      count,
      sum: this.sum,
      min: count === 0 ? 0 : zeros > 0 ? 0 : this.min,
      max: count === 0 ? 0 : this.count === 0 ? 0 : this.max
    }
  }
}

/**
 * Percentiles over the most recent `size` acquires. Only waits of acquires that had to wait are
 * stored (with the acquire's sequence number); every other acquire in the window waited 0 ms.
 *
 * @internal
 */
export class Window {
  readonly size: number
  private readonly sequences: Float64Array
  private readonly values: Float64Array
  private next = 0
  private filled = 0

  constructor(size: number) {
    this.size = size
    this.sequences = new Float64Array(size)
    this.values = new Float64Array(size)
  }

  push(sequence: number, value: number): void {
    this.sequences[this.next] = sequence
    this.values[this.next] = value
    this.next = this.next + 1 === this.size ? 0 : this.next + 1
    if (this.filled < this.size) this.filled++
  }

  percentiles(total: number, ps: ReadonlyArray<number>): ReadonlyArray<number> {
    const start = total - this.size
    const waited: Array<number> = []
    for (let i = 0; i < this.filled; i++) if (this.sequences[i]! > start) waited.push(this.values[i]!)
    const count = Math.min(total, this.size)
    if (count === 0) return ps.map(() => 0)
    waited.sort((a, b) => a - b)
    const zeros = Math.max(0, count - waited.length)
    return ps.map((p) => {
      const rank = Math.max(1, Math.ceil(p * (zeros + waited.length)))
      return rank <= zeros ? 0 : waited[Math.min(waited.length - 1, rank - zeros - 1)]!
    })
  }
}
