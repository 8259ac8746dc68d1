// How well could any estimator position the simulated shoppers? The Cramér-Rao bound of the
// position error, given what the simulator's radio model (simulators/radio.ts) puts into the
// readings, for an estimator helped by a genie: it knows the radio model exactly (path loss,
// every sensor's offset, the fading's spread and time constant), and the shopper's path over a
// stretch of time up to one unknown translation, which is what it estimates from every reading in
// that stretch. The genie also hands it a reading from every sensor for every advert (no packet
// loss, no sensitivity floor), so the bound holds where the gateway has to infer from silence.
// The bound is on the mean squared error of unbiased estimators; `mean` is the mean error of one
// that attains it (a Gaussian error with the bound as covariance). Kay, Fundamentals of
// Statistical Signal Processing I, §3.9 (vector parameter) and §15 (nuisance parameters).
import { readJsonLines, isReading, isTruth, type TraceLine } from '../shared/trace.ts'
import { locate, type Site, type SensorInfo } from '../shared/site.ts'
import type { RadioParamsT } from '../simulators/scenario.ts'
import { Rng } from '../shared/rng.ts'
import { truthAt, type TruthPoint } from '../tools/calibrate.ts'
import { standsStill } from './accuracy-lib.ts'
import { normalUpperTail } from '../gateway/estimation/sensitivity.ts'

/** What the genie tells the estimator: the start (ms) of the stretch of path it knows, ending at truth sample i. */
export interface Genie {
  name: string
  from: (truth: TruthPoint[], i: number) => number
}

/** Standing at truth sample i, as the accuracy benchmark splits its errors. */
const stands = (truth: TruthPoint[], i: number) => i > 0 && standsStill(truth[i - 1], truth[i])

export const GENIES: Genie[] = [
  // One fix: about what the gateway's 1.5 s RSSI windows hold.
  { name: 'one fix (last 2 s of readings)', from: (truth, i) => truth[i].ts - 2000 },
  {
    name: 'knows when the shopper stopped',
    from: (truth, i) => {
      if (!stands(truth, i)) return truth[i].ts - 3000
      let j = i
      while (j > 0 && stands(truth, j)) j--
      return Math.max(truth[j].ts, truth[i].ts - 60_000)
    }
  },
  { name: 'knows the last 10 s of its path', from: (truth, i) => truth[i].ts - 10_000 },
  { name: 'knows the last 30 s of its path', from: (truth, i) => truth[i].ts - 30_000 }
]

/** One reading's sensitivity to the translation: d(mean RSSI)/d(x, y), dB per metre, at time t. */
export interface LinkReading {
  t: number
  gx: number
  gy: number
}

/**
 * Fisher information on (x, y, phone offset) from one sensor's readings in time order: each
 * reading is the mean RSSI plus AR(1) fading (sd `fadingSd`, time constant `tauMs`) plus white
 * noise (sd `noiseSd`). A Kalman filter of the fading whitens the readings, and the information
 * is the sum of the whitened gradients' outer products. Returns [xx, xy, xo, yy, yo, oo].
 */
export function linkInformation(readings: LinkReading[], fadingSd: number, tauMs: number, noiseSd: number): number[] {
  const J = [0, 0, 0, 0, 0, 0]
  const f2 = fadingSd * fadingSd
  const n2 = noiseSd * noiseSd
  let P = f2
  let fx = 0
  let fy = 0
  let fo = 0
  let last = NaN
  for (const r of readings) {
    let Pm = f2
    if (!Number.isNaN(last)) {
      const a = Math.exp(-(r.t - last) / tauMs)
      Pm = a * a * P + f2 * (1 - a * a)
      fx *= a
      fy *= a
      fo *= a
    }
    const S = Pm + n2
    const K = Pm / S
    const vx = r.gx - fx
    const vy = r.gy - fy
    const vo = 1 - fo
    fx += K * vx
    fy += K * vy
    fo += K * vo
    P = (1 - K) * Pm
    last = r.t
    J[0] += (vx * vx) / S
    J[1] += (vx * vy) / S
    J[2] += (vx * vo) / S
    J[3] += (vy * vy) / S
    J[4] += (vy * vo) / S
    J[5] += (vo * vo) / S
  }
  return J
}

