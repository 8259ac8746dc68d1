// How late the gateway's own positions are for a device moving steadily, with no lag in the
// readings: the Kolakowski flat's six receivers, a tag walking back and forth along the flat at a
// steady speed, readings exactly as the site's path-loss model says (or with Gaussian noise),
// three a second, stamped when they were made. Whatever lag the published positions show here is
// the estimator's (windows, motion model, smoother), not the data's: on the Kolakowski recording
// the naive baseline shows the readings' own.
//
//   node --import tsx bench/motion-lag.ts [--speed M_PER_S] [--noise DB, default 4] ['{"grid":{"driftM":0.4}}' ...]
//
// For each route (tracker options, as in kolakowski-routes.ts): the mean error at the published
// time and the shift of the truth in time at which it is least (negative: the positions describe
// an earlier moment). Nothing here reaches the gateway.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSite, type Site } from '../shared/site.ts'
import type { SiteFile } from '../shared/site-schema.ts'
import type { TraceLine } from '../shared/trace.ts'
import { expectedRssi, sensorModels } from '../gateway/estimation/radio-model.ts'
import { EstimationRun } from './accuracy-lib.ts'
import { baselineLag, bestShift, type Timed } from './kolakowski-diagnosis.ts'
import { routeOptions, type Route } from './kolakowski-routes.ts'
import { f2, writeTrace } from './trace-files.ts'

/** The truth shifts tried, ms: 8 s earlier to 1 s later, in quarter seconds. */
export const MOTION_SHIFTS = Array.from({ length: 37 }, (_, k) => -8000 + 250 * k)

/** The Kolakowski flat's receivers (anchors.csv) in its bounding box, site defaults as the importer writes them. */
export function flatSite(): Site {
  const anchors = [
    [5.48, 2.41, 2.08],
    [0.79, 6.75, 2.62],
    [3.03, 0.14, 2.38],
    [3.79, 7.06, 1.85],
    [5.99, 0.43, 2.31],
    [8.66, 6.59, 2.41]
  ]
  const ring = [
    [0, 0],
    [9.07, 0],
    [9.07, 7.1],
    [0, 7.1],
    [0, 0]
  ]
  return parseSite({
    type: 'FeatureCollection',
    storeId: 'flat',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, tagHeightM: 1.3, outsideHeard: false },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'flat' }, geometry: { type: 'Polygon', coordinates: [ring] } },
      ...anchors.map(([x, y, z], i) => ({
        type: 'Feature' as const,
        properties: { kind: 'sensor' as const, id: `a${i + 1}`, z },
        geometry: { type: 'Point' as const, coordinates: [x, y] }
      }))
    ]
  } as SiteFile)
}

/**
 * A tag walking back and forth along y = 3.5 between x = 1 and x = 8 at `speedMps` for
 * `durationMs`, heard by every receiver three times a second: the model's RSSI plus Gaussian noise
 * of `noiseDb` (a fixed seed), each reading stamped when it was made; a truth line with each.
 */
export function steadyWalk(site: Site, speedMps: number, noiseDb: number, durationMs: number): TraceLine[] {
  const models = sensorModels(site)
  let seed = 7
  const uniform = () => {
    seed = (seed * 16807) % 2147483647
    return seed / 2147483647
  }
  const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())
  const at = (ms: number) => {
    const u = ((ms / 1000) * speedMps) % 14
    return { x: 1 + (u <= 7 ? u : 14 - u), y: 3.5 }
  }
  const lines: TraceLine[] = []
  for (let ts = 0; ts <= durationMs; ts += 333) {
    if (ts % 999 === 0) for (const id of models.keys()) lines.push({ ts, store: 'flat', sensor: id, heartbeat: true })
    const p = at(ts)
    for (const m of models.values()) {
      const rssi = expectedRssi(m, Math.hypot(p.x - m.x, p.y - m.y, site.radio.tagHeightM - m.z)) + noiseDb * gauss()
      lines.push({ ts, store: 'flat', sensor: m.id, t: 'ble', id: 'tag:t', rssi })
    }
    lines.push({ ts, truth: { subject: 'tag:t', ...p, floor: 0 } })
  }
  return lines
}

/** The gateway's published positions on a trace (after its first `warmMs`): error at their time, and the best shift of the truth. */
export async function motionLag(site: Site, trace: string, route: Route, warmMs: number): Promise<{ atTimeM: number; shiftMs: number; shiftedM: number }> {
  const run = new EstimationRun(site, 'gateway', routeOptions(site, route), true, false)
  const truth: Timed[] = []
  const estimates: Timed[] = []
  for await (const item of run.replay(trace)) {
    if ('truth' in item) truth.push(item.truth)
    else if (item.estimate.ts >= truth[0].ts + warmMs) estimates.push(item.estimate)
  }
  const best = bestShift(truth, estimates, MOTION_SHIFTS)
  return { atTimeM: bestShift(truth, estimates, [0]).meanM, shiftMs: best.shiftMs, shiftedM: best.meanM }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const value = (flag: string, fallback: number) => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : fallback)
  const speed = value('--speed', 0.2)
  const noise = value('--noise', 4)
  const given = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')))
  const routes: Route[] = given.length > 0 ? given.map(a => JSON.parse(a) as Route) : [{}, { filter: 'kalman' }]
  const site = flatSite()
  const trace = join(mkdtempSync(join(tmpdir(), 'instore-motion-lag-')), 'walk.jsonl')
  await writeTrace(trace, steadyWalk(site, speed, noise, 200_000))
  console.log(
    `a tag walking steadily at ${speed} m/s on the Kolakowski flat, readings on the model ± ${noise} dB, none late: mean error at the published time / best shift of the truth (its error), m`
  )
  for (const route of routes) {
    const r = await motionLag(site, trace, route, 20_000)
    console.log(`  ${(JSON.stringify(route) === '{}' ? 'defaults' : JSON.stringify(route)).padEnd(44)} ${f2(r.atTimeM)}  ${r.shiftMs / 1000} s (${f2(r.shiftedM)})`)
  }
  const naive = await baselineLag(site, trace, MOTION_SHIFTS)
  console.log(`  the naive baseline (a 1 s window)             best shift ${naive.shiftMs / 1000} s (${f2(naive.meanM)})`)
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
