// What one burst inside is worth (people.ts): a Wi-Fi device heard once inside is a shopper just in
// (a second burst inside follows) or a passer-by the solver placed inside (none follows). Which is
// more likely depends on the store and the hour: a shop closed for the night hears passers-by only,
// an open one mostly shoppers. So the weight of such a burst in the count now is learned from the
// traffic itself: the share of the recent single bursts inside, per kind (strong or weak), that a
// second burst inside followed, drawn towards a prior while there are few.
import type { WifiDevice } from './wifi-device-types.ts'

export type SingleKind = 'strong' | 'weak'

/** Singles remembered per kind: the share follows the traffic of about the last hour of a busy front. */
const WINDOW = 50
/** The prior weighs as much as this many singles. */
const PRIOR_N = 5
/** Singles awaiting their outcome at most (memory, whatever a sender does). */
const MAX_PENDING = 20_000

export class SingleOdds {
  private readonly outcomes: Record<SingleKind, boolean[]> = { strong: [], weak: [] }
  private readonly pending = new Map<WifiDevice, SingleKind>()

  constructor(
    private readonly prior: Record<SingleKind, number>,
    private readonly presenceMs: number
  ) {}

  /** The count a single burst of this kind adds now: the share of recent ones a second burst followed. */
  weight(kind: SingleKind): number {
    const o = this.outcomes[kind]
    let stayed = 0
    for (const s of o) if (s) stayed++
    return (this.prior[kind] * PRIOR_N + stayed) / (PRIOR_N + o.length)
  }

  /** A device counted as a single now: its outcome is learned when it is heard inside again, or goes. */
  watch(d: WifiDevice, kind: SingleKind): void {
    if (!this.pending.has(d) && this.pending.size < MAX_PENDING) this.pending.set(d, kind)
  }

  /** Settles the singles whose outcome is known at t: heard inside again (stayed), or no longer present (passed). */
  settle(t: number): void {
    for (const [d, kind] of this.pending) {
      const stayed = d.inShop >= 2
      if (!stayed && t - d.lastTs <= this.presenceMs) continue
      this.pending.delete(d)
      const o = this.outcomes[kind]
      o.push(stayed)
      if (o.length > WINDOW) o.shift()
    }
  }

  /** A device dropped (idle, evicted, erased) is settled as it stands. */
  drop(d: WifiDevice): void {
    this.pending.delete(d)
  }
}
