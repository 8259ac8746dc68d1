// The first start (people.ts): a gateway that has learned nothing yet (no fixture, no fixture spot,
// no stays kept from an earlier run) hears, in its first minutes, every device that was already
// there, for a time it cannot know. Shoppers among them leave within a visit; always-on devices
// (desktops, tills, staff phones) stay, and each would count as a person until it has stayed longer
// than visits last (the long-stay rule's half hour before any stay is learned). What tells the two
// apart at once is whether the store is open: an open store has newcomers coming in (a device first
// heard after the start that settles inside), a closed one has none. So, after a cold start, the
// devices heard from the start are not visitors and weigh in `n` only the chance that the store is
// open, which time without a newcomer wears away (an open store gives one every few minutes), until
// three newcomers have settled; in the range they count fully. At a start during the open hours
// that costs part of the shoppers present for the minutes before the newcomers settle; at a start
// in the closed hours it keeps the always-on devices out until they are learned.
import type { WifiDevice } from './wifi-device-types.ts'

/** Newcomers that open the store: one is too few (an always-on device whose first burst was lost, a passer-by placed inside twice). */
export const COLD_ARRIVALS = 3

export class ColdStart {
  /** The first event time seen (the start). */
  private start = Infinity
  private arrivals = 0
  /** Whether the devices heard from the start count as any device does. */
  private open: boolean

  /**
   * @param cold nothing was learned before this start (a restart on kept state is not one)
   * @param windowMs a device first heard within this of the start may have been here before it (its longest probe interval, ms)
   */
  constructor(
    cold: boolean,
    private readonly windowMs: number,
    /** An open store's mean time between newcomers at its quietest, ms. */
    private readonly quietMs: number
  ) {
    this.open = !cold
  }

  /** An event time: the first one is the start. */
  seen(t: number): void {
    if (t < this.start) this.start = t
  }

  /**
   * What a device weighs in `n` at t: 1, unless it was heard from the start and the store has not
   * been seen open yet: then the chance an open store gave no newcomer for so long.
   */
  weight(d: WifiDevice, t: number): number {
    if (this.open || !this.fromStart(d) || this.quietMs <= 0) return 1
    return Math.exp(-Math.max(0, t - this.start) / this.quietMs)
  }

  /**
   * A device that settled inside: a newcomer unless it was heard from the start or took over the
   * stay of a device gone quiet at its spot (a rotating always-on device's next piece).
   */
  settled(d: WifiDevice): void {
    if (this.open || this.fromStart(d) || d.stayFrom !== d.firstTs) return
    if (++this.arrivals >= COLD_ARRIVALS) this.open = true
  }

  /** Whether the store was seen open since a cold start (or the start was not cold). */
  get opened(): boolean {
    return this.open
  }

  private fromStart(d: WifiDevice): boolean {
    return d.firstTs <= this.start + this.windowMs
  }
}
