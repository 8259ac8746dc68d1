// Fixtures learned by their spot across chains (wifi-devices.ts). An always-on device of a common
// model that rotates its address and restarts its counter breaks into pieces that each last minutes
// (a burst lost or placed far off, a passer-by of its model taking its chain for a burst), so no
// chain lasts the hours that learn a fixture, and each piece counts as a person. What such a device
// does show, whatever its address: its model is heard at one spot nearly all the time, day and
// night. Shoppers of a common model fill a spot for the open hours too, but not through the night
// (a store that is open 17 h a day or more does not learn this way); so a spot is learned when its
// model was heard there in most 10-minute slots over a whole day, and handed to the fixture spots
// (wifi-device-spots.ts), which take its model's pieces there for one radio. A learned spot whose
// model falls silent there goes again, and one no longer held there is handed over again. It is
// never one a fixture's chain taught at its place: that one lasts its week, this one while its model
// is heard. Only bursts of rotating addresses are looked at (a global address is known by itself),
// and no address is kept: a spot is a model and a place.
import { SLOT_MS, DAY_MS, type Burst } from './wifi-device-types.ts'
import type { FixtureSpot, FixtureSpots } from './wifi-device-spots.ts'

interface Candidate {
  fp: string
  floor: number
  x: number
  y: number
  /** Bursts that moved its place so far, capped (its place follows a slow drift, one burst moves it little). */
  weight: number
  /** Bursts per 10-minute slot over the last day. */
  slots: Map<number, number>
  lastTs: number
  /** The fixture spot it stands for while learned (its own: never one a chain taught). */
  spot: FixtureSpot | null
  /** Learned with the places of its model beside it (heardMost), and kept while they are heard together. */
  pooled: boolean
}

/** A candidate as kept across a restart (people-learned.ts). */
export interface KeptPlace {
  fp: string
  floor: number
  x: number
  y: number
  weight: number
  lastTs: number
  slots: Array<[number, number]>
  learned: boolean
  /**
   * Learned with the places of its model beside it: its rate and lapse rule are theirs together.
   * Absent in a state kept before it was saved: worked out from its slots (see `restore`).
   */
  pooled?: boolean
}

/** Slots in a day: the window a spot must be heard across. */
const DAY_SLOTS = DAY_MS / SLOT_MS
/** Slots in an hour. */
const HOUR_SLOTS = 3_600_000 / SLOT_MS
/** A spot's place is the mean of its bursts, the most recent this many weighing as much as all before. */
const MAX_WEIGHT = 30
/** Candidate spots held at most (a few per model and shop; a sender inventing models evicts the oldest). */
export const MAX_CANDIDATES = 2000

export class ModelSpots {
  /** Candidates by model; `order` holds each once, least recently heard first (eviction). */
  private readonly byModel = new Map<string, Candidate[]>()
  private readonly order = new Set<Candidate>()

  /**
   * @param radiusM a burst within this of a candidate of its model is heard at that spot, m
   * @param coverage share of a day's 10-minute slots a spot must be heard in to be learned (the fixture rule's share)
   * @param inShop whether a place lies inside a shop (only there does a fixture change a count)
   * @param spots where a spot just learned is added, one heard too seldom over the last day removed
   */
  constructor(
    private readonly radiusM: number,
    private readonly coverage: number,
    private readonly inShop: (x: number, y: number, floor: number) => boolean,
    private readonly spots: Pick<FixtureSpots, 'add' | 'remove' | 'has'> & Partial<Pick<FixtureSpots, 'onLearn'>>
  ) {}

