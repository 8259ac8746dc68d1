// Position from per-sensor mean RSSI: the position (and the phone's transmit offset) that best
// explains what the sensors heard and did not hear, by the cost in likelihood.ts.
// Levenberg-Marquardt from several starts; with calibrated radio maps, a grid posterior over the
// walked area instead. The accuracy comes from the curvature (or the posterior spread), so it is
// as wide as the evidence. One or two sensors give a proximity or two-sensor answer with a
// correspondingly wide accuracy.
import type { RadioMap } from './radio-map.ts'
import { Problem, positionCurvature, type Gradient } from './likelihood.ts'
import type { Observation, Silence, SolverOptions } from './solver-types.ts'
import { nearestSilent } from './nearest-silent.ts'

export type { Observation, Silence, SolverOptions } from './solver-types.ts'
export { nearestSilent, nearestSilentInto } from './nearest-silent.ts'

export interface Fix {
  x: number
  y: number
  /** Covariance of (x, y), m². */
  cxx: number
  cyy: number
  cxy: number
  /** Radius holding the position with ~68% probability, metres. */
  accuracyM: number
  method: 'lm' | 'pair' | 'proximity' | 'grid'
  /** Sum of squared normalized residuals at the solution. */
  cost: number
  /** Estimated transmit offset of the device at the solution, dB. */
  offsetDb: number
}

function clampTo(b: SolverOptions['bounds'], x: number, y: number): [number, number] {
  return [Math.min(b[2], Math.max(b[0], x)), Math.min(b[3], Math.max(b[1], y))]
}

// LM stops once a step moves less than 2 cm (far below what RSSI can resolve) or gains less than
// 0.01 in cost (χ² units: a change no evidence could tell apart). The tail of Gauss-Newton on
// log-distance residuals converges linearly, and those last steps cost a third of the evaluations.
const STOP_STEP_M = 0.02
const STOP_GAIN = 0.01

interface Searched {
  x: number
  y: number
  cost: number
  /** The cost without the silent sensors, the offset and the gradient at the answer. */
  heardCost: number
  offset: number
  g: Gradient
}

function levenbergMarquardt(p: Problem, x0: number, y0: number): Searched {
  const bounds = p.o.bounds
  let [x, y] = clampTo(bounds, x0, y0)
  const g: Gradient = { gx: 0, gy: 0, hxx: 0, hyy: 0, hxy: 0 }
  const ng: Gradient = { gx: 0, gy: 0, hxx: 0, hyy: 0, hxy: 0 }
  let cost = p.evaluate(x, y, g)
  let offset = p.lastOffset
  let lambda = 1e-2
  for (let it = 0; it < 20; it++) {
    // Gauss-Newton on the profiled cost: the position's own curvature, without the offset's share.
    const h = positionCurvature(g)
    const a = h.hxx * (1 + lambda) + 1e-9
    const d = h.hyy * (1 + lambda) + 1e-9
    const b = h.hxy
    const det = a * d - b * b
    if (!(det > 0)) break
    // Solve H·step = -g.
    const sx = -(d * g.gx - b * g.gy) / det
    const sy = -(a * g.gy - b * g.gx) / det
    const [nx, ny] = clampTo(bounds, x + sx, y + sy)
    const ncost = p.evaluate(nx, ny, ng)
    const moved = Math.hypot(nx - x, ny - y)
    if (ncost < cost) {
      const gain = cost - ncost
      x = nx
      y = ny
      cost = ncost
      Object.assign(g, ng)
      offset = p.lastOffset
      lambda = Math.max(1e-6, lambda / 3)
      if (moved < STOP_STEP_M || gain < STOP_GAIN) break
    } else {
      // A step this small that does not help: already at the minimum (to float precision).
      if (moved < STOP_STEP_M) break
      lambda *= 4
      if (lambda > 1e6) break
    }
  }
  return { x, y, cost, heardCost: cost, offset, g }
}

/** Weighted centroid of the sensors, weights growing with signal (a classic robust start). */
export function weightedCentroid(obs: Observation[]): [number, number] {
  let sw = 0
  let sx = 0
  let sy = 0
  for (const o of obs) {
    const w = 10 ** ((o.rssi - o.sensor.a) / (10 * o.sensor.n)) // ~ 1/d
    sw += w
    sx += w * o.sensor.x
    sy += w * o.sensor.y
  }
  return [sx / sw, sy / sw]
}

