// Today's visitors that were a fixture's pieces (people.ts). An always-on device that rotates its
// address breaks into pieces, and each piece that settled inside was counted as a visitor until the
// device was learned as a fixture by its spot (wifi-device-spots.ts, model-spots.ts): a spot
// learned across chains needs its model heard there through most of a day, so on the first day
// such a device gives a visitor every time its chain breaks. When a spot is learned, today's
// visitors of its model at it that follow one another in time (one radio, as the spot takes its
// present pieces: oneRadio) are taken back; a shopper of its model there heard while a piece was
// overlaps it and stays a visitor.
import { oneRadio, type FixtureSpot } from './wifi-device-spots.ts'
import type { WifiDevice } from './wifi-device-types.ts'

/** Visitors held at most (a busy store's day of rotating phones with a fingerprint; a sender's beyond it are not looked at again). */
const MAX_HELD = 50_000
/**
 * At the cap, the held visitors taken back since (countedDay changed) are swept out once per this
 * many visitors refused, not at each: a sweep reads every held one, so each refused visitor costs a
 * few reads on average, while a full list of today's visitors is not read again and again for nothing.
 */
const REFUSED_PER_SWEEP = MAX_HELD / 10

export class DayPieces {
  /** Held visitors, oldest first. */
  private readonly held = new Set<WifiDevice>()
  /**
   * Held visitors by address: an erasure finds those dropped before under the subject without
   * reading the others. A device's address changes while the linker holds it (an erasure reaches
   * those through `drop`); it is indexed again when the linker drops it, when its address is final.
   */
  private readonly byAddress = new Map<string, Set<WifiDevice>>()
  private readonly indexedAs = new Map<WifiDevice, string>()
  /** The day the held visitors were counted on: yesterday's go once, at the first count of a new day. */
  private day = ''
  private refused = 0
  /** Held visitors read by whole-list sweeps (day change, at the cap, a spot learned): tests check none is per call. */
  swept = 0
  /** Set while an erasure drops devices (a device dropped as idle is kept: a piece of the morning). */
  private erasing = false

  /** A device just counted a visitor today: kept if it could be a rotating fixture's piece. */
  counted(d: WifiDevice, today: string): void {
    if (d.stable || d.fp === null || d.flood) return
    if (today !== this.day) {
      this.day = today
      this.sweep(today)
    }
    if (this.held.size >= MAX_HELD && ++this.refused >= REFUSED_PER_SWEEP) {
      this.refused = 0
      this.sweep(today)
    }
    if (this.held.size < MAX_HELD && !this.held.has(d)) {
      this.held.add(d)
      this.index(d)
    }
  }

  /** A device the linker drops: forgotten if an erasure drops it, else indexed by its last address. */
  drop(d: WifiDevice): void {
    if (!this.held.has(d)) return
    if (this.erasing) this.remove(d)
    else this.index(d)
  }

  /** An erasure (`dropAll` drops the linker's devices holding the subject): those, and one dropped before under the address, are forgotten. */
  erase(subject: string, dropAll: () => void): void {
    this.erasing = true
    try {
      dropAll()
    } finally {
      this.erasing = false
    }
    for (const h of [...(this.byAddress.get(subject) ?? [])]) if (h.address === subject) this.remove(h)
  }

  /** Of today's visitors, those a spot just learned takes for its fixture's pieces (`radiusM`: as the spot takes a present piece). */
  of(s: FixtureSpot, radiusM: number, today: string): WifiDevice[] {
    this.sweep(today)
    const at = [...this.held].filter(d => {
      if (d.fp !== s.fp || d.last.floor !== s.floor || d.bursts === 0) return false
      const r = Math.max(radiusM, (2 * radiusM) / Math.sqrt(d.bursts))
      return Math.hypot(d.sumX / d.bursts - s.x, d.sumY / d.bursts - s.y) <= r
    })
    return oneRadio(at)
  }

  get size(): number {
    return this.held.size
  }

  /** Drops the held visitors not counted today (an earlier day's, or taken back). */
  private sweep(today: string): void {
    this.swept += this.held.size
    for (const h of this.held) if (h.countedDay !== today) this.remove(h)
  }

  private index(d: WifiDevice): void {
    const was = this.indexedAs.get(d)
    if (was === d.address) return
    if (was !== undefined) this.unindex(d, was)
    const set = this.byAddress.get(d.address) ?? new Set<WifiDevice>()
    set.add(d)
    this.byAddress.set(d.address, set)
    this.indexedAs.set(d, d.address)
  }

  private unindex(d: WifiDevice, address: string): void {
    const set = this.byAddress.get(address)
    set?.delete(d)
    if (set?.size === 0) this.byAddress.delete(address)
  }

  private remove(d: WifiDevice): void {
    this.held.delete(d)
    const was = this.indexedAs.get(d)
    if (was !== undefined) this.unindex(d, was)
    this.indexedAs.delete(d)
  }
}
