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

/** One device's window at one sensor: RssiWindows with a single slot. */
export class RssiWindow {
  private readonly w: RssiWindows

  constructor(o: WindowOptions) {
    this.w = new RssiWindows(o)
  }

  /** When it last heard its sensor, ms (-Infinity: never). */
  get last(): number {
    return this.w.size === 0 ? -Infinity : this.w.last(0)
  }

  add(ts: number, rssi: number): void {
    this.w.add(0, ts, rssi)
  }

  /**
   * Weighted mean, its sigma and its weighted mean age (ms) at time t, as a solver observation of
   * `sensor`; null when nothing recent is left.
   */
  observation(t: number, sensor: SensorModel): Observation | null {
    return this.w.size === 0 ? null : this.w.observation(0, t, sensor)
  }
}

/** Numbers one window keeps in RssiWindows: its key, the four sums, their time, its last reading, its count. */
const STRIDE = 8
/** Windows a device's buffer grows by. */
const GROW = 4

/**
 * A device's windows, one per sensor key, in one buffer: the same sums as RssiWindow, updated by
 * the same arithmetic, kept in the order the sensors were first heard. One small object a window
 * with its numbers boxed on the heap, plus a map over them, cost a device several times as much.
 */
export class RssiWindows {
  private v: Float64Array = NO_WINDOWS
  /** Windows held. */
  size = 0

  constructor(private readonly o: WindowOptions) {}

  /** The slot of the window of sensor `key`, or -1. */
  indexOf(key: number): number {
    const v = this.v
    for (let i = 0, k = 0; i < this.size; i++, k += STRIDE) if (v[k] === key) return i
    return -1
  }

  /** The sensor key of slot i. */
  key(i: number): number {
    return this.v[i * STRIDE]
  }

  /** When slot i last heard its sensor, ms. */
  last(i: number): number {
    return this.v[i * STRIDE + 6]
  }

  add(key: number, ts: number, rssi: number): void {
    let i = this.indexOf(key)
    if (i < 0) {
      if ((this.size + 1) * STRIDE > this.v.length) {
        const v = new Float64Array(this.v.length + GROW * STRIDE)
        v.set(this.v)
        this.v = v
      }
      i = this.size++
      const k = i * STRIDE
      this.v[k] = key
      this.v[k + 5] = -Infinity
      this.v[k + 6] = -Infinity
      this.v[k + 7] = 0
    }
    const v = this.v
    const k = i * STRIDE
    // Sums of w, w·rssi, w², w·ts at k+1..k+4, all decayed to time t0 at k+5; last reading at k+6, count at k+7.
    // A fresh start after silence: old readings say nothing about now.
    if (v[k + 7] === 0 || ts - v[k + 6] > this.o.windowMs) {
      v[k + 1] = 0
      v[k + 2] = 0
      v[k + 3] = 0
      v[k + 4] = 0
      v[k + 5] = ts
      v[k + 7] = 0
    }
    let w = 1
    if (ts > v[k + 5]) {
      const d = Math.exp(-(ts - v[k + 5]) / this.o.tauMs)
      v[k + 1] *= d
      v[k + 2] *= d
      v[k + 3] *= d * d
      v[k + 4] *= d
      v[k + 5] = ts
    } else {
      w = Math.exp(-(v[k + 5] - ts) / this.o.tauMs) // a late reading counts as old as it is
    }
    v[k + 1] += w
    v[k + 2] += w * rssi
    v[k + 3] += w * w
    v[k + 4] += w * ts
    v[k + 7]++
    if (ts > v[k + 6]) v[k + 6] = ts
  }

  /**
   * Weighted mean, its sigma and its weighted mean age (ms) at time t of slot i, as a solver
   * observation of `sensor` (one allocation per sensor per fix: the hot path); null when nothing recent is left.
   */
  observation(i: number, t: number, sensor: SensorModel): Observation | null {
    const v = this.v
    const k = i * STRIDE
    if (v[k + 7] === 0 || t - v[k + 6] > this.o.windowMs) return null
    const sw = v[k + 1]
    // Effective sample size of the weighted mean (Kish): (Σw)² / Σw²; decay cancels in the ratio.
    const nEff = (sw * sw) / v[k + 3]
    // A receiver self-calibration found noisier (or steadier) than the rest counts for less (or more).
    const raw = this.o.rawSigmaDb * (sensor.spreadScale ?? 1)
    const sigma = Math.sqrt((raw * raw) / nEff + this.o.floorSigmaDb * this.o.floorSigmaDb)
    // floorDbm is filled in by the tracker; present from the start, so every observation has one shape.
    return { sensor, rssi: v[k + 2] / sw, sigma, ageMs: Math.max(0, t - v[k + 4] / sw), floorDbm: undefined, rawSigmaDb: raw }
  }
}

const NO_WINDOWS = new Float64Array(0)