export function solve(obs: Observation[], o: SolverOptions): Fix | null {
  if (obs.length === 0) return null
  // The loudest sensor against its 1 m reference (the first of equals).
  let loudest = obs[0]
  for (const ob of obs) if (ob.rssi - ob.sensor.a > loudest.rssi - loudest.sensor.a) loudest = ob
  // Fewer than three sensors cannot separate an offset from a distance: keep the prior's mean.
  const problem = new Problem(obs, obs.length >= 3 ? o : { ...o, offsetPrior: { mean: o.offsetPrior?.mean ?? 0, sd: 0 } })
  const mapped = obs.find(ob => ob.sensor.map?.d.support !== undefined)
  if (mapped && obs.length >= 2) return gridPosterior(problem, mapped.sensor.map as RadioMap)
  if (obs.length === 1) return proximity(loudest, o)
  const centroid = weightedCentroid(obs)
  // Searches run on the heard sensors; silent sensors (the few nearest to each answer: they say
  // the most) judge between the answers, and move the chosen one by one Newton step. Counting all
  // of them inside every search step was a little more accurate and much slower (`npm run bench --
  // accuracy` and `-- throughput`, hypermarket).
  const silent = o.silent ?? NO_SILENCE
  // The nearest few, picked again only for an answer in another place (a few metres away).
  let nearAt = [NaN, NaN]
  let nearList = NO_SILENCE
  const near = (x: number, y: number): Silence[] => {
    if (!(Math.abs(x - nearAt[0]) + Math.abs(y - nearAt[1]) < 3)) {
      nearList = nearestSilent(silent, x, y)
      nearAt = [x, y]
    }
    return nearList
  }
  const search = (sx: number, sy: number): Searched => {
    const r = levenbergMarquardt(problem, sx, sy)
    if (silent.length > 0) r.cost = r.heardCost + problem.silenceAt(near(r.x, r.y), r.x, r.y, r.offset)
    return r
  }
  let best: Searched | null = null
  let heardBest = Infinity
  // A tracked device: its predicted position is usually in the right basin already. Only when
  // the answer fits badly (cost per degree of freedom well above 1) are the other starts tried.
  if (o.prior) {
    // Two starts: where the track predicts, and where the signals point (a track can be wrong).
    for (const [sx, sy] of [[o.prior.x, o.prior.y], centroid]) {
      const r = search(sx, sy)
      heardBest = Math.min(heardBest, r.heardCost)
      if (best === null || r.cost < best.cost) best = r
    }
  }
  const fitsWell = heardBest <= 3 * Math.max(1, obs.length - 3)
  const starts: Array<[number, number]> = fitsWell ? [] : [centroid, [loudest.sensor.x, loudest.sensor.y]]
  if (!fitsWell && obs.length >= 3) {
    // Mirror start: with few sensors the cost has symmetric minima across their lines.
    starts.push([2 * starts[0][0] - loudest.sensor.x, 2 * starts[0][1] - loudest.sensor.y])
    starts.push(...acrossStarts(obs, starts[0]))
    // The best node of a coarse grid over the heard sensors: a wild reading can pull every
    // signal-based start into the wrong basin.
    starts.push(coarseGridStart(problem, obs, silent))
  }
  for (const [sx, sy] of starts) {
    const r = search(sx, sy)
    if (best === null || r.cost < best.cost - 1e-9) best = r
  }
  if (best !== null && silent.length > 0) silenceStep(problem, best, near(best.x, best.y))
  const b = best as Searched
  const g: Gradient = { gx: 0, gy: 0, hxx: 0, hyy: 0, hxy: 0 }
  let cost = problem.evaluate(b.x, b.y, g)
  const offsetDb = problem.lastOffset
  if (silent.length > 0) cost += problem.silenceAt(near(b.x, b.y), b.x, b.y, offsetDb, g)
  const h = positionCurvature(g)
  // Covariance = (JᵀWJ)⁻¹, inflated when the residuals say the sigmas were optimistic.
  const dof = Math.max(1, obs.length - 3)
  const scale = Math.max(1, cost / dof)
  const det = h.hxx * h.hyy - h.hxy * h.hxy
  let cxx: number, cyy: number, cxy: number
  if (det > 1e-12) {
    cxx = (scale * h.hyy) / det
    cyy = (scale * h.hxx) / det
    cxy = (-scale * h.hxy) / det
  } else {
    cxx = cyy = 25
    cxy = 0
  }
  // Two sensors constrain mostly the distance ratio: never claim better than the sensor gap allows.
  const method: Fix['method'] = obs.length === 2 ? 'pair' : 'lm'
  if (method === 'pair') {
    const gap = Math.hypot(obs[0].sensor.x - obs[1].sensor.x, obs[0].sensor.y - obs[1].sensor.y)
    cxx = Math.max(cxx, (gap / 3) ** 2)
    cyy = Math.max(cyy, (gap / 3) ** 2)
  }
  cxx = Math.min(cxx, 2500)
  cyy = Math.min(cyy, 2500)
  return { x: b.x, y: b.y, cxx, cyy, cxy, accuracyM: Math.sqrt(cxx + cyy), method, cost, offsetDb }
}

