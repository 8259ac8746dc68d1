// The shop-entry radio test's search (zone-odds.ts says what it is for): for one fix, the best
// place inside a zone and the best place outside it at each transmit offset of a grid, over a grid
// of places around the fix, the other side's places near the outline, and the outline itself.
import type { Zone } from '../../shared/site.ts'
import { pointInPolygon, closestOnBoundary } from '../../shared/geometry.ts'
import { MIN_DISTANCE_M } from './radio-model.ts'
import { LAMBDA, normalUpperTail, Tabulated } from './sensitivity.ts'
import { MISS_ANYWAY } from './likelihood.ts'
import { nearestSilent, type Observation, type Silence } from './solver.ts'
import type { TrafficZone } from './outside-traffic.ts'
import type { RadioMap } from './radio-map.ts'

const LAM = LAMBDA.v
const LAM_FROM = LAMBDA.from
const LAM_TO = LAMBDA.to
const LAM_STEP = LAMBDA.step

/** Offsets tried: the prior's mean (rounded to a step) ± OFFSET_HALF steps of OFFSET_STEP_DB. */
export const OFFSET_STEP_DB = 2
export const OFFSET_HALF = 6
const STEPS = 2 * OFFSET_HALF + 1
/**
 * Places tried: a grid this fine within REACH_M of the fix, plus the zone's edge every EDGE_STEP_M.
 * The reach has to take in the street from a fix the radio put well inside: a department store's
 * front sensors stand 3 m in and its street 4 m out, and at 8 m its passers-by made about twice
 * the false visits (`npm run bench -- visits`, department store).
 */
const CELL_M = 1
const REACH_M = 12
const CELLS = Math.round(REACH_M / CELL_M)
const SIDE = 2 * CELLS + 1
/** The search starts on every COARSE-th cell. */
const COARSE = 3
/**
 * Those cells as (i, j) pairs, nearest the grid's centre first: the places near the fix are the
 * likeliest best, so the bars that let a place stop early are low from the first places on. The
 * cells tried are the same in any order, and a place is skipped only where it could change
 * nothing, so the costs are the same; only exactly equal costs at two cells could pick another best.
 */
const COARSE_CELLS = ((): Int32Array => {
  const cells: Array<[number, number]> = []
  for (let i = 0; i < SIDE; i += COARSE) for (let j = 0; j < SIDE; j += COARSE) cells.push([i, j])
  const d2 = ([i, j]: [number, number]): number => (i - CELLS) ** 2 + (j - CELLS) ** 2
  return Int32Array.from(cells.sort((a, b) => d2(a) - d2(b)).flat())
})()
const EDGE_STEP_M = 0.5

/** Per offset step k (offset base + (k - OFFSET_HALF)·OFFSET_STEP_DB): cost of the best place inside and outside. */
export interface ZoneCosts {
  inside: number[]
  outside: number[]
}

export interface ZoneCostOptions {
  tagHeight: number
  huberK: number
  /** Where the device can be at all (the tracker's search box). */
  bounds: [number, number, number, number]
}

/**
 * What one test's places read and write, kept from test to test (grown when a fix has more
 * sensors): a test allocates its answer only. The places are scored by module functions over
 * this state rather than by closures inside `costs`: as closures they made one function too large
 * for V8 to inline the small helpers into, so every expected reading and silence cost came back
 * as a fresh heap number, and the garbage collector paid for each.
 */
class Search {
  n = 0
  /** Per sensor heard: reading, 1/sigma, floor, raw spread, the model's terms, and the residual and truncation point at the place being scored. */
  rssi = new Float64Array(64)
  inv = new Float64Array(64)
  floor = new Float64Array(64)
  raw = new Float64Array(64)
  sx = new Float64Array(64)
  sy = new Float64Array(64)
  sdz2 = new Float64Array(64)
  sa = new Float64Array(64)
  sn = new Float64Array(64)
  e = new Float64Array(64)
  clear = new Float64Array(64)
  maps: Array<RadioMap | undefined> = []
  /** Per silent sensor kept: the same model terms, its floor, and how far over it the device would be heard. */
  q = 0
  qx = new Float64Array(8)
  qy = new Float64Array(8)
  qdz2 = new Float64Array(8)
  qa = new Float64Array(8)
  qn = new Float64Array(8)
  qfloor = new Float64Array(8)
  qmaps: Array<RadioMap | undefined> = []
  u = new Float64Array(8)
  silentSigma = Infinity
  b0 = 0
  k2 = 0
  kk = 0
  skip = true
  rarityOf: TrafficZone['traffic'] = undefined
  zone: Zone | undefined = undefined
  inside: number[] = []
  outside: number[] = []
  /** Per offset step, the grid cell best inside and best outside so far (-1: none yet), and their costs, in the grid being searched. */
  readonly bestIn = new Int32Array(STEPS)
  readonly bestOut = new Int32Array(STEPS)
  readonly gridIn = new Float64Array(STEPS)
  readonly gridOut = new Float64Array(STEPS)
  readonly visited = new Uint8Array(SIDE * SIDE)
  readonly expanded = new Uint8Array(SIDE * SIDE)
  /** The grid being searched: its centre cell, the side it scores (null: both), the search box. */
  cx = 0
  cy = 0
  only: boolean | null = null
  bx0 = 0
  by0 = 0
  bx1 = 0
  by1 = 0

