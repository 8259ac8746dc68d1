// OpenHPS phone-scan accuracy (real data: a phone hearing eleven beacons on an office floor, at
// 28 test points in four headings): the gateway's phone-scan estimation against nearest beacon
// and k-NN fingerprinting, each scored per scan and after 5 s at a point.
import type { Site } from '../shared/site.ts'
import { parseSite } from '../shared/site.ts'
import { summarize, type Summary } from '../shared/stats.ts'
import type { TrackerOptions } from '../gateway/estimation/tracker.ts'
import type { BeaconFeatureT, SiteFile } from '../shared/site-schema.ts'
import { convertSite, freshOnly, readBeacons, readScans, splitPath, stops, DEVICE_ID, type OpenHpsScan, type Stop } from '../simulators/openhps.ts'
import { EstimationRun } from './accuracy-lib.ts'
import { chooseK, knn, meanHeard, nearestBeacon, vector, type Fingerprint, type Heard, type KChoice } from './openhps-baselines.ts'
import { radioDiagnosis, type RadioDiagnosis } from './openhps-diagnosis.ts'

/** "After a few seconds at a point": the 5 s. */
const SETTLE_MS = 5000

/** Errors of one method, m: each scan's position, and the position held 5 s after reaching a point. */
export interface MethodScore {
  perScan: Summary
  after5s: Summary
}

export interface OpenHpsResult {
  gateway: MethodScore
  /**
   * The gateway that heard the phone's earlier traffic (the train split's readings, recorded the hour
   * before; never its positions) before the test scans: what it learns online has had time to settle.
   */
  gatewayWarm: MethodScore
  /** Diagnostic: the same without online self-calibration of the beacons' offsets. */
  gatewayNoSelfCalibration: MethodScore
  /**
   * Diagnostic, not a gateway figure: the site's radio refitted on the train split (rssiAt1m,
   * exponent, each beacon's offset), what a perfect self-calibration of the model could give.
   */
  gatewayRefitted: MethodScore
  /** Diagnostic: the gateway given only the readings a row did not repeat from the row before (see freshOnly). */
  gatewayFreshOnly: MethodScore
  nearestBeacon: MethodScore
  knn: MethodScore & { k: KChoice; k5s: KChoice }
  /** "Done when": the gateway's per-scan mean error at most the k-NN's. */
  gatewayAtMostKnn: boolean
  testScans: number
  testPoints: number
  /** What the train split says about the radio (never given to the gateway). */
  diagnosis: RadioDiagnosis
}

/** The first whole second at or after `ts`: the event clock's tick. */
const tickAtOrAfter = (ts: number): number => Math.ceil(ts / 1000) * 1000

/** The tick at which a stop is scored "after 5 s" (its scans before it make the 5 s fingerprint). */
const settleTick = (stop: Stop): number => tickAtOrAfter(stop.scans[0].ts + SETTLE_MS)

/**
 * The gateway's phone-scan estimation over the test scans on the event clock, as the benchmark's
 * other rows run it (tracker of beacon models, online self-calibration of the beacons): per scan,
 * the first position published after it; per stop, the last position published by its settle tick.
 * `warm`: scans replayed first, on the same clock, unscored (a gateway that has heard the phone
 * before: the readings only, never where it stood). The tracker's default options unless `over`
 * says otherwise (the scan grid, `scanGrid: 'auto'`).
 */
export function scoreGateway(site: Site, test: OpenHpsScan[], selfCalibrate = true, over: Partial<TrackerOptions> = {}, warm: OpenHpsScan[] = []): MethodScore {
  const tracker = new EstimationRun(site, 'gateway', over, selfCalibrate, true).follower.tracker
  const published: Array<{ tick: number; x: number; y: number }> = []
  const scans = [...warm, ...test]
  const scored = tickAtOrAfter(test[0].ts)
  let next = 0
  const end = test[test.length - 1].ts + SETTLE_MS + 2000
  for (let t = tickAtOrAfter(scans[0].ts); t <= end; t += 1000) {
    // The event clock: a scan is in before the first tick after it.
    for (; next < scans.length && scans[next].ts < t; next++) {
      for (const [id, rssi] of scans[next].rssi) tracker.addReading(DEVICE_ID, id, scans[next].ts, rssi)
    }
    for (const subject of [...tracker.active(t)]) {
      const p = tracker.estimate(subject, t)
      if (p && t >= scored) published.push({ tick: t, x: p.x, y: p.y })
    }
    tracker.expire(t)
  }
  const perScan: number[] = []
  let i = 0
  for (const s of test) {
    while (i < published.length && published[i].tick <= s.ts) i++
    if (i < published.length) perScan.push(Math.hypot(published[i].x - s.x, published[i].y - s.y))
  }
  const after5s: number[] = []
  for (const stop of stops(test)) {
    const t5 = settleTick(stop)
    // The position an app holds then: the last one published since the phone got there.
    const held = published.filter(p => p.tick > stop.scans[0].ts && p.tick <= t5).pop()
    if (held) after5s.push(Math.hypot(held.x - stop.x, held.y - stop.y))
  }
  return { perScan: summarize(perScan), after5s: summarize(after5s) }
}

