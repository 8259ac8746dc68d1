// Whether one loud burst inside is evidence of a visit (people.ts). A short visit may give a single
// burst inside, and a loud one is counted as a visitor at once; but the solver also places a
// passer-by's loud burst a few metres inside the wall nearest the street or corridor, and that is
// no visit. Where that edge lies is the site's, and no site file says so: it is learned from the
// traffic, per patch of ground inside a shop, as the share of the devices whose first burst inside
// landed there that a second burst inside followed before they went. A loud single burst is a
// visitor only where most such newcomers turned out to come in. A patch with few outcomes yet is
// drawn towards what loud single bursts anywhere in the shop turned out to be of late (itself drawn
// towards none: no evidence yet), weighing as a few devices: a patch learns slowly, the shop fast. The edge by the street or corridor fills with passers-by and reads
// near nothing; the floor further in, where newcomers are shoppers, reads near all.
import type { Burst, WifiDevice } from './wifi-device-types.ts'

/** Side of a patch of ground, m: a few metres, about one burst's location error (as people-beyond.ts). */
const CELL_M = 3
/** Outcomes remembered per patch: about the last day of a quiet patch, an hour of a busy one. */
const WINDOW = 50
/** The prior (none came in) weighs as much as this many devices. */
const PRIOR_N = 5
/** A patch is evidence of a visit where more than this share of its newcomers came in. */
const EVIDENCE = 0.5
/** Devices awaiting their outcome, and patches, held at most (memory, whatever a sender does). */
const MAX_PENDING = 20_000
const MAX_CELLS = 10_000

export class InsideOdds {
  private readonly cells = new Map<string, boolean[]>()
  /** The last outcomes anywhere (a patch's prior). */
  private readonly all: boolean[] = []
  private readonly pending = new Map<WifiDevice, string>()

  /** @param presenceMs a device not heard again within this has gone (the outcome: passed) */
  constructor(private readonly presenceMs: number) {}

  /** The patch a burst inside lies in. */
  static key(b: Burst): string {
    return `${b.floor}:${Math.floor(b.x / CELL_M)}:${Math.floor(b.y / CELL_M)}`
  }

  /** The share of the newcomers first placed inside at this patch that came in, drawn towards the shop's. */
  share(key: string): number {
    const prior = came(this.all) / (PRIOR_N + this.all.length)
    const o = this.cells.get(key) ?? []
    return (came(o) + PRIOR_N * prior) / (PRIOR_N + o.length)
  }

  /** Whether a single burst inside at this patch is evidence of a visit. */
  evidence(b: Burst): boolean {
    return this.share(InsideOdds.key(b)) > EVIDENCE
  }

  /** A device heard once inside: its outcome at its patch is learned when a second burst lands inside, or it goes. */
  watch(d: WifiDevice, b: Burst): void {
    if (d.inShop === 1 && !this.pending.has(d) && this.pending.size < MAX_PENDING) this.pending.set(d, InsideOdds.key(b))
  }

  /** Settles the devices whose outcome is known at t: a second burst inside (came in), or no longer present (passed). */
  settle(t: number): void {
    for (const [d, key] of this.pending) {
      const stayed = d.inShop >= 2
      if (!stayed && t - d.lastTs <= this.presenceMs) continue
      this.pending.delete(d)
      this.all.push(stayed)
      if (this.all.length > WINDOW) this.all.shift()
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

  /** A device dropped (idle, evicted, erased) is settled as it stands. */
  drop(d: WifiDevice): void {
    this.pending.delete(d)
  }
}

function came(o: boolean[]): number {
  let n = 0
  for (const s of o) if (s) n++
  return n
}