  /** Room for n heard and q silent sensors. */
  size(n: number, q: number): void {
    if (n > this.rssi.length) {
      const m = Math.max(n, 2 * this.rssi.length)
      for (const k of ['rssi', 'inv', 'floor', 'raw', 'sx', 'sy', 'sdz2', 'sa', 'sn', 'e', 'clear'] as const) this[k] = new Float64Array(m)
    }
    if (q > this.qx.length) {
      const m = Math.max(q, 2 * this.qx.length)
      for (const k of ['qx', 'qy', 'qdz2', 'qa', 'qn', 'qfloor', 'u'] as const) this[k] = new Float64Array(m)
    }
  }
}

const S = new Search()

export function costs(obs: Observation[], silent: Silence[], o: ZoneCostOptions, zone: Zone, x: number, y: number, base: number, skip: boolean): ZoneCosts {
  const inside = new Array<number>(STEPS).fill(Infinity)
  const outside = new Array<number>(STEPS).fill(Infinity)
  if (obs.length === 0) return { inside: inside.fill(0), outside: outside.fill(0) }
  // The nearest silent sensors, as the solver counts them.
  const quiet = nearestSilent(silent, x, y)
  const n = obs.length
  const t = S
  t.size(n, quiet.length)
  t.n = n
  t.q = quiet.length
  t.inside = inside
  t.outside = outside
  t.zone = zone
  t.rarityOf = (zone as TrafficZone).traffic
  t.skip = skip
  t.b0 = firstOffset(base)
  t.k2 = o.huberK
  t.kk = o.huberK * o.huberK
  let silentSigma = Infinity
  for (const ob of obs) silentSigma = Math.min(silentSigma, ob.sigma)
  t.silentSigma = silentSigma
  // What the inner loop reads, flat: reading, 1/sigma, floor and raw spread (truncation), and the
  // sensor's path-loss terms, per sensor.
  for (let i = 0; i < n; i++) {
    const ob = obs[i]
    const s = ob.sensor
    t.rssi[i] = ob.rssi
    t.inv[i] = 1 / ob.sigma
    t.raw[i] = ob.rawSigmaDb ?? 6
    t.floor[i] = ob.floorDbm !== undefined && ob.floorDbm > -Infinity ? ob.floorDbm : -Infinity
    t.sx[i] = s.x
    t.sy[i] = s.y
    t.sdz2[i] = (o.tagHeight - s.z) * (o.tagHeight - s.z)
    t.sa[i] = s.a
    t.sn[i] = s.n
    t.maps[i] = s.map
  }
  for (let j = 0; j < quiet.length; j++) {
    const s = quiet[j].sensor
    t.qx[j] = s.x
    t.qy[j] = s.y
    t.qdz2[j] = (o.tagHeight - s.z) * (o.tagHeight - s.z)
    t.qa[j] = s.a
    t.qn[j] = s.n
    t.qfloor[j] = quiet[j].floorDbm
    t.qmaps[j] = s.map
  }
  // The grid: every third cell first, then around each offset's best cell on either side until
  // no best cell has an untried neighbour. The costs are smooth over a metre or two, so this tries
  // about a quarter of the grid's cells and, with the 2 dB offset steps, a test costs several times
  // less than the whole grid at 1 dB, each fix's log odds moving little (`npm run bench -- events`
  // measures the event stage's cost).
  ;[t.bx0, t.by0, t.bx1, t.by1] = o.bounds
  grid(t, x, y, null)
  // A fix far from the outline has the other side's best places out of its reach: a passer-by
  // the radio put in the mirror place across the front row, well inside a hypermarket, has the
  // street 16-18 m away. That side is searched again around the outline's nearest point.
  const [ex, ey] = closestOnBoundary(x, y, zone.polygon)
  if (Math.hypot(x - ex, y - ey) > REACH_M / 2) grid(t, ex, ey, !pointInPolygon(x, y, zone))
  // The edge belongs to both sides: a device at the wall is as much in as out. Its stretch in
  // reach (scored in the order walked), or the nearest stretch when none is.
  const ring = zone.polygon.coordinates[0]
  let inReach = 0
  let nearestX = ring[0][0]
  let nearestY = ring[0][1]
  let nearestD = Infinity
  for (let i = 0; i + 1 < ring.length; i++) {
    const [ax, ay] = ring[i]
    const [qx, qy] = ring[i + 1]
    const n = Math.max(1, Math.ceil(Math.hypot(qx - ax, qy - ay) / EDGE_STEP_M))
    for (let s = 0; s < n; s++) {
      const px = ax + ((qx - ax) * s) / n
      const py = ay + ((qy - ay) * s) / n
      const d = Math.max(Math.abs(px - x), Math.abs(py - y))
      if (d <= REACH_M) {
        place(t, px, py, null, -1)
        inReach++
      }
      if (d < nearestD) {
        nearestD = d
        nearestX = px
        nearestY = py
      }
    }
  }
  if (inReach === 0) place(t, nearestX, nearestY, null, -1)
  t.zone = undefined
  t.rarityOf = undefined
  return { inside, outside }
}

