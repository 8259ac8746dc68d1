// How much likelier a device's radio makes it inside a zone than outside it, over a stretch of
// fixes that share one transmit offset. Fix by fix, a loud phone on the street and an ordinary
// phone just inside the door look alike: each fix takes the offset that suits it, and the position
// follows. One offset for the whole stretch cannot suit both places, and the spread of phones'
// offsets says which of the two offsets is the likelier phone. A shop entry passes this test
// before it is confirmed (zones.ts).
//
// Each fix adds, for every offset on a grid, the cost (-2 ln L, likelihood.ts) of the best place
// inside the zone and of the best place outside it, near the fix or, for the side the fix is far
// from, near the outline; the candidate sums them, and the odds are the two profiles' minima over
// the offset, each with the offset prior.
import type { Zone } from '../../shared/site.ts'
import { pointInPolygon, closestOnBoundary } from '../../shared/geometry.ts'
import { MIN_DISTANCE_M } from './radio-model.ts'
import { LAMBDA, normalUpperTail, Tabulated } from './sensitivity.ts'
import { MISS_ANYWAY } from './likelihood.ts'
import { nearestSilent, type Observation, type Silence } from './solver.ts'
import type { TrafficZone } from './outside-traffic.ts'

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
 * One fix's costs inside and outside `zone` for each offset of the grid around `base`, from the
 * places near (x, y), and for a fix more than half the reach from the outline, the other side's
 * places near the outline's nearest point too.
 */
export function zoneCosts(obs: Observation[], silent: Silence[], o: ZoneCostOptions, zone: Zone, x: number, y: number, base: number): ZoneCosts {
  return costs(obs, silent, o, zone, x, y, base, true)
}

/** `zoneCosts` summing every term of every place tried, none skipped: what the skipping must equal to the bit (the tests). */
export function zoneCostsSummingAll(obs: Observation[], silent: Silence[], o: ZoneCostOptions, zone: Zone, x: number, y: number, base: number): ZoneCosts {
  return costs(obs, silent, o, zone, x, y, base, false)
}

