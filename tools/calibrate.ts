// Calibration from a walk with known positions (a trace with truth lines): a robust fit of the
// path-loss model rssi = A_s - 10·n·log10(d), one exponent for the site and one RSSI at 1 m per
// sensor, by iteratively reweighted least squares with a Huber loss (and a weak prior pulling n
// towards the site default where the walk did not cover enough distances to pin it down); then
// per-sensor residual maps over the walked area. Positioning stretches of the walk with a
// calibration fitted on the rest then picks the maps' kernel width and measures how wide the
// published accuracy must be on this site.
import { parseSite, type Site } from '../shared/site.ts'
import type { SiteFile } from '../shared/site-schema.ts'
import { isReading, isTruth, type TraceLine } from '../shared/trace.ts'
import type { RadioMapData } from '../shared/site-schema.ts'
import { MIN_DISTANCE_M } from '../gateway/estimation/radio-model.ts'
import { RadioMap } from '../gateway/estimation/radio-map.ts'
import { round, quantile } from '../shared/stats.ts'
import { Tracker, trackerOptions } from '../gateway/estimation/tracker.ts'
import { TraceFollower, type Placed } from './trace-follower.ts'
import { sensorModels } from '../gateway/estimation/radio-model.ts'

export interface SensorFit {
  sensor: string
  rssiAt1m: number
  pathLossExponent: number
  residualSdDb: number
  samples: number
  /** Residual map; its spread and the residual left after it, dB. */
  map?: RadioMapData
  mapSdDb?: number
  afterMapSdDb?: number
}

export interface CalibrateOptions {
  tagHeight?: number
  maxGapMs?: number
  /** Build residual maps (default true); cell size and kernel bandwidth in metres (bandwidth: chosen on the walk unless given). */
  maps?: boolean
  mapCellM?: number
  mapBandwidthM?: number
  /** Stretches of the walk for measuring the accuracy scale (default 5; 0 skips it). */
  accuracyFolds?: number
}

export interface CalibrationResult {
  sensors: SensorFit[]
  shadowingDb: number
  skipped: number
  /**
   * Factor that makes the published accuracyM hold 63% of errors (the share a 2-D Gaussian has
   * within √(σx² + σy²)), measured on held-out stretches of the walk; null when not measured.
   */
  accuracyScale: number | null
  /** Positions behind that measurement, the share within accuracyM before scaling, their mean error. */
  accuracyCheck?: { estimates: number; withinBefore: number; meanErrorM: number }
  /** The maps' kernel width chosen, m, and the held-out mean error of each width tried. */
  mapBandwidthM?: number
  bandwidthsTried?: Record<string, number>
}

interface Sample {
  x: number
  y: number
  px: number
  py: number
} // x = -10·log10(d), y = rssi, (px, py) where
export interface TruthPoint {
  ts: number
  x: number
  y: number
  floor: number
}

/**
 * Truth position (and floor) of a subject at time t by linear interpolation; null if no truth
 * within maxGapMs, or between two floors.
 */
export function truthAt(track: TruthPoint[], t: number, maxGapMs: number): [number, number, number] | null {
  let lo = 0
  let hi = track.length - 1
  if (hi < 0) return null
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (track[mid].ts <= t) lo = mid
    else hi = mid - 1
  }
  const a = track[lo]
  const b = track[Math.min(lo + 1, track.length - 1)]
  if (a.ts > t) return t >= a.ts - maxGapMs ? [a.x, a.y, a.floor] : null
  if (b.ts <= a.ts || b.ts < t) return t - a.ts <= maxGapMs ? [a.x, a.y, a.floor] : null
  if (b.ts - a.ts > 2 * maxGapMs || b.floor !== a.floor) return null
  const f = (t - a.ts) / (b.ts - a.ts)
  return [a.x + f * (b.x - a.x), a.y + f * (b.y - a.y), a.floor]
}

