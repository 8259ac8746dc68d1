// Per-device motion filter. Shoppers stop at shelves and walk between them, so one constant-
// velocity Kalman filter is either too jumpy when they stand or too slow when they walk. An
// interacting multiple model (IMM, Blom & Bar-Shalom 1988) runs two constant-velocity filters,
// "standing" (tiny acceleration noise) and "walking", and weighs them by how well each predicts.
// Written out by hand: the kalman-filter package costs many times more per step than both models
// together here (`npm run bench -- filter`), and the 4-state algebra stays short.

import { StepRing, smoothedPosition, type MotionModel } from './smoother.ts'

export type { MotionModel } from './smoother.ts'

export interface KalmanOptions {
  still: MotionModel
  moving: MotionModel
  /** Probability per second of staying in the same motion mode. */
  stayProbability: number
  /** Innovation gate: squared Mahalanobis distance above which a fix is rejected (2 dof; 13.8 ≈ 99.9%). */
  gate: number
  /** After this many rejections in a row the filter re-initialises on the measurement. */
  maxRejections: number
  /**
   * Past filter steps kept for the fixed-lag smoother (smoother.ts), so that a position published
   * for a moment before its tick (tracker option reportLagMs) uses the fixes after that moment too;
   * 0 publishes the newest filtered state for that moment.
   */
  smoothSteps: number
}

export const defaultKalmanOptions: KalmanOptions = {
  still: { accelNoise: 0.002, velocityTauS: 0.5 },
  moving: { accelNoise: 1, velocityTauS: 3 },
  stayProbability: 0.95,
  gate: 13.8,
  maxRejections: 3,
  smoothSteps: 4
}

// Scratch matrices shared by every filter: the steps are synchronous and fully overwrite them,
// and per-call allocations showed up as garbage-collection time in the benchmark.
const N16 = new Float64Array(16)
const PH8 = new Float64Array(8)
const K8 = new Float64Array(8)
const MIX = [
  { s: new Float64Array(4), P: new Float64Array(16) },
  { s: new Float64Array(4), P: new Float64Array(16) }
]

/** Numbers one filter keeps: its state and covariance. */
const CV_FLOATS = 20

/** One constant-velocity filter, state [x, y, vx, vy], covariance 4×4 row-major. */
export class CvFilter {
  readonly s: Float64Array
  readonly P: Float64Array

  /**
   * `buffer` (from `at`) holds its numbers when given: a filter kept per device shares one buffer
   * with its sibling, since every typed array with its own buffer costs its own allocation
   * outside the heap and the objects that track it, more than the numbers it holds.
   */
  constructor(
    readonly m: MotionModel,
    buffer: Float64Array = new Float64Array(CV_FLOATS),
    at = 0
  ) {
    this.s = buffer.subarray(at, at + 4)
    this.P = buffer.subarray(at + 4, at + CV_FLOATS)
  }

  predict(dt: number): void {
    if (dt <= 0) return
    const a = Math.exp(-dt / this.m.velocityTauS)
    const f = this.m.velocityTauS * (1 - a) // ∫ of the decaying velocity over dt
    const s = this.s
    const P = this.P
    s[0] += f * s[2]
    s[1] += f * s[3]
    s[2] *= a
    s[3] *= a
    // P = F P Fᵀ + Q with F = [[1,0,f,0],[0,1,0,f],[0,0,a,0],[0,0,0,a]].
    const n = N16
    for (let i = 0; i < 4; i++) {
      const r0 = i < 2 ? P[i * 4] + f * P[(i + 2) * 4] : a * P[i * 4]
      const r1 = i < 2 ? P[i * 4 + 1] + f * P[(i + 2) * 4 + 1] : a * P[i * 4 + 1]
      const r2 = i < 2 ? P[i * 4 + 2] + f * P[(i + 2) * 4 + 2] : a * P[i * 4 + 2]
      const r3 = i < 2 ? P[i * 4 + 3] + f * P[(i + 2) * 4 + 3] : a * P[i * 4 + 3]
      n[i * 4] = r0 + f * r2
      n[i * 4 + 1] = r1 + f * r3
      n[i * 4 + 2] = a * r2
      n[i * 4 + 3] = a * r3
    }
    const q = this.m.accelNoise
    const q11 = (q * dt * dt * dt) / 3
    const q12 = (q * dt * dt) / 2
    const q22 = q * dt
    n[0] += q11
    n[5] += q11
    n[10] += q22
    n[15] += q22
    n[2] += q12
    n[8] += q12
    n[7] += q12
    n[13] += q12
    P.set(n)
  }

