// What the street-walk test's searches (street-walk.ts) pay at every step: each kept fix's cost at
// a place on a walk, for the walk's one transmit offset. The same arithmetic as a `Problem` with
// its offset pinned (likelihood.ts `evaluate`, then `silenceAt` on the nearest silent sensors),
// operation for operation, so every value comes out to the bit; but the heard sensors of every fix
// sit packed in typed arrays built once a test, and with the offset given, the residuals and their
// Huber cost come in one pass instead of two; the nearest silent sensors are picked from packed
// places without a list. The searches ask this hundreds of times per fix.
import { MIN_DISTANCE_M } from './radio-model.ts'
import type { RadioMap } from './radio-map.ts'
import { MISS_ANYWAY } from './likelihood.ts'
import { SILENT_COUNTED } from './nearest-silent.ts'
import { LAMBDA } from './sensitivity.ts'
import type { Observation, Silence } from './solver-types.ts'

/** Numbers kept per heard sensor: x, y, squared height difference, 1 m reference, 5·exponent, RSSI, sigma, floor, raw spread. */
const STRIDE = 9
/** Numbers kept per silent sensor: x, y, squared height difference, 1 m reference, 5·exponent, floor. */
const SILENT_STRIDE = 6
const MIN_D2 = MIN_DISTANCE_M * MIN_DISTANCE_M
const mapGrad = { gx: 0, gy: 0 }
const LAM = LAMBDA.v
const LAM_FROM = LAMBDA.from
const LAM_TO = LAMBDA.to
const LAM_STEP = LAMBDA.step

/** One fix's heard and silent sensors as a walk search sees them. */
export interface FixSensors {
  obs: Observation[]
  silent: Silence[]
}

/** The kept fixes of one test, packed: `heard` and `silent` cost a fix at (x, y) for offset b. */
export class WalkCosts {
  private readonly v: Float64Array
  private readonly maps: Array<RadioMap | undefined>
  /** Where each fix's heard sensors start in `v` (over STRIDE), and the last one's end. */
  private readonly from: Int32Array
  private readonly sv: Float64Array
  private readonly silentMaps: Array<RadioMap | undefined>
  /** Where each fix's silent sensors start in `sv` (over SILENT_STRIDE), and the last one's end. */
  private readonly silentFrom: Int32Array
  private readonly silentSigma: Float64Array
  private readonly k: number
  private readonly k2: number
  private readonly kk: number

  constructor(fixes: readonly FixSensors[], tagHeight: number, huberK: number) {
    let n = 0
    let m = 0
    for (const f of fixes) {
      n += f.obs.length
      m += f.silent.length
    }
    this.v = new Float64Array(n * STRIDE)
    this.maps = new Array<RadioMap | undefined>(n)
    this.from = new Int32Array(fixes.length + 1)
    this.sv = new Float64Array(m * SILENT_STRIDE)
    this.silentMaps = new Array<RadioMap | undefined>(m)
    this.silentFrom = new Int32Array(fixes.length + 1)
    this.silentSigma = new Float64Array(fixes.length)
    let i = 0
    let q = 0
    for (let j = 0; j < fixes.length; j++) {
      const { obs, silent } = fixes[j]
      this.from[j] = i
      this.silentFrom[j] = q
      let sigma = Infinity
      if (silent.length > 0) for (const ob of obs) sigma = Math.min(sigma, ob.sigma)
      this.silentSigma[j] = sigma
      for (const ob of obs) {
        const s = ob.sensor
        const dz = tagHeight - s.z
        const at = i * STRIDE
        this.v[at] = s.x
        this.v[at + 1] = s.y
        this.v[at + 2] = dz * dz
        this.v[at + 3] = s.a
        this.v[at + 4] = 5 * s.n
        this.v[at + 5] = ob.rssi
        this.v[at + 6] = ob.sigma
        this.v[at + 7] = ob.floorDbm ?? -Infinity
        this.v[at + 8] = ob.rawSigmaDb ?? 6
        this.maps[i] = s.map
        i++
      }
      for (const { sensor: s, floorDbm } of silent) {
        const dz = tagHeight - s.z
        const at = q * SILENT_STRIDE
        this.sv[at] = s.x
        this.sv[at + 1] = s.y
        this.sv[at + 2] = dz * dz
        this.sv[at + 3] = s.a
        this.sv[at + 4] = 5 * s.n
        this.sv[at + 5] = floorDbm
        this.silentMaps[q] = s.map
        q++
      }
    }
    this.from[fixes.length] = i
    this.silentFrom[fixes.length] = q
    this.k = huberK
    this.k2 = 2 * huberK
    this.kk = huberK * huberK
  }

