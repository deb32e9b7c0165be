/**
 * What a queue entry carries: whether it is still queued. The queue sets it; a caller may read it.
 *
 * @internal
 */
export interface Queued {
  queued: boolean
}

/**
 * A FIFO of waiting callers with O(1) add, remove and shift and no allocation per operation beyond
 * the array's growth; `unshift` puts a caller back at the front. A removed entry leaves a hole that `shift` skips; holes and the consumed front
 * are compacted away once they outnumber the entries.
 *
 * @internal
 */
export class WaiterQueue<W extends Queued> {
  private items: Array<W | undefined> = []
  private head = 0
  size = 0

  add(waiter: W): void {
    waiter.queued = true
    this.items.push(waiter)
    this.size++
  }

  /** Puts an entry back at the front (a woken caller that has to wait again keeps its place). */
  unshift(waiter: W): void {
    waiter.queued = true
    if (this.head > 0) this.items[--this.head] = waiter
    else this.items.unshift(waiter)
    this.size++
  }

  /** Removes a queued entry; false when it was not queued. */
  remove(waiter: W): boolean {
    if (!waiter.queued) return false
    waiter.queued = false
    this.size--
    if (this.size === 0) this.clear()
    else if (this.items.length - this.head > 2 * this.size + 64) this.compact()
    return true
  }

  /** Takes the first queued entry out. */
  shift(): W | undefined {
    const items = this.items
    while (this.head < items.length) {
      const waiter = items[this.head]
      items[this.head++] = undefined
      if (waiter !== undefined && waiter.queued) {
        waiter.queued = false
        this.size--
        if (this.size === 0) this.clear()
        else if (this.head >= 1024 && this.head * 2 >= items.length) this.compact()
        return waiter
      }
    }
    return undefined
  }

  /** The queued entries in order, as a snapshot (removing entries while iterating it is safe). */
  toArray(): Array<W> {
    const out: Array<W> = []
    for (let i = this.head; i < this.items.length; i++) {
      const waiter = this.items[i]
      if (waiter !== undefined && waiter.queued) out.push(waiter)
    }
    return out
  }

  private clear(): void {
    this.items = []
    this.head = 0
  }

  private compact(): void {
    this.items = this.toArray()
    this.head = 0
  }
}
