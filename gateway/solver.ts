// Position from per-sensor mean RSSI: maximum likelihood in the RSSI domain (shadowing is
// roughly Gaussian in dB, not in metres), with a Huber loss against outliers, sensor heights in
// the geometry, and the phone's unknown transmit offset profiled out (phones differ by several dB,
// which would otherwise read as distance). Levenberg-Marquardt from several starts; with
// calibrated radio maps, a grid posterior over the walked area instead. The accuracy comes from
// the curvature (or the posterior spread), so it is as wide as the evidence. One or two sensors
// give a proximity or two-sensor answer with a correspondingly wide accuracy.
import { MIN_DISTANCE_M, type SensorModel } from './radio-model.ts'
import type { RadioMap } from './radio-map.ts'
import { truncatedMean } from './sensitivity.ts'

export interface Observation {
  sensor: SensorModel
  /** Mean RSSI over the recent window, dBm. */
  rssi: number
  /** Standard deviation of that mean, dB (smaller with more readings, never below the fading floor). */
  sigma: number
  /** How old, on average, the readings behind the mean are, ms. */
  ageMs?: number
  /** The receiver reports nothing weaker than this, dBm: readings near it are biased high. */
  floorDbm?: number
  /** Spread of one raw reading, dB (for the truncation correction). */
  rawSigmaDb?: number
}

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

export interface SolverOptions {
  /** Phone height above the floor, m. */
  tagHeight: number
  /** Search box [minX, minY, maxX, maxY], m: starts and answers stay inside it. */
  bounds: [number, number, number, number]
  /** Huber threshold in sigmas. */
  huberK: number
  /** An optional prior position (e.g. the tracker's prediction) used as one more start. */
  prior?: { x: number, y: number }
  /** Prior on the device's transmit offset (dB): mean and standard deviation. sd 0 = no offset. */
  offsetPrior?: { mean: number, sd: number }
  /**
   * With radio maps: likelihood temperature (>1 widens it). 1 takes the likelihood as modelled: each
   * sigma already carries a floor for correlated fading, and with maps the residuals fit it (cost per
   * degree of freedom ~0.8 on the Kolakowski track).
   */
  gridTemperature?: number
  /** With radio maps: nodes whose calibration support is below this are off the walked area. */
  minSupport?: number
  /** With radio maps: log-prior penalty (nats) of a node off the walked area. */
  offMapPenalty?: number
}

const LN10 = Math.LN10
const mapGrad = { gx: 0, gy: 0 }

interface Gradient { gx: number, gy: number, hxx: number, hyy: number, hxy: number, hxb?: number, hyb?: number, hbb?: number }

/** Scratch space reused across evaluations (the solver is synchronous and single-threaded). */
let scratch = new Float64Array(64)

class Problem {
  readonly bMean: number
  readonly bPrec: number
  lastOffset = 0
  constructor (readonly obs: Observation[], readonly o: SolverOptions) {
    if (scratch.length < obs.length * 3) scratch = new Float64Array(obs.length * 3)
    const p = o.offsetPrior
    this.bMean = p?.mean ?? 0
    // Precision of the offset prior; an sd of 0 pins the offset at its mean.
    this.bPrec = p === undefined || p.sd <= 0 ? Infinity : 1 / (p.sd * p.sd)
  }

