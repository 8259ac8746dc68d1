// What each receiver can still hear. A receiver that drops packets below its sensitivity leaves a
// pile of readings right at that level (the distribution is cut off, not tailing away); readings
// near it are reported only when fading lifts them above it, so their mean reads "closer" than the
// device is, and the solver corrects for this (a truncated-normal mean) once the floor is known.
// Where nothing piles up at the bottom (a small room, every device well above the sensitivity) the
// weakest readings are the natural tail of the distribution, not a cut-off, and no floor is claimed:
// correcting for a cut-off that is not there biases the far sensors. Nor where the pile is the
// readings of one or two devices: a crowd standing at one spot (a queue at the till) makes every
// receiver's readings a narrow lump, and the one shopper heard beside it is then the weakest
// level of each far receiver; taken for its cut-off, that shopper's own readings were read as
// louder than its place and moved it out of the shop (test/integration/stable-id-flood.test.ts).
// A receiver's cut-off stops the readings of every device beyond it, so its pile holds many; and
// it shows only against readings that reach well above it, from devices at many distances: where
// most of a receiver's readings lie within a few dB of the weakest (one spot's, a crowd's), their
// lower edge is where that spot's readings end, not where the receiver stops hearing.

const BINS = 128 // integer dBm from -127 to 0
/** Devices whose readings must share the pile at the bottom before it is taken for a cut-off (and devices remembered per bin). */
export const FLOOR_DEVICES = 3
/**
 * The readings' 90th percentile must lie at least this far above a pile for it to be a cut-off,
 * dB: one spot's readings spread over the fading at that spot (a few dB in the simulators'
 * tags standing still); a receiver's readings of a store's traffic span tens of dB.
 */
const CUT_SPAN_DB = 10
/** An empty place in a bin's list of devices. */
const NONE = -1

/** One receiver's histogram of readings and, per bin, up to FLOOR_DEVICES distinct devices heard at that level. */
interface Receiver {
  hist: Uint32Array
  devices: Int32Array
  total: number
  n: number
  floor: number
  last: number
}

function receiver(): Receiver {
  return { hist: new Uint32Array(BINS), devices: new Int32Array(BINS * FLOOR_DEVICES).fill(NONE), total: 0, n: 0, floor: -Infinity, last: -Infinity }
}

/** A bin as saved: [bin, readings] or [bin, readings, distinct devices up to FLOOR_DEVICES] (earlier saves lack the third: taken as many). */
export type FloorBin = [number, number] | [number, number, number]

export class SensitivityFloors {
  private readonly sensors = new Map<string, Receiver>()

  /**
   * @param pileShare share of readings within 2 dB of the weakest one that marks a cut-off
   *   (a normal tail holds under a thousandth there; a sensor that cuts off holds far more)
   * @param minReadings readings a sensor must have reported before its floor is judged
   */
  constructor(
    private readonly pileShare = 0.01,
    private readonly minReadings = 300
  ) {}

  /** A reading of `device` (any non-negative number the caller keeps for that device). */
  add(sensor: string, rssi: number, device: number, ts = -Infinity): void {
    let s = this.sensors.get(sensor)
    if (!s) {
      s = receiver()
      this.sensors.set(sensor, s)
    }
    const b = Math.max(0, Math.min(BINS - 1, Math.round(rssi) + 127))
    s.hist[b]++
    s.total++
    if (ts > s.last) s.last = ts
    for (let k = b * FLOOR_DEVICES; k < (b + 1) * FLOOR_DEVICES; k++) {
      if (s.devices[k] === device) break
      if (s.devices[k] === NONE) {
        s.devices[k] = device
        break
      }
    }
  }

  /** When the sensor last reported anything (any device), ms: a sensor that is working. */
  heardAt(sensor: string): number {
    return this.sensors.get(sensor)?.last ?? -Infinity
  }

  /** Each sensor's histogram as [bin, count, devices] of its non-empty bins, for saving across restarts. */
  snapshot(): Record<string, FloorBin[]> {
    const out: Record<string, FloorBin[]> = {}
    for (const [id, s] of this.sensors) {
      const bins: FloorBin[] = []
      s.hist.forEach((c, i) => {
        if (c > 0) bins.push([i, c, distinct(s, i, i)])
      })
      out[id] = bins
    }
    return out
  }

  /** Takes up a snapshot for the given sensors (others, and bins out of range, are left out). */
  restore(snap: Record<string, FloorBin[]>, sensors: Set<string>): void {
    for (const [id, bins] of Object.entries(snap)) {
      if (!sensors.has(id)) continue
      const s = receiver()
      for (const [i, c, d] of bins) {
        if (Number.isInteger(i) && i >= 0 && i < BINS && Number.isInteger(c) && c > 0) {
          s.hist[i] += c
          s.total += c
          // Devices stand in as numbers no tracker gives (below NONE), so the next real ones add to them.
          const known = d === undefined ? FLOOR_DEVICES : Number.isInteger(d) ? Math.max(0, Math.min(FLOOR_DEVICES, d)) : 0
          for (let k = 0; k < known; k++) s.devices[i * FLOOR_DEVICES + k] = NONE - 1 - k
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
    s.floor =
      near >= this.pileShare * s.total && distinct(s, lowest, Math.min(BINS - 1, lowest + 2)) >= FLOOR_DEVICES && percentile(s, 0.9) - lowest >= CUT_SPAN_DB
        ? lowest - 127
        : -Infinity
    return s.floor
  }
}

/** The bin below which `share` of the receiver's readings lie. */
function percentile(s: Receiver, share: number): number {
  let b = 0
  let below = 0
  while (b < BINS - 1 && below + s.hist[b] <= share * s.total) below += s.hist[b++]
  return b
}

/** Distinct devices heard in bins from..to (counted up to FLOOR_DEVICES). */
function distinct(s: Receiver, from: number, to: number): number {
  const seen: number[] = []
  for (let k = from * FLOOR_DEVICES; k < (to + 1) * FLOOR_DEVICES && seen.length < FLOOR_DEVICES; k++) {
    const d = s.devices[k]
    if (d !== NONE && !seen.includes(d)) seen.push(d)
  }
  return seen.length
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
