// Accuracy measurement through the gateway's own estimation stages, in-process and deterministic:
// readings in trace order, one estimate per subject per second of trace time, scored against the
// trace's truth lines (or, for a path walked at an unknown pace, against the path). Shared by the
// benchmark and the accuracy tests.
import type { Site } from '../shared/site.ts'
import { readJsonLines, isReading, isScan, type TraceLine } from '../shared/trace.ts'
import { summarize, type Summary } from '../shared/stats.ts'
import { locate } from '../shared/site.ts'
import { distanceToSegment } from '../shared/geometry.ts'
import { lastAtOrBefore } from '../simulators/evaluate.ts'
import { Tracker, trackerOptions, type TrackerOptions } from '../gateway/estimation/tracker.ts'
import { TraceFollower, type Placed, type Followed } from '../tools/trace-follower.ts'
import { sensorModels, beaconModels } from '../gateway/estimation/radio-model.ts'
import { ScanGrid } from '../gateway/estimation/scan-grid.ts'
import { SelfCalibrator, beaconSelfCalibrationOptions, defaultSelfCalibrationOptions } from '../gateway/estimation/self-calibration.ts'
import { solve, weightedCentroid } from '../gateway/estimation/solver.ts'

export type Method = 'gateway' | 'baseline'

/** Whether the truth stood still between two successive samples (moved under 5 cm): how errors are split into standing and walking. */
export function standsStill(a: { x: number; y: number }, b: { x: number; y: number }): boolean {
  return Math.hypot(b.x - a.x, b.y - a.y) < 0.05
}

export interface AccuracyResult {
  method: Method
  error: Summary
  sectorAgreement: number
  samples: number
  /** Share of samples placed on the truth's floor (1 on a single-floor site). */
  floorAgreement: number
  /** Share of errors within the published accuracyM (the gateway's; the baseline publishes none). */
  withinAccuracy: number | null
  /** Per-sensor corrections online self-calibration learned by the end, dB (when it ran). */
  corrections: Record<string, number> | null
  /**
   * Mean error by what the truth was doing: standing (moved under 5 cm since its previous truth
   * sample) or walking, and inside a shop or outside every shop (NaN where there were no samples).
   */
  breakdown: { standing: number; walking: number; inShop: number; outside: number }
}

/**
 * The naive baseline the issue names: plain weighted least squares on ranges from the site's
 * default path-loss model, on raw per-tick mean RSSI, no smoothing across ticks.
 */
function baselineFix(site: Site, tracker: Tracker, subject: string, t: number): [number, number] | null {
  const obs = tracker.observations(subject, t)
  if (obs.length === 0) return null
  if (obs.length < 3) return weightedCentroid(obs)
  const f = solve(
    obs.map(o => ({ ...o, sigma: 1 })),
    { tagHeight: site.radio.tagHeightM, bounds: site.bbox, huberK: 1e9, offsetPrior: { mean: 0, sd: 0 } }
  )
  return f ? [f.x, f.y] : null
}

/**
 * Replays a trace through the gateway's estimation (or the baseline's): yields each estimate as
 * it is made, once per subject per second of trace time, and each truth line in trace order.
 * `cal` holds what online self-calibration learned, once the replay is done.
 */
export class EstimationRun {
  readonly follower: TraceFollower
  readonly cal: SelfCalibrator | null

  constructor(site: Site, method: Method, over: Partial<TrackerOptions>, selfCalibrate: boolean, scans: boolean) {
    const opts = trackerOptions(site, method === 'baseline' ? { window: { windowMs: 1000, tauMs: 700, rawSigmaDb: 6, floorSigmaDb: 0 }, ...over } : over)
    // Phone-scan traces: the site's beacons are the receivers, as in the gateway's scan tracker.
    const models = () => (scans ? beaconModels(site) : sensorModels(site))
    const tracker = new Tracker(site, models(), opts)
    // Phone-scan traces: the scan tracker's grid, where the options ask for it (tracker option scanGrid).
    if (scans && opts.scanGrid !== 'off') tracker.scanGrid = new ScanGrid(site)
    // The gateway calibrates online what positions a device: its sensors, or in phone-scan mode
    // the beacons phones report.
    const cal = (this.cal = method === 'gateway' && selfCalibrate ? new SelfCalibrator(models(), scans ? beaconSelfCalibrationOptions : defaultSelfCalibrationOptions) : null)
    if (cal !== null) {
      let n = 0
      tracker.onFix = (obs, fix) => {
        cal.observeFix(obs, fix, opts.tagHeight)
        if (++n % 50 === 0) tracker.setModels(cal.models())
      }
    }
    this.follower =
      method === 'gateway'
        ? new TraceFollower(tracker)
        : new TraceFollower(tracker, (subject, t) => {
            const p = baselineFix(site, tracker, subject, t)
            // The naive baseline publishes each fix for the tick that made it.
            return p ? { subject, ts: t, x: p[0], y: p[1], accuracyM: NaN } : null
          })
  }