/**
 * Huber IRLS for y = A_s + n·x (x = -10·log10 d) over every sensor s at once: one exponent shared
 * by all (one environment), one intercept per sensor (receivers differ mostly in gain), and a weak
 * prior pulling n towards the site default (`priorWeight` pseudo-observations of slope n0).
 * A slope per sensor overfits one walk: on the Kolakowski sessions, fitted on three and scored on
 * the fourth, per-sensor slopes collapsed for half the sensors in one split (positions metres off),
 * where the shared slope stays near the usual indoor values in every split (`npm run bench --
 * accuracy`, held-out sessions).
 */
export function fitPathLoss(groups: Sample[][], n0: number, priorWeight = 20, huberDb = 6): { n: number; fits: Array<{ a: number; sd: number }> } {
  let n = n0
  const a = groups.map(() => -59)
  // Weighted means of each sensor's (x, y): its intercept for a slope n is my - n·mx.
  const mx = groups.map(() => 0)
  const my = groups.map(() => 0)
  for (let it = 0; it < 20; it++) {
    let vxx = 0
    let vxy = 0
    let sw = 0
    for (let g = 0; g < groups.length; g++) {
      let gw = 0
      let gx = 0
      let gy = 0
      let gxx = 0
      let gxy = 0
      for (const s of groups[g]) {
        const r = Math.abs(s.y - (a[g] + n * s.x))
        const w = r <= huberDb ? 1 : huberDb / r
        gw += w
        gx += w * s.x
        gy += w * s.y
        gxx += w * s.x * s.x
        gxy += w * s.x * s.y
      }
      if (gw === 0) continue
      mx[g] = gx / gw
      my[g] = gy / gw
      vxx += gxx - gw * mx[g] * mx[g]
      vxy += gxy - gw * mx[g] * my[g]
      sw += gw
    }
    if (sw === 0) break
    // Prior on the slope: equivalent to adding priorWeight·(spread of x) worth of slope evidence.
    const pw = priorWeight * Math.max(1, vxx / Math.max(1, sw))
    const nNew = Math.min(5, Math.max(0.8, (vxy + pw * n0) / (vxx + pw)))
    const done = Math.abs(nNew - n) < 1e-6
    n = nNew
    for (let g = 0; g < groups.length; g++) a[g] = my[g] - n * mx[g]
    if (done) break
  }
  const fits = groups.map((samples, g) => {
    const sq = samples.reduce((acc, s) => acc + (s.y - (a[g] + n * s.x)) ** 2, 0)
    return { a: a[g], sd: Math.sqrt(sq / Math.max(1, samples.length - 2)) }
  })
  return { n, fits }
}

export function calibrate(site: Site, walk: Iterable<TraceLine>, opts: CalibrateOptions = {}): CalibrationResult {
  const lines = [...walk]
  const folds = opts.accuracyFolds ?? 5
  if (folds < 2) return fit(site, lines, opts)
  // The maps' kernel width is chosen on the walk itself, by the same held-out positioning: how
  // far a calibration sample says something about its neighbourhood depends on the walk's density
  // and the room, not on a constant.
  const search = opts.maps !== false && opts.mapBandwidthM === undefined
  const tried: Array<{ width: number | undefined; result: CalibrationResult; error: number }> = []
  for (const width of search ? MAP_BANDWIDTHS_M : [opts.mapBandwidthM]) {
    const o = width === undefined ? opts : { ...opts, mapBandwidthM: width }
    const fitted = fit(site, lines, o)
    if (fitted.sensors.length === 0) return fitted
    const check = accuracyCheck(site, lines, o, folds)
    // Too short a walk to judge by: the default width, no accuracy scale.
    if (check === null) return width === opts.mapBandwidthM ? fitted : fit(site, lines, opts)
    tried.push({ width, result: { ...fitted, ...check }, error: check.accuracyCheck.meanErrorM })
  }
  const best = tried.reduce((a, c) => (c.error < a.error ? c : a))
  if (!search) return best.result
  return { ...best.result, mapBandwidthM: best.width, bandwidthsTried: Object.fromEntries(tried.map(c => [String(c.width), c.error])) }
}

