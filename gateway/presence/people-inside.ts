// Whether one loud burst inside is evidence of a visit (people.ts). A short visit may give a single
// burst inside, and a loud one is counted as a visitor at once; but the solver also places a
// passer-by's loud burst a few metres inside the wall nearest the street or corridor, and that is
// no visit. Where that edge lies is the site's, and no site file says so: it is learned from the
// traffic, per patch of ground inside a shop, as the share of the devices whose first burst inside
// landed there that a second burst inside followed before they went. A loud single burst is a
// visitor only where most such newcomers turned out to come in. A patch with few outcomes yet is
// drawn towards what loud single bursts anywhere in its shop (that shop only: in a mall, one shop's
// traffic says nothing of its neighbour's) turned out to be of late (itself drawn towards none: no
// evidence yet), weighing as a few devices: a patch learns slowly, the shop fast. The edge by the
// street or corridor fills with passers-by and reads near nothing; the floor further in, where
// newcomers are shoppers, reads near all. What is learned is kept across restarts with the rest of
// people counting's learning (people-inside-keep.ts).
import { Type, type Static } from '@sinclair/typebox'
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
/** Shops held at most (a site lists a few hundred at most). */
const MAX_SHOPS = 2_000

/** A shop's id as a site file may give it (the kept state is the store's own, but read as hostile all the same). */
const ShopId = Type.String({ minLength: 1, maxLength: 128 })
/** Outcomes, oldest first: '1' came in, '0' passed. */
const Outcomes = Type.String({ minLength: 1, maxLength: WINDOW, pattern: '^[01]+$' })
/** A patch's index: a plan is at most 1e5 m across (people-learned.ts's coordinates), patches a few metres. */
const CellIndex = Type.Integer({ minimum: -1e5, maximum: 1e5 })
/** What is kept across a restart (people-inside-keep.ts): outcomes per shop and per patch, no device. */
export const PeopleInsideState = Type.Object(
  {
    v: Type.Literal(1),
    shops: Type.Array(Type.Object({ shop: ShopId, o: Outcomes }, { additionalProperties: false }), { maxItems: MAX_SHOPS }),
    cells: Type.Array(
      Type.Object({ shop: ShopId, floor: Type.Integer({ minimum: -100, maximum: 1000 }), cx: CellIndex, cy: CellIndex, o: Outcomes }, { additionalProperties: false }),
      { maxItems: MAX_CELLS }
    )
  },
  { additionalProperties: false }
)
export type PeopleInsideStateT = Static<typeof PeopleInsideState>

export class InsideOdds {
  /** Outcomes per patch, keyed by shop, floor and cell. */
  private readonly cells = new Map<string, Cell>()
  /** The last outcomes anywhere in each shop (its patches' prior). */
  private readonly shops = new Map<string, boolean[]>()
  private readonly pending = new Map<WifiDevice, { shop: string; key: string; floor: number; cx: number; cy: number }>()

  /** The site's shops: a kept patch of a shop no longer on the plan is left at restore. */
  private readonly siteShops: ReadonlySet<string>

  /** @param presenceMs a device not heard again within this has gone (the outcome: passed) */
  constructor(
    private readonly presenceMs: number,
    shops: readonly string[] = []
  ) {
    this.siteShops = new Set(shops)
  }

  /** The patch a burst inside lies in (a patch across a wall is two: one per shop). */
  static key(b: Burst): string {
    return cellKey(b.shop ?? '', b.floor, Math.floor(b.x / CELL_M), Math.floor(b.y / CELL_M))
  }

  /** The share of the newcomers first placed inside at this patch that came in, drawn towards its shop's. */
  share(key: string, shop: string): number {
    const all = this.shops.get(shop) ?? []
    const prior = came(all) / (PRIOR_N + all.length)
    const o = this.cells.get(key)?.o ?? []
    return (came(o) + PRIOR_N * prior) / (PRIOR_N + o.length)
  }

  /** Whether a single burst inside at this patch is evidence of a visit. */
  evidence(b: Burst): boolean {
    return b.shop !== null && this.share(InsideOdds.key(b), b.shop) > EVIDENCE
  }

  /** A device heard once inside: its outcome at its patch is learned when a second burst lands inside, or it goes. */
  watch(d: WifiDevice, b: Burst): void {
    if (b.shop === null || d.inShop !== 1 || this.pending.has(d) || this.pending.size >= MAX_PENDING) return
    this.pending.set(d, { shop: b.shop, key: InsideOdds.key(b), floor: b.floor, cx: Math.floor(b.x / CELL_M), cy: Math.floor(b.y / CELL_M) })
  }

  /** Settles the devices whose outcome is known at t: a second burst inside (came in), or no longer present (passed). */
  settle(t: number): void {
    for (const [d, at] of this.pending) {
      const stayed = d.inShop >= 2
      if (!stayed && t - d.lastTs <= this.presenceMs) continue
      this.pending.delete(d)
      let all = this.shops.get(at.shop)
      if (all === undefined) {
        if (this.shops.size >= MAX_SHOPS) continue
        all = []
        this.shops.set(at.shop, all)
      }
      push(all, stayed)
      let c = this.cells.get(at.key)
      if (c === undefined) {
        if (this.cells.size >= MAX_CELLS) continue
        c = { shop: at.shop, floor: at.floor, cx: at.cx, cy: at.cy, o: [] }
        this.cells.set(at.key, c)
      }
      push(c.o, stayed)
    }
  }

  /** A device dropped (idle, evicted, erased) is settled as it stands. */
  drop(d: WifiDevice): void {
    this.pending.delete(d)
  }

  /** What is kept across a restart: the outcomes per shop and per patch, oldest first ('1': came in). No device in it. */
  kept(): PeopleInsideStateT {
    const bits = (o: boolean[]) => o.map(s => (s ? '1' : '0')).join('')
    return {
      v: 1,
      shops: [...this.shops].filter(([, o]) => o.length > 0).map(([shop, o]) => ({ shop, o: bits(o) })),
      cells: [...this.cells.values()].filter(c => c.o.length > 0).map(c => ({ shop: c.shop, floor: c.floor, cx: c.cx, cy: c.cy, o: bits(c.o) }))
    }
  }

  /** Takes up a kept state (checked by people-inside-keep.ts): the shops the site no longer has are left. */
  restore(s: PeopleInsideStateT): void {
    const shops = this.siteShops
    const outcomes = (o: string) => [...o.slice(-WINDOW)].map(c => c === '1')
    for (const k of s.shops) if (shops.has(k.shop) && this.shops.size < MAX_SHOPS) this.shops.set(k.shop, outcomes(k.o))
    for (const c of s.cells) {
      if (!shops.has(c.shop) || this.cells.size >= MAX_CELLS) continue
      this.cells.set(cellKey(c.shop, c.floor, c.cx, c.cy), { shop: c.shop, floor: c.floor, cx: c.cx, cy: c.cy, o: outcomes(c.o) })
    }
  }
}

interface Cell {
  shop: string
  floor: number
  cx: number
  cy: number
  /** Its outcomes, oldest first (true: came in). */
  o: boolean[]
}

function cellKey(shop: string, floor: number, cx: number, cy: number): string {
  return `${shop}\u0000${floor}:${cx}:${cy}`
}

function push(o: boolean[], s: boolean): void {
  o.push(s)
  if (o.length > WINDOW) o.shift()
}

function came(o: boolean[]): number {
  let n = 0
  for (const s of o) if (s) n++
  return n
}