  /**
   * Fuses z = p - L·v + noise(R): the fix averages the last window, i.e. describes where the
   * device was about L seconds ago. Returns the squared Mahalanobis distance of the innovation
   * and the log-likelihood; `apply` false only measures.
   */
  update(zx: number, zy: number, rxx: number, ryy: number, rxy: number, L: number, apply: boolean): { m2: number; logLik: number } {
    const P = this.P
    const s = this.s
    const PH = PH8
    for (let i = 0; i < 4; i++) {
      PH[i * 2] = P[i * 4] - L * P[i * 4 + 2]
      PH[i * 2 + 1] = P[i * 4 + 1] - L * P[i * 4 + 3]
    }
    const sxx = PH[0] - L * PH[4] + rxx
    const sxy = PH[1] - L * PH[5] + rxy
    const syy = PH[3] - L * PH[7] + ryy
    const ix = zx - (s[0] - L * s[2])
    const iy = zy - (s[1] - L * s[3])
    const det = sxx * syy - sxy * sxy
    if (!(det > 0)) return { m2: Infinity, logLik: -Infinity }
    const ixx = syy / det
    const iyy = sxx / det
    const ixy = -sxy / det
    const m2 = ix * ix * ixx + 2 * ix * iy * ixy + iy * iy * iyy
    const logLik = -0.5 * m2 - 0.5 * Math.log(det) - Math.log(2 * Math.PI)
    if (!apply) return { m2, logLik }
    const K = K8
    for (let i = 0; i < 4; i++) {
      K[i * 2] = PH[i * 2] * ixx + PH[i * 2 + 1] * ixy
      K[i * 2 + 1] = PH[i * 2] * ixy + PH[i * 2 + 1] * iyy
    }
    for (let i = 0; i < 4; i++) s[i] += K[i * 2] * ix + K[i * 2 + 1] * iy
    const n = N16
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) n[i * 4 + j] = P[i * 4 + j] - K[i * 2] * PH[j * 2] - K[i * 2 + 1] * PH[j * 2 + 1]
    }
    P.set(n)
    return { m2, logLik }
  }
}

/** The two-model IMM filter the tracker uses. */
export class MotionFilter {
  private readonly f: [CvFilter, CvFilter]
  /** Probability of each mode: [still, moving]. */
  readonly mu: Float64Array
  t = 0
  rejections = 0
  initialized = false

  /** The last filtered steps, for the fixed-lag smoother (smoother.ts); null without one. */
  private readonly ring: StepRing | null

  constructor(private readonly o: KalmanOptions = defaultKalmanOptions) {
    // One buffer for the mode probabilities and both filters (see CvFilter).
    const buffer = new Float64Array(2 + 2 * CV_FLOATS)
    this.mu = buffer.subarray(0, 2)
    this.mu[0] = this.mu[1] = 0.5
    this.f = [new CvFilter(o.still, buffer, 2), new CvFilter(o.moving, buffer, 2 + CV_FLOATS)]
    this.ring = o.smoothSteps > 0 ? new StepRing(o.smoothSteps) : null
  }

  /**
   * Where the device was at time tq (ms, before the newest fix), from every fix up to the newest:
   * the fixes after tq count too (smoother.ts). Without kept steps, the filtered position.
   */
  smoothed(tq: number): { x: number; y: number; accuracy: number } {
    if (this.ring === null || this.ring.size === 0) return { x: this.x, y: this.y, accuracy: this.accuracy() }
    return smoothedPosition(this.ring, [this.o.still, this.o.moving], this.mu, tq)
  }

  get x(): number {
    return this.mu[0] * this.f[0].s[0] + this.mu[1] * this.f[1].s[0]
  }
  get y(): number {
    return this.mu[0] * this.f[0].s[1] + this.mu[1] * this.f[1].s[1]
  }
  get movingProbability(): number {
    return this.mu[1]
  }

  init(t: number, x: number, y: number, cxx: number, cyy: number, cxy: number): void {
    for (const f of this.f) {
      f.s.set([x, y, 0, 0])
      f.P.fill(0)
      f.P[0] = cxx
      f.P[5] = cyy
      f.P[1] = f.P[4] = cxy
      f.P[10] = f.P[15] = 1 // (1 m/s)² initial velocity uncertainty
    }
    this.mu[0] = this.mu[1] = 0.5
    this.t = t
    this.rejections = 0
    this.initialized = true
    this.ring?.clear()
    this.ring?.push(t, this.f)
  }

