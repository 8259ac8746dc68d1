// Why the model-based phone-scan path does as it does on the OpenHPS floor: what the train split's
// readings (taken at known points) say about the site's radio model. A diagnosis printed beside
// the figures; nothing here reaches the gateway.
import type { Site } from '../shared/site.ts'
import type { OpenHpsScan } from '../simulators/openhps.ts'

/** A line y = a + b x fitted by least squares, and the spread of the residuals. */
function fitLine(xs: number[], ys: number[]): { a: number; b: number; sd: number } {
  const n = xs.length
  const mx = xs.reduce((s, v) => s + v, 0) / n
  const my = ys.reduce((s, v) => s + v, 0) / n
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my)
    sxx += (xs[i] - mx) ** 2
  }
  const b = sxx > 0 ? sxy / sxx : 0
  const a = my - b * mx
  const sd = Math.sqrt(ys.reduce((s, y, i) => s + (y - a - b * xs[i]) ** 2, 0) / Math.max(1, n - 2))
  return { a, b, sd }
}

const mean = (v: number[]): number => (v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : NaN)

export interface RadioDiagnosis {
  readings: number
  /** Share of scans hearing at least 3 beacons (what a position from ranges needs). */
  scansWithThree: number
  /** Mean beacons per scan. */
  beaconsPerScan: number
  /** Residual against the site's default model (its rssiAt1m, exponent, heights), dB: mean and spread. */
  defaultModel: { meanDb: number; sdDb: number }
  /** The model refitted (rssiAt1m and exponent) on the train split, and its residual spread, dB. */
  fitted: { rssiAt1m: number; pathLossExponent: number; sdDb: number }
  /** Spread of the residual after each beacon gets its own offset on top of the refitted model, dB. */
  perBeaconSdDb: number
  /** Each beacon's mean residual against the refitted model, dB (by site id). */
  beaconOffsetsDb: Record<string, number>
  /** Mean residual against the refitted model by phone heading, dB. */
  headingDb: Record<string, number>
  /**
   * The refit's residual split into a part fixed by place (the mean of each beacon at each reference
   * point: walls, furniture, a survey learns it, a path-loss model cannot) and what varies at one
   * place (headings, fading, time), dB.
   */
  byPlace: { staticSdDb: number; varyingSdDb: number }
  /** The refit's spread with every beacon at the phone's height and at 4 m instead (no height is given). */
  heightSdDb: { phoneHeight: number; fourMetres: number }
}

/** Residuals of the train split's readings against the path-loss model, beacons at height `z` (or their own). */
function readingsOf(site: Site, train: OpenHpsScan[], z?: number): Array<{ logD: number; rssi: number; beacon: string; heading: number; place: string }> {
  const phone = site.radio.tagHeightM
  return train.flatMap(s =>
    [...s.rssi].flatMap(([id, rssi]) => {
      const b = site.beacons.get(id)
      if (b === undefined) return []
      const d = Math.max(0.5, Math.hypot(b.x - s.x, b.y - s.y, (z ?? b.z) - phone))
      return [{ logD: Math.log10(d), rssi, beacon: id, heading: s.heading, place: `${id}@${s.x},${s.y}` }]
    })
  )
}

export function radioDiagnosis(site: Site, train: OpenHpsScan[]): RadioDiagnosis {
  const r = readingsOf(site, train)
  const { rssiAt1m: a0, pathLossExponent: n0 } = site.radio
  const def = r.map(o => o.rssi - (a0 - 10 * n0 * o.logD))
  const fit = fitLine(
    r.map(o => o.logD),
    r.map(o => o.rssi)
  )
  const res = r.map(o => o.rssi - fit.a - fit.b * o.logD)
  const group = (key: (i: number) => string): Record<string, number> => {
    const parts = new Map<string, number[]>()
    res.forEach((v, i) => {
      const k = key(i)
      parts.set(k, [...(parts.get(k) ?? []), v])
    })
    return Object.fromEntries([...parts].sort().map(([k, v]) => [k, mean(v)]))
  }
  const offsets = group(i => r[i].beacon)
  const perBeacon = res.map((v, i) => v - offsets[r[i].beacon])
  const atPlace = group(i => r[i].place)
  const varying = res.map((v, i) => v - atPlace[r[i].place])
  const rms = (v: number[]) => Math.sqrt(mean(v.map(e => e * e)))
  const sdAt = (z: number) => {
    const q = readingsOf(site, train, z)
    return fitLine(
      q.map(o => o.logD),
      q.map(o => o.rssi)
    ).sd
  }
  return {
    readings: r.length,
    scansWithThree: train.filter(s => s.rssi.size >= 3).length / Math.max(1, train.length),
    beaconsPerScan: mean(train.map(s => s.rssi.size)),
    defaultModel: { meanDb: mean(def), sdDb: Math.sqrt(mean(def.map(v => (v - mean(def)) ** 2))) },
    fitted: { rssiAt1m: fit.a, pathLossExponent: -fit.b / 10, sdDb: fit.sd },
    perBeaconSdDb: Math.sqrt(mean(perBeacon.map(v => v * v))),
    beaconOffsetsDb: offsets,
    headingDb: group(i => String(r[i].heading)),
    byPlace: { staticSdDb: rms(Object.values(atPlace)), varyingSdDb: rms(varying) },
    heightSdDb: { phoneHeight: sdAt(site.radio.tagHeightM), fourMetres: sdAt(4) }
  }
}