/** The grid around (gx, gy), its places on one side only when `only` says which. */
function grid(t: Search, gx: number, gy: number, only: boolean | null): void {
  t.bestIn.fill(-1)
  t.bestOut.fill(-1)
  t.gridIn.fill(Infinity)
  t.gridOut.fill(Infinity)
  t.visited.fill(0)
  t.expanded.fill(0)
  t.cx = Math.round(gx / CELL_M) * CELL_M
  t.cy = Math.round(gy / CELL_M) * CELL_M
  t.only = only
  for (let c = 0; c < COARSE_CELLS.length; c += 2) visit(t, COARSE_CELLS[c], COARSE_CELLS[c + 1])
  for (let grew = true; grew; ) {
    grew = false
    for (let side = 0; side < 2; side++) {
      const best = side === 0 ? t.bestIn : t.bestOut
      for (let k = 0; k < STEPS; k++) {
        const cell = best[k]
        if (cell < 0 || t.expanded[cell] === 1) continue
        t.expanded[cell] = 1
        grew = true
        const ci = Math.floor(cell / SIDE)
        const cj = cell % SIDE
        for (let i = Math.max(0, ci - 1); i <= Math.min(SIDE - 1, ci + 1); i++) {
          for (let j = Math.max(0, cj - 1); j <= Math.min(SIDE - 1, cj + 1); j++) visit(t, i, j)
        }
      }
    }
  }
}

function visit(t: Search, i: number, j: number): void {
  const cell = i * SIDE + j
  if (t.visited[cell] === 1) return
  t.visited[cell] = 1
  const px = t.cx + (i - CELLS) * CELL_M
  const py = t.cy + (j - CELLS) * CELL_M
  if (px < t.bx0 || px > t.bx1 || py < t.by0 || py > t.by1) return
  const isIn = pointInPolygon(px, py, t.zone as Zone)
  if (t.only === null || isIn === t.only) place(t, px, py, isIn, cell)
}

/**
 * Scores one place (px, py) at every offset step. A place only counts where it beats the best so
 * far of what it could update: inside, outside, this grid's best inside or outside. Every term of
 * a cost is at least 0, and adding one never lowers a float sum, so once the sum so far reaches
 * that bar the place changes nothing and the rest of its terms are skipped; the sums that are
 * finished are added in the order they always were, so every cost is the same to the bit.
 * Residuals before the offset (its share is added per step) and the offset under which a
 * sensor's expected reading comes within four raw sigmas of its floor (truncation from there on)
 * are worked out for a sensor only once some offset's sum gets that far.
 */
