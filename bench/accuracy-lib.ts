// Accuracy measurement through the gateway's own estimation stages, in-process and deterministic:
// readings in trace order, one estimate per subject per second of trace time, scored against the
// trace's truth lines. Shared by the benchmark and the accuracy tests.
import type { Site } from '../shared/site.ts'
import { readJsonLines, isTruth, isReading, type TraceLine } from '../shared/trace.ts'
import { summarize, type Summary } from '../shared/stats.ts'
import { locate } from '../shared/site.ts'
import { Tracker, trackerOptions, type TrackerOptions } from '../gateway/tracker.ts'
import { sensorModels } from '../gateway/radio-model.ts'
import { SelfCalibrator } from '../gateway/self-calibration.ts'
import { solve, weightedCentroid } from '../gateway/solver.ts'

export type Method = 'gateway' | 'baseline'

export interface AccuracyResult {
  method: Method, error: Summary, sectorAgreement: number, samples: number
  /** Share of errors within the published accuracyM (the gateway's; the baseline publishes none). */
  withinAccuracy: number | null
  /** Per-sensor corrections online self-calibration learned by the end, dB (when it ran). */
  corrections: Record<string, number> | null
  /**
   * Mean error by what the truth was doing: standing (moved under 5 cm since its previous truth
   * sample) or walking, and inside a shop or outside every shop (NaN where there were no samples).
   */
  breakdown: { standing: number, walking: number, inShop: number, outside: number }
}

/**
 * The naive baseline the issue names: plain weighted least squares on ranges from the site's
 * default path-loss model, on raw per-tick mean RSSI, no smoothing across ticks.
 */
function baselineFix (site: Site, tracker: Tracker, subject: string, t: number): [number, number] | null {
  const obs = tracker.observations(subject, t)
  if (obs.length === 0) return null
  if (obs.length < 3) return weightedCentroid(obs)
  const f = solve(obs.map(o => ({ ...o, sigma: 1 })), { tagHeight: site.radio.tagHeightM, bounds: site.bbox, huberK: 1e9, offsetPrior: { mean: 0, sd: 0 } })
  return f ? [f.x, f.y] : null
}

export async function measureAccuracy (site: Site, trace: string, method: Method, over: Partial<TrackerOptions> = {}, selfCalibrate = true): Promise<AccuracyResult> {
  const opts = trackerOptions(site, method === 'baseline' ? { window: { windowMs: 1000, tauMs: 700, rawSigmaDb: 6, floorSigmaDb: 0 }, ...over } : over)
  const tracker = new Tracker(site, sensorModels(site), opts)
  const cal = method === 'gateway' && selfCalibrate ? new SelfCalibrator(sensorModels(site)) : null
  if (cal !== null) {
    let n = 0
    tracker.onFix = (obs, fix) => {
      cal.observeFix(obs, fix, opts.tagHeight)
      if (++n % 50 === 0) tracker.setModels(cal.models())
    }
  }
  const latest = new Map<string, { ts: number, x: number, y: number, accuracyM: number }>()
  const errors: number[] = []
  const previousTruth = new Map<string, { x: number, y: number }>()
  const parts = { standing: [0, 0], walking: [0, 0], inShop: [0, 0], outside: [0, 0] }
  const add = (part: number[], error: number) => { part[0] += error; part[1]++ }
  let sectorOk = 0
  let within = 0
  let nextTick = -Infinity
  const tick = (t: number) => {
    for (const subject of [...tracker.active(t)]) {
      if (method === 'baseline') {
        const p = baselineFix(site, tracker, subject, t)
        if (p) latest.set(subject, { ts: t, x: p[0], y: p[1], accuracyM: NaN })
      } else {
        const e = tracker.estimate(subject, t)
        if (e) latest.set(subject, { ts: t, x: e.x, y: e.y, accuracyM: e.accuracyM })
      }
    }
    tracker.expire(t)
  }
  for await (const line of readJsonLines<TraceLine>(trace)) {
    while (line.ts >= nextTick) {
      if (nextTick > -Infinity) tick(nextTick)
      nextTick = nextTick === -Infinity ? Math.ceil(line.ts / 1000) * 1000 : nextTick + 1000
    }
    if (isReading(line) && line.t === 'ble' && line.id) tracker.addReading(line.id, line.sensor, line.ts, line.rssi)
    else if (isTruth(line)) {
      const { subject, x, y } = line.truth
      const before = previousTruth.get(subject)
      previousTruth.set(subject, { x, y })
      const p = latest.get(subject)
      if (!p || line.ts - p.ts > 3000) continue
      const error = Math.hypot(p.x - x, p.y - y)
      errors.push(error)
      if (error <= p.accuracyM) within++
      const truthAt = locate(site, x, y)
      if (locate(site, p.x, p.y).sector === truthAt.sector) sectorOk++
      if (before) add(Math.hypot(x - before.x, y - before.y) < 0.05 ? parts.standing : parts.walking, error)
      add(truthAt.shop !== null ? parts.inShop : parts.outside, error)
    }
  }
  const n = Math.max(1, errors.length)
  const mean = ([sum, count]: number[]) => count > 0 ? sum / count : NaN
  return {
    method, error: summarize(errors), sectorAgreement: sectorOk / n, samples: errors.length, withinAccuracy: method === 'baseline' ? null : within / n,
    corrections: cal?.corrections() ?? null,
    breakdown: { standing: mean(parts.standing), walking: mean(parts.walking), inShop: mean(parts.inShop), outside: mean(parts.outside) }
  }
}
