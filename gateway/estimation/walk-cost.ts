// What the street-walk test's searches (street-walk.ts) pay at every step: each kept fix's cost at
// a place on a walk, for the walk's one transmit offset. The same arithmetic as a `Problem` with
// its offset pinned (likelihood.ts `evaluate`, then `silenceAt` on the nearest silent sensors),
// operation for operation, so every value comes out to the bit; but the heard sensors of every fix
// sit packed in typed arrays built once a test, and with the offset given, the residuals and their
// Huber cost come in one pass instead of two. The searches ask this hundreds of times per fix.
import { MIN_DISTANCE_M } from './radio-model.ts'
import type { RadioMap } from './radio-map.ts'
import { MISS_ANYWAY } from './likelihood.ts'
import { nearestSilentInto } from './nearest-silent.ts'
import { normalUpperTail, truncatedMean, type Truncated } from './sensitivity.ts'
import type { Observation, Silence } from './solver-types.ts'

/** Numbers kept per heard sensor: x, y, squared height difference, 1 m reference, 5·exponent, RSSI, sigma, floor, raw spread. */
const STRIDE = 9
const MIN_D2 = MIN_DISTANCE_M * MIN_DISTANCE_M
const mapGrad = { gx: 0, gy: 0 }
const trunc: Truncated = { mean: 0, slope: 1 }

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
  private readonly silentSigma: Float64Array
  private readonly silentOf: Silence[][]
  private readonly near: Silence[] = []
  private readonly d2 = new Float64Array(3)
  private readonly k: number
  private readonly k2: number
  private readonly kk: number
  private readonly tagHeight: number

  constructor(fixes: readonly FixSensors[], tagHeight: number, huberK: number) {
    let n = 0
    for (const f of fixes) n += f.obs.length
    this.v = new Float64Array(n * STRIDE)
    this.maps = new Array<RadioMap | undefined>(n)
    this.from = new Int32Array(fixes.length + 1)
    this.silentSigma = new Float64Array(fixes.length)
    this.silentOf = fixes.map(f => f.silent)
    let i = 0
    for (let j = 0; j < fixes.length; j++) {
      const { obs, silent } = fixes[j]
      this.from[j] = i
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
    }
    this.from[fixes.length] = i
    this.k = huberK
    this.k2 = 2 * huberK
    this.kk = huberK * huberK
    this.tagHeight = tagHeight
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
      if (floor > -Infinity) expected = truncatedMean(expected + b, v[at + 8], floor, trunc).mean - b
      const r = (v[at + 5] - expected - b) / v[at + 6]
      const ar = Math.abs(r)
      cost += ar <= k ? r * r : this.k2 * ar - this.kk
    }
    return cost
  }

  /** Whether fix j has silent sensors at all. */
  hasSilent(j: number): boolean {
    return this.silentOf[j].length > 0
  }

  /** Fix j's nearest silent sensors' cost at (x, y) for offset b: `Problem.silenceAt` on them. */
  silent(j: number, x: number, y: number, b: number): number {
    const sigma = this.silentSigma[j]
    const dz0 = this.tagHeight
    let cost = 0
    for (const q of nearestSilentInto(this.silentOf[j], x, y, this.near, this.d2)) {
      const s = q.sensor
      const dx = x - s.x
      const dy = y - s.y
      const dz = dz0 - s.z
      const d2 = Math.max(dx * dx + dy * dy + dz * dz, MIN_D2)
      let expected = s.a - 5 * s.n * Math.log10(d2) + b
      if (s.map) expected += s.map.at(x, y, mapGrad)
      const u = (expected - q.floorDbm) / sigma
      const p = MISS_ANYWAY + (1 - MISS_ANYWAY) * normalUpperTail(u)
      cost += -2 * Math.log(p)
    }
    return cost
  }
}