  /** A burst of a rotating address that reports its model's fingerprint. */
  observe(b: Burst): void {
    if (b.fp === null) return
    const list = this.byModel.get(b.fp) ?? []
    let c: Candidate | null = null
    let best = this.radiusM
    for (const k of list) {
      if (k.floor !== b.floor) continue
      const d = Math.hypot(k.x - b.x, k.y - b.y)
      if (d <= best) {
        best = d
        c = k
      }
    }
    if (c === null) {
      c = { fp: b.fp, floor: b.floor, x: b.x, y: b.y, weight: 0, slots: new Map(), lastTs: b.ts, spot: null, pooled: false }
      list.push(c)
      this.byModel.set(b.fp, list)
      if (this.order.size >= MAX_CANDIDATES) this.drop(this.order.values().next().value as Candidate)
    }
    this.order.delete(c)
    this.order.add(c)
    c.x = (c.x * c.weight + b.x) / (c.weight + 1)
    c.y = (c.y * c.weight + b.y) / (c.weight + 1)
    c.weight = Math.min(MAX_WEIGHT, c.weight + 1)
    c.lastTs = Math.max(c.lastTs, b.ts)
    const slot = Math.floor(b.ts / SLOT_MS)
    c.slots.set(slot, (c.slots.get(slot) ?? 0) + 1)
    this.prune(c, slot)
    // A spot no longer held (pushed out by the bound) is learned again, as its model is still heard there.
    if (c.spot !== null && !this.spots.has(c.spot)) c.spot = null
    if (c.spot !== null) {
      c.spot.x = c.x
      c.spot.y = c.y
    } else if (this.inShop(c.x, c.y, c.floor)) {
      const heard = this.heardMost(c)
      if (heard === null) return
      c.pooled = heard !== c.slots
      c.spot = this.spots.add({ fp: c.fp, floor: c.floor, x: c.x, y: c.y, intervalMs: SLOT_MS / Math.max(1, usual(heard)) })
      this.spots.onLearn?.(c.spot)
    }
  }

  /** At t: learned spots heard in fewer than half the slots a spot is learned at go; candidates quiet for a day are forgotten. */
  flush(t: number): void {
    const slot = Math.floor(t / SLOT_MS)
    for (const c of this.order) {
      if (t - c.lastTs > DAY_MS) {
        this.drop(c)
        continue
      }
      if (c.spot !== null && !this.spots.has(c.spot)) c.spot = null
      if (c.spot === null) continue
      this.prune(c, slot)
      // Heard in most slots by itself now: its own place's rule and rate from here on.
      if (c.pooled && c.slots.size >= this.coverage * DAY_SLOTS) c.pooled = false
      const heard = c.pooled ? this.pooledSlots(c) : c.slots
      if (heard.size < (this.coverage / 2) * DAY_SLOTS) {
        this.spots.remove(c.spot)
        c.spot = null
      } else c.spot.intervalMs = SLOT_MS / Math.max(1, usual(heard))
    }
  }

  /**
   * The candidates worth keeping across a restart (people-learned.ts): those heard in at least `minSlots`
   * slots of the last day, the most heard first, at most `max`; learned ones always.
   */
  kept(minSlots: number, max: number): KeptPlace[] {
    return [...this.order]
      .filter(c => c.slots.size >= minSlots || c.spot !== null)
      .sort((a, b) => Number(b.spot !== null) - Number(a.spot !== null) || b.slots.size - a.slots.size)
      .slice(0, max)
      .map(c => ({
        fp: c.fp,
        floor: c.floor,
        x: c.x,
        y: c.y,
        weight: c.weight,
        lastTs: c.lastTs,
        slots: [...c.slots],
        learned: c.spot !== null,
        pooled: c.spot !== null && c.pooled
      }))
  }

  /**
   * A candidate an earlier run kept: a learned one is a fixture spot again at once, with the rate of
   * the slots it is held by. Kept without `pooled` (an older state): a learned place heard by itself
   * in fewer slots than learning needs is taken as learned with its neighbours, which it most likely
   * was; one learned by itself and lapsing since is then held by its neighbours a little longer.
   */
  restore(k: KeptPlace): void {
    if (this.order.size >= MAX_CANDIDATES) return
    const slots = new Map(k.slots)
    const pooled = k.learned && (k.pooled ?? slots.size < this.coverage * DAY_SLOTS)
    const c: Candidate = { fp: k.fp, floor: k.floor, x: k.x, y: k.y, weight: Math.min(MAX_WEIGHT, k.weight), slots, lastTs: k.lastTs, spot: null, pooled }
    const list = this.byModel.get(c.fp) ?? []
    list.push(c)
    this.byModel.set(c.fp, list)
    this.order.add(c)
    if (k.learned) c.spot = this.spots.add({ fp: c.fp, floor: c.floor, x: c.x, y: c.y, intervalMs: SLOT_MS / Math.max(1, usual(c.slots)) })
    // Places are taken up one by one, the learned first: a pooled place's rate is set again as each neighbour comes.
    for (const p of list) {
      if (p.spot === null || !p.pooled || p.floor !== c.floor || Math.hypot(p.x - c.x, p.y - c.y) > this.radiusM) continue
      p.spot.intervalMs = SLOT_MS / Math.max(1, usual(this.pooledSlots(p)))
    }
  }