const NO_SILENCE: Silence[] = []
/** Longest move one silence step makes, m: the cost is only locally quadratic. */
const SILENCE_STEP_M = 2
const silenceGrad: Gradient = { gx: 0, gy: 0, hxx: 0, hyy: 0, hxy: 0 }

/**
 * Moves a search's answer by one Newton step on the heard cost's curvature there (from the search)
 * plus the silent sensors' cost: where they would have heard the device, it moves away (at most
 * SILENCE_STEP_M).
 */
function silenceStep(p: Problem, r: Searched, silent: Silence[]): void {
  const s = silenceGrad
  s.gx = 0
  s.gy = 0
  s.hxx = 0
  s.hyy = 0
  s.hxy = 0
  s.hxb = 0
  s.hyb = 0
  s.hbb = 0
  p.silenceAt(silent, r.x, r.y, r.offset, s)
  const g = r.g
  const h = positionCurvature({
    gx: 0,
    gy: 0,
    hxx: g.hxx + s.hxx,
    hyy: g.hyy + s.hyy,
    hxy: g.hxy + s.hxy,
    hxb: (g.hxb ?? 0) + (s.hxb ?? 0),
    hyb: (g.hyb ?? 0) + (s.hyb ?? 0),
    hbb: (g.hbb ?? 0) + (s.hbb ?? 0)
  })
  const det = h.hxx * h.hyy - h.hxy * h.hxy
  if (!(det > 0)) return
  const gx = g.gx + s.gx
  const gy = g.gy + s.gy
  let dx = -(h.hyy * gx - h.hxy * gy) / det
  let dy = -(h.hxx * gy - h.hxy * gx) / det
  const len = Math.hypot(dx, dy)
  if (len > SILENCE_STEP_M) {
    dx *= SILENCE_STEP_M / len
    dy *= SILENCE_STEP_M / len
  }
  const [x, y] = clampTo(p.o.bounds, r.x + dx, r.y + dy)
  r.x = x
  r.y = y
}

/** Starts on both sides of the sensors' main axis: a line of sensors has a saddle on the line. */
function acrossStarts(obs: Observation[], [cx, cy]: [number, number]): Array<[number, number]> {
  let sxx = 0
  let syy = 0
  let sxy = 0
  for (const o of obs) {
    const dx = o.sensor.x - cx
    const dy = o.sensor.y - cy
    sxx += dx * dx
    syy += dy * dy
    sxy += dx * dy
  }
  // Minor-axis direction of the sensors' spread.
  const theta = 0.5 * Math.atan2(2 * sxy, sxx - syy) + Math.PI / 2
  const r = 3
  return [
    [cx + r * Math.cos(theta), cy + r * Math.sin(theta)],
    [cx - r * Math.cos(theta), cy - r * Math.sin(theta)]
  ]
}

function coarseGridStart(p: Problem, obs: Observation[], silent: Silence[]): [number, number] {
  let x0 = Infinity
  let y0 = Infinity
  let x1 = -Infinity
  let y1 = -Infinity
  for (const o of obs) {
    x0 = Math.min(x0, o.sensor.x)
    y0 = Math.min(y0, o.sensor.y)
    x1 = Math.max(x1, o.sensor.x)
    y1 = Math.max(y1, o.sensor.y)
  }
  const b = p.o.bounds
  x0 = Math.max(b[0], x0 - 3)
  y0 = Math.max(b[1], y0 - 3)
  x1 = Math.min(b[2], x1 + 3)
  y1 = Math.min(b[3], y1 + 3)
  const n = 8
  let best: [number, number] = [(x0 + x1) / 2, (y0 + y1) / 2]
  let bestCost = Infinity
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const x = x0 + ((i + 0.5) * (x1 - x0)) / n
      const y = y0 + ((j + 0.5) * (y1 - y0)) / n
      const c = p.evaluate(x, y) + p.silenceAt(silent, x, y, p.lastOffset)
      if (c < bestCost) {
        bestCost = c
        best = [x, y]
      }
    }
  }
  return best
}

