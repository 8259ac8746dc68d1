// Online self-calibration: an uncalibrated site gets better as it runs. What a calibration walk
// would have fitted is learned from what the gateway already hears:
// - each sensor's RSSI bias, from fixed beacons (and other sensors) at known positions (the
//   residual against the path-loss model at the known distance is direct evidence) and from
//   ordinary devices: after each well-constrained fix, each sensor's residual against the fitted
//   position (device offset removed). One sensor that always reads hot shows up as a persistent
//   positive residual. The biases are centred on their median: a common shift is
//   indistinguishable from the phones' own transmit offsets, and one badly mounted sensor must
//   not drag the others' corrections along with it.
// Estimates shrink towards the site file's values until evidence accumulates, and are bounded.
import type { SensorModel } from './radio-model.ts'
import { expectedRssi } from './radio-model.ts'
import type { Fix, Observation } from './solver.ts'
import { hypot3 } from '../../shared/geometry.ts'
import { SpreadEvidence } from './spread.ts'

const byValue = (a: number, b: number): number => a - b

/**
 * The median of `values` (in their order, `sorted` the same values to be sorted in place) exactly
 * as `[...values].sort((a, b) => a - b)` gives it: numerically sorted, that stable sort and the
 * typed array's differ only in where -0 and +0 fall (the comparator keeps zeros in their order, the
 * typed sort puts -0 first) and with NaN (the comparator then orders as its algorithm happens to):
 * a zero picked is taken by its rank among the zeros in their order, and NaN falls back to the
 * comparator's sort.
 */
export function medianAsSorted(sorted: Float64Array, values: Float64Array): number {
  const n = values.length
  for (let i = 0; i < n; i++)
    if (Number.isNaN(values[i])) {
      const v = Array.from(values).sort(byValue)
      const h = n >> 1
      return n % 2 === 1 ? v[h] : (v[h - 1] + v[h]) / 2
    }
  sorted.sort()
  const h = n >> 1
  return n % 2 === 1 ? at(sorted, values, h) : (at(sorted, values, h - 1) + at(sorted, values, h)) / 2
}

/** The k-th of the stably sorted values: a zero's sign is that of the zero of the same rank in `values`' order. */
function at(sorted: Float64Array, values: Float64Array, k: number): number {
  const x = sorted[k]
  if (x !== 0) return x
  let firstZero = k
  while (firstZero > 0 && sorted[firstZero - 1] === 0) firstZero--
  let rank = k - firstZero
  for (let i = 0; i < values.length; i++) if (values[i] === 0 && rank-- === 0) return values[i]
  return x
}

export interface SelfCalibrationOptions {
  /** Pseudo-count of zero-residual evidence each sensor starts with. */
  priorCount: number
  /** Weight of one known-position (beacon) reading relative to a device fix residual. */
  beaconWeight: number
  /** Largest correction, dB. */
  maxCorrectionDb: number
  /** Only fixes from at least this many sensors teach anything. */
  minSensors: number
  /** Forgetting: evidence older than about this many samples fades (sensors get moved, batteries age). */
  memory: number
  /**
   * Whether each receiver's spread is learned too (spread.ts). Off by default: it places better on
   * the Kolakowski robot track and in the simulated hypermarket (docs/positioning.md), but in the
   * department store's hour it let one passer-by make a visit, and on the OpenHPS floor (phone-scan
   * beacons, each heard by many phones) it made positions worse.
   */
  learnSpread: boolean
  /**
   * A known-position reading further than this (dB) from what the model and the sensor's own
   * learned correction expect is refused, not learned: a fixed beacon's id is broadcast in the
   * clear, and a clone of it beside one sensor must not become that sensor's bias. A sensor's true
   * bias is bounded by `maxCorrectionDb`, and indoor shadowing spreads single readings by some
   * 4-8 dB (log-normal σ, Rappaport, Wireless Communications, 2nd ed., table 4.7): 20 dB is past
   * three of those while the learned correction follows the sensor.
   */
  knownGateDb: number
}

export const defaultSelfCalibrationOptions: SelfCalibrationOptions = {
  priorCount: 200,
  beaconWeight: 5,
  maxCorrectionDb: 12,
  minSensors: 4,
  memory: 20_000,
  learnSpread: false,
  knownGateDb: 20
}

