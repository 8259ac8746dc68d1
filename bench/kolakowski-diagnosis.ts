// Where the gateway's error on the Kolakowski robot track comes from when the site file holds only
// the receivers' positions (no calibration walk): along the track, per receiver, bias against
// noise, lag, fixes stopped at the walls, and the ceiling of the path-loss model itself. A
// diagnosis printed beside the figures (`npm run bench -- accuracy`); nothing here reaches the
// gateway, and the truth it reads is never shown to the gateway.
import type { SiteFile } from '../shared/site-schema.ts'
import { parseSite, type Site } from '../shared/site.ts'
import { summarize, type Summary } from '../shared/stats.ts'
import { expectedRssi, sensorModels } from '../gateway/estimation/radio-model.ts'
import { EstimationRun, measureAccuracy } from './accuracy-lib.ts'
import { f2 } from './trace-files.ts'
import { lastAtOrBefore } from '../simulators/evaluate.ts'

/** A point of a track at a time, ms. */
export interface Timed {
  ts: number
  x: number
  y: number
}

/** Where a time-ordered track was at ts, linearly between its points (its ends outside them). */
export function positionAt(track: Timed[], ts: number): { x: number; y: number } {
  if (ts <= track[0].ts) return track[0]
  const last = track[track.length - 1]
  if (ts >= last.ts) return last
  let lo = 0
  let hi = track.length - 1
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (track[mid].ts <= ts) lo = mid
    else hi = mid
  }
  const a = track[lo]
  const b = track[hi]
  const f = b.ts > a.ts ? (ts - a.ts) / (b.ts - a.ts) : 0
  return { x: a.x + f * (b.x - a.x), y: a.y + f * (b.y - a.y) }
}

/**
 * Share of the mean squared error that is a bias fixed by place: the mean error vector of the
 * samples whose truth lies in the same `cellM` square, against all of it. Near 1 the error repeats
 * wherever the device goes back (the radio at that place: a model or multipath issue, which
 * smoothing cannot remove); near 0 it is noise (a filter issue).
 */
export function biasShare(truth: Array<{ x: number; y: number }>, estimate: Array<{ x: number; y: number }>, cellM: number): number {
  const cells = new Map<string, { dx: number; dy: number; n: number }>()
  let total = 0
  for (let i = 0; i < truth.length; i++) {
    const key = `${Math.floor(truth[i].x / cellM)},${Math.floor(truth[i].y / cellM)}`
    const c = cells.get(key) ?? { dx: 0, dy: 0, n: 0 }
    c.dx += estimate[i].x - truth[i].x
    c.dy += estimate[i].y - truth[i].y
    c.n++
    cells.set(key, c)
    total += (estimate[i].x - truth[i].x) ** 2 + (estimate[i].y - truth[i].y) ** 2
  }
  let bias = 0
  for (const c of cells.values()) bias += (c.dx * c.dx + c.dy * c.dy) / c.n
  return total > 0 ? bias / total : 0
}

/** The shift of the truth in time (ms, among `shifts`) at which the estimates' mean error is least, and that error. */
export function bestShift(truth: Timed[], estimates: Timed[], shifts: number[]): { shiftMs: number; meanM: number } {
  let best = { shiftMs: 0, meanM: Infinity }
  for (const s of shifts) {
    let sum = 0
    for (const e of estimates) {
      const p = positionAt(truth, e.ts + s)
      sum += Math.hypot(e.x - p.x, e.y - p.y)
    }
    const meanM = sum / Math.max(1, estimates.length)
    if (meanM < best.meanM) best = { shiftMs: s, meanM }
  }
  return best
}

/** Where a track's errors point, m: see `errorDirection`. */
export interface ErrorDirection {
  /** Mean component towards `centre` (the receivers' centroid) from the truth; positive: pulled inwards. */
  inwardM: number
  /** Mean component against the truth's direction of travel, where it moves; positive: behind it (a lag). */
  behindM: number
  /** Mean absolute component across the direction of travel, where it moves. */
  acrossM: number
  /** Share of the samples where the truth moves (at least `MOVING_M` over `TRAVEL_HALF_MS` either side). */
  movingShare: number
  /** Mean error where the truth moves and where it stands, m. */
  movingMeanM: number
  stillMeanM: number
}

