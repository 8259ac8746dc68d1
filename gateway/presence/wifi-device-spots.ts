// A learned fixture's spot (wifi-devices.ts): an always-on device that rotates its address and
// restarts its 802.11 counter with each new one keeps breaking into pieces (a burst lost, one placed
// far off, a passer-by of its model taking its chain for a burst), and each piece would count as a
// shopper until learned again. Once one of its pieces has been learned as a fixture, its model and
// spot are remembered, and the pieces of that model at that spot that follow one another in time
// (one starts after the other went quiet: one radio) are taken for it. A phone of that model at
// that spot heard while the fixture's piece is too overlaps it in time, and is counted.
import type { WifiDevice } from './wifi-device-types.ts'

export interface FixtureSpot {
  fp: string
  floor: number
  x: number
  y: number
  /** Kept until, ms (a week after it was last learned, as a fixture's address is). */
  until: number
  /** Its mean time between bursts, ms, as learned: a piece heard faster has taken in a phone of its model too. */
  intervalMs: number
  /** The addresses (subject hashes) it was learned from: an erasure of any of them forgets it; none for a spot learned across chains (model-spots.ts). */
  addresses: Set<string>
}

/** Outweighs any count of bursts. */
const SURE = 1e9
/** The least extra bursts, in phones, a piece at a spot learned across chains counts for (half a phone at a chain's spot). */
const ACROSS_MIN_EXTRA = 0.75
/** Spots held at most (one per rotating fixture: a few a store). */
export const MAX_SPOTS = 200

export class FixtureSpots {
  /** Spots a fixture's chain taught: each kept its week, forgotten with any of its addresses. */
  private readonly chained: FixtureSpot[] = []
  /**
   * Spots learned across chains (model-spots.ts), apart from those a chain taught: each lives as
   * long as its model is heard there, whatever a chain's spot at its place does (one that merged
   * with a chain's spot would go with that spot's week, or, merged the other way, never).
   */
  private readonly across: FixtureSpot[] = []
  /**
   * A spot learned across chains where a chain taught one within `radiusM` (when either was
   * learned): the same fixture, so the chain's spot stands for both while held (it knows the
   * device's rate; two spots there would take two radios for one). Kept as learned, not by
   * distance now: the place learned across chains follows its bursts and may drift off the chain's.
   */
  private readonly under = new WeakMap<FixtureSpot, FixtureSpot>()
  /** The spot a piece was taken for once: its later bursts, placed a few metres off, do not lose it. */
  private readonly taken = new WeakMap<WifiDevice, FixtureSpot>()

  /** Told of each spot newly learned (by a chain or across chains), not of one taken up from a kept state. */
  onLearn: (s: FixtureSpot) => void = () => {}

  /** A piece whose mean spot is within this of a spot is at it, m (wider for a young one). */
  constructor(readonly radiusM: number) {}

  /** The spots in use: those a chain taught, and those learned across chains no spot a chain taught stands for. */
  get spots(): FixtureSpot[] {
    return [...this.chained, ...this.across.filter(s => !this.stoodFor(s))]
  }

  /** Whether a spot is still held (a spot learned across chains may have been pushed out by the bound). */
  has(s: FixtureSpot): boolean {
    return this.chained.includes(s) || this.across.includes(s)
  }

  /** A device just classed a fixture: its model and mean spot, unless its address is stable (known again by it). */
  learn(d: WifiDevice, until: number): void {
    if (d.stable || d.fp === null || d.bursts === 0) return
    const x = d.sumX / d.bursts
    const y = d.sumY / d.bursts
    const intervalMs = (d.lastTs - d.firstTs) / Math.max(1, d.bursts - 1)
    const s = this.chained.find(s => s.fp === d.fp && s.floor === d.last.floor && Math.hypot(s.x - x, s.y - y) <= this.radiusM)
    if (s) {
      // The same fixture learned again (a new day, a new piece): its latest mean spot.
      s.x = x
      s.y = y
      s.intervalMs = intervalMs
      s.until = Math.max(s.until, until)
      s.addresses.add(d.address)
      return
    }
    const spot: FixtureSpot = { fp: d.fp, floor: d.last.floor, x, y, until, intervalMs, addresses: new Set([d.address]) }
    this.chained.push(spot)
    if (this.chained.length > MAX_SPOTS) this.chained.shift()
    for (const a of this.across) if (!this.stoodFor(a) && this.near(spot, a)) this.under.set(a, spot)
    this.onLearn(spot)
  }

