// Anonymous BLE devices (rotating addresses, unresolvable EIDs) chained across their addresses,
// for people counting (people.ts): which present addresses are devices to count now, and which
// chains become visitors. A place (shop and sector) giving more new devices a minute than a real
// crowd does is flooded (newcomers.ts): its new addresses are then taken for one device, a
// transmitter inventing them, and the chains it gave just before are suspect and not counted.
import { NewcomerLimit, NEWCOMER_WINDOW_MS } from './newcomers.ts'
import type { BleChain, BleChainOptions, Placed } from './people-types.ts'

/** Chains held at most (memory, and the cost of looking for the chain a new address continues). */
const MAX_CHAINS = 1_000_000
/** Addresses taken for a flooding sender held at most (they are forgotten oldest first). */
const MAX_FOLDED = 100_000

export class BleChains {
  /** Chains by their current address. */
  private readonly chains = new Map<string, BleChain>()
  readonly newcomers: NewcomerLimit<BleChain>
  /** Per flooded place, the chain standing for every new address it gave while flooded. */
  private readonly floods = new Map<string, BleChain>()
  /** Addresses taken for a flood, oldest heard first, with their place. */
  private readonly folded = new Map<string, { place: string; lastTs: number }>()
  /** Suspect chains, with when their place's flood made them suspect. */
  private readonly suspected = new Map<BleChain, number>()

  constructor(
    private readonly o: BleChainOptions,
    /** A chain here in a shop long enough to be a visitor (people.ts counts it once a day). */
    private readonly onVisitor: (c: BleChain, t: number) => void,
    /** A chain taken for a flooding sender's after all (people.ts takes back its visitor). */
    private readonly onSuspect: (c: BleChain) => void
  ) {
    this.newcomers = new NewcomerLimit(o.newBleDevicesPerSectorMin)
  }

  /**
   * The anonymous devices heard at t, chained. A new address that appears in the shop where
   * another went quiet at about the same time is taken for the same device, whichever is seen
   * first (the old address stays present until its presence times out, so the two overlap). A
   * new address counts as a visitor only once no quiet one has claimed it for `bleLinkGapMs`.
   * Returns the devices to count now: one per address, but none for a suspect chain and one per
   * flooded place for all the addresses taken for its flood.
   */
  step(t: number, anonymous: Placed[]): Placed[] {
    const gap = this.o.bleLinkGapMs
    const present = new Set<BleChain>()
    const counted: Placed[] = []
    const floods = new Set<BleChain>()
    for (const a of anonymous) {
      const f = this.folded.get(a.subject)
      if (f) {
        this.folded.delete(a.subject)
        this.folded.set(a.subject, { place: f.place, lastTs: t })
        const c = this.floods.get(f.place)
        if (c) this.hear(c, t, a, floods)
        continue
      }
      let c = this.chains.get(a.subject)
      if (!c) {
        // Just rotated into this one: the most recent chain gone quiet in the same place.
        let best: BleChain | null = null
        for (const q of this.chains.values()) {
          if (!q.suspect && q.lastTs < t && t - q.lastTs <= gap && q.shop === a.shop && (best === null || q.lastTs > best.lastTs)) best = q
        }
        if (!best) {
          const place = `${a.shop}/${a.sector}`
          if (!this.newcomers.admit(place, t, recent => this.suspect(recent, t))) {
            this.fold(a, place, t, floods)
            continue
          }
          if (this.chains.size >= MAX_CHAINS) continue
        }
        c = best ?? { address: a.subject, firstTs: t, lastTs: t, shop: a.shop, sector: a.sector, countedDay: '', countedTs: 0, young: true, quiet: false, suspect: false }
        if (best) this.chains.delete(best.address)
        else this.newcomers.made(`${a.shop}/${a.sector}`, t, c)
        c.address = a.subject
        this.chains.set(a.subject, c)
      }
      c.lastTs = t
      c.shop = a.shop
      c.sector = a.sector
      c.quiet = false
      present.add(c)
      // Still heard past the flood's minute: not a sender's one-off address (kept alive, capacity bounds them).
      if (c.suspect && t - (this.suspected.get(c) ?? t) >= NEWCOMER_WINDOW_MS) {
        c.suspect = false
        this.suspected.delete(c)
      }
      if (!c.suspect) counted.push(a)
    }
    // Gone quiet now: a young address that appeared here while it timed out is its next one.
    for (const c of this.chains.values()) {
      if (present.has(c) || c.quiet) continue
      c.quiet = true
      if (c.suspect) continue
      for (const y of present) {
        if (!y.young || y.suspect || y === c || y.shop !== c.shop || y.firstTs < c.lastTs - gap) continue
        this.chains.delete(y.address)
        this.chains.set(y.address, c)
        this.chains.delete(c.address)
        c.address = y.address
        c.lastTs = y.lastTs
        c.quiet = false
        present.delete(y)
        present.add(c)
        break
      }
    }
    for (const c of present) {
      if (c.suspect || (c.young && t - c.firstTs < gap)) continue
      c.young = false
      this.onVisitor(c, t)
    }
    for (const c of floods) {
      counted.push({ subject: c.address, shop: c.shop, sector: c.sector })
      this.onVisitor(c, t)
    }
    for (const [k, c] of this.chains) if (t - c.lastTs > this.o.forgetMs) this.chains.delete(k)
    for (const c of this.suspected.keys()) if (t - c.lastTs > this.o.forgetMs || this.chains.get(c.address) !== c) this.suspected.delete(c)
    for (const [k, c] of this.floods) if (t - c.lastTs > this.o.forgetMs) this.floods.delete(k)
    for (const [k, f] of this.folded) {
      if (t - f.lastTs <= this.o.forgetMs && this.folded.size <= MAX_FOLDED) break
      this.folded.delete(k)
    }
    return counted
  }

  /** A new address at a flooded place: taken for the one device standing for its new addresses. */
  private fold(a: Placed, place: string, t: number, floods: Set<BleChain>): void {
    this.folded.set(a.subject, { place, lastTs: t })
    let c = this.floods.get(place)
    if (!c) {
      c = { address: `flood:${place}`, firstTs: t, lastTs: t, shop: a.shop, sector: a.sector, countedDay: '', countedTs: 0, young: false, quiet: false, suspect: false }
      this.floods.set(place, c)
    }
    this.hear(c, t, a, floods)
  }

  private hear(c: BleChain, t: number, a: Placed, floods: Set<BleChain>): void {
    c.lastTs = t
    c.shop = a.shop
    c.sector = a.sector
    floods.add(c)
  }

  /**
   * Chains a place gave within the minute before it was flooded and heard once: most likely the
   * sender's. One not young any more was heard across `bleLinkGapMs`, longer than one advert keeps
   * an address placed: heard again, a device.
   */
  private suspect(recent: BleChain[], t: number): void {
    for (const c of recent) {
      if (c.suspect || !c.young || this.chains.get(c.address) !== c) continue
      c.suspect = true
      this.suspected.set(c, t)
      this.onSuspect(c)
    }
  }

  /** Whether a subject is held (an address of a chain, suspect or not, or one taken for a flood). */
  holds(subject: string): boolean {
    if (this.chains.has(subject) || this.folded.has(subject)) return true
    for (const c of this.suspected.keys()) if (c.address === subject) return true
    return false
  }

  /** Forgets a subject (erasure, consent withdrawn). */
  forget(subject: string): void {
    this.chains.delete(subject)
    this.folded.delete(subject)
    for (const c of this.suspected.keys()) if (c.address === subject) this.suspected.delete(c)
  }
}
