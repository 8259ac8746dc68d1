// The Kolakowski robot track without its calibration walk (site defaults, online self-calibration)
// under other tracker options: each route to a better estimator that is an option can be measured
// with one command, beside the default and the naive baseline, and how late the data set's own
// readings are against its truth (which no estimator can learn without a truth):
//
//   node --import tsx bench/kolakowski-routes.ts [--data DIR] [--after-walk] ['{"reportLagMs":5000}' ...]
//
// Without option sets it runs the routes below. With `--after-walk` the gateway first hears the
// calibration walk's readings (never its positions), as a store's gateway has heard earlier
// traffic: what a route learns from traffic (`grid.learnMaps`) has had something to learn from.
// Nothing here reaches the gateway.
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSite, type Site } from '../shared/site.ts'
import { convertSite, convertTrack, convertTracks, datasetFiles } from '../simulators/kolakowski.ts'
import type { TraceLine } from '../shared/trace.ts'
import { trackerOptions, type TrackerOptions } from '../gateway/estimation/tracker.ts'
import { measureAccuracy } from './accuracy-lib.ts'
import { baselineLag, LAG_SHIFTS } from './kolakowski-diagnosis.ts'
import { f2, writeTrace } from './trace-files.ts'

/** A tracker option set as given on the command line: `grid` and `window` are merged into their defaults. */
export type Route = Partial<Omit<TrackerOptions, 'grid' | 'window'>> & {
  grid?: Partial<TrackerOptions['grid']>
  window?: Partial<TrackerOptions['window']>
}

/** The routes measured by default: the publishing lag, the grid's motion model (without the stroll: the two modes before it) and its likelihood's temperature and Huber threshold (the solver's two sigmas, as before), the device offset's prior as pinned before, the filter. */
export const ROUTES: Route[] = [
  {},
  { grid: { strollMps: 0 } },
  { grid: { huberK: 2 } },
  { grid: { offsetFloorSdDb: 4 / 3 } },
  { reportLagMs: 3000 },
  { reportLagMs: 5000 },
  { grid: { walkMps: 0.5 } },
  { grid: { driftM: 0.4 } },
  { grid: { stayProbability: 0.8 } },
  { grid: { temperature: 1 } },
  { window: { floorSigmaDb: 1.5 } },
  { huberK: 3 },
  { filter: 'kalman' }
]

/** A route as tracker options over the site's defaults. */
export function routeOptions(site: Site, route: Route): Partial<TrackerOptions> {
  const { grid, window, ...rest } = route
  const base = trackerOptions(site)
  return {
    ...rest,
    ...(grid === undefined ? {} : { grid: { ...base.grid, ...grid } }),
    ...(window === undefined ? {} : { window: { ...base.window, ...window } })
  }
}

/** The command line: the data folder, whether the walk's readings come first, and the option sets given. */
export function routeArgs(args: string[]): { data: string; afterWalk: boolean; given: string[] } {
  const at = args.indexOf('--data')
  const data = at >= 0 ? args[at + 1] : '../shared/data/kolakowski-ble-flat'
  const given = args.filter((a, i) => a !== '--data' && a !== '--after-walk' && !(at >= 0 && i === at + 1))
  return { data, afterWalk: args.includes('--after-walk'), given }
}

/**
 * `walk`'s readings and heartbeats without their truth, its sessions back to back (pauses over a
 * minute shortened to 5 s), ending a minute before `startMs`: traffic heard before a track.
 */
export function walkBefore(walk: TraceLine[], startMs: number): TraceLine[] {
  const out: TraceLine[] = []
  let shift = 0
  let last = -Infinity
  for (const l of walk) {
    if ('truth' in l) continue
    if (last > -Infinity && l.ts - last > 60_000) shift += l.ts - last - 5000
    last = l.ts
    out.push({ ...l, ts: l.ts - shift })
  }
  const end = out.length === 0 ? 0 : out[out.length - 1].ts
  return out.map(l => ({ ...l, ts: l.ts + startMs - 60_000 - end }))
}

async function main(): Promise<void> {
  const { data, afterWalk, given } = routeArgs(process.argv.slice(2))
  if (!existsSync(join(data, 'anchors.csv'))) {
    console.log(`(skipped: no ${join(data, 'anchors.csv')})`)
    return
  }
  const siteFile = convertSite(data)
  const sensors = siteFile.features.filter(f => f.properties.kind === 'sensor').map(f => f.properties.id)
  const site = parseSite(siteFile)
  const trace = join(mkdtempSync(join(tmpdir(), 'instore-routes-')), 'robot.jsonl')
  const files = datasetFiles(data)
  const robot = convertTrack(files.tracks[0], sensors)
  await writeTrace(trace, afterWalk ? [...walkBefore(convertTracks(files.calibration, sensors), robot[0].ts), ...robot] : robot)
  const routes = given.length > 0 ? given.map(a => JSON.parse(a) as Route) : ROUTES
  console.log('Kolakowski robot track, no calibration walk (site defaults, online self-calibration): mean / median / p95, m')
  if (afterWalk) console.log("  (the gateway having heard the calibration walk's readings first, never its positions)")
  for (const route of routes) {
    const r = await measureAccuracy(site, trace, 'gateway', routeOptions(site, route))
    const within = r.withinAccuracy === null ? '' : `  within accuracyM ${(100 * r.withinAccuracy).toFixed(0)}%`
    console.log(`  ${(JSON.stringify(route) === '{}' ? 'defaults' : JSON.stringify(route)).padEnd(44)} ${f2(r.error.mean)} / ${f2(r.error.median)} / ${f2(r.error.p95)}${within}`)
  }
  const lag = await baselineLag(site, trace, LAG_SHIFTS)
  console.log(`  the naive baseline's positions match the truth ${-lag.shiftMs / 1000} s before their time best (mean ${f2(lag.meanM)} m): the readings' own lag`)
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