/** The bound on the (x, y) error covariance [xx, xy, yy], the phone offset known or a nuisance. */
export function positionBound(J: number[], offsetKnown: boolean): [number, number, number] {
  let [xx, xy, yy] = [J[0], J[1], J[3]]
  if (!offsetKnown && J[5] > 0) {
    xx -= (J[2] * J[2]) / J[5]
    xy -= (J[2] * J[4]) / J[5]
    yy -= (J[4] * J[4]) / J[5]
  }
  const det = xx * yy - xy * xy
  if (!(det > 1e-12 * Math.max(1, xx * yy))) return [Infinity, 0, Infinity]
  return [yy / det, -xy / det, xx / det]
}

/** Mean length of a zero-mean 2-D Gaussian error with covariance [xx, xy, yy]. */
export function meanRadialError([xx, xy, yy]: [number, number, number]): number {
  if (!Number.isFinite(xx + yy)) return Infinity
  const half = (xx + yy) / 2
  const r = Math.sqrt(Math.max(0, half * half - (xx * yy - xy * xy)))
  const l1 = half + r
  const l2 = Math.max(0, half - r)
  let sum = 0
  const N = 64
  for (let k = 0; k < N; k++) {
    const th = ((k + 0.5) / N) * 2 * Math.PI
    sum += Math.sqrt(l1 * Math.cos(th) ** 2 + l2 * Math.sin(th) ** 2)
  }
  return (Math.sqrt(Math.PI / 2) * sum) / N
}

/** Share of 64 Gaussian draws around the truth (covariance [xx, xy, yy]) that fall in its sector. */
function sectorShare(site: Site, truth: TruthPoint, [xx, xy, yy]: [number, number, number], rng: Rng): number {
  if (!Number.isFinite(xx + yy)) return 0
  const sector = locate(site, truth.x, truth.y, truth.floor).sector
  // Cholesky factor of the covariance.
  const a = Math.sqrt(xx)
  const b = xy / a
  const c = Math.sqrt(Math.max(0, yy - b * b))
  let hits = 0
  for (let k = 0; k < 64; k++) {
    const u = rng.normal()
    const v = rng.normal()
    if (locate(site, truth.x + a * u, truth.y + b * u + c * v, truth.floor).sector === sector) hits++
  }
  return hits / 64
}

export interface BoundResult {
  genie: string
  samples: number
  /** Mean and RMS error bound, metres, with the phone's transmit offset known to the genie. */
  mean: number
  rms: number
  /** The same with the offset unknown (estimated from the same readings). */
  meanOffsetUnknown: number
  /**
   * Share of samples an estimator attaining the bound (offset known) would place in the truth's
   * sector (or in no sector where the truth is in none): not a bound, since an estimator that
   * knows shoppers stop in sectors may guess better, but what positions this good would give.
   */
  sectorAgreement: number
  /** Mean bound by what the truth was doing, and inside a shop or outside every shop, metres (offset known). */
  breakdown: { standing: number; walking: number; inShop: number; outside: number }
}

/** Loads each app phone's truth path and advert times (BLE reading times, merged within 10 ms). */
async function loadSubjects(trace: string): Promise<Array<{ truth: TruthPoint[]; adverts: number[] }>> {
  const truth = new Map<string, TruthPoint[]>()
  const heard = new Map<string, number[]>()
  for await (const l of readJsonLines<TraceLine>(trace)) {
    if (isTruth(l)) {
      const list = truth.get(l.truth.subject) ?? []
      list.push({ ts: l.ts, x: l.truth.x, y: l.truth.y, floor: l.truth.floor })
      truth.set(l.truth.subject, list)
    } else if (isReading(l) && l.t === 'ble' && l.id !== undefined) {
      const list = heard.get(l.id) ?? []
      if (list.length === 0 || l.ts - list[list.length - 1] > 10) list.push(l.ts)
      heard.set(l.id, list)
    }
  }
  return [...truth].filter(([subject]) => heard.has(subject)).map(([subject, path]) => ({ truth: path, adverts: heard.get(subject) as number[] }))
}