/**
 * Kernel widths the maps are tried with, metres. On the Kolakowski walk held-out positioning picks
 * the narrowest, the robot track (never used for it) agrees, and whole held-out sessions barely
 * move (each width's error is in the calibration's `bandwidthsTried`; `npm run bench -- accuracy`).
 */
const MAP_BANDWIDTHS_M = [0.25, 0.35, 0.5, 0.75, 1, 1.5]

/** Length of the walk's stretches dealt round-robin into the folds, ms. */
const FOLD_BLOCK_MS = 60_000

/** Target share of errors within accuracyM: √(σx² + σy²) holds 1 − e⁻¹ ≈ 63% of a 2-D Gaussian. */
const ACCURACY_COVERAGE = 1 - Math.exp(-1)

/**
 * Minutes of the walk go round-robin into `folds` folds; each fold is positioned (the tracker at
 * one estimate a second, as the gateway runs) with a calibration fitted on the others, and its
 * errors are compared with the accuracy the tracker claims. The scale is the 63% quantile of
 * error / accuracyM. Scoring the walk with maps fitted on itself would call any accuracy honest;
 * holding out whole stretches (a fifth of the walk at a time) leaves areas the other folds never
 * walked and overstates the error of a store that was walked everywhere. On the Kolakowski walk
 * one-minute blocks give about the scale the robot track (never used) needs, and contiguous fifths
 * one well above it (`npm run bench -- accuracy`).
 */
function accuracyCheck(
  site: Site,
  lines: TraceLine[],
  opts: CalibrateOptions,
  folds: number
): { accuracyScale: number; accuracyCheck: NonNullable<CalibrationResult['accuracyCheck']> } | null {
  const t0 = lines.reduce((m, l) => Math.min(m, l.ts), Infinity)
  const ratios: number[] = []
  let errSum = 0
  for (let k = 0; k < folds; k++) {
    const inFold = (l: TraceLine) => Math.floor((l.ts - t0) / FOLD_BLOCK_MS) % folds === k
    const train = fit(
      site,
      lines.filter(l => !inFold(l)),
      opts
    )
    if (train.sensors.length === 0) continue
    const held = parseSite(applyCalibration(site.file, train))
    const follower = new TraceFollower(new Tracker(held, sensorModels(held), trackerOptions(held)))
    const latest = new Map<string, Placed>()
    for (const l of lines) {
      if (!inFold(l)) continue
      for (const item of follower.feed(l)) {
        if ('estimate' in item) {
          latest.set(item.estimate.subject, item.estimate)
          continue
        }
        const p = latest.get(item.truth.subject)
        if (p && item.truth.ts - p.ts <= 3000 && p.accuracyM > 0) {
          const err = Math.hypot(p.x - item.truth.x, p.y - item.truth.y)
          ratios.push(err / p.accuracyM)
          errSum += err
        }
      }
    }
  }
  // Too few positions to pin a quantile down: leave the accuracy as the tracker computes it.
  if (ratios.length < 100) return null
  ratios.sort((x, y) => x - y)
  return {
    accuracyScale: round(Math.min(5, Math.max(0.25, quantile(ratios, ACCURACY_COVERAGE))), 2),
    accuracyCheck: { estimates: ratios.length, withinBefore: round(ratios.filter(r => r <= 1).length / ratios.length, 3), meanErrorM: round(errSum / ratios.length, 3) }
  }
}