  /** Fix j's heard sensors' Huber cost at (x, y) for offset b: `Problem.evaluate` with the offset pinned at b. */
  heard(j: number, x: number, y: number, b: number): number {
    const v = this.v
    const k = this.k
    let cost = 0
    for (let i = this.from[j], end = this.from[j + 1]; i < end; i++) {
      const at = i * STRIDE
      const dx = x - v[at]
      const dy = y - v[at + 1]
      const d2 = Math.max(dx * dx + dy * dy + v[at + 2], MIN_D2)
      let expected = v[at + 3] - v[at + 4] * Math.log10(d2)
      const map = this.maps[i]
      if (map !== undefined) expected += map.at(x, y, mapGrad)
      const floor = v[at + 7]
      if (floor > -Infinity) {
        // truncatedMean(expected + b, sd, floor).mean - b, written out (its slope is not needed
        // here): a call per sensor per step came back as a heap number each time.
        const mu = expected + b
        const sd = v[at + 8]
        const a = (floor - mu) / sd
        let mean = mu
        if (!(a < LAM_FROM)) {
          let lambda: number
          if (a >= LAM_TO) lambda = a + 1 / a
          else {
            const f = (Math.min(LAM_TO, Math.max(LAM_FROM, a)) - LAM_FROM) / LAM_STEP
            const t = Math.floor(f)
            lambda = LAM[t] + (LAM[t + 1] - LAM[t]) * (f - t)
          }
          mean = mu + sd * lambda
        }
        expected = mean - b
      }
      const r = (v[at + 5] - expected - b) / v[at + 6]
      const ar = Math.abs(r)
      cost += ar <= k ? r * r : this.k2 * ar - this.kk
    }
    return cost
  }

  /** Whether fix j has silent sensors at all. */
  hasSilent(j: number): boolean {
    return this.silentFrom[j + 1] > this.silentFrom[j]
  }

  /**
   * Fix j's nearest silent sensors' cost at (x, y) for offset b: `Problem.silenceAt` on
   * `nearestSilent` (nearest-silent.ts), the same sensors added in the same order.
   */
  silent(j: number, x: number, y: number, b: number): number {
    const from = this.silentFrom[j]
    const end = this.silentFrom[j + 1]
    const sigma = this.silentSigma[j]
    if (end - from <= SILENT_COUNTED) {
      let cost = 0
      for (let q = from; q < end; q++) cost += this.silenceCost(q, x, y, b, sigma)
      return cost
    }
    // The SILENT_COUNTED (three) nearest, nearest first, the first of equals first: the insertion
    // of nearestSilentInto, step for step, in locals.
    const sv = this.sv
    let n = 0
    let q0 = 0
    let q1 = 0
    let q2 = 0
    let e0 = 0
    let e1 = 0
    let e2 = 0
    for (let q = from; q < end; q++) {
      const d = (sv[q * SILENT_STRIDE] - x) ** 2 + (sv[q * SILENT_STRIDE + 1] - y) ** 2
      if (n === 3) {
        if (d >= e2) continue
        n = 2
      }
      if (n === 2) {
        if (e1 > d) {
          e2 = e1
          q2 = q1
          if (e0 > d) {
            e1 = e0
            q1 = q0
            e0 = d
            q0 = q
          } else {
            e1 = d
            q1 = q
          }
        } else {
          e2 = d
          q2 = q
        }
      } else if (n === 1) {
        if (e0 > d) {
          e1 = e0
          q1 = q0
          e0 = d
          q0 = q
        } else {
          e1 = d
          q1 = q
        }
      } else {
        e0 = d
        q0 = q
      }
      n++
    }
    let cost = 0
    cost += this.silenceCost(q0, x, y, b, sigma)
    cost += this.silenceCost(q1, x, y, b, sigma)
    cost += this.silenceCost(q2, x, y, b, sigma)
    return cost
  }

  /** -2·ln P(silent at (x, y)) of packed silent sensor q (likelihood.ts `silenceCost`, without its gradient). */
  private silenceCost(q: number, x: number, y: number, b: number, sigma: number): number {
    const sv = this.sv
    const at = q * SILENT_STRIDE
    const dx = x - sv[at]
    const dy = y - sv[at + 1]
    const d2 = Math.max(dx * dx + dy * dy + sv[at + 2], MIN_D2)
    let expected = sv[at + 3] - sv[at + 4] * Math.log10(d2) + b
    const map = this.silentMaps[q]
    if (map !== undefined) expected += map.at(x, y, mapGrad)
    const u = (expected - sv[at + 5]) / sigma
    // normalUpperTail(u), written out as sensitivity.ts has it, operation for operation.
    const ax = u < 0 ? -u : u
    const t = 1 / (1 + 0.2316419 * ax)
    const poly = t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))))
    const tail = (Math.exp(-0.5 * ax * ax) / Math.sqrt(2 * Math.PI)) * poly
    const p = MISS_ANYWAY + (1 - MISS_ANYWAY) * (u < 0 ? 1 - tail : tail)
    return -2 * Math.log(p)
  }
}
