// Fixed-lag smoothing of the motion filter (kalman.ts). A position is published for a moment
// before the tick that made it (tracker option reportLagMs), so the fixes between that moment and
// the tick are already in: a Rauch-Tung-Striebel pass back over the last few filter steps uses
// them to say where the device was then, instead of publishing the newest filtered state for an
// older time. Each motion model is smoothed on its own (the mode switches between steps are left
// out, as in the usual IMM smoother approximations) and the two are mixed by the current mode
// probabilities.

export interface MotionModel {
  /** Acceleration noise spectral density, m²/s³. */
  accelNoise: number
  /** Velocity decay time constant, s (an Ornstein-Uhlenbeck velocity: people stop and start). */
  velocityTauS: number
}

/** Values per stored step and model: the filtered state (4) and covariance (16). */
const PER_MODEL = 20
/** Per step: time (ms) and both models. */
export const STEP_SIZE = 1 + 2 * PER_MODEL

/**
 * The last few filtered steps of one filter, in one preallocated ring (a tracked device keeps it
 * for as long as it is tracked).
 */
export class StepRing {
  readonly data: Float64Array
  /** Steps stored, at most `capacity`. */
  size = 0
  private head = 0

  constructor(readonly capacity: number) {
    this.data = new Float64Array(capacity * STEP_SIZE)
  }

  clear(): void {
    this.size = 0
    this.head = 0
  }

  /** Stores a step: its time and each model's filtered state and covariance. */
  push(t: number, models: ReadonlyArray<{ s: Float64Array; P: Float64Array }>): void {
    const at = this.head * STEP_SIZE
    this.data[at] = t
    for (let j = 0; j < 2; j++) {
      this.data.set(models[j].s, at + 1 + j * PER_MODEL)
      this.data.set(models[j].P, at + 5 + j * PER_MODEL)
    }
    this.head = (this.head + 1) % this.capacity
    this.size = Math.min(this.capacity, this.size + 1)
  }

  /** Offset in `data` of the k-th newest step (0: the newest). */
  offset(k: number): number {
    return ((this.head - 1 - k + 2 * this.capacity) % this.capacity) * STEP_SIZE
  }
}

// Scratch space: the smoother is synchronous and overwrites all of it.
const XS = new Float64Array(4)
const PS = new Float64Array(16)
const XP = new Float64Array(4)
const PP = new Float64Array(16)
const FP = new Float64Array(16)
const INV = new Float64Array(16)
const C = new Float64Array(16)
const WORK = new Float64Array(32)

/** F·x and F·P·Fᵀ + Q of the model's decaying-velocity transition over dt seconds (as CvFilter.predict). */
function predictInto(m: MotionModel, dt: number, s: Float64Array, so: number, P: Float64Array, po: number): void {
  const a = Math.exp(-dt / m.velocityTauS)
  const f = m.velocityTauS * (1 - a)
  XP[0] = s[so] + f * s[so + 2]
  XP[1] = s[so + 1] + f * s[so + 3]
  XP[2] = a * s[so + 2]
  XP[3] = a * s[so + 3]
  // FP = F·P (rows of F: [1,0,f,0], [0,1,0,f], [0,0,a,0], [0,0,0,a]).
  for (let j = 0; j < 4; j++) {
    FP[j] = P[po + j] + f * P[po + 8 + j]
    FP[4 + j] = P[po + 4 + j] + f * P[po + 12 + j]
    FP[8 + j] = a * P[po + 8 + j]
    FP[12 + j] = a * P[po + 12 + j]
  }
  // PP = FP·Fᵀ + Q.
  for (let i = 0; i < 4; i++) {
    PP[i * 4] = FP[i * 4] + f * FP[i * 4 + 2]
    PP[i * 4 + 1] = FP[i * 4 + 1] + f * FP[i * 4 + 3]
    PP[i * 4 + 2] = a * FP[i * 4 + 2]
    PP[i * 4 + 3] = a * FP[i * 4 + 3]
  }
  const q = m.accelNoise
  const q11 = (q * dt * dt * dt) / 3
  const q12 = (q * dt * dt) / 2
  PP[0] += q11
  PP[5] += q11
  PP[10] += q * dt
  PP[15] += q * dt
  PP[2] += q12
  PP[8] += q12
  PP[7] += q12
  PP[13] += q12
}