/**
 * With calibrated radio maps: the posterior over the map's grid nodes near the signal centroid.
 * Each node's likelihood uses the map's learned correction, and nodes the calibration walk never
 * reached get a prior penalty (furniture and walls are where nobody walked). Returns the
 * posterior mean and covariance, so the accuracy is as wide as the evidence is.
 */
function gridPosterior(p: Problem, ref: RadioMap): Fix {
  const { obs, o } = p
  const { x0, y0, cell, nx, ny } = ref.d
  const [cx, cy] = weightedCentroid(obs)
  const r = 15
  const i0 = Math.max(0, Math.floor((Math.max(o.bounds[0], cx - r) - x0) / cell))
  const i1 = Math.min(nx - 1, Math.ceil((Math.min(o.bounds[2], cx + r) - x0) / cell))
  const j0 = Math.max(0, Math.floor((Math.max(o.bounds[1], cy - r) - y0) / cell))
  const j1 = Math.min(ny - 1, Math.ceil((Math.min(o.bounds[3], cy + r) - y0) / cell))
  const temp = o.gridTemperature ?? 1
  const minSupport = o.minSupport ?? 1
  const penalty = o.offMapPenalty ?? 4
  const maps = obs.map(ob => ob.sensor.map).filter((m): m is RadioMap => m !== undefined)
  const logw: number[] = []
  const xs: number[] = []
  const ys: number[] = []
  const bs: number[] = []
  let best = -Infinity
  let bestCost = Infinity
  for (let j = j0; j <= j1; j++) {
    for (let i = i0; i <= i1; i++) {
      const x = x0 + i * cell
      const y = y0 + j * cell
      const cost = p.evaluate(x, y)
      let support = 0
      for (const m of maps) support += m.supportAt(i, j)
      const lw = (-0.5 * cost) / temp - (support / maps.length < minSupport ? penalty : 0)
      logw.push(lw)
      xs.push(x)
      ys.push(y)
      bs.push(p.lastOffset)
      if (lw > best) best = lw
      if (cost < bestCost) bestCost = cost
    }
  }
  let sw = 0
  let mx = 0
  let my = 0
  let mb = 0
  for (let k = 0; k < logw.length; k++) {
    const w = Math.exp(logw[k] - best)
    sw += w
    mx += w * xs[k]
    my += w * ys[k]
    mb += w * bs[k]
  }
  mx /= sw
  my /= sw
  mb /= sw
  let cxx = 0
  let cyy = 0
  let cxy = 0
  for (let k = 0; k < logw.length; k++) {
    const w = Math.exp(logw[k] - best) / sw
    cxx += w * (xs[k] - mx) ** 2
    cyy += w * (ys[k] - my) ** 2
    cxy += w * (xs[k] - mx) * (ys[k] - my)
  }
  // The grid cannot resolve better than its own cell.
  const floor = (cell * cell) / 12
  cxx += floor
  cyy += floor
  return { x: mx, y: my, cxx, cyy, cxy, accuracyM: Math.sqrt(cxx + cyy), method: 'grid', cost: bestCost, offsetDb: mb }
}

/** One sensor: the device is somewhere around it; distance from the path-loss model. */
function proximity(ob: Observation, opts: SolverOptions): Fix {
  const s = ob.sensor
  const offset = opts.offsetPrior?.mean ?? 0
  const d3 = 10 ** ((s.a + offset - ob.rssi) / (10 * s.n))
  const dz = opts.tagHeight - s.z
  const r = Math.sqrt(Math.max(0, d3 * d3 - dz * dz))
  const [x, y] = clampTo(opts.bounds, s.x, s.y)
  // Uniform on a disc of radius ~r plus the range uncertainty: variance per axis ≈ r²/2.
  const v = Math.max(1, (r * r) / 2 + 1)
  return { x, y, cxx: v, cyy: v, cxy: 0, accuracyM: Math.sqrt(2 * v), method: 'proximity', cost: 0, offsetDb: offset }
}
