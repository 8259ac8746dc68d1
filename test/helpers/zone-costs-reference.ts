// The shop-entry radio test's search as it was first written (zone-odds.ts before issue 28's
// rewrite into zone-costs.ts): closures over per-test arrays, the expected reading and the silence
// cost as functions. Kept as the reference the rewrite must equal to the bit (zone-costs.test.ts).
import type { Zone } from '../../shared/site.ts'
import { pointInPolygon, closestOnBoundary } from '../../shared/geometry.ts'
import { MIN_DISTANCE_M } from '../../gateway/estimation/radio-model.ts'
import { LAMBDA, normalUpperTail, Tabulated } from '../../gateway/estimation/sensitivity.ts'
import { MISS_ANYWAY } from '../../gateway/estimation/likelihood.ts'
import { nearestSilent, type Observation, type Silence } from '../../gateway/estimation/solver.ts'
import type { TrafficZone } from '../../gateway/estimation/outside-traffic.ts'
import type { ZoneCostOptions, ZoneCosts } from '../../gateway/estimation/zone-odds.ts'

const LAM = LAMBDA.v
const LAM_FROM = LAMBDA.from
const LAM_TO = LAMBDA.to
const LAM_STEP = LAMBDA.step
const OFFSET_STEP_DB = 2
const OFFSET_HALF = 6
const STEPS = 2 * OFFSET_HALF + 1
const CELL_M = 1
const REACH_M = 12
const CELLS = Math.round(REACH_M / CELL_M)
const SIDE = 2 * CELLS + 1
const COARSE = 3
const COARSE_CELLS = ((): Int32Array => {
  const cells: Array<[number, number]> = []
  for (let i = 0; i < SIDE; i += COARSE) for (let j = 0; j < SIDE; j += COARSE) cells.push([i, j])
  const d2 = ([i, j]: [number, number]): number => (i - CELLS) ** 2 + (j - CELLS) ** 2
  return Int32Array.from(cells.sort((a, b) => d2(a) - d2(b)).flat())
})()
const EDGE_STEP_M = 0.5

export function referenceCosts(obs: Observation[], silent: Silence[], o: ZoneCostOptions, zone: Zone, x: number, y: number, base: number, skip: boolean): ZoneCosts {
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