  /** Huber cost at (x, y) with the offset profiled out; fills the Gauss-Newton gradient/Hessian if asked. */
  evaluate (x: number, y: number, out?: Gradient): number {
    const { obs, o } = this
    const n = obs.length
    // Pass 1: raw residuals e = rssi - expected, and the offset that best explains them.
    let sw = 0; let swe = 0
    for (let i = 0; i < n; i++) {
      const ob = obs[i]; const s = ob.sensor
      const dx = x - s.x; const dy = y - s.y; const dz = o.tagHeight - s.z
      const d2 = Math.max(dx * dx + dy * dy + dz * dz, MIN_DISTANCE_M * MIN_DISTANCE_M)
      // expectedRssi(s, √d2) without the square root: 10·n·log10(d) = 5·n·log10(d²).
      let expected = s.a - 5 * s.n * Math.log10(d2)
      let gx = 0; let gy = 0
      if (s.map) { expected += s.map.at(x, y, mapGrad); gx = mapGrad.gx; gy = mapGrad.gy }
      let slope = 1
      if (ob.floorDbm !== undefined && ob.floorDbm > -Infinity) {
        // Near the floor only the readings that faded up were reported: compare like with like.
        const t = truncatedMean(expected + this.bMean, ob.rawSigmaDb ?? 6, ob.floorDbm)
        expected = t.mean - this.bMean; slope = t.slope
      }
      const e = ob.rssi - expected
      const c = slope * 10 * s.n / (LN10 * d2)
      // d(e)/dx = -d(expected)/dx = c·dx - map gradient
      scratch[i * 3] = e
      scratch[i * 3 + 1] = c * dx - slope * gx
      scratch[i * 3 + 2] = c * dy - slope * gy
      const w = 1 / (ob.sigma * ob.sigma)
      sw += w; swe += w * e
    }
    const b = this.bPrec === Infinity ? this.bMean : (swe + this.bPrec * this.bMean) / (sw + this.bPrec)
    this.lastOffset = b
    // Pass 2: Huber cost of the offset-corrected residuals (plus the offset prior).
    const k = o.huberK
    let cost = this.bPrec === Infinity ? 0 : this.bPrec * (b - this.bMean) ** 2
    if (out) { out.gx = 0; out.gy = 0; out.hxx = 0; out.hyy = 0; out.hxy = 0; out.hxb = 0; out.hyb = 0; out.hbb = this.bPrec === Infinity ? Infinity : this.bPrec }
    for (let i = 0; i < n; i++) {
      const sg = obs[i].sigma
      const r = (scratch[i * 3] - b) / sg
      const ar = Math.abs(r)
      cost += ar <= k ? r * r : 2 * k * ar - k * k
      if (out) {
        const w = ar <= k ? 1 : k / ar // IRLS weight
        const jx = scratch[i * 3 + 1] / sg; const jy = scratch[i * 3 + 2] / sg
        out.gx += w * r * jx; out.gy += w * r * jy
        out.hxx += w * jx * jx; out.hyy += w * jy * jy; out.hxy += w * jx * jy
        // Coupling with the profiled offset (dr/db = -1/σ), for an honest marginal covariance.
        const jb = -1 / sg
        out.hxb = (out.hxb ?? 0) + w * jx * jb; out.hyb = (out.hyb ?? 0) + w * jy * jb; out.hbb = (out.hbb ?? 0) + w * jb * jb
      }
    }
    return cost
  }
}

function clampTo (b: SolverOptions['bounds'], x: number, y: number): [number, number] {
  return [Math.min(b[2], Math.max(b[0], x)), Math.min(b[3], Math.max(b[1], y))]
}

// LM stops once a step moves less than 2 cm (far below what RSSI can resolve) or gains less than
// 0.01 in cost (χ² units: a change no evidence could tell apart). The tail of Gauss-Newton on
// log-distance residuals converges linearly, and those last steps cost a third of the evaluations.
const STOP_STEP_M = 0.02
const STOP_GAIN = 0.01

/**
 * Curvature of the cost in (x, y) with the offset profiled out: what the offset could absorb is not
 * information about the position (Schur complement of the offset in the 3×3 normal matrix).
 */
function positionCurvature (g: Gradient): { hxx: number, hyy: number, hxy: number } {
  if (g.hbb === undefined || !Number.isFinite(g.hbb) || !(g.hbb > 0)) return g
  const rb = 1 / g.hbb; const hxb = g.hxb ?? 0; const hyb = g.hyb ?? 0
  return { hxx: g.hxx - rb * hxb * hxb, hyy: g.hyy - rb * hyb * hyb, hxy: g.hxy - rb * hxb * hyb }
}

function levenbergMarquardt (p: Problem, x0: number, y0: number): { x: number, y: number, cost: number } {
  const bounds = p.o.bounds
  let [x, y] = clampTo(bounds, x0, y0)
  const g: Gradient = { gx: 0, gy: 0, hxx: 0, hyy: 0, hxy: 0 }
  const ng: Gradient = { gx: 0, gy: 0, hxx: 0, hyy: 0, hxy: 0 }
  let cost = p.evaluate(x, y, g)
  let lambda = 1e-2
  for (let it = 0; it < 20; it++) {
    // Gauss-Newton on the profiled cost: the position's own curvature, without the offset's share.
    const h = positionCurvature(g)
    const a = h.hxx * (1 + lambda) + 1e-9; const d = h.hyy * (1 + lambda) + 1e-9; const b = h.hxy
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
      x = nx; y = ny; cost = ncost; Object.assign(g, ng)
      lambda = Math.max(1e-6, lambda / 3)
      if (moved < STOP_STEP_M || gain < STOP_GAIN) break
    } else {
      // A step this small that does not help: already at the minimum (to float precision).
      if (moved < STOP_STEP_M) break
      lambda *= 4
      if (lambda > 1e6) break
    }
  }
  return { x, y, cost }
}

