// The cost of a position given what the sensors heard, and what they did not: the negative
// log-likelihood the solver minimises. Heard sensors: maximum likelihood in the RSSI domain
// (shadowing is roughly Gaussian in dB, not in metres) with a Huber loss, sensor heights in the
// geometry, the phone's transmit offset profiled out, a truncated-normal correction near each
// receiver's reporting floor. Silent sensors: censored readings. Gradients and Gauss-Newton
// curvature come with each evaluation.
import { MIN_DISTANCE_M } from './radio-model.ts'
import { LAMBDA, normalPdf, normalUpperTail } from './sensitivity.ts'
import type { Observation, Silence, SolverOptions } from './solver-types.ts'

const LN10 = Math.LN10
/**
 * Chance that a sensor misses a device it should hear for a whole window anyway (busy, blocked,
 * scanning another channel): bounds what one silent sensor can cost a position (-2·ln 0.05 ≈ 6).
 */
export const MISS_ANYWAY = 0.05
const mapGrad = { gx: 0, gy: 0 }
const LAM = LAMBDA.v
const LAM_FROM = LAMBDA.from
const LAM_TO = LAMBDA.to
const LAM_STEP = LAMBDA.step

export interface Gradient {
  gx: number
  gy: number
  hxx: number
  hyy: number
  hxy: number
  hxb?: number
  hyb?: number
  hbb?: number
}

/** Scratch space reused across evaluations (the solver is synchronous and single-threaded). */
let scratch = new Float64Array(64)

/** One fix's cost function: the heard observations and the solver's options, evaluated at any (x, y). */
export class Problem {
  bMean: number
  bPrec: number
  lastOffset = 0
  /** Spread of the window mean a silent sensor would have measured: the best heard sensor's, dB. */
  readonly silentSigma: number
  constructor(
    readonly obs: Observation[],
    readonly o: SolverOptions
  ) {
    if (scratch.length < obs.length * 3) scratch = new Float64Array(obs.length * 3)
    let sigma = Infinity
    if (o.silent !== undefined && o.silent.length > 0) for (const ob of obs) sigma = Math.min(sigma, ob.sigma)
    this.silentSigma = sigma
    const p = o.offsetPrior
    this.bMean = p?.mean ?? 0
    // Precision of the offset prior; an sd of 0 pins the offset at its mean.
    this.bPrec = p === undefined || p.sd <= 0 ? Infinity : 1 / (p.sd * p.sd)
  }

  /** From now on the offset is b, not profiled (a stretch of fixes that shares one offset). */
  pinOffset(b: number): void {
    this.bMean = b
    this.bPrec = Infinity
  }

  /** Huber cost at (x, y) with the offset profiled out; fills the Gauss-Newton gradient/Hessian if asked. */
  evaluate(x: number, y: number, out?: Gradient): number {
    const { obs, o } = this
    const n = obs.length
    // Pass 1: raw residuals e = rssi - expected, and the offset that best explains them.
    let sw = 0
    let swe = 0
    for (let i = 0; i < n; i++) {
      const ob = obs[i]
      const s = ob.sensor
      const dx = x - s.x
      const dy = y - s.y
      const dz = o.tagHeight - s.z
      const d2 = Math.max(dx * dx + dy * dy + dz * dz, MIN_DISTANCE_M * MIN_DISTANCE_M)
      // expectedRssi(s, √d2) without the square root: 10·n·log10(d) = 5·n·log10(d²).
      let expected = s.a - 5 * s.n * Math.log10(d2)
      let gx = 0
      let gy = 0
      if (s.map) {
        expected += s.map.at(x, y, mapGrad)
        gx = mapGrad.gx
        gy = mapGrad.gy
      }
      let slope = 1
      if (ob.floorDbm !== undefined && ob.floorDbm > -Infinity) {
        // Near the floor only the readings that faded up were reported: compare like with like.
        // truncatedMean(expected + bMean, sd, floor) written out, operation for operation: as a
        // call per sensor per evaluation its two numbers came back through the heap.
        const mu = expected + this.bMean
        const sd = ob.rawSigmaDb ?? 6
        const a = (ob.floorDbm - mu) / sd
        let mean = mu
        if (!(a < LAM_FROM)) {
          let lambda: number
          if (a >= LAM_TO) lambda = a + 1 / a
          else {
            const f = (Math.min(LAM_TO, Math.max(LAM_FROM, a)) - LAM_FROM) / LAM_STEP
            const j = Math.floor(f)
            lambda = LAM[j] + (LAM[j + 1] - LAM[j]) * (f - j)
          }
          mean = mu + sd * lambda
          slope = Math.max(0.02, 1 - lambda * (lambda - a))
        }
        expected = mean - this.bMean
      }
      const e = ob.rssi - expected
      scratch[i * 3] = e
      if (out) {
        // d(e)/dx = -d(expected)/dx = c·dx - map gradient (only when a gradient is asked for:
        // the street-walk searches evaluate thousands of times without one).
        const c = (slope * 10 * s.n) / (LN10 * d2)
        scratch[i * 3 + 1] = c * dx - slope * gx
        scratch[i * 3 + 2] = c * dy - slope * gy
      }
      const w = 1 / (ob.sigma * ob.sigma)
      sw += w
      swe += w * e
    }
    const b = this.bPrec === Infinity ? this.bMean : (swe + this.bPrec * this.bMean) / (sw + this.bPrec)
    this.lastOffset = b
    // Pass 2: Huber cost of the offset-corrected residuals (plus the offset prior).
    const k = o.huberK
    let cost = this.bPrec === Infinity ? 0 : this.bPrec * (b - this.bMean) ** 2
    if (out) {
      out.gx = 0
      out.gy = 0
      out.hxx = 0
      out.hyy = 0
      out.hxy = 0
      out.hxb = 0
      out.hyb = 0
      out.hbb = this.bPrec === Infinity ? Infinity : this.bPrec
    }
    for (let i = 0; i < n; i++) {
      const sg = obs[i].sigma
      const r = (scratch[i * 3] - b) / sg
      const ar = Math.abs(r)
      cost += ar <= k ? r * r : 2 * k * ar - k * k
      if (out) {
        const w = ar <= k ? 1 : k / ar // IRLS weight
        const jx = scratch[i * 3 + 1] / sg
        const jy = scratch[i * 3 + 2] / sg
        out.gx += w * r * jx
        out.gy += w * r * jy
        out.hxx += w * jx * jx
        out.hyy += w * jy * jy
        out.hxy += w * jx * jy
        // Coupling with the profiled offset (dr/db = -1/σ), for an honest marginal covariance.
        const jb = -1 / sg
        out.hxb = (out.hxb ?? 0) + w * jx * jb
        out.hyb = (out.hyb ?? 0) + w * jy * jb
        out.hbb = (out.hbb ?? 0) + w * jb * jb
      }
    }
    return cost
  }