  /** A spot learned across chains (model-spots.ts): kept until removed (its model falls silent there), from no address. */
  add(s: { fp: string; floor: number; x: number; y: number; intervalMs: number }): FixtureSpot {
    const spot: FixtureSpot = { ...s, until: Infinity, addresses: new Set() }
    const chain = this.chained.find(o => this.near(o, spot))
    if (chain !== undefined) this.under.set(spot, chain)
    this.across.push(spot)
    if (this.across.length > MAX_SPOTS) this.across.shift()
    return spot
  }

  /** A spot learned across chains goes; one a chain taught is not removed this way (it stays its week). */
  remove(s: FixtureSpot): void {
    const i = this.across.indexOf(s)
    if (i >= 0) this.across.splice(i, 1)
  }

  /** The spots a chain taught, to keep across a restart (people-learned.ts). */
  chainedSpots(): FixtureSpot[] {
    return this.chained
  }

  /** A spot a chain taught, kept by an earlier run. */
  restoreChained(s: FixtureSpot): void {
    if (this.chained.length >= MAX_SPOTS) return
    this.chained.push(s)
  }

  /** Forgets the spots learned from `subject` (erasure, consent withdrawn); whether there was one. */
  forgetSubject(subject: string): boolean {
    const n = this.chained.length
    for (let i = n - 1; i >= 0; i--) if (this.chained[i].addresses.has(subject)) this.chained.splice(i, 1)
    return this.chained.length < n
  }

  forgetBefore(t: number): void {
    for (let i = this.chained.length - 1; i >= 0; i--) if (this.chained[i].until < t) this.chained.splice(i, 1)
  }

  /**
   * The devices taken for a spot's fixture now, among those present: per spot, of its model's
   * pieces there, the most bursts that follow one another without overlapping in time (one radio).
   */
  radios(present: Iterable<WifiDevice>): Set<WifiDevice> {
    const out = new Set<WifiDevice>()
    const spots = this.spots
    if (spots.length === 0) return out
    const bySpot = new Map<FixtureSpot, WifiDevice[]>()
    const spotOf = new Map<WifiDevice, FixtureSpot>()
    for (const d of present) {
      if (d.stable || d.fp === null || d.bursts === 0 || d.flood || d.suspect) continue
      const s = this.spotOf(d, spots)
      if (s === null) continue
      spotOf.set(d, s)
      const list = bySpot.get(s) ?? []
      list.push(d)
      bySpot.set(s, list)
    }
    // Spots of one model near each other (always-on devices of a common model a few metres apart)
    // share their pieces: the chains of such radios mix, and a piece's mean lies between them as
    // often as not. A group takes as many radios as it has spots.
    for (const group of groups(spots, 2 * this.radiusM)) {
      let left = group.flatMap(s => bySpot.get(s) ?? [])
      for (let k = 0; k < group.length && left.length > 0; k++) {
        const radio = oneRadio(left)
        for (const d of radio) {
          out.add(d)
          // Kept while its spot is in use; one gone (or a spot learned across chains that a chain's
          // spot now stands on) hands it to the spot it is at now, whose rate it is measured against.
          const was = this.taken.get(d)
          if (was === undefined || !spots.includes(was)) this.taken.set(d, spotOf.get(d) ?? group[0])
        }
        left = left.filter(d => !radio.includes(d))
      }
    }
    return out
  }