/** Weighted centroid of the sensors, weights growing with signal (a classic robust start). */
export function weightedCentroid (obs: Observation[]): [number, number] {
  let sw = 0; let sx = 0; let sy = 0
  for (const o of obs) {
    const w = 10 ** ((o.rssi - o.sensor.a) / (10 * o.sensor.n)) // ~ 1/d
    sw += w; sx += w * o.sensor.x; sy += w * o.sensor.y
  }
  return [sx / sw, sy / sw]
}

export function solve (obs: Observation[], o: SolverOptions): Fix | null {
  if (obs.length === 0) return null
  const sorted = [...obs].sort((a, b) => (b.rssi - b.sensor.a) - (a.rssi - a.sensor.a))
  // Fewer than three sensors cannot separate an offset from a distance: keep the prior's mean.
  const problem = new Problem(obs, obs.length >= 3 ? o : { ...o, offsetPrior: { mean: o.offsetPrior?.mean ?? 0, sd: 0 } })
  const mapped = obs.find(ob => ob.sensor.map?.d.support !== undefined)
  if (mapped && obs.length >= 2) return gridPosterior(problem, mapped.sensor.map as RadioMap)
  if (obs.length === 1) return proximity(sorted[0], o)
  const centroid = weightedCentroid(obs)
  let best: { x: number, y: number, cost: number } | null = null
  // A tracked device: its predicted position is usually in the right basin already. Only when
  // the answer fits badly (cost per degree of freedom well above 1) are the other starts tried.
  if (o.prior) {
    // Two starts: where the track predicts, and where the signals point (a track can be wrong).
    for (const [sx, sy] of [[o.prior.x, o.prior.y], centroid]) {
      const r = levenbergMarquardt(problem, sx, sy)
      if (best === null || r.cost < best.cost) best = r
    }
  }
  const fitsWell = best !== null && best.cost <= 3 * Math.max(1, obs.length - 3)
  const starts: Array<[number, number]> = fitsWell ? [] : [centroid, [sorted[0].sensor.x, sorted[0].sensor.y]]
  if (!fitsWell && obs.length >= 3) {
    // Mirror start: with few sensors the cost has symmetric minima across their lines.
    starts.push([2 * starts[0][0] - sorted[0].sensor.x, 2 * starts[0][1] - sorted[0].sensor.y])
    starts.push(...acrossStarts(obs, starts[0]))
    // The best node of a coarse grid over the heard sensors: a wild reading can pull every
    // signal-based start into the wrong basin.
    starts.push(coarseGridStart(problem, obs))
  }
  for (const [sx, sy] of starts) {
    const r = levenbergMarquardt(problem, sx, sy)
    if (best === null || r.cost < best.cost - 1e-9) best = r
  }
  const b = best as { x: number, y: number, cost: number }
  const g: Gradient = { gx: 0, gy: 0, hxx: 0, hyy: 0, hxy: 0 }
  problem.evaluate(b.x, b.y, g)
  const h = positionCurvature(g)
  // Covariance = (JᵀWJ)⁻¹, inflated when the residuals say the sigmas were optimistic.
  const dof = Math.max(1, obs.length - 3)
  const scale = Math.max(1, b.cost / dof)
  const det = h.hxx * h.hyy - h.hxy * h.hxy
  let cxx: number, cyy: number, cxy: number
  if (det > 1e-12) {
    cxx = scale * h.hyy / det; cyy = scale * h.hxx / det; cxy = -scale * h.hxy / det
  } else {
    cxx = cyy = 25; cxy = 0
  }
  // Two sensors constrain mostly the distance ratio: never claim better than the sensor gap allows.
  const method: Fix['method'] = obs.length === 2 ? 'pair' : 'lm'
  if (method === 'pair') {
    const gap = Math.hypot(sorted[0].sensor.x - sorted[1].sensor.x, sorted[0].sensor.y - sorted[1].sensor.y)
    cxx = Math.max(cxx, (gap / 3) ** 2); cyy = Math.max(cyy, (gap / 3) ** 2)
  }
  cxx = Math.min(cxx, 2500); cyy = Math.min(cyy, 2500)
  return { x: b.x, y: b.y, cxx, cyy, cxy, accuracyM: Math.sqrt(cxx + cyy), method, cost: b.cost, offsetDb: problem.lastOffset }
}