  /**
   * What silent sensors add to the cost at (x, y) for transmit offset b (kept out of `evaluate`,
   * which the searches call hundreds of times per fix); their Gauss-Newton terms are added to `out`.
   */
  silenceAt(silent: Silence[], x: number, y: number, b: number, out?: Gradient): number {
    let cost = 0
    for (const q of silent) cost += this.silenceCost(q, x, y, b, out)
    return cost
  }

  /**
   * -2·ln P(silent at (x, y)): the sensor's window mean would have fallen under its floor (a
   * censored reading), or it missed the device anyway. Adds its Gauss-Newton terms to `out`.
   */
  private silenceCost(q: Silence, x: number, y: number, b: number, out?: Gradient): number {
    const s = q.sensor
    const dx = x - s.x
    const dy = y - s.y
    const dz = this.o.tagHeight - s.z
    const d2 = Math.max(dx * dx + dy * dy + dz * dz, MIN_DISTANCE_M * MIN_DISTANCE_M)
    let expected = s.a - 5 * s.n * Math.log10(d2) + b
    let gx = 0
    let gy = 0
    if (s.map) {
      expected += s.map.at(x, y, mapGrad)
      gx = mapGrad.gx
      gy = mapGrad.gy
    }
    const sigma = this.silentSigma
    const u = (expected - q.floorDbm) / sigma
    const p = MISS_ANYWAY + (1 - MISS_ANYWAY) * normalUpperTail(u)
    const cost = -2 * Math.log(p)
    if (out && cost > 1e-9) {
      // As one residual r = √cost: the step sees silence like any other reading.
      const dcdu = (2 * (1 - MISS_ANYWAY) * normalPdf(u)) / p
      const c = (-10 * s.n) / (LN10 * d2)
      const r = Math.sqrt(cost)
      const jx = (dcdu * (c * dx + gx)) / sigma / (2 * r)
      const jy = (dcdu * (c * dy + gy)) / sigma / (2 * r)
      const jb = dcdu / sigma / (2 * r)
      out.gx += r * jx
      out.gy += r * jy
      out.hxx += jx * jx
      out.hyy += jy * jy
      out.hxy += jx * jy
      out.hxb = (out.hxb ?? 0) + jx * jb
      out.hyb = (out.hyb ?? 0) + jy * jb
      out.hbb = (out.hbb ?? 0) + jb * jb
    }
    return cost
  }
}

/**
 * Curvature of the cost in (x, y) with the offset profiled out: what the offset could absorb is not
 * information about the position (Schur complement of the offset in the 3×3 normal matrix).
 */
export function positionCurvature(g: Gradient): { hxx: number; hyy: number; hxy: number } {
  if (g.hbb === undefined || !Number.isFinite(g.hbb) || !(g.hbb > 0)) return g
  const rb = 1 / g.hbb
  const hxb = g.hxb ?? 0
  const hyb = g.hyb ?? 0
  return { hxx: g.hxx - rb * hxb * hxb, hyy: g.hyy - rb * hyb * hyb, hxy: g.hxy - rb * hxb * hyb }
}
