// Recent RSSI of one device at one sensor as an exponentially weighted mean, updated in O(1) per
// reading and read in O(1) per fix. Raw readings spread 6-10 dB; averaging over 1-2 s brings that
// to 3-5 dB (Kolakowski data set notes), but slow fading is correlated over seconds, so the
// spread of the mean never drops below a floor.
// The mean folds in every reading as it arrives; a fix at tick t may therefore include readings
// stamped up to the clock's lateness after t (500 ms by default). Output stays deterministic.
import type { Observation } from './solver.ts'
import type { SensorModel } from './radio-model.ts'

export interface WindowOptions {
  /** Nothing heard for this long (ms): the sensor no longer counts for this device. */
  windowMs: number
  /** Exponential weighting time constant, ms: recent readings count more. */
  tauMs: number
  /** Spread of one raw reading, dB. */
  rawSigmaDb: number
  /** Spread that averaging cannot remove (correlated fading), dB. */
  floorSigmaDb: number
}

export const defaultWindowOptions: WindowOptions = { windowMs: 3000, tauMs: 1500, rawSigmaDb: 6, floorSigmaDb: 2.5 }

export class RssiWindow {
  /** Sums of w, w·rssi, w², w·ts, all decayed to time `t0`. */
  private sw = 0
  private sr = 0
  private sw2 = 0
  private st = 0
  private t0 = -Infinity
  last = -Infinity
  size = 0

  constructor(private readonly o: WindowOptions) {}

  add(ts: number, rssi: number): void {
    if (this.size === 0 || ts - this.last > this.o.windowMs) {
      // A fresh start after silence: old readings say nothing about now.
      this.sw = 0
      this.sr = 0
      this.sw2 = 0
      this.st = 0
      this.t0 = ts
      this.size = 0
    }
    let w = 1
    if (ts > this.t0) {
      const k = Math.exp(-(ts - this.t0) / this.o.tauMs)
      this.sw *= k
      this.sr *= k
      this.sw2 *= k * k
      this.st *= k
      this.t0 = ts
    } else {
      w = Math.exp(-(this.t0 - ts) / this.o.tauMs) // a late reading counts as old as it is
    }
    this.sw += w
    this.sr += w * rssi
    this.sw2 += w * w
    this.st += w * ts
    this.size++
    if (ts > this.last) this.last = ts
  }

  /**
   * Weighted mean, its sigma and its weighted mean age (ms) at time t, as a solver observation of
   * `sensor` (one allocation per sensor per fix: the hot path); null when nothing recent is left.
   */
  observation(t: number, sensor: SensorModel): Observation | null {
    if (this.size === 0 || t - this.last > this.o.windowMs) return null
    // Effective sample size of the weighted mean (Kish): (Σw)² / Σw²; decay cancels in the ratio.
    const nEff = (this.sw * this.sw) / this.sw2
    // A receiver self-calibration found noisier (or steadier) than the rest counts for less (or more).
    const raw = this.o.rawSigmaDb * (sensor.spreadScale ?? 1)
    const sigma = Math.sqrt((raw * raw) / nEff + this.o.floorSigmaDb * this.o.floorSigmaDb)
    // floorDbm is filled in by the tracker; present from the start, so every observation has one shape.
    return { sensor, rssi: this.sr / this.sw, sigma, ageMs: Math.max(0, t - this.st / this.sw), floorDbm: undefined, rawSigmaDb: raw }
  }
}