/** Known-position readings refused for being implausible, by sensor and beacon: for /healthz. */
export interface ImplausibleKnown {
  sensor: string
  beacon: string
  /** Readings refused so far. */
  count: number
  /** The last one's residual against the expectation, dB. */
  residualDb: number
  /** When the last one was heard, event ms. */
  lastAt: number
}

interface Acc {
  sum: number
  weight: number
}

/** Phone-scan mode's calibrator of the site's beacons: never their spreads (see `learnSpread`). */
export const beaconSelfCalibrationOptions: SelfCalibrationOptions = { ...defaultSelfCalibrationOptions, learnSpread: false }

/** What a calibrator has learned, as saved across restarts. */
export interface CalibratorState {
  samples: number
  sensors: Record<string, Acc> /** absent in what earlier versions saved */
  spread?: Record<string, Acc>
}

/** A sensor whose learned correction is at least this large (dB) is reported as a problem (/healthz). */
export const OFF_SENSOR_DB = 10

export class SelfCalibrator {
  private readonly acc = new Map<string, Acc>()
  private readonly spread: SpreadEvidence
  samples = 0
  /** Known-position readings refused (knownGateDb), in all and per sensor and beacon (bounded by the site's pairs). */
  refusedKnown = 0
  readonly implausible = new Map<string, ImplausibleKnown>()

  constructor(
    private readonly base: Map<string, SensorModel>,
    private readonly o: SelfCalibrationOptions = defaultSelfCalibrationOptions
  ) {
    this.spread = new SpreadEvidence([...base.keys()], o.priorCount, o.memory)
  }

  private add(sensor: string, residual: number, weight: number): void {
    let a = this.acc.get(sensor)
    if (!a) {
      a = { sum: 0, weight: 0 }
      this.acc.set(sensor, a)
    }
    // Exponential forgetting keeps the estimate responsive over weeks of operation.
    const keep = 1 - weight / this.o.memory
    a.sum = a.sum * keep + weight * residual
    a.weight = a.weight * keep + weight
    this.samples++
  }

  /**
   * A reading of a fixed transmitter at a known 3-D distance, with its own 1 m reference power.
   * False when it is refused as implausible (see `knownGateDb`); `beacon` and `ts` (event ms) name
   * it for /healthz.
   */
  observeKnown(sensor: string, distanceM: number, rssi: number, refAt1m: number, siteRefAt1m: number, beacon = '', ts = 0): boolean {
    const m = this.base.get(sensor)
    if (!m || m.map) return true
    // Evidence about the sensor's own bias, so against its site-file model.
    const expected = expectedRssi(m, distanceM) - siteRefAt1m + refAt1m
    const residual = rssi - expected
    if (Math.abs(residual - this.raw(sensor)) > this.o.knownGateDb) {
      this.refusedKnown++
      const key = `${sensor} ${beacon}`
      const seen = this.implausible.get(key)
      this.implausible.set(key, { sensor, beacon, count: (seen?.count ?? 0) + 1, residualDb: residual, lastAt: ts })
      return false
    }
    this.add(sensor, residual, this.o.beaconWeight)
    return true
  }

  /** Residuals of a device fix: evidence about every sensor that took part. */
  observeFix(obs: Observation[], fix: Fix, tagHeight: number): void {
    if (obs.length < this.o.minSensors || fix.method !== 'lm') return
    const centre = this.centre()
    for (const ob of obs) {
      const s = ob.sensor
      if (s.map) continue
      const d = hypot3(fix.x - s.x, fix.y - s.y, tagHeight - s.z)
      // `ob.sensor` already carries the current corrections; the residual is what is left.
      const r = ob.rssi - expectedRssi(s, d) - fix.offsetDb
      this.add(s.id, r + this.raw(s.id) - centre, 1)
      // In units of the reading's own spread (the window's sigma), so sensors heard by few readings compare fairly.
      if (this.o.learnSpread) this.spread.add(s.id, (r / ob.sigma) * (s.spreadScale ?? 1))
    }
  }

  /** Current correction for a sensor, dB (added to its RSSI at 1 m). */
  correction(sensor: string): number {
    return this.raw(sensor) - this.centre()
  }

  private raw(sensor: string): number {
    const a = this.acc.get(sensor)
    if (!a) return 0
    const v = a.sum / (a.weight + this.o.priorCount)
    return Math.max(-this.o.maxCorrectionDb, Math.min(this.o.maxCorrectionDb, v))
  }

