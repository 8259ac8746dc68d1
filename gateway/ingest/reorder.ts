// A reorder buffer in front of the estimate stage, for sources whose records arrive in bursts long
// after they were heard (Meraki posts a minute of records at once). Readings wait here, ordered by
// their own time, and are released just before the tick that needs them, so every fix sees what
// was heard up to its time and nothing later: a post's minute keeps its history instead of
// collapsing into its arrival instant. A binary heap: O(log n) per reading, however they arrive.
export class ReorderBuffer<T extends { ts: number }> {
  private readonly heap: T[] = []

  get size(): number {
    return this.heap.length
  }

  /** Time of the earliest reading waiting; Infinity when none. */
  get earliest(): number {
    return this.heap.length > 0 ? this.heap[0].ts : Infinity
  }

  push(x: T): void {
    const h = this.heap
    h.push(x)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (h[p].ts <= h[i].ts) break
      ;[h[p], h[i]] = [h[i], h[p]]
      i = p
    }
  }

  /** Hands every reading at or before `t` to `take`, oldest first. */
  release(t: number, take: (x: T) => void): void {
    const h = this.heap
    while (h.length > 0 && h[0].ts <= t) {
      const top = h[0]
      const last = h.pop() as T
      if (h.length > 0) {
        h[0] = last
        let i = 0
        for (;;) {
          const l = 2 * i + 1
          const r = l + 1
          let m = i
          if (l < h.length && h[l].ts < h[m].ts) m = l
          if (r < h.length && h[r].ts < h[m].ts) m = r
          if (m === i) break
          ;[h[m], h[i]] = [h[i], h[m]]
          i = m
        }
      }
      take(top)
    }
  }
}