/** Half of the span over which the truth's direction of travel is taken, ms. */
const TRAVEL_HALF_MS = 2000
/** Distance the truth must cover over that span to count as moving, m. */
const MOVING_M = 0.1

/**
 * The mean error vector split two ways: towards the receivers' centre (a fit pulled inwards, as far
 * receivers that read hotter than the model pull it, shows as a positive `inwardM`) and along the
 * truth's travel (a lag shows as a positive `behindM`). `estimates[i]` is scored against `truthAt[i]`;
 * `truth` is the whole track, for the direction of travel.
 */
export function errorDirection(truth: Timed[], truthAt: Timed[], estimates: Array<{ x: number; y: number }>, centre: { x: number; y: number }): ErrorDirection {
  let inward = 0
  let behind = 0
  let across = 0
  let moving = 0
  let movingSum = 0
  let stillSum = 0
  for (let i = 0; i < truthAt.length; i++) {
    const t = truthAt[i]
    const ex = estimates[i].x - t.x
    const ey = estimates[i].y - t.y
    const cx = centre.x - t.x
    const cy = centre.y - t.y
    const c = Math.hypot(cx, cy)
    if (c > 0) inward += (ex * cx + ey * cy) / c
    const a = positionAt(truth, t.ts - TRAVEL_HALF_MS)
    const b = positionAt(truth, t.ts + TRAVEL_HALF_MS)
    const vx = b.x - a.x
    const vy = b.y - a.y
    const v = Math.hypot(vx, vy)
    if (v < MOVING_M) {
      stillSum += Math.hypot(ex, ey)
      continue
    }
    moving++
    movingSum += Math.hypot(ex, ey)
    behind -= (ex * vx + ey * vy) / v
    across += Math.abs(ey * vx - ex * vy) / v
  }
  const n = Math.max(1, truthAt.length)
  const still = truthAt.length - moving
  return {
    inwardM: inward / n,
    behindM: behind / Math.max(1, moving),
    acrossM: across / Math.max(1, moving),
    movingShare: moving / n,
    movingMeanM: movingSum / Math.max(1, moving),
    stillMeanM: stillSum / Math.max(1, still)
  }
}

/** rssi = a - 10·n·log10(d) fitted by least squares (d in metres), with the residuals' spread. */
export function fitPathLoss(d: number[], rssi: number[]): { a: number; n: number; sdDb: number } {
  const xs = d.map(v => -10 * Math.log10(v))
  const k = xs.length
  const mx = xs.reduce((s, v) => s + v, 0) / k
  const my = rssi.reduce((s, v) => s + v, 0) / k
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < k; i++) {
    sxy += (xs[i] - mx) * (rssi[i] - my)
    sxx += (xs[i] - mx) ** 2
  }
  const n = sxx > 0 ? sxy / sxx : 0
  const a = my - n * mx
  const sdDb = Math.sqrt(rssi.reduce((s, r, i) => s + (r - a - n * xs[i]) ** 2, 0) / Math.max(1, k - 2))
  return { a, n, sdDb }
}

/** The shifts of the truth in time tried for a lag, ms: 6 s earlier to 2 s later. */
export const LAG_SHIFTS = Array.from({ length: 17 }, (_, k) => -6000 + 500 * k)

/**
 * How far (ms, among `shifts`) the naive baseline's positions (each tick's plain least-squares fix
 * over a 1 s window, published for its tick) match the truth best: a lag in the readings
 * themselves, which no estimator added and none can learn without a truth.
 */
export async function baselineLag(site: Site, trace: string, shifts: number[]): Promise<{ shiftMs: number; meanM: number }> {
  const run = new EstimationRun(site, 'baseline', {}, false, false)
  const truth: Timed[] = []
  const estimates: Timed[] = []
  for await (const item of run.replay(trace)) {
    if ('truth' in item) truth.push(item.truth)
    else estimates.push(item.estimate)
  }
  return bestShift(
    truth,
    estimates.filter(e => e.ts >= truth[0].ts && e.ts <= truth[truth.length - 1].ts),
    shifts
  )
}

function centroid(points: Array<{ x: number; y: number }>): { x: number; y: number } {
  const n = Math.max(1, points.length)
  return { x: points.reduce((a, p) => a + p.x, 0) / n, y: points.reduce((a, p) => a + p.y, 0) / n }
}