/**
 * The bound for every genie over a simulated trace's app phones (the subjects the accuracy
 * benchmark scores), on every truth sample of each or, past `maxSamples`, on an evenly spaced
 * share of them. `radio` is the simulator's. Empty for a trace without BLE readings (phone-scan mode).
 */
export async function informationBound(site: Site, radio: RadioParamsT, trace: string, maxSamples = 5000, genies = GENIES): Promise<BoundResult[]> {
  const sensors = [...site.sensors.values()].filter(s => s.radios.includes('ble'))
  const k = (10 * radio.pathLossExponent) / Math.LN10
  const H = radio.floorHeightM
  const gradient = (s: SensorInfo, t: number, [x, y, floor]: [number, number, number]): LinkReading => {
    const dx = x - s.x
    const dy = y - s.y
    const dz = radio.phoneHeightM + floor * H - s.z - s.floor * H
    const d2 = Math.max(0.01, dx * dx + dy * dy + dz * dz)
    return { t, gx: (-k * dx) / d2, gy: (-k * dy) / d2 }
  }
  const subjects = await loadSubjects(trace)
  if (subjects.length === 0) return []
  const every = Math.max(1, Math.ceil(subjects.reduce((n, s) => n + s.truth.length, 0) / maxSamples))
  // An estimate is never further off than the site is wide: a sample with next to no readings counts at that.
  const cap = Math.hypot(site.bbox[2] - site.bbox[0], site.bbox[3] - site.bbox[1])
  return genies.map(genie => {
    const sums = { mean: 0, sq: 0, unknown: 0, sector: 0, n: 0 }
    const rng = new Rng('information-bound')
    const parts = { standing: [0, 0], walking: [0, 0], inShop: [0, 0], outside: [0, 0] }
    for (const { truth, adverts } of subjects) {
      for (let i = 0; i < truth.length; i += every) {
        const now = truth[i]
        const t0 = genie.from(truth, i)
        const t1 = now.ts + 500
        const J = [0, 0, 0, 0, 0, 0]
        // Where the shopper was at each advert (truth lines interpolated; mid-stairs, between two
        // floors, the genie does not say).
        const path: Array<[number, [number, number, number]]> = []
        for (const t of adverts) {
          const p = t >= t0 && t <= t1 ? truthAt(truth, t, Infinity) : null
          if (p !== null) path.push([t, p])
        }
        for (const s of sensors) {
          const link = path.map(([t, p]) => gradient(s, t, p))
          const Ji = linkInformation(link, radio.fadingSdDb, 1000 * radio.fadingTauS, radio.noiseSdDb)
          for (let j = 0; j < 6; j++) J[j] += Ji[j]
        }
        const known = positionBound(J, true)
        const m = Math.min(cap, meanRadialError(known))
        sums.mean += m
        sums.sq += Math.min(cap * cap, known[0] + known[2])
        sums.n++
        sums.unknown += Math.min(cap, meanRadialError(positionBound(J, false)))
        sums.sector += sectorShare(site, now, known, rng)
        const add = (part: number[]) => {
          part[0] += m
          part[1]++
        }
        if (i > 0) add(stands(truth, i) ? parts.standing : parts.walking)
        add(locate(site, now.x, now.y, now.floor).shop !== null ? parts.inShop : parts.outside)
      }
    }
    const avg = ([sum, n]: number[]) => (n > 0 ? sum / n : NaN)
    const n = Math.max(1, sums.n)
    return {
      genie: genie.name,
      samples: sums.n,
      mean: sums.mean / n,
      rms: Math.sqrt(sums.sq / n),
      meanOffsetUnknown: sums.unknown / n,
      sectorAgreement: sums.sector / n,
      breakdown: { standing: avg(parts.standing), walking: avg(parts.walking), inShop: avg(parts.inShop), outside: avg(parts.outside) }
    }
  })
}

/** How fast both walk in the street test, m/s. */
const WALK_M_PER_S = 1
/** The standard normal's 99th percentile: a threshold that finds 99% of the shoppers. */
const Z99 = 2.326

