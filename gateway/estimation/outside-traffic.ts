// Where people outside a shop are, learned from the traffic. The entry test (zone-odds.ts) asks
// whether a device's radio fits a place inside the shop better than one outside it; without a
// map of the outside, "outside" is any place beyond any wall, and behind a back or side wall
// (a stock room, the next shop) the radio often fits as well as inside, by symmetry: a shopper
// standing in a back corner then never gets the odds an entry needs. Nobody is heard there,
// though: the fixes outside a shop pile up on its street and hardly ever behind its walls. So
// every fix outside a shop is counted on a grid around it, and a place outside costs its
// rarity: twice the log of how much less traffic its cell had than the mean cell that had any
// (never less than nothing, so the street costs what it did). A fresh gateway has counted
// nothing and every place costs nothing until it has counted enough: the map grows with the
// traffic, and is learned again after a restart (it is not saved).
import type { Zone } from '../../shared/site.ts'
import { pointInPolygon } from '../../shared/geometry.ts'
import { NearestEdges } from './nearest-edge.ts'

/** Cells, m. */
const CELL_M = 1
/** Cells of one shop's map at most: a valid site may hold a shop kilometres across (its cells then grow). */
const MAX_CELLS = 1 << 20
/** The grid reaches this far beyond the zone's box (the entry test's places are within 12 m of a fix or of the outline), m. */
const AROUND_M = 16

/**
 * Nothing is charged until the cells with traffic have this many fixes each on average: fixes
 * fall on cells like a Poisson count, and a cell of the street left empty by chance (likely while
 * the mean is a few fixes) must not pass for a wall nobody walks along. At this mean an empty cell
 * of the street is a chance of e^-10.
 */
const MIN_MEAN = 10

/**
 * Traffic that runs along one wall less than twice as thick (per metre) as along any wall across
 * it is no street: a corridor on two sides of the shop, a square. Its direction says
 * nothing of which way passers-by walk.
 */
const LINE_SPREAD = 2
/** Edges of a shop's outline within this angle of its front run the same way as the street, rad. */
const FRONT_ANGLE = Math.PI / 6

interface Grid {
  x0: number
  y0: number
  /** Cell side, m. */
  cell: number
  nx: number
  ny: number
  counts: Float64Array
  /** Fixes counted, and cells that have any. */
  total: number
  cells: number
  /** Each cell's nearest edge of the outline (`frontAxis`), found once per cell. */
  near?: NearestEdges
}

/**
 * The traffic around each shop outline of one gateway (one per evidence source: two gateways in a
 * process, or a test's runs one after another, learn apart). `view(zone)` is the zone the entry
 * test is given: the same outline, carrying this map.
 */
export class OutsideTraffic {
  private readonly grids = new Map<string, Grid>()
  private readonly views = new Map<Zone, TrafficZone>()
  /** Per zone, the cells counted since this map was cloned, in order (only a clone's: `clone`). */
  log: Map<string, number[]> | null = null

  /** Counts a device's fix at (x, y) for every zone of `zones` on its floor that it is outside of. */
  count(zones: readonly Zone[], floor: number, x: number, y: number): void {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return
    for (const z of zones) {
      if (z.floor !== floor || pointInPolygon(x, y, z)) continue
      const g = this.gridOf(z)
      const c = cellOf(g, x, y)
      if (c < 0) continue
      if (g.counts[c]++ === 0) g.cells++
      g.total++
      if (this.log !== null) {
        let l = this.log.get(z.id)
        if (l === undefined) this.log.set(z.id, (l = []))
        l.push(c)
      }
    }
  }

  /**
   * What a place outside `zone` costs: -2 ln of its cell's traffic against the mean cell's (each
   * with one fix added), at least 0; 0 before any traffic was counted.
   */
  cost(zone: Zone, x: number, y: number): number {
    const g = this.grids.get(zone.id)
    if (g === undefined || g.cells === 0) return 0
    const c = cellOf(g, x, y)
    const n = c < 0 ? 0 : g.counts[c]
    const mean = g.total / g.cells
    return mean < MIN_MEAN || n >= mean ? 0 : 2 * Math.log((mean + 1) / (n + 1))
  }

  /**
   * The direction of the street outside `zone` (a unit vector), where passers-by walk: the
   * direction of the outline's edge its traffic runs along (`frontAxis`). Null before the map
   * charges anything (MIN_MEAN) and where the traffic runs along no one wall.
   */
  streetAxis(zone: Zone): [number, number] | null {
    const g = this.grids.get(zone.id)
    if (g === undefined || g.cells === 0) return null
    // The street is the cells the entry test would charge nothing for (`cost`): those with at least
    // the mean cell's traffic. The rest (a fix misplaced behind the shop now and then) would only
    // widen it. Its axis wants those cells to hold MIN_MEAN fixes each on average, as the map does.
    const mean = g.total / g.cells
    let w = 0
    let street = 0
    for (const n of g.counts) {
      if (n < mean) continue
      w += n
      street++
    }
    if (w < MIN_MEAN * street) return null
    return frontAxis(g, zone, mean)
  }

  view(zone: Zone): TrafficZone {
    let v = this.views.get(zone)
    if (v === undefined) {
      v = { ...zone, traffic: this }
      this.views.set(zone, v)
    }
    return v
  }