  /**
   * Phones besides the fixture a piece taken for it holds now: a phone of its model beside it whose
   * new addresses the linker gave to the fixture's chain makes the chain burst faster than the
   * fixture does. The bursts of the last `windowMs` beyond the fixture's own rate, in phones probing
   * every `phoneIntervalMs`.
   */
  extraPhones(d: WifiDevice, t: number, windowMs: number, phoneIntervalMs: number): number {
    const s = this.taken.get(d)
    if (s === undefined || s.intervalMs <= 0) return 0
    const span = Math.min(windowMs, t - d.firstTs + phoneIntervalMs)
    const recent = d.recent.filter(ts => ts > t - windowMs).length
    const extra = (recent / span - 1 / s.intervalMs) * phoneIntervalMs
    // At a spot learned across chains, its rate is known less well (only its bursts placed at the
    // spot were counted, so it reads slow) and the chains of two devices of its model there mix:
    // three quarters of a phone at least.
    return extra >= (s.addresses.size === 0 ? ACROSS_MIN_EXTRA : 0.5) ? Math.min(3, extra) : 0
  }

  /** Whether a spot learned across chains has a spot a chain taught standing for it now. */
  private stoodFor(s: FixtureSpot): boolean {
    const chain = this.under.get(s)
    return chain !== undefined && this.chained.includes(chain)
  }

  private near(a: FixtureSpot, b: FixtureSpot): boolean {
    return sameModel(a, b) && Math.hypot(a.x - b.x, a.y - b.y) <= this.radiusM
  }

  private spotOf(d: WifiDevice, spots: FixtureSpot[]): FixtureSpot | null {
    const was = this.taken.get(d)
    if (was !== undefined && spots.includes(was)) return was
    const x = d.sumX / d.bursts
    const y = d.sumY / d.bursts
    let best: FixtureSpot | null = null
    // One burst is placed a few metres off, the mean of several nearer: a young piece is looked for wider.
    let bestD = Math.max(this.radiusM, (2 * this.radiusM) / Math.sqrt(d.bursts))
    for (const s of spots) {
      if (s.fp !== d.fp || s.floor !== d.last.floor) continue
      const dist = Math.hypot(s.x - x, s.y - y)
      if (dist <= bestD) {
        bestD = dist
        best = s
      }
    }
    return best
  }
}

function sameModel(a: FixtureSpot, b: FixtureSpot): boolean {
  return a.fp === b.fp && a.floor === b.floor
}

/** Spots linked where two lie within `m` of each other (per model and floor). */
function groups(spots: FixtureSpot[], m: number): FixtureSpot[][] {
  const out: FixtureSpot[][] = []
  const seen = new Set<FixtureSpot>()
  for (const s of spots) {
    if (seen.has(s)) continue
    const g = [s]
    seen.add(s)
    for (let i = 0; i < g.length; i++)
      for (const o of spots)
        if (!seen.has(o) && sameModel(o, g[i]) && Math.hypot(o.x - g[i].x, o.y - g[i].y) <= m) {
          seen.add(o)
          g.push(o)
        }
    out.push(g)
  }
  return out
}

/**
 * Of pieces at one spot, the set that follow one another in time (each first heard after the one
 * before was last heard) with the most bursts: weighted interval scheduling, over the few pieces
 * present at one spot.
 */
export function oneRadio(pieces: WifiDevice[]): WifiDevice[] {
  const p = [...pieces].sort((a, b) => a.lastTs - b.lastTs)
  // best[i]: the heaviest chain among the first i pieces; from[i]: whether piece i-1 is in it.
  const best: number[] = [0]
  const take: boolean[] = [false]
  const prev: number[] = [0]
  for (let i = 0; i < p.length; i++) {
    // The pieces (by last heard) that ended before this one began.
    let j = i
    while (j > 0 && p[j - 1].lastTs >= p[i].firstTs) j--
    prev.push(j)
    // A piece learned as the fixture is the radio for sure: a piece heard while it is is another phone.
    const withIt = best[j] + p[i].bursts + (p[i].fixture ? SURE : 0)
    take.push(withIt > best[i])
    best.push(Math.max(withIt, best[i]))
  }
  const out: WifiDevice[] = []
  for (let i = p.length; i > 0; ) {
    if (take[i]) {
      out.push(p[i - 1])
      i = prev[i]
    } else i--
  }
  return out
}