  /** Where the device is expected at time t, without changing the filter. */
  predicted(t: number): { x: number; y: number } {
    const dt = Math.max(0, (t - this.t) / 1000)
    let x = 0
    let y = 0
    for (let k = 0; k < 2; k++) {
      const m = this.f[k].m
      const s = this.f[k].s
      const g = m.velocityTauS * (1 - Math.exp(-dt / m.velocityTauS))
      x += this.mu[k] * (s[0] + g * s[2])
      y += this.mu[k] * (s[1] + g * s[3])
    }
    return { x, y }
  }

  /**
   * One IMM cycle at time t (ms) with a position fix of covariance R and lag `lagS`.
   * Returns false when the gate rejects the fix.
   */
  update(t: number, zx: number, zy: number, rxx: number, ryy: number, rxy: number, lagS = 0): boolean {
    if (!this.initialized) {
      this.init(t, zx, zy, rxx, ryy, rxy)
      return true
    }
    const dt = Math.max(0, (t - this.t) / 1000)
    this.t = Math.max(this.t, t)
    // 1. Mixing: each filter restarts from a blend weighted by the mode transition probabilities.
    const stay = this.o.stayProbability ** Math.max(dt, 1e-3)
    const pij = [
      [stay, 1 - stay],
      [1 - stay, stay]
    ]
    const c = [pij[0][0] * this.mu[0] + pij[1][0] * this.mu[1], pij[0][1] * this.mu[0] + pij[1][1] * this.mu[1]]
    const mixed = [0, 1].map(j => {
      const w0 = (pij[0][j] * this.mu[0]) / c[j]
      const w1 = (pij[1][j] * this.mu[1]) / c[j]
      const { s, P } = MIX[j]
      P.fill(0)
      for (let i = 0; i < 4; i++) s[i] = w0 * this.f[0].s[i] + w1 * this.f[1].s[i]
      for (const [w, f] of [
        [w0, this.f[0]],
        [w1, this.f[1]]
      ] as Array<[number, CvFilter]>) {
        for (let i = 0; i < 4; i++) {
          for (let k = 0; k < 4; k++) P[i * 4 + k] += w * (f.P[i * 4 + k] + (f.s[i] - s[i]) * (f.s[k] - s[k]))
        }
      }
      return { s, P }
    })
    for (let j = 0; j < 2; j++) {
      this.f[j].s.set(mixed[j].s)
      this.f[j].P.set(mixed[j].P)
      this.f[j].predict(dt)
    }
    // 2. Gate on the more permissive (walking) model: only a fix neither mode can explain is rejected.
    const probe = this.f[1].update(zx, zy, rxx, ryy, rxy, lagS, false)
    if (probe.m2 > this.o.gate) {
      for (let j = 0; j < 2; j++) this.mu[j] = c[j]
      if (++this.rejections >= this.o.maxRejections) this.init(t, zx, zy, rxx, ryy, rxy)
      else this.ring?.push(this.t, this.f)
      return false
    }
    this.rejections = 0
    // 3. Update both models, then the mode probabilities from their likelihoods.
    const ll = [0, 1].map(j => this.f[j].update(zx, zy, rxx, ryy, rxy, lagS, true).logLik)
    const m = Math.max(ll[0], ll[1])
    const w = [c[0] * Math.exp(ll[0] - m), c[1] * Math.exp(ll[1] - m)]
    const sum = w[0] + w[1]
    // Keep a little probability on each mode, so neither can be locked out for good.
    this.mu[0] = Math.min(0.999, Math.max(0.001, w[0] / sum))
    this.mu[1] = 1 - this.mu[0]
    this.ring?.push(this.t, this.f)
    return true
  }

  /** 1-sigma horizontal radius of the combined estimate, metres. */
  accuracy(): number {
    const x = this.x
    const y = this.y
    let v = 0
    for (let k = 0; k < 2; k++) {
      const f = this.f[k]
      v += this.mu[k] * (f.P[0] + f.P[5] + (f.s[0] - x) ** 2 + (f.s[1] - y) ** 2)
    }
    return Math.sqrt(Math.max(0, v))
  }
}