  /**
   * A copy of this map that logs the cells it counts, zone by zone (the test pool's plan of a
   * tick, test-pool.ts: a test asked after k counts sees the map as of then, and a worker rebuilds
   * it from the map before the tick and the first k cells of the log).
   */
  clone(): OutsideTraffic {
    const c = new OutsideTraffic()
    for (const [id, g] of this.grids) c.grids.set(id, { ...g, counts: g.counts.slice() })
    c.log = new Map()
    return c
  }

  /** A zone's counts and their sums as they stand (undefined: nothing counted around it yet). */
  state(zoneId: string): { counts: Float64Array; total: number; cells: number } | undefined {
    return this.grids.get(zoneId)
  }

  /** Sets a zone's map to `counts` (null: nothing counted) and then counts the cells of `log[0, n)` (a worker's copy, pool-worker-tests.ts). */
  load(zone: Zone, counts: Float64Array | null, total: number, cells: number, log: Int32Array, from: number, n: number): void {
    const g = this.gridOf(zone)
    if (counts === null) g.counts.fill(0)
    else g.counts.set(counts)
    g.total = total
    g.cells = cells
    for (let i = from; i < from + n; i++) {
      if (g.counts[log[i]]++ === 0) g.cells++
      g.total++
    }
  }

  /** Cells of a zone's map (its geometry depends on the zone alone). */
  cellsOf(zone: Zone): number {
    return this.gridOf(zone).counts.length
  }

  private gridOf(zone: Zone): Grid {
    let g = this.grids.get(zone.id)
    if (g === undefined) {
      const [x0, y0, x1, y1] = zone.bbox
      const w = x1 - x0 + 2 * AROUND_M
      const h = y1 - y0 + 2 * AROUND_M
      const cell = Math.max(CELL_M, Math.sqrt((w * h) / MAX_CELLS))
      const nx = Math.ceil(w / cell)
      const ny = Math.ceil(h / cell)
      g = { x0: x0 - AROUND_M, y0: y0 - AROUND_M, cell, nx, ny, counts: new Float64Array(nx * ny), total: 0, cells: 0 }
      this.grids.set(zone.id, g)
    }
    return g
  }
}

/** A zone with the traffic learned around it (zone-odds.ts charges its rare outside places). */
export interface TrafficZone extends Zone {
  traffic?: OutsideTraffic
}

/**
 * The direction of the wall the street runs along. Not the main axis of the traffic's spread: the
 * sensors place passers-by metres either side of where they walk, so a street a few metres wide
 * spreads across about half as far as along the sensors' reach, and an L of two streets round a
 * corner spreads as much like a line (its diagonal, where nobody walks). Each street cell (at
 * least `mean` fixes) goes to the outline's edge nearest it; the edge with the most traffic is
 * the front (per metre of it), and its direction the street's if no edge turned more than
 * FRONT_ANGLE from it holds over 1 / LINE_SPREAD of its traffic per metre. Null otherwise.
 */
function frontAxis(g: Grid, zone: Zone, mean: number): [number, number] | null {
  const ring = zone.polygon.coordinates[0]
  if (ring.length < 2) return null
  // The same outline keeps its cells' nearest edges (a site reloaded with a new one starts again).
  if (g.near === undefined || g.near.ring !== ring) g.near = new NearestEdges(ring, g)
  const near = g.near
  const load = near.load
  const touched: number[] = []
  for (let c = 0; c < g.counts.length; c++) {
    const n = g.counts[c]
    if (n < mean) continue
    const k = near.of(c)
    if (load[k] === 0) touched.push(k)
    load[k] += n
  }
  // Per metre of wall: a corner shop's long front carries more of the same street than its side.
  // Only the edges with traffic can be the front or across it; in order, so the first of equal
  // loads is the front.
  touched.sort((a, b) => a - b)
  let front = -1
  for (const k of touched) {
    const l = near.length[k]
    load[k] = l > 0 ? load[k] / l : 0
    if (load[k] > 0 && (front < 0 || load[k] > load[front])) front = k
  }
  let axis: [number, number] | null = null
  if (front >= 0) {
    const ux = near.ux[front]
    const uy = near.uy[front]
    let across = 0
    for (const k of touched) {
      const l = near.length[k]
      if (l > 0 && Math.abs(ux * near.ux[k] + uy * near.uy[k]) < Math.cos(FRONT_ANGLE)) across = Math.max(across, load[k])
    }
    if (load[front] >= LINE_SPREAD * across) axis = [ux, uy]
  }
  for (const k of touched) load[k] = 0
  return axis
}

function cellOf(g: Grid, x: number, y: number): number {
  const i = Math.floor((x - g.x0) / g.cell)
  const j = Math.floor((y - g.y0) / g.cell)
  return i < 0 || j < 0 || i >= g.nx || j >= g.ny ? -1 : j * g.nx + i
}

const OWNED = new WeakMap<object, OutsideTraffic>()

/** The traffic map of the gateway that `owner` (its evidence source) belongs to. */
export function trafficOf(owner: object): OutsideTraffic {
  let t = OWNED.get(owner)
  if (t === undefined) {
    t = new OutsideTraffic()
    OWNED.set(owner, t)
  }
  return t
}

/** Makes `traffic` the map of `owner` (a tick's plan runs the zone steps on a copy: test-pool.ts). */
export function lendTraffic(owner: object, traffic: OutsideTraffic): void {
  OWNED.set(owner, traffic)
}