/** `errorDirection`'s errors grouped by the receiver nearest the truth in plan. */
function byNearest(site: Site, truth: Timed[], truthAt: Timed[], estimates: Timed[]): TrackDiagnosis['byNearest'] {
  const sensors = [...site.sensors.values()]
  const centre = centroid(sensors)
  const groups = new Map<string, number[]>()
  truthAt.forEach((t, i) => {
    const near = sensors.reduce((a, s) => (Math.hypot(s.x - t.x, s.y - t.y) < Math.hypot(a.x - t.x, a.y - t.y) ? s : a))
    groups.set(near.id, [...(groups.get(near.id) ?? []), i])
  })
  const out: TrackDiagnosis['byNearest'] = {}
  for (const [id, idx] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const at = idx.map(i => truthAt[i])
    const est = idx.map(i => estimates[i])
    out[id] = {
      share: idx.length / Math.max(1, truthAt.length),
      meanM: idx.reduce((a, i) => a + Math.hypot(estimates[i].x - truthAt[i].x, estimates[i].y - truthAt[i].y), 0) / idx.length,
      inwardM: errorDirection(truth, at, est, centre).inwardM
    }
  }
  return out
}

export interface TrackDiagnosis {
  /** The gateway's published positions against the truth at their times. */
  error: Summary
  /** Each stretch of the track: its start (s into the track), mean error and the length of its mean error vector (its bias), m. */
  stretches: Array<{ startS: number; meanM: number; biasM: number }>
  /** Share of the mean squared error fixed by place (1 m squares of the truth): see `biasShare`. */
  biasShare: number
  /** The published positions averaged over a centred quarter minute: what more smoothing could give at most. */
  smoothed: Summary
  /** The errors' direction: pulled towards the receivers' centre, behind the truth's travel. */
  direction: ErrorDirection
  /** By the receiver nearest the truth (in plan): share of the samples, their mean error and its component towards the centre, m. */
  byNearest: Record<string, { share: number; meanM: number; inwardM: number }>
  /** The truth shift in time that best matches the published positions (negative: they describe an earlier moment). */
  lag: { shiftMs: number; meanM: number }
  /** The same for the naive baseline: the lag of the readings themselves (`baselineLag`). */
  readingsLag: { shiftMs: number; meanM: number }
  /**
   * Each receiver's window means against the site file's model at the true position, with the
   * tag's common offset of that fix taken out, dB: the bias a self-calibration could learn (mean),
   * what it could not (spread), and its own path loss fitted on this track's truth.
   */
  receivers: Record<string, { meanDb: number; sdDb: number; fittedAt1m: number; fittedExponent: number; fittedSdDb: number }>
  /** Fixes the walls stopped (on the site's box) and their mean error, against the others', m. */
  walls: { share: number; meanM: number; otherMeanM: number }
  /** Ceiling of any per-receiver path-loss model: the gateway with each receiver's fitted on this track's truth, no self-calibration. */
  fittedOnTruth: Summary
}

/** A fix as the diagnosis keeps it: where, the tick that made it, what it heard. */
interface FixRow {
  x: number
  y: number
  tick: number
  obs: Array<{ id: string; rssi: number }>
}

/** Seconds per stretch of the track in the breakdown. */
const STRETCH_S = 30
/** Half of the centred window of the smoothing bound, ms. */
const SMOOTH_HALF_MS = 7500