/** Inverse of a 4×4 matrix by Gauss-Jordan with partial pivoting into INV; false when singular. */
function invert4(A: Float64Array): boolean {
  const w = WORK
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      w[i * 8 + j] = A[i * 4 + j]
      w[i * 8 + 4 + j] = i === j ? 1 : 0
    }
  }
  for (let c = 0; c < 4; c++) {
    let p = c
    for (let r = c + 1; r < 4; r++) if (Math.abs(w[r * 8 + c]) > Math.abs(w[p * 8 + c])) p = r
    const pivot = w[p * 8 + c]
    if (!(Math.abs(pivot) > 1e-12)) return false
    if (p !== c) {
      for (let j = 0; j < 8; j++) {
        const tmp = w[c * 8 + j]
        w[c * 8 + j] = w[p * 8 + j]
        w[p * 8 + j] = tmp
      }
    }
    for (let j = 0; j < 8; j++) w[c * 8 + j] /= pivot
    for (let r = 0; r < 4; r++) {
      if (r === c) continue
      const k = w[r * 8 + c]
      if (k === 0) continue
      for (let j = 0; j < 8; j++) w[r * 8 + j] -= k * w[c * 8 + j]
    }
  }
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) INV[i * 4 + j] = w[i * 8 + 4 + j]
  return true
}

/**
 * One model's smoothed position at time tq (ms) from the ring's steps: back from the newest step
 * to the last one at or before tq, then forward by the smoothed velocity to tq. Writes x, y into
 * `out` at `o`; returns the smoothed position variance (trace of its 2×2 block).
 */
function smoothModel(ring: StepRing, j: number, m: MotionModel, tq: number, out: Float64Array, o: number): number {
  const d = ring.data
  const base = j * PER_MODEL
  let at = ring.offset(0)
  XS.set(d.subarray(at + 1 + base, at + 5 + base))
  PS.set(d.subarray(at + 5 + base, at + 21 + base))
  let tNext = d[at]
  for (let k = 1; k < ring.size && tNext > tq; k++) {
    at = ring.offset(k)
    const t = d[at]
    const so = at + 1 + base
    const po = at + 5 + base
    predictInto(m, Math.max(0, (tNext - t) / 1000), d, so, d, po)
    if (!invert4(PP)) break
    // C = P_k Fᵀ PP⁻¹, with P_k Fᵀ = (F P_k)ᵀ = FPᵀ.
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 4; c++) {
        let v = 0
        for (let i = 0; i < 4; i++) v += FP[i * 4 + r] * INV[i * 4 + c]
        C[r * 4 + c] = v
      }
    }
    // x_s = x_k + C (x_s' - x_pred); P_s = P_k + C (P_s' - PP) Cᵀ.
    for (let r = 0; r < 4; r++) {
      let v = d[so + r]
      for (let c = 0; c < 4; c++) v += C[r * 4 + c] * (XS[c] - XP[c])
      WORK[r] = v
    }
    for (let i = 0; i < 16; i++) PP[i] = PS[i] - PP[i]
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 4; c++) {
        let v = 0
        for (let i = 0; i < 4; i++) v += C[r * 4 + i] * PP[i * 4 + c]
        FP[r * 4 + c] = v
      }
    }
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 4; c++) {
        let v = d[po + r * 4 + c]
        for (let i = 0; i < 4; i++) v += FP[r * 4 + i] * C[c * 4 + i]
        PS[r * 4 + c] = v
      }
    }
    for (let r = 0; r < 4; r++) XS[r] = WORK[r]
    tNext = t
  }
  // From the step reached to tq (at or after it, unless the ring holds nothing that old).
  const dt = (tq - tNext) / 1000
  const g = m.velocityTauS * (1 - Math.exp(-Math.abs(dt) / m.velocityTauS)) * Math.sign(dt)
  out[o] = XS[0] + g * XS[2]
  out[o + 1] = XS[1] + g * XS[3]
  return PS[0] + PS[5]
}

const XY = new Float64Array(4)

/**
 * The filter's position at time tq (ms, at most its newest step) given every fix up to its newest
 * step, mixed over the two models by `mu`; and its 1-sigma horizontal radius.
 */
export function smoothedPosition(ring: StepRing, models: readonly [MotionModel, MotionModel], mu: Float64Array, tq: number): { x: number; y: number; accuracy: number } {
  const v0 = smoothModel(ring, 0, models[0], tq, XY, 0)
  const v1 = smoothModel(ring, 1, models[1], tq, XY, 2)
  const x = mu[0] * XY[0] + mu[1] * XY[2]
  const y = mu[0] * XY[1] + mu[1] * XY[3]
  const v = mu[0] * (v0 + (XY[0] - x) ** 2 + (XY[1] - y) ** 2) + mu[1] * (v1 + (XY[2] - x) ** 2 + (XY[3] - y) ** 2)
  return { x, y, accuracy: Math.sqrt(Math.max(0, v)) }
}