function place(t: Search, px: number, py: number, isIn: boolean | null, cell: number): void {
  const { inside, outside, gridIn, gridOut, bestIn, bestOut, e, clear, rssi, floor, raw, inv, sx, sy, sdz2, sa, sn, u } = t
  const n = t.n
  const k2 = t.k2
  const kk = t.kk
  const b0 = t.b0
  let ready = 0
  let quietReady = false
  // A place outside where the traffic is rare (behind a back wall) costs its rarity (outside-traffic.ts).
  const rarity = isIn === false && t.rarityOf !== undefined ? t.rarityOf.cost(t.zone as Zone, px, py) : 0
  for (let k = 0; k < STEPS; k++) {
    let bar = -Infinity
    if (isIn !== false) bar = inside[k]
    if (isIn !== true && outside[k] > bar) bar = outside[k]
    if (cell >= 0 && isIn === true && gridIn[k] > bar) bar = gridIn[k]
    if (cell >= 0 && isIn === false && gridOut[k] > bar) bar = gridOut[k]
    if (!t.skip) bar = Infinity
    const b = b0 + k * OFFSET_STEP_DB
    let cost = rarity
    if (cost >= bar) continue
    let i = 0
    for (; i < n; i++) {
      if (i === ready) {
        // The expected reading, as `expected` works it out, operation for operation.
        const dx = px - sx[i]
        const dy = py - sy[i]
        const d2 = Math.max(dx * dx + dy * dy + sdz2[i], MIN_DISTANCE_M * MIN_DISTANCE_M)
        const map = t.maps[i]
        const mu = sa[i] - 5 * sn[i] * Math.log10(d2) + (map !== undefined ? map.at(px, py) : 0)
        e[i] = rssi[i] - mu
        clear[i] = floor[i] + 4 * raw[i] - mu
        ready++
      }
      let r = e[i] - b
      // Near the floor only readings that faded up were reported (likelihood.ts does the same;
      // sensitivity.ts: the surviving readings' mean is mu + sd·λ((floor - mu)/sd)). λ is
      // read from its table here as inverseMills reads it, operation for operation.
      const c = clear[i]
      if (b < c) {
        const sd = raw[i]
        const a = (c - b) / sd - 4
        let lambda: number
        if (a >= LAM_TO) lambda = a + 1 / a
        else {
          const f = (Math.min(LAM_TO, Math.max(LAM_FROM, a)) - LAM_FROM) / LAM_STEP
          const j = Math.floor(f)
          lambda = LAM[j] + (LAM[j + 1] - LAM[j]) * (f - j)
        }
        r -= sd * lambda
      }
      const ar = Math.abs(r * inv[i])
      cost += ar <= k2 ? ar * ar : 2 * k2 * ar - kk
      if (cost >= bar) break
    }
    if (i < n) continue
    const q = t.q
    if (!quietReady && q > 0) {
      // How far over its floor each silent sensor would have heard the device, in sigmas.
      for (let j = 0; j < q; j++) {
        const dx = px - t.qx[j]
        const dy = py - t.qy[j]
        const d2 = Math.max(dx * dx + dy * dy + t.qdz2[j], MIN_DISTANCE_M * MIN_DISTANCE_M)
        const map = t.qmaps[j]
        u[j] = (t.qa[j] - 5 * t.qn[j] * Math.log10(d2) + (map !== undefined ? map.at(px, py) : 0) - t.qfloor[j]) / t.silentSigma
      }
      quietReady = true
    }
    for (let j = 0; j < q; j++) {
      // silenceCost, as the table reads it.
      const v = u[j] + b / t.silentSigma
      if (!(v <= SIL_FROM)) {
        const f = (Math.min(SIL_TO, Math.max(SIL_FROM, v)) - SIL_FROM) / SIL_STEP
        const m = Math.floor(f)
        cost += SIL[m] + (SIL[m + 1] - SIL[m]) * (f - m)
      }
    }
    if (cost >= bar) continue
    if (isIn !== false && cost < inside[k]) inside[k] = cost
    if (isIn !== true && cost < outside[k]) outside[k] = cost
    if (cell < 0) continue
    if (isIn === true && cost < gridIn[k]) {
      gridIn[k] = cost
      bestIn[k] = cell
    }
    if (isIn === false && cost < gridOut[k]) {
      gridOut[k] = cost
      bestOut[k] = cell
    }
  }
}

// The cost of a silent sensor that would have heard the device u sigmas over its floor,
// -2 ln(MISS_ANYWAY + (1 - MISS_ANYWAY)·Q(u)), tabulated on [-4, 8] every 0.01 (linear
// interpolation error < 1e-4): the test asks for it 13 times per place, some 210 places per fix.
// Four sigmas under its floor, a sensor would not have heard the device anyway.
const SILENCE = new Tabulated(u => -2 * Math.log(MISS_ANYWAY + (1 - MISS_ANYWAY) * normalUpperTail(u)), -4, 8, 0.01)

const SIL = SILENCE.v
const SIL_FROM = SILENCE.from
const SIL_TO = SILENCE.to
const SIL_STEP = SILENCE.step

/** The grid's first offset for a base: the base rounded to a step, less OFFSET_HALF steps. */
export function firstOffset(base: number): number {
  return (Math.round(base / OFFSET_STEP_DB) - OFFSET_HALF) * OFFSET_STEP_DB
}