export async function trackDiagnosis(siteFile: SiteFile, trace: string): Promise<TrackDiagnosis> {
  const site = parseSite(siteFile)
  const run = new EstimationRun(site, 'gateway', {}, true, false)
  const tracker = run.follower.tracker
  const [bx0, by0, bx1, by1] = site.bbox
  // One subject: each published estimate follows the fix that made it, in order.
  const last: { fix: FixRow | null } = { fix: null }
  const learn = tracker.onFix
  tracker.onFix = (obs, fix) => {
    learn?.(obs, fix)
    last.fix = { x: fix.x, y: fix.y, tick: NaN, obs: obs.map(o => ({ id: o.sensor.id, rssi: o.rssi })) }
  }
  const truth: Timed[] = []
  const estimates: Timed[] = []
  const fixes: FixRow[] = []
  for await (const item of run.replay(trace)) {
    if ('truth' in item) truth.push(item.truth)
    else {
      estimates.push(item.estimate)
      if (last.fix !== null) fixes.push({ ...last.fix, tick: item.estimate.ts + tracker.o.reportLagMs })
      last.fix = null
    }
  }
  // Each truth sample against the last estimate published for a time at or before it, as the
  // accuracy rows score them (measureAccuracy), so the diagnosis explains the same figures.
  const inTruth: Timed[] = []
  const truthAt: Timed[] = []
  for (const t of truth) {
    const e = estimates[lastAtOrBefore(estimates, t.ts)]
    if (e === undefined || t.ts - e.ts > 3000) continue
    inTruth.push({ ts: t.ts, x: e.x, y: e.y })
    truthAt.push(t)
  }
  const errors = inTruth.map((e, i) => Math.hypot(e.x - truthAt[i].x, e.y - truthAt[i].y))
  const stretches: TrackDiagnosis['stretches'] = []
  const t0 = truth[0].ts
  for (let s = 0; s * STRETCH_S * 1000 <= truth[truth.length - 1].ts - t0; s++) {
    const idx = inTruth.flatMap((e, i) => (e.ts - t0 >= s * STRETCH_S * 1000 && e.ts - t0 < (s + 1) * STRETCH_S * 1000 ? [i] : []))
    if (idx.length === 0) continue
    const dx = idx.reduce((a, i) => a + inTruth[i].x - truthAt[i].x, 0) / idx.length
    const dy = idx.reduce((a, i) => a + inTruth[i].y - truthAt[i].y, 0) / idx.length
    stretches.push({ startS: s * STRETCH_S, meanM: idx.reduce((a, i) => a + errors[i], 0) / idx.length, biasM: Math.hypot(dx, dy) })
  }
  const smoothedErrors = inTruth.map((e, i) => {
    const near = estimates.filter(o => Math.abs(o.ts - e.ts) <= SMOOTH_HALF_MS)
    const x = near.reduce((a, o) => a + o.x, 0) / near.length
    const y = near.reduce((a, o) => a + o.y, 0) / near.length
    return Math.hypot(x - truthAt[i].x, y - truthAt[i].y)
  })
  const shifts = LAG_SHIFTS
  // Receivers, against the site file's model at the true position of each fix's tick.
  const models = sensorModels(site)
  const per = new Map<string, { res: number[]; d: number[]; rssi: number[] }>()
  let onWall = 0
  let onWallSum = 0
  let otherSum = 0
  for (const f of fixes) {
    const p = positionAt(truth, f.tick)
    const err = Math.hypot(f.x - p.x, f.y - p.y)
    const wall = f.x <= bx0 + 0.01 || f.x >= bx1 - 0.01 || f.y <= by0 + 0.01 || f.y >= by1 - 0.01
    if (wall) {
      onWall++
      onWallSum += err
    } else otherSum += err
    const rows = f.obs.flatMap(o => {
      const m = models.get(o.id)
      if (m === undefined) return []
      const d = Math.hypot(p.x - m.x, p.y - m.y, site.radio.tagHeightM - m.z)
      return [{ id: o.id, d, rssi: o.rssi, r: o.rssi - expectedRssi(m, d) }]
    })
    const offset = rows.reduce((a, r) => a + r.r, 0) / Math.max(1, rows.length)
    for (const r of rows) {
      const a = per.get(r.id) ?? { res: [], d: [], rssi: [] }
      a.res.push(r.r - offset)
      a.d.push(r.d)
      a.rssi.push(r.rssi)
      per.set(r.id, a)
    }
  }
  const receivers: TrackDiagnosis['receivers'] = {}
  for (const [id, a] of [...per].sort(([x], [y]) => x.localeCompare(y))) {
    const s = summarize(a.res)
    const fit = fitPathLoss(a.d, a.rssi)
    receivers[id] = {
      meanDb: s.mean,
      sdDb: Math.sqrt(a.res.reduce((v, r) => v + (r - s.mean) ** 2, 0) / Math.max(1, a.res.length - 1)),
      fittedAt1m: fit.a,
      fittedExponent: fit.n,
      fittedSdDb: fit.sdDb
    }
  }
  // The ceiling: each receiver's own path loss fitted on this very track (the tag's offset included).
  const fitted: SiteFile = {
    ...siteFile,
    features: siteFile.features.map(f => {
      const r = f.properties.kind === 'sensor' ? receivers[f.properties.id] : undefined
      return r === undefined ? f : { ...f, properties: { ...f.properties, rssiAt1m: r.fittedAt1m, pathLossExponent: r.fittedExponent } }
    })
  } as SiteFile
  const ceiling = await measureAccuracy(parseSite(fitted), trace, 'gateway', {}, false)
  return {
    error: summarize(errors),
    stretches,
    biasShare: biasShare(truthAt, inTruth, 1),
    direction: errorDirection(truth, truthAt, inTruth, centroid([...site.sensors.values()])),
    byNearest: byNearest(site, truth, truthAt, inTruth),
    smoothed: summarize(smoothedErrors),
    lag: bestShift(
      truth,
      estimates.filter(e => e.ts >= truth[0].ts && e.ts <= truth[truth.length - 1].ts),
      shifts
    ),
    readingsLag: await baselineLag(site, trace, shifts),
    receivers,
    walls: { share: onWall / Math.max(1, fixes.length), meanM: onWallSum / Math.max(1, onWall), otherMeanM: otherSum / Math.max(1, fixes.length - onWall) },
    fittedOnTruth: ceiling.error
  }
}

