// The dwell of Wi-Fi visitors (people.ts): one entry per visit of a device counted as a visitor
// today, never for a device that is not one (cold start, floor full, fixture, passer-by). A visit
// ends when nothing of the device has been placed in a shop for longer than a shopper's gap (the
// presence window and the longest gap an address may be continued across): a device back sooner
// is on the same visit, with its first time in kept, so a slow-probing phone's gaps are not visits.
// After a real end the next visit starts at its next burst inside. A visitor taken back (a fixture
// learned later, a flooding sender's) takes its dwell entries of this run with it.
import type { WifiDevice } from './wifi-device-types.ts'
import type { PeopleDay } from './people-day.ts'

/** Open visits and visitors with entries at most (the linker's device bound keeps them lower). */
const MAX_TIMED = 100_000

export class VisitDwell {
  /** Counted visitors on a visit now: when it started, ms. */
  private readonly open = new Map<WifiDevice, number>()
  /** Today's dwell entries, s, of each visitor (to take back with it). */
  private readonly entries = new Map<WifiDevice, number[]>()
  /** Devices whose last visit ended, and its last burst inside: their next starts at a later burst inside, not at their first ever. */
  private readonly ended = new WeakMap<WifiDevice, number>()
  private date = ''

  /**
   * @param endMs a counted visitor placed in no shop for longer than this has ended its visit, ms
   * @param padMs added to first-to-last burst inside: the time before the first and after the last burst, ms
   */
  constructor(
    private readonly day: PeopleDay,
    private readonly endMs: number,
    private readonly padMs: number
  ) {}

  /** A device counted as a visitor today, present at t: on a visit if its last burst inside is newer than its last visit's end. */
  inShop(d: WifiDevice, t: number): void {
    if (d.lastInShop === null || this.open.has(d) || this.open.size >= MAX_TIMED || t - d.lastInShop.ts > this.endMs) return
    const end = this.ended.get(d)
    if (end !== undefined && d.lastInShop.ts <= end) return
    this.open.set(d, end !== undefined || d.firstInShopTs === null ? d.lastInShop.ts : d.firstInShopTs)
  }

  /** Ends the visits over at t: one dwell entry each. */
  settle(t: number): void {
    if (this.day.date !== this.date) {
      this.date = this.day.date
      this.entries.clear()
    }
    for (const [d, start] of this.open) if (d.lastInShop === null || t - d.lastInShop.ts > this.endMs) this.end(d, start)
  }

  /** A device the linker drops: an open visit ends now (nothing more will be heard of it). */
  drop(d: WifiDevice): void {
    const start = this.open.get(d)
    if (start !== undefined) this.end(d, start)
    this.entries.delete(d)
  }

  /** A visitor taken back: its open visit and its entries of today go. */
  takeBack(d: WifiDevice): void {
    this.open.delete(d)
    for (const s of this.entries.get(d) ?? []) this.day.removeDwell(s)
    this.entries.delete(d)
  }

  /** Visits open now (for tests and bounds). */
  openVisits(): number {
    return this.open.size
  }

  private end(d: WifiDevice, start: number): void {
    this.open.delete(d)
    if (d.lastInShop === null) return
    this.ended.set(d, d.lastInShop.ts)
    const s = Math.round((Math.max(0, d.lastInShop.ts - start) + this.padMs) / 1000)
    this.day.addDwell(s)
    const list = this.entries.get(d) ?? []
    list.push(s)
    if (this.entries.has(d) || this.entries.size < MAX_TIMED) this.entries.set(d, list)
  }
}
