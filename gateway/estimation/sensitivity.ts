// What each receiver can still hear. A receiver that drops packets below its sensitivity leaves a
// pile of readings right at that level (the distribution is cut off, not tailing away); readings
// near it are reported only when fading lifts them above it, so their mean reads "closer" than the
// device is, and the solver corrects for this (a truncated-normal mean) once the floor is known.
// Where nothing piles up at the bottom (a small room, every device well above the sensitivity) the
// weakest readings are the natural tail of the distribution, not a cut-off, and no floor is claimed:
// correcting for a cut-off that is not there biases the far sensors.

const BINS = 128 // integer dBm from -127 to 0

export class SensitivityFloors {
  private readonly sensors = new Map<string, { hist: Uint32Array; total: number; n: number; floor: number; last: number }>()

  /**
   * @param pileShare share of readings within 2 dB of the weakest one that marks a cut-off
   *   (a normal tail holds under a thousandth there; a sensor that cuts off holds far more)
   * @param minReadings readings a sensor must have reported before its floor is judged
   */
  constructor(
    private readonly pileShare = 0.01,
    private readonly minReadings = 300
  ) {}

  add(sensor: string, rssi: number, ts = -Infinity): void {
    let s = this.sensors.get(sensor)
    if (!s) {
      s = { hist: new Uint32Array(BINS), total: 0, n: 0, floor: -Infinity, last: -Infinity }
      this.sensors.set(sensor, s)
    }
    s.hist[Math.max(0, Math.min(BINS - 1, Math.round(rssi) + 127))]++
    s.total++
    if (ts > s.last) s.last = ts
  }

  /** When the sensor last reported anything (any device), ms: a sensor that is working. */
  heardAt(sensor: string): number {
    return this.sensors.get(sensor)?.last ?? -Infinity
  }

  /** Each sensor's histogram as [bin, count] pairs of its non-empty bins, for saving across restarts. */
  snapshot(): Record<string, Array<[number, number]>> {
    const out: Record<string, Array<[number, number]>> = {}
    for (const [id, s] of this.sensors) {
      const bins: Array<[number, number]> = []
      s.hist.forEach((c, i) => {
        if (c > 0) bins.push([i, c])
      })
      out[id] = bins
    }
    return out
  }

  /** Takes up a snapshot for the given sensors (others, and bins out of range, are left out). */
  restore(snap: Record<string, Array<[number, number]>>, sensors: Set<string>): void {
    for (const [id, bins] of Object.entries(snap)) {
      if (!sensors.has(id)) continue
      const s = { hist: new Uint32Array(BINS), total: 0, n: 0, floor: -Infinity, last: -Infinity }
      for (const [i, c] of bins) {
        if (Number.isInteger(i) && i >= 0 && i < BINS && Number.isInteger(c) && c > 0) {
          s.hist[i] += c
          s.total += c
        }
      }
      this.sensors.set(id, s)
    }
  }

  /** The sensor's reporting floor, dBm, or -Infinity while unknown or when nothing piles up there. */
  floor(sensor: string): number {
    const s = this.sensors.get(sensor)
    if (!s || s.total < this.minReadings) return -Infinity
    // Recomputed as the count doubles: the floor settles quickly and hardly moves after.
    if (s.n > 0 && s.total < 2 * s.n) return s.floor
    // The weakest level reported, passing over stray glitches (a few readings in ten thousand).
    let lowest = 0
    let below = 0
    while (lowest < BINS - 1 && below + s.hist[lowest] <= 0.0005 * s.total) below += s.hist[lowest++]
    const near = s.hist[lowest] + (s.hist[lowest + 1] ?? 0) + (s.hist[lowest + 2] ?? 0)
    s.n = s.total
    s.floor = near >= this.pileShare * s.total ? lowest - 127 : -Infinity
    return s.floor
  }
}

/** Standard normal density and upper tail (Abramowitz & Stegun 26.2.17, |error| < 7.5e-8). */
export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI)
}
export function normalUpperTail(x: number): number {
  if (x < 0) return 1 - normalUpperTail(-x)
  const t = 1 / (1 + 0.2316419 * x)
  const poly = t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))))
  return normalPdf(x) * poly
}

export interface Truncated {
  mean: number
  slope: number
}

/**
 * Mean of readings N(mu, sd²) that survive a floor, and its derivative by mu:
 * E = mu + sd·λ(α), α = (floor - mu)/sd, λ = φ(α)/Q(α) (inverse Mills ratio). Written into `out`
 * (the solver asks for it per sensor in every cost evaluation: an object per call showed in the
 * gateway's time, `npm run bench -- throughput`).
 */
export function truncatedMean(mu: number, sd: number, floor: number, out: Truncated = { mean: 0, slope: 1 }): Truncated {
  const a = (floor - mu) / sd
  if (a < LAMBDA.from) {
    out.mean = mu
    out.slope = 1
    return out
  }
  const lambda = inverseMills(a)
  out.mean = mu + sd * lambda
  out.slope = Math.max(0.02, 1 - lambda * (lambda - a))
  return out
}

/** A function tabulated on [from, to] every `step`, read back by linear interpolation (x clamped to the table). */
export class Tabulated {
  readonly v: Float64Array
  constructor(
    f: (x: number) => number,
    readonly from: number,
    readonly to: number,
    readonly step: number
  ) {
    this.v = Float64Array.from({ length: Math.round((to - from) / step) + 2 }, (_, i) => f(from + i * step))
  }

  at(x: number): number {
    const f = (Math.min(this.to, Math.max(this.from, x)) - this.from) / this.step
    const i = Math.floor(f)
    return this.v[i] + (this.v[i + 1] - this.v[i]) * (f - i)
  }
}

// λ(α) tabulated on [-4, 8] every 0.01 (linear interpolation error < 1e-5): the solver asks for
// it in every cost evaluation of every weak sensor.
export const LAMBDA = new Tabulated(
  a => {
    const q = normalUpperTail(a)
    return q > 1e-12 ? normalPdf(a) / q : a + 1 / a
  },
  -4,
  8,
  0.01
)

/** Inverse Mills ratio φ(α)/Q(α); beyond the table, its asymptote α + 1/α. */
export function inverseMills(a: number): number {
  return a >= LAMBDA.to ? a + 1 / a : LAMBDA.at(a)
}