function costs(obs: Observation[], silent: Silence[], o: ZoneCostOptions, zone: Zone, x: number, y: number, base: number, skip: boolean): ZoneCosts {
  const inside = new Array<number>(STEPS).fill(Infinity)
  const outside = new Array<number>(STEPS).fill(Infinity)
  if (obs.length === 0) return { inside: inside.fill(0), outside: outside.fill(0) }
  // The nearest silent sensors, as the solver counts them.
  const quiet = nearestSilent(silent, x, y)
  const traffic = (zone as TrafficZone).traffic
  let silentSigma = Infinity
  for (const ob of obs) silentSigma = Math.min(silentSigma, ob.sigma)
  const b0 = firstOffset(base)
  const n = obs.length
  // What the inner loop reads, flat: reading, 1/sigma, floor and raw spread (truncation) per sensor.
  const rssi = new Float64Array(n)
  const inv = new Float64Array(n)
  const floor = new Float64Array(n)
  const raw = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const ob = obs[i]
    rssi[i] = ob.rssi
    inv[i] = 1 / ob.sigma
    raw[i] = ob.rawSigmaDb ?? 6
    floor[i] = ob.floorDbm !== undefined && ob.floorDbm > -Infinity ? ob.floorDbm : -Infinity
  }
  const e = new Float64Array(n)
  const clear = new Float64Array(n)
  const u = new Float64Array(quiet.length)
  const k2 = o.huberK
  const kk = k2 * k2
  // Per offset step, the grid cell best inside and best outside so far (-1: none yet), and their
  // costs, in the grid being searched.
  const bestIn = new Int32Array(STEPS)
  const bestOut = new Int32Array(STEPS)
  const gridIn = new Float64Array(STEPS)
  const gridOut = new Float64Array(STEPS)
  const place = (px: number, py: number, isIn: boolean | null, cell: number): void => {
    // A place only counts where it beats the best so far of what it could update: inside, outside,
    // this grid's best inside or outside. Every term of a cost is at least 0, and adding one never
    // lowers a float sum, so once the sum so far reaches that bar the place changes nothing and
    // the rest of its terms are skipped; the sums that are finished are added in the order they
    // always were, so every cost is the same to the bit.
    // Residuals before the offset (its share is added per step) and the offset under which a
    // sensor's expected reading comes within four raw sigmas of its floor (truncation from there
    // on), worked out for a sensor only once some offset's sum gets that far.
    let ready = 0
    let quietReady = false
    // A place outside where the traffic is rare (behind a back wall) costs its rarity (outside-traffic.ts).
    const rarity = isIn === false && traffic !== undefined ? traffic.cost(zone, px, py) : 0
    for (let k = 0; k < STEPS; k++) {
      let bar = -Infinity
      if (isIn !== false) bar = inside[k]
      if (isIn !== true && outside[k] > bar) bar = outside[k]
      if (cell >= 0 && isIn === true && gridIn[k] > bar) bar = gridIn[k]
      if (cell >= 0 && isIn === false && gridOut[k] > bar) bar = gridOut[k]
      if (!skip) bar = Infinity
      const b = b0 + k * OFFSET_STEP_DB
      let cost = rarity
      if (cost >= bar) continue
      let i = 0
      for (; i < n; i++) {
        if (i === ready) {
          const mu = expected(obs[i].sensor, px, py, o.tagHeight)
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
      if (!quietReady && quiet.length > 0) {
        // How far over its floor each silent sensor would have heard the device, in sigmas.
        for (let j = 0; j < quiet.length; j++) u[j] = (expected(quiet[j].sensor, px, py, o.tagHeight) - quiet[j].floorDbm) / silentSigma
        quietReady = true
      }
      for (let j = 0; j < quiet.length; j++) cost += silenceCost(u[j] + b / silentSigma)
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
  // The grid: every third cell first, then around each offset's best cell on either side until
  // no best cell has an untried neighbour. The costs are smooth over a metre or two, so this tries
  // about a quarter of the grid's cells and, with the 2 dB offset steps, a test costs several times
  // less than the whole grid at 1 dB, each fix's log odds moving little (`npm run bench -- events`
  // measures the event stage's cost).
  const [bx0, by0, bx1, by1] = o.bounds
  const visited = new Uint8Array(SIDE * SIDE)
  const expanded = new Uint8Array(SIDE * SIDE)
  // The grid around (gx, gy), its places on one side only when `only` says which.
  const grid = (gx: number, gy: number, only: boolean | null): void => {
    bestIn.fill(-1)
    bestOut.fill(-1)
    gridIn.fill(Infinity)
    gridOut.fill(Infinity)
    visited.fill(0)
    expanded.fill(0)
    const cx = Math.round(gx / CELL_M) * CELL_M
    const cy = Math.round(gy / CELL_M) * CELL_M
    const visit = (i: number, j: number): void => {
      const cell = i * SIDE + j
      if (visited[cell] === 1) return
      visited[cell] = 1
      const px = cx + (i - CELLS) * CELL_M
      const py = cy + (j - CELLS) * CELL_M
      if (px < bx0 || px > bx1 || py < by0 || py > by1) return
      const isIn = pointInPolygon(px, py, zone)
      if (only === null || isIn === only) place(px, py, isIn, cell)
    }
    for (let c = 0; c < COARSE_CELLS.length; c += 2) visit(COARSE_CELLS[c], COARSE_CELLS[c + 1])
    for (let grew = true; grew; ) {
      grew = false
      for (const best of [bestIn, bestOut]) {
        for (let k = 0; k < STEPS; k++) {
          const cell = best[k]
          if (cell < 0 || expanded[cell] === 1) continue
          expanded[cell] = 1
          grew = true
          const ci = Math.floor(cell / SIDE)
          const cj = cell % SIDE
          for (let i = Math.max(0, ci - 1); i <= Math.min(SIDE - 1, ci + 1); i++) {
            for (let j = Math.max(0, cj - 1); j <= Math.min(SIDE - 1, cj + 1); j++) visit(i, j)
          }
        }
      }
    }
  }
  grid(x, y, null)
  // A fix far from the outline has the other side's best places out of its reach: a passer-by
  // the radio put in the mirror place across the front row, well inside a hypermarket, has the
  // street 16-18 m away. That side is searched again around the outline's nearest point.
  const [ex, ey] = closestOnBoundary(x, y, zone.polygon)
  if (Math.hypot(x - ex, y - ey) > REACH_M / 2) grid(ex, ey, !pointInPolygon(x, y, zone))
  // The edge belongs to both sides: a device at the wall is as much in as out. Its stretch in
  // reach, or the nearest stretch when none is.
  const ring = zone.polygon.coordinates[0]
  const edge: Array<[number, number]> = []
  let nearestEdge: [number, number] = [ring[0][0], ring[0][1]]
  let nearestD = Infinity
  for (let i = 0; i + 1 < ring.length; i++) {
    const [ax, ay] = ring[i]
    const [qx, qy] = ring[i + 1]
    const n = Math.max(1, Math.ceil(Math.hypot(qx - ax, qy - ay) / EDGE_STEP_M))
    for (let s = 0; s < n; s++) {
      const px = ax + ((qx - ax) * s) / n
      const py = ay + ((qy - ay) * s) / n
      const d = Math.max(Math.abs(px - x), Math.abs(py - y))
      if (d <= REACH_M) edge.push([px, py])
      if (d < nearestD) {
        nearestD = d
        nearestEdge = [px, py]
      }
    }
  }
  if (edge.length === 0) edge.push(nearestEdge)
  for (const [px, py] of edge) place(px, py, null, -1)
  return { inside, outside }
}

/** A candidate's costs summed over its fixes, per offset step around `base`; the offset prior; how many fixes each reading counts in. */
export interface RadioSum extends ZoneCosts {
  base: number
  mean: number
  sd: number
  overlap: number
  /** Fixes the sums stand for (a tested fix's costs may stand for the untested ones before it too). */
  fixes: number
  /** Fixes since the last test, not tested (zones-entry.ts asks a test every few fixes). */
  untested?: number
}

/** Adds one test's costs to the sum, standing for `weight` fixes (1: the fix tested alone, added exactly as ever). */
export function addCosts(sum: RadioSum, c: ZoneCosts, weight = 1): void {
  const first = sum.fixes === 0
  sum.fixes += weight
  if (first) {
    sum.inside = weight === 1 ? [...c.inside] : c.inside.map(v => v * weight)
    sum.outside = weight === 1 ? [...c.outside] : c.outside.map(v => v * weight)
    return
  }
  for (let k = 0; k < c.inside.length; k++) {
    sum.inside[k] += weight === 1 ? c.inside[k] : c.inside[k] * weight
    sum.outside[k] += weight === 1 ? c.outside[k] : c.outside[k] * weight
  }
}

/**
 * Whether the summed radio makes inside at least `odds` times likelier than outside (false without
 * fixes or with odds 0). Each reading counts in `overlap` fixes, so the sums count it that many times over.
 */
export function radioOdds(r: RadioSum | undefined, odds: number): boolean {
  if (!r || r.fixes === 0 || odds <= 0) return false
  return insideLogOdds2(r, r.base, r.mean, r.sd) / (2 * r.overlap) >= Math.log(odds)
}

/**
 * Twice the natural log of the odds inside against outside for summed costs, each side at its
 * best offset under the prior N(mean, sd²) (sd 0: the offset is the step nearest the mean). The
 * best offset falls between steps: a parabola through the best step and its neighbours finds it.
 */
export function insideLogOdds2(c: ZoneCosts, base: number, mean: number, sd: number): number {
  const b0 = firstOffset(base)
  const prior = (k: number): number => {
    const b = b0 + k * OFFSET_STEP_DB
    return sd > 0 ? ((b - mean) / sd) ** 2 : Math.abs(b - mean) < OFFSET_STEP_DB / 2 ? 0 : Infinity
  }
  return profileMin(c.outside, prior, sd > 0) - profileMin(c.inside, prior, sd > 0)
}

function profileMin(costs: number[], prior: (k: number) => number, between: boolean): number {
  let best = 0
  for (let k = 1; k < costs.length; k++) if (costs[k] + prior(k) < costs[best] + prior(best)) best = k
  const y1 = costs[best] + prior(best)
  if (!between || best === 0 || best === costs.length - 1) return y1
  const y0 = costs[best - 1] + prior(best - 1)
  const y2 = costs[best + 1] + prior(best + 1)
  const curve = y0 - 2 * y1 + y2
  return curve > 0 && Number.isFinite(curve) ? y1 - (y0 - y2) ** 2 / (8 * curve) : y1
}

// The cost of a silent sensor that would have heard the device u sigmas over its floor,
// -2 ln(MISS_ANYWAY + (1 - MISS_ANYWAY)·Q(u)), tabulated on [-4, 8] every 0.01 (linear
// interpolation error < 1e-4): the test asks for it 13 times per place, some 210 places per fix.
// Four sigmas under its floor, a sensor would not have heard the device anyway.
const SILENCE = new Tabulated(u => -2 * Math.log(MISS_ANYWAY + (1 - MISS_ANYWAY) * normalUpperTail(u)), -4, 8, 0.01)

function silenceCost(u: number): number {
  return u <= SILENCE.from ? 0 : SILENCE.at(u)
}

function expected(s: Observation['sensor'], x: number, y: number, tagHeight: number): number {
  const dx = x - s.x
  const dy = y - s.y
  const dz = tagHeight - s.z
  const d2 = Math.max(dx * dx + dy * dy + dz * dz, MIN_DISTANCE_M * MIN_DISTANCE_M)
  return s.a - 5 * s.n * Math.log10(d2) + (s.map ? s.map.at(x, y) : 0)
}

/** The grid's first offset for a base: the base rounded to a step, less OFFSET_HALF steps. */
function firstOffset(base: number): number {
  return (Math.round(base / OFFSET_STEP_DB) - OFFSET_HALF) * OFFSET_STEP_DB
}