/** A baseline's position from some scans (one, or those of a stop's first 5 s), or null. */
type Locate = (heard: Heard, scans: OpenHpsScan[]) => [number, number] | null

function scoreBaseline(test: OpenHpsScan[], perScan: Locate, window: Locate): MethodScore {
  const errors = (pairs: Array<[OpenHpsScan[], Heard, number, number]>, f: Locate) =>
    pairs.flatMap(([scans, heard, x, y]) => {
      const p = f(heard, scans)
      return p === null ? [] : [Math.hypot(p[0] - x, p[1] - y)]
    })
  const windows = stops(test).map(stop => {
    const t5 = settleTick(stop)
    const scans = stop.scans.filter(s => s.ts < t5)
    return [scans, meanHeard(scans.map(s => s.rssi)), stop.x, stop.y] as [OpenHpsScan[], Heard, number, number]
  })
  return {
    perScan: summarize(
      errors(
        test.map(s => [[s], s.rssi, s.x, s.y]),
        perScan
      )
    ),
    after5s: summarize(errors(windows, window))
  }
}

/** The train split as fingerprints: one per scan, and one per 5 s of scans at a point in one heading. */
function fingerprints(train: OpenHpsScan[], ids: string[]): { scans: Fingerprint[]; windows: Fingerprint[] } {
  const point = (s: OpenHpsScan) => `${s.x},${s.y}`
  const scans = train.map(s => ({ x: s.x, y: s.y, point: point(s), v: vector(s.rssi, ids) }))
  const windows: Fingerprint[] = []
  let current: OpenHpsScan[] = []
  const close = () => {
    if (current.length > 0) windows.push({ x: current[0].x, y: current[0].y, point: point(current[0]), v: vector(meanHeard(current.map(s => s.rssi)), ids) })
    current = []
  }
  for (const s of train) {
    const first = current[0]
    if (first !== undefined && (point(first) !== point(s) || first.heading !== s.heading || s.ts - first.ts >= SETTLE_MS)) close()
    current.push(s)
  }
  close()
  return { scans, windows }
}

/** k-NN fingerprinting on the train split (k chosen on the train split alone), scored on the test scans. */
export function knnScore(train: OpenHpsScan[], test: OpenHpsScan[], ids: string[]): MethodScore & { k: KChoice; k5s: KChoice } {
  const db = fingerprints(train, ids)
  const k = chooseK(db.scans)
  const k5s = chooseK(db.windows)
  const fp = scoreBaseline(
    test,
    h => knn(db.scans, vector(h, ids), k.k),
    h => knn(db.windows, vector(h, ids), k5s.k)
  )
  return { ...fp, k, k5s }
}

/** Every row of the OpenHPS part, from the data set folder (the one holding beacons.csv). */
const isBeacon = (f: SiteFile['features'][number]): f is BeaconFeatureT => f.properties.kind === 'beacon'

/** The site file with the radio model the diagnosis refitted on the train split. */
function refitted(file: SiteFile, d: RadioDiagnosis): SiteFile {
  const a = d.fitted.rssiAt1m
  return {
    ...file,
    radio: { ...file.radio, rssiAt1m: a, pathLossExponent: d.fitted.pathLossExponent },
    features: file.features.map(f => (isBeacon(f) ? { ...f, properties: { ...f.properties, rssiAt1m: a + (d.beaconOffsetsDb[f.properties.id] ?? 0) } } : f))
  }
}

export function openHpsAccuracy(dir: string): OpenHpsResult {
  const beacons = readBeacons(dir)
  const file = convertSite(dir)
  const site = parseSite(file)
  const test = readScans(splitPath(dir, 'test'), beacons)
  const train = readScans(splitPath(dir, 'train'), beacons)
  const gateway = scoreGateway(site, test)
  const near = scoreBaseline(
    test,
    h => nearestBeacon(h, site.beacons),
    h => nearestBeacon(h, site.beacons)
  )
  const diagnosis = radioDiagnosis(site, train)
  const fp = knnScore(
    train,
    test,
    beacons.map(b => b.id)
  )
  return {
    gateway,
    gatewayWarm: scoreGateway(
      site,
      test,
      true,
      {},
      train.filter(s => s.ts < test[0].ts)
    ),
    gatewayNoSelfCalibration: scoreGateway(site, test, false),
    gatewayRefitted: scoreGateway(parseSite(refitted(file, diagnosis)), test),
    gatewayFreshOnly: scoreGateway(site, freshOnly(test)),
    nearestBeacon: near,
    knn: fp,
    gatewayAtMostKnn: gateway.perScan.mean <= fp.perScan.mean,
    testScans: test.length,
    testPoints: new Set(test.map(s => `${s.x},${s.y}`)).size,
    diagnosis
  }
}