  async *replay(trace: string): AsyncGenerator<Followed> {
    for await (const line of readJsonLines<TraceLine>(trace)) yield* this.follower.feed(line)
  }
}

/** Whether a trace is in phone-scan mode: its first reading is a phone's scan of the beacons. */
async function phoneScans(trace: string): Promise<boolean> {
  for await (const line of readJsonLines<TraceLine>(trace)) {
    if (isScan(line)) return true
    if (isReading(line)) return false
  }
  return false
}

export async function measureAccuracy(site: Site, trace: string, method: Method, over: Partial<TrackerOptions> = {}, selfCalibrate = true): Promise<AccuracyResult> {
  const run = new EstimationRun(site, method, over, selfCalibrate, await phoneScans(trace))
  // Each truth sample is scored against the subject's last estimate published for a time at or
  // before it (as instore-eval matches a recording): estimates are published for a moment a
  // little before the tick that made them (tracker option reportLagMs), so they arrive after the
  // truth lines they describe and are matched once the replay is done.
  const estimates = new Map<string, Array<Required<Placed>>>()
  const truths: Array<Extract<Followed, { truth: unknown }>['truth']> = []
  for await (const item of run.replay(trace)) {
    if ('truth' in item) {
      truths.push(item.truth)
      continue
    }
    const list = estimates.get(item.estimate.subject) ?? []
    list.push(item.estimate)
    estimates.set(item.estimate.subject, list)
  }
  const errors: number[] = []
  const previousTruth = new Map<string, { x: number; y: number }>()
  const parts = { standing: [0, 0], walking: [0, 0], inShop: [0, 0], outside: [0, 0] }
  const add = (part: number[], error: number) => {
    part[0] += error
    part[1]++
  }
  let sectorOk = 0
  let floorOk = 0
  let within = 0
  for (const { subject, x, y, ts, floor } of truths) {
    const before = previousTruth.get(subject)
    previousTruth.set(subject, { x, y })
    const list = estimates.get(subject)
    const p = list?.[lastAtOrBefore(list, ts)]
    if (!p || ts - p.ts > 3000) continue
    const error = Math.hypot(p.x - x, p.y - y)
    errors.push(error)
    if (error <= p.accuracyM) within++
    const truthAt = locate(site, x, y, floor)
    if (locate(site, p.x, p.y, p.floor).sector === truthAt.sector) sectorOk++
    if (p.floor === floor) floorOk++
    if (before) add(standsStill(before, { x, y }) ? parts.standing : parts.walking, error)
    add(truthAt.shop !== null ? parts.inShop : parts.outside, error)
  }
  const n = Math.max(1, errors.length)
  const mean = ([sum, count]: number[]) => (count > 0 ? sum / count : NaN)
  return {
    method,
    error: summarize(errors),
    sectorAgreement: sectorOk / n,
    floorAgreement: floorOk / n,
    samples: errors.length,
    withinAccuracy: method === 'baseline' ? null : within / n,
    corrections: run.cal?.corrections() ?? null,
    breakdown: { standing: mean(parts.standing), walking: mean(parts.walking), inShop: mean(parts.inShop), outside: mean(parts.outside) }
  }
}

/** A reference path as segments [x0, y0, x1, y1], metres. */
export type Path = Array<[number, number, number, number]>

/** Distance from (x, y) to the nearest point of the path, metres. */
export function distanceToPath(path: Path, x: number, y: number): number {
  return Math.min(...path.map(([x0, y0, x1, y1]) => distanceToSegment(x, y, x0, y0, x1, y1)))
}

/**
 * For a trace whose truth is a path walked at an unknown pace (no truth lines): each estimate's
 * distance to the path. A lower bound of the position error: it misses error along the path.
 */
export async function measurePathDistance(site: Site, trace: string, path: Path, method: Method): Promise<Summary> {
  const run = new EstimationRun(site, method, {}, true, await phoneScans(trace))
  const distances: number[] = []
  for await (const item of run.replay(trace)) if ('estimate' in item) distances.push(distanceToPath(path, item.estimate.x, item.estimate.y))
  return summarize(distances)
}
