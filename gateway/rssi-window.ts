// Recent RSSI readings of one device at one sensor, and their time-weighted mean. Raw readings
// spread 6-10 dB; averaging over 1-2 s brings that to 3-5 dB (Kolakowski data set notes), but
// slow fading is correlated over seconds, so the spread of the mean never drops below a floor.

export interface WindowOptions {
  /** Readings older than this (ms) are dropped. */
  windowMs: number
  /** Exponential weighting time constant, ms: recent readings count more. */
  tauMs: number
  /** Spread of one raw reading, dB. */
  rawSigmaDb: number
  /** Spread that averaging cannot remove (correlated fading), dB. */
  floorSigmaDb: number
  /** Most readings kept per window (bounded memory for chatty advertisers). */
  maxReadings: number
}

export const defaultWindowOptions: WindowOptions = { windowMs: 3000, tauMs: 1500, rawSigmaDb: 6, floorSigmaDb: 2.5, maxReadings: 32 }

export class RssiWindow {
  private readonly ts: Float64Array
  private readonly rssi: Float64Array
  private head = 0
  size = 0
  last = -Infinity

  constructor (private readonly o: WindowOptions) {
    this.ts = new Float64Array(o.maxReadings)
    this.rssi = new Float64Array(o.maxReadings)
  }

  add (ts: number, rssi: number): void {
    this.ts[this.head] = ts
    this.rssi[this.head] = rssi
    this.head = (this.head + 1) % this.o.maxReadings
    if (this.size < this.o.maxReadings) this.size++
    if (ts > this.last) this.last = ts
  }

  /** Weighted mean, its sigma and its weighted mean age (ms) at time t; null when nothing recent is left. */
  mean (t: number): { rssi: number, sigma: number, n: number, ageMs: number } | null {
    let sw = 0; let sr = 0; let sw2 = 0; let n = 0; let sa = 0
    const cap = this.o.maxReadings
    for (let k = 0; k < this.size; k++) {
      const i = (this.head - 1 - k + cap) % cap
      const age = t - this.ts[i]
      // Readings stamped after t belong to a later fix (event time: never look ahead).
      if (age > this.o.windowMs || age < 0) continue
      const w = Math.exp(-Math.max(0, age) / this.o.tauMs)
      sw += w; sr += w * this.rssi[i]; sw2 += w * w; sa += w * Math.max(0, age); n++
    }
    if (n === 0) return null
    // Effective sample size of the weighted mean (Kish): (Σw)² / Σw².
    const nEff = (sw * sw) / sw2
    const sigma = Math.sqrt(this.o.rawSigmaDb ** 2 / nEff + this.o.floorSigmaDb ** 2)
    return { rssi: sr / sw, sigma, n, ageMs: sa / sw }
  }
}