function fit(site: Site, lines: TraceLine[], opts: CalibrateOptions): CalibrationResult {
  const tagHeight = opts.tagHeight ?? site.radio.tagHeightM
  const maxGapMs = opts.maxGapMs ?? 1500
  const tracks = new Map<string, TruthPoint[]>()
  const readings: Array<{ ts: number; sensor: string; id: string; rssi: number }> = []
  for (const l of lines) {
    if (isTruth(l)) {
      const arr = tracks.get(l.truth.subject) ?? []
      arr.push({ ts: l.ts, x: l.truth.x, y: l.truth.y, floor: l.truth.floor ?? 0 })
      tracks.set(l.truth.subject, arr)
    } else if (isReading(l) && l.t === 'ble' && l.id !== undefined) {
      readings.push({ ts: l.ts, sensor: l.sensor, id: l.id, rssi: l.rssi })
    }
  }
  for (const arr of tracks.values()) arr.sort((a, b) => a.ts - b.ts)
  const perSensor = new Map<string, Sample[]>()
  let skipped = 0
  for (const r of readings) {
    const s = site.sensors.get(r.sensor)
    const track = tracks.get(r.id)
    const pos = track ? truthAt(track, r.ts, maxGapMs) : null
    // A sensor on another floor hears the walk through a slab the path-loss model does not have.
    if (!s || !pos || pos[2] !== s.floor) {
      skipped++
      continue
    }
    const d = Math.max(MIN_DISTANCE_M, Math.hypot(pos[0] - s.x, pos[1] - s.y, tagHeight - s.z))
    const arr = perSensor.get(r.sensor) ?? []
    arr.push({ x: -10 * Math.log10(d), y: r.rssi, px: pos[0], py: pos[1] })
    perSensor.set(r.sensor, arr)
  }
  const sensors: SensorFit[] = []
  let sumSq = 0
  let count = 0
  const fitted = [...perSensor].filter(([, samples]) => samples.length >= 20).sort(([a], [b]) => a.localeCompare(b))
  for (const [, samples] of perSensor) if (samples.length < 20) skipped += samples.length
  const pl = fitPathLoss(
    fitted.map(([, samples]) => samples),
    site.radio.pathLossExponent
  )
  for (const [k, [id, samples]] of fitted.entries()) {
    const f = { ...pl.fits[k], n: pl.n }
    const fit: SensorFit = { sensor: id, rssiAt1m: round(f.a, 2), pathLossExponent: round(f.n, 3), residualSdDb: round(f.sd, 2), samples: samples.length }
    let sd = f.sd
    if (opts.maps !== false) {
      const residuals = samples.map(s => ({ x: s.px, y: s.py, r: s.y - (f.a + f.n * s.x) }))
      // Shrinkage: a cell needs about as much kernel weight as 3 nearby samples to move off 0 by half.
      const map = RadioMap.build(residuals, site.bbox, { cell: opts.mapCellM ?? 0.5, bandwidth: opts.mapBandwidthM ?? 0.75, priorWeight: 3 })
      const left = residuals.map(s => s.r - map.at(s.x, s.y))
      const afterSd = Math.sqrt(left.reduce((a, r) => a + r * r, 0) / Math.max(1, left.length))
      const mapSd = Math.sqrt(map.d.values.reduce((a, v) => a + v * v, 0) / map.d.values.length)
      Object.assign(fit, { map: map.d, mapSdDb: round(mapSd, 2), afterMapSdDb: round(afterSd, 2) })
      sd = afterSd
    }
    sensors.push(fit)
    sumSq += sd * sd * samples.length
    count += samples.length
  }
  return { sensors, shadowingDb: round(Math.sqrt(sumSq / Math.max(1, count)), 2), skipped, accuracyScale: null }
}

/** The site file with the fitted values written into each sensor (offsetDb reset to 0) and the accuracy scale. */
export function applyCalibration(file: SiteFile, result: CalibrationResult): SiteFile {
  const fits = new Map(result.sensors.map(f => [f.sensor, f]))
  const { accuracyScale: _earlier, ...radio } = file.radio ?? { pathLossExponent: 2.2, rssiAt1m: -59 }
  return {
    ...file,
    radio: {
      ...radio,
      shadowingDb: result.shadowingDb,
      // A scale from an earlier calibration described other fits: replaced, or dropped.
      ...(result.accuracyScale !== null ? { accuracyScale: result.accuracyScale } : {})
    },
    features: file.features.map(f => {
      const fit = f.properties.kind === 'sensor' ? fits.get(f.properties.id) : undefined
      if (!fit || f.properties.kind !== 'sensor') return f
      return { ...f, properties: { ...f.properties, rssiAt1m: fit.rssiAt1m, pathLossExponent: fit.pathLossExponent, offsetDb: 0, ...(fit.map ? { radioMap: fit.map } : {}) } }
    }) as SiteFile['features']
  }
}