/** Starts on both sides of the sensors' main axis: a line of sensors has a saddle on the line. */
function acrossStarts (obs: Observation[], [cx, cy]: [number, number]): Array<[number, number]> {
  let sxx = 0; let syy = 0; let sxy = 0
  for (const o of obs) { const dx = o.sensor.x - cx; const dy = o.sensor.y - cy; sxx += dx * dx; syy += dy * dy; sxy += dx * dy }
  // Minor-axis direction of the sensors' spread.
  const theta = 0.5 * Math.atan2(2 * sxy, sxx - syy) + Math.PI / 2
  const r = 3
  return [[cx + r * Math.cos(theta), cy + r * Math.sin(theta)], [cx - r * Math.cos(theta), cy - r * Math.sin(theta)]]
}

function coarseGridStart (p: Problem, obs: Observation[]): [number, number] {
  let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity
  for (const o of obs) { x0 = Math.min(x0, o.sensor.x); y0 = Math.min(y0, o.sensor.y); x1 = Math.max(x1, o.sensor.x); y1 = Math.max(y1, o.sensor.y) }
  const b = p.o.bounds
  x0 = Math.max(b[0], x0 - 3); y0 = Math.max(b[1], y0 - 3); x1 = Math.min(b[2], x1 + 3); y1 = Math.min(b[3], y1 + 3)
  const n = 8
  let best: [number, number] = [(x0 + x1) / 2, (y0 + y1) / 2]; let bestCost = Infinity
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const x = x0 + (i + 0.5) * (x1 - x0) / n; const y = y0 + (j + 0.5) * (y1 - y0) / n
      const c = p.evaluate(x, y)
      if (c < bestCost) { bestCost = c; best = [x, y] }
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
function gridPosterior (p: Problem, ref: RadioMap): Fix {
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
  const logw: number[] = []; const xs: number[] = []; const ys: number[] = []; const bs: number[] = []
  let best = -Infinity; let bestCost = Infinity
  for (let j = j0; j <= j1; j++) {
    for (let i = i0; i <= i1; i++) {
      const x = x0 + i * cell; const y = y0 + j * cell
      const cost = p.evaluate(x, y)
      let support = 0
      for (const m of maps) support += m.supportAt(i, j)
      const lw = -0.5 * cost / temp - (support / maps.length < minSupport ? penalty : 0)
      logw.push(lw); xs.push(x); ys.push(y); bs.push(p.lastOffset)
      if (lw > best) best = lw
      if (cost < bestCost) bestCost = cost
    }
  }
  let sw = 0; let mx = 0; let my = 0; let mb = 0
  for (let k = 0; k < logw.length; k++) { const w = Math.exp(logw[k] - best); sw += w; mx += w * xs[k]; my += w * ys[k]; mb += w * bs[k] }
  mx /= sw; my /= sw; mb /= sw
  let cxx = 0; let cyy = 0; let cxy = 0
  for (let k = 0; k < logw.length; k++) {
    const w = Math.exp(logw[k] - best) / sw
    cxx += w * (xs[k] - mx) ** 2; cyy += w * (ys[k] - my) ** 2; cxy += w * (xs[k] - mx) * (ys[k] - my)
  }
  // The grid cannot resolve better than its own cell.
  const floor = cell * cell / 12
  cxx += floor; cyy += floor
  return { x: mx, y: my, cxx, cyy, cxy, accuracyM: Math.sqrt(cxx + cyy), method: 'grid', cost: bestCost, offsetDb: mb }
}

/** One sensor: the device is somewhere around it; distance from the path-loss model. */
function proximity (ob: Observation, opts: SolverOptions): Fix {
  const s = ob.sensor
  const offset = opts.offsetPrior?.mean ?? 0
  const d3 = 10 ** ((s.a + offset - ob.rssi) / (10 * s.n))
  const dz = opts.tagHeight - s.z
  const r = Math.sqrt(Math.max(0, d3 * d3 - dz * dz))
  const [x, y] = clampTo(opts.bounds, s.x, s.y)
  // Uniform on a disc of radius ~r plus the range uncertainty: variance per axis ≈ r²/2.
  const v = Math.max(1, r * r / 2 + 1)
  return { x, y, cxx: v, cyy: v, cxy: 0, accuracyM: Math.sqrt(2 * v), method: 'proximity', cost: 0, offsetDb: offset }
}
