// What a burst placed outside every shop is worth (people.ts). The solver places a shopper's burst
// beyond a wall now and then (most of all beyond the walls sensors stand near: the back, the sides);
// a passer-by's bursts land where passers-by walk (the street, a corridor). Which walls have traffic
// behind them is the site's, and no site file says so: so it is learned from the traffic, per
// patch of ground around a shop, as the share of the devices first placed there that a burst
// inside the shop followed before they went (a passer-by is gone within a probe interval, an
// always-on device in a back room beyond the wall stays out), drawn towards a prior of none that
// weighs as a few devices. A device whose last burst landed outside counts in
// `n` by the share of its patch, in `high` fully; a patch passers-by fill reads near nothing.
import type { Site, Zone } from '../../shared/site.ts'
import { signedDepth } from '../../shared/geometry.ts'
import type { Burst, WifiDevice } from './wifi-device-types.ts'

/** Side of a patch of ground, m: a few metres, about one burst's location error. */
const CELL_M = 3
/** Outcomes remembered per patch: about the last hour or two of a busy store's bursts there. */
const WINDOW = 50
/** The prior (none stayed) weighs as much as this many devices. */
const PRIOR_N = 5
/** Devices awaiting their outcome, and patches, held at most (memory, whatever a sender does). */
const MAX_PENDING = 20_000
const MAX_CELLS = 10_000

export interface BeyondPlace {
  /** The nearest shop (the one the device would be in). */
  shop: Zone
  key: string
}

export class BeyondOdds {
  private readonly cells = new Map<string, boolean[]>()
  private readonly pending = new Map<WifiDevice, string>()
  private settledAt = -Infinity

  /**
   * @param reachM bursts placed further than this from every shop's wall are nobody's shopper
   * @param presenceMs a device not heard again within this has gone (the outcome: passed)
   */
  constructor(
    private readonly site: Site,
    private readonly reachM: number,
    private readonly presenceMs: number
  ) {}

  /** The patch of a burst placed outside every shop, with its nearest shop within reach; null otherwise. */
  place(b: Burst): BeyondPlace | null {
    if (b.shop !== null) return null
    let best: Zone | null = null
    let bestD = this.reachM
    for (const z of this.site.shops) {
      if (z.floor !== b.floor) continue
      const d = -signedDepth(b.x, b.y, z)
      if (d >= 0 && d <= bestD) {
        bestD = d
        best = z
      }
    }
    if (best === null) return null
    return { shop: best, key: `${b.floor}:${Math.floor(b.x / CELL_M)}:${Math.floor(b.y / CELL_M)}` }
  }

  /** The count a device whose last burst landed in this patch adds now. */
  weight(key: string): number {
    const o = this.cells.get(key)
    if (o === undefined) return 0
    let stayed = 0
    for (const s of o) if (s) stayed++
    return stayed / (PRIOR_N + o.length)
  }

  /** A new device whose first burst landed outside, in this patch: its outcome is learned when a burst of it lands inside, or it goes. */
  watch(d: WifiDevice, key: string): void {
    if (d.bursts === 1 && !this.pending.has(d) && this.pending.size < MAX_PENDING) this.pending.set(d, key)
  }

  /** Settles the devices whose outcome is known at t: placed inside since (stayed), or no longer present (passed). */
  settle(t: number): void {
    this.settledAt = t
    for (const [d, key] of this.pending) {
      const stayed = d.inShop >= 1
      if (!stayed && t - d.lastTs <= this.presenceMs) continue
      this.pending.delete(d)
      let o = this.cells.get(key)
      if (o === undefined) {
        if (this.cells.size >= MAX_CELLS) continue
        o = []
        this.cells.set(key, o)
      }
      o.push(stayed)
      if (o.length > WINDOW) o.shift()
    }
  }

  /**
   * What a device whose last burst landed outside adds to its nearest shop now (its patch's weight,
   * `cold` the cold-start weight), and where; null when nothing (out of reach, or a patch passers-by fill).
   * A new device there is watched for what it turns out to be.
   */
  count(d: WifiDevice, t: number, cold: number): { at: Burst; w: number } | null {
    if (t !== this.settledAt) this.settle(t)
    const out = this.place(d.last)
    if (out === null) return null
    this.watch(d, out.key)
    const w = this.weight(out.key) * cold
    return w > 0 ? { at: { ...d.last, shop: out.shop.id, sector: null }, w } : null
  }

  /** A device dropped (idle, evicted, erased) is settled as it stands. */
  drop(d: WifiDevice): void {
    this.pending.delete(d)
  }
}