export function printTrackDiagnosis(d: TrackDiagnosis): void {
  const s = (v: Summary) => `mean ${f2(v.mean)} m, p95 ${f2(v.p95)} m`
  console.log(' diagnosis: robot track without its calibration walk (site defaults and self-calibration), against its truth')
  console.log(`  published positions ${s(d.error)}; share of the squared error fixed by place (1 m squares) ${(100 * d.biasShare).toFixed(0)}%`)
  const dir = d.direction
  console.log(
    `  error towards the receivers' centre ${f2(dir.inwardM)} m on average; where the truth moves (${(100 * dir.movingShare).toFixed(0)}% of samples) ${f2(dir.behindM)} m behind it and ${f2(dir.acrossM)} m across; mean error moving ${f2(dir.movingMeanM)} m, standing ${f2(dir.stillMeanM)} m`
  )
  console.log(
    `  by the receiver nearest the truth, share / mean error / towards the centre: ${Object.entries(d.byNearest)
      .map(([id, g]) => `${id} ${(100 * g.share).toFixed(0)}% ${f2(g.meanM)}/${f2(g.inwardM)} m`)
      .join(', ')}`
  )
  console.log(`  averaged over a centred ${(2 * SMOOTH_HALF_MS) / 1000} s (the most smoothing could give) ${s(d.smoothed)}`)
  console.log(`  best match with the truth ${d.lag.shiftMs / 1000} s away from the published time: mean ${f2(d.lag.meanM)} m`)
  console.log(`  the naive baseline's best match: ${d.readingsLag.shiftMs / 1000} s away (mean ${f2(d.readingsLag.meanM)} m): the lag of the readings themselves`)
  console.log(`  fixes stopped at the walls ${(100 * d.walls.share).toFixed(0)}% (mean error ${f2(d.walls.meanM)} m, others ${f2(d.walls.otherMeanM)} m)`)
  console.log(`  each receiver's own path loss fitted on this track's truth, no self-calibration (the model's ceiling): ${s(d.fittedOnTruth)}`)
  console.log(`  per ${STRETCH_S} s stretch, mean error / bias (m): ${d.stretches.map(x => `${f2(x.meanM)}/${f2(x.biasM)}`).join(' ')}`)
  for (const [id, r] of Object.entries(d.receivers))
    console.log(
      `  receiver ${id.padEnd(4)} residual at the truth ${r.meanDb >= 0 ? '+' : ''}${r.meanDb.toFixed(1)} dB, spread ${r.sdDb.toFixed(1)} dB; fitted on the truth: ${r.fittedAt1m.toFixed(1)} dBm at 1 m, exponent ${r.fittedExponent.toFixed(2)}, spread ${r.fittedSdDb.toFixed(1)} dB`
    )
}