export interface StreetSeparation {
  /** Seconds of readings the test has, and how far inside the front the shopper walks, m. */
  seconds: number
  depthM: number
  /** Deflection of the best test (Neyman-Pearson), the phone's offset unknown. */
  d: number
  /** Share of passers-by that test takes for shoppers when it finds 99% of the shoppers. */
  falseShare: number
}

/**
 * How well could any test tell a passer-by from a shopper, from the radio alone? A genie knows
 * the simulator's radio model and both paths: the passer-by walks the street at 1 m/s, the shopper
 * walks the same way `depth` metres inside the shop's front (the street moved towards the shop).
 * Every sensor of every floor hears every advert that is not lost (no sensitivity floor; the slab
 * to another floor costs both paths alike, so it drops out). Between
 * two known paths the best test is the likelihood ratio; with Gaussian readings (AR(1) fading plus
 * white noise, whitened per link as in linkInformation) its statistic is normal with deflection
 * d² = Δμᵀ Σ⁻¹ Δμ, the phone's transmit offset profiled out. Finding 99% of the shoppers, it takes
 * Q(d − z₉₉) of the passers-by for shoppers. The stretch is centred on the street's middle, the
 * shop is the site's first.
 */
export function streetSeparation(site: Site, radio: RadioParamsT, street: Array<[number, number]>, seconds: number[], depths: number[]): StreetSeparation[] {
  const [[ax, ay], [bx, by]] = [street[0], street[street.length - 1]]
  const len = Math.hypot(bx - ax, by - ay)
  const ux = (bx - ax) / len
  const uy = (by - ay) / len
  // The normal towards the shop, and how far the street runs from its outline along it.
  const shop = site.shops[0]
  const mx = (ax + bx) / 2
  const my = (ay + by) / 2
  let nx = -uy
  let ny = ux
  const [cx, cy] = [(shop.bbox[0] + shop.bbox[2]) / 2, (shop.bbox[1] + shop.bbox[3]) / 2]
  if ((cx - mx) * nx + (cy - my) * ny < 0) {
    nx = -nx
    ny = -ny
  }
  let gap = 0
  while (gap < 100 && locate(site, mx + gap * nx, my + gap * ny, 0).shop === null) gap += 0.05
  const sensors = [...site.sensors.values()].filter(s => s.radios.includes('ble'))
  const H = radio.floorHeightM
  const mean = (s: SensorInfo, x: number, y: number): number =>
    -5 * radio.pathLossExponent * Math.log10(Math.max(0.01, (x - s.x) ** 2 + (y - s.y) ** 2 + (radio.phoneHeightM - s.z - s.floor * H) ** 2))
  const out: StreetSeparation[] = []
  for (const T of seconds) {
    // Advert times and losses, the same for every depth (and independent per sensor).
    const rng = new Rng('street-separation:' + T)
    const adverts: number[] = []
    for (let t = rng.uniform(0, 1000 / radio.advHz); t < 1000 * T; t += (rng.uniform(0.9, 1.1) * 1000) / radio.advHz) adverts.push(t)
    const heard = sensors.map(() => adverts.filter(() => !rng.chance(radio.lossProb)))
    for (const depth of depths) {
      const J = [0, 0, 0, 0, 0, 0]
      const shift = gap + depth
      sensors.forEach((s, i) => {
        const link = heard[i].map(t => {
          const along = (t / 1000 - T / 2) * WALK_M_PER_S
          const x = mx + along * ux
          const y = my + along * uy
          return { t, gx: mean(s, x + shift * nx, y + shift * ny) - mean(s, x, y), gy: 0 }
        })
        const Ji = linkInformation(link, radio.fadingSdDb, 1000 * radio.fadingTauS, radio.noiseSdDb)
        for (let j = 0; j < 6; j++) J[j] += Ji[j]
      })
      const d = Math.sqrt(Math.max(0, J[0] - (J[5] > 0 ? (J[2] * J[2]) / J[5] : 0)))
      out.push({ seconds: T, depthM: depth, d, falseShare: normalUpperTail(d - Z99) })
    }
  }
  return out
}