  private centreSorted = new Float64Array(16)
  private centreInOrder = new Float64Array(16)
  /** The median of the sensors' raw corrections: robust to the one sensor that is far off. */
  private centre(): number {
    if (this.acc.size === 0) return 0
    // Asked once per fix. A typed array sorts numbers in place without boxing them (the builtin
    // sort of a plain array with a comparator boxed every value and comparison), and gives the
    // same median: see medianAsSorted.
    const n = this.base.size
    if (this.centreSorted.length < n) {
      this.centreSorted = new Float64Array(n * 2)
      this.centreInOrder = new Float64Array(n * 2)
    }
    let i = 0
    for (const id of this.base.keys()) {
      const r = this.raw(id)
      this.centreSorted[i] = r
      this.centreInOrder[i++] = r
    }
    return medianAsSorted(this.centreSorted.subarray(0, n), this.centreInOrder.subarray(0, n))
  }

  private corrected(m: SensorModel): SensorModel {
    return { ...m, a: m.a + this.correction(m.id), spreadScale: this.spread.scale(m.id) }
  }

  /** The sensor models with the learned corrections applied. */
  models(): Map<string, SensorModel> {
    return new Map([...this.base].map(([id, m]) => [id, m.map ? m : this.corrected(m)]))
  }

  /** What has been learned so far (the evidence, not just the corrections: it keeps accumulating). */
  snapshot(): CalibratorState {
    return { samples: this.samples, sensors: Object.fromEntries([...this.acc].map(([id, a]) => [id, { sum: a.sum, weight: a.weight }])), spread: this.spread.snapshot() }
  }

  /** Takes up a snapshot; sensors the site no longer has, and values that are not numbers, are left out. */
  restore(s: CalibratorState): void {
    for (const [id, a] of Object.entries(s.sensors)) {
      if (this.base.has(id) && Number.isFinite(a.sum) && Number.isFinite(a.weight) && a.weight >= 0) this.acc.set(id, { sum: a.sum, weight: a.weight })
    }
    if (Number.isFinite(s.samples)) this.samples = s.samples
    if (s.spread !== undefined) this.spread.restore(s.spread)
  }

  /** Each sensor's learned spread against the typical sensor's (1: typical). */
  spreadScales(): Record<string, number> {
    return Object.fromEntries([...this.base.keys()].map(id => [id, Math.round(100 * this.spread.scale(id)) / 100]))
  }

  corrections(): Record<string, number> {
    return Object.fromEntries([...this.base.keys()].map(id => [id, Math.round(100 * this.correction(id)) / 100]))
  }
}

/**
 * The /healthz problem for sensors whose learned correction (dB, per sensor) is OFF_SENSOR_DB or
 * more either way, or null: such a sensor is mounted badly (behind metal, facing a wall),
 * shadowed, or has a wrong `offsetDb`, and self-calibration only hides it.
 */
export function offSensorsProblem(corrections: Record<string, number>): string | null {
  const off = Object.entries(corrections).filter(([, c]) => Math.abs(c) >= OFF_SENSOR_DB)
  if (off.length === 0) return null
  return (
    `sensors reading ${OFF_SENSOR_DB} dB or more off the radio model (mounted badly, shadowed, or a wrong offsetDb): ` +
    off.map(([id, c]) => `${id} ${c > 0 ? '+' : ''}${c.toFixed(1)} dB`).join(', ')
  )
}

/**
 * The /healthz problem for site beacons heard implausibly far from their model at their known
 * distance since `since` (event ms), or null: a clone of the beacon (its id is broadcast in the
 * clear) or a beacon moved; those readings teach self-calibration nothing.
 */
export function implausibleBeaconsProblem(implausible: Iterable<ImplausibleKnown>, since: number): string | null {
  const recent = [...implausible].filter(i => i.lastAt >= since)
  if (recent.length === 0) return null
  return (
    'site beacon heard implausibly far from its model at its known distance (a clone of the beacon, or a beacon moved), not learned from: ' +
    recent
      .slice(0, 5)
      .map(i => `${i.beacon} by ${i.sensor} ${i.residualDb > 0 ? '+' : ''}${i.residualDb.toFixed(0)} dB (${i.count} readings)`)
      .join(', ')
  )
}
