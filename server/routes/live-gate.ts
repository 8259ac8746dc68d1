// A store's live snapshots, one at a time and not more often than a gateway sends them (one a
// second, gateway/io/uplink.ts): without this a single gateway token posting large snapshots in a
// loop kept this replica parsing and checking them, and every other store's uplink and /healthz
// waited behind it. A post takes its store's turn before its body is read (onRequest), so a post
// while another is in flight or just taken is refused unread, posts sent together too; a turn is
// taken only by a caller whose token reaches the store (checked first, at onRequest), so an
// anonymous caller can neither take nor hold one.

/** The shortest time from the end of one snapshot of a store to the next one taken, ms: under the gateway's own period (a second between the end of a post and the next), so a healthy gateway is never refused. */
export const LIVE_MIN_INTERVAL_MS = 500

/** The pause after a snapshot, as a multiple of the time it took, when that is longer than the interval. */
export const COST_FACTOR = 2

export class LiveGate {
  /** Per store: whether a snapshot is in flight, when the last one ended and how long the next waits after it (ms). */
  private readonly stores = new Map<string, { busy: boolean; at: number; wait: number }>()

  constructor(
    private readonly now: () => number = Date.now,
    readonly minIntervalMs: number = LIVE_MIN_INTERVAL_MS
  ) {}

  /** Whether a snapshot of the store would be refused now (one in flight, or one ended too recently). */
  refuses(store: string): boolean {
    const s = this.stores.get(store)
    return s !== undefined && (s.busy || this.now() - s.at < s.wait)
  }

  /** The store's turn (call the release once done), or null when it would be refused. */
  take(store: string): (() => void) | null {
    if (this.refuses(store)) return null
    const start = this.now()
    const s = { busy: true, at: start, wait: this.minIntervalMs }
    this.stores.set(store, s)
    return () => {
      s.busy = false
      s.at = this.now()
      // A costly snapshot (thousands of positions to check) earns a longer pause: the store's
      // snapshots then take at most a third of this replica's time, whatever their size.
      // An interval of 0 turns the pause off (one snapshot at a time still): tests posting back to back.
      s.wait = this.minIntervalMs <= 0 ? 0 : Math.max(this.minIntervalMs, COST_FACTOR * (s.at - start))
    }
  }
}