  /** Learned spots now. */
  learned(): Array<{ fp: string; floor: number; x: number; y: number }> {
    return [...this.order].filter(c => c.spot !== null && this.spots.has(c.spot)).map(c => ({ fp: c.fp, floor: c.floor, x: c.x, y: c.y }))
  }

  get size(): number {
    return this.order.size
  }

  /**
   * Its bursts per slot if it is heard in most slots of the day (the fixture rule's share), else null.
   * A device by a wall has its bursts placed on both sides of it, so its model's place splits in two
   * and neither alone is heard in most slots; together they are (a printer by the door). So a place
   * heard in at least half that share, in most hours of the day, is learned when it is, with the
   * places of its model within reach that stand for no spot, unless a learned place of its model is near enough to share its
   * pieces (that device's bursts split across places: its neighbours are its own, not another's).
   */
  private heardMost(c: Candidate): Map<number, number> | null {
    const need = this.coverage * DAY_SLOTS
    if (c.slots.size >= need) return c.slots
    if (c.slots.size < need / 2) return null
    // Day and night at the place itself: shoppers fill a place in the open hours, and passers-by
    // one beyond the front wall in the others; together they would be heard at all hours. An hour
    // counts where the place is heard in a third of its slots or more, as a device split by the
    // wall is: one burst placed inside (a stranger's device on the street, once an hour) is not
    // the place heard that hour.
    if (this.ownHours(c).size < this.coverage * (DAY_SLOTS / HOUR_SLOTS)) return null
    for (const k of this.byModel.get(c.fp) ?? []) if (k.spot !== null && k.floor === c.floor && Math.hypot(k.x - c.x, k.y - c.y) <= 2 * this.radiusM) return null
    const heard = this.pooledSlots(c)
    return heard.size >= need ? heard : null
  }

  /** The hours (slot / HOUR_SLOTS) in which a candidate itself is heard in a third of the slots or more. */
  private ownHours(c: Candidate): Set<number> {
    const perHour = new Map<number, number>()
    for (const s of c.slots.keys()) {
      const h = Math.floor(s / HOUR_SLOTS)
      perHour.set(h, (perHour.get(h) ?? 0) + 1)
    }
    return new Set([...perHour].filter(([, n]) => n >= HOUR_SLOTS / 3).map(([h]) => h))
  }

  /**
   * Bursts per slot at a candidate and at the places of its model within reach that stand for no
   * spot, those in the hours the candidate is itself heard in (ownHours): what is heard beyond the
   * wall while the place inside is near silent is passers-by's, not the device's other side.
   */
  private pooledSlots(c: Candidate): Map<number, number> {
    const heard = new Map(c.slots)
    const hours = this.ownHours(c)
    for (const k of this.byModel.get(c.fp) ?? []) {
      if (k === c || k.floor !== c.floor || k.spot !== null || Math.hypot(k.x - c.x, k.y - c.y) > this.radiusM) continue
      for (const [s, n] of k.slots) if (hours.has(Math.floor(s / HOUR_SLOTS))) heard.set(s, (heard.get(s) ?? 0) + n)
    }
    return heard
  }

  private prune(c: Candidate, slot: number): void {
    for (const s of c.slots.keys()) if (s <= slot - DAY_SLOTS) c.slots.delete(s)
  }

  private drop(c: Candidate): void {
    this.order.delete(c)
    if (c.spot !== null) this.spots.remove(c.spot)
    const list = this.byModel.get(c.fp) ?? []
    const i = list.indexOf(c)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.byModel.delete(c.fp)
  }
}

/**
 * Its bursts per 10 minutes usually: the median over the day's slots (those it was not heard in
 * count as none). Shoppers of its model add bursts in open hours, the night's slots hold the
 * device's alone, so in a store closed half the day the median is the device's own.
 */
function usual(slots: Map<number, number>): number {
  const n = [...slots.values()]
  while (n.length < DAY_SLOTS) n.push(0)
  n.sort((a, b) => a - b)
  return n[Math.floor(n.length / 2)]
}
