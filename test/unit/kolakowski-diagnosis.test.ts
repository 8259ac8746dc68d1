// The arithmetic of the Kolakowski track diagnosis (bench/kolakowski-diagnosis.ts) and of its routes
// (bench/kolakowski-routes.ts), on cases whose answers are known: it decides what the benchmark says
// about where the error comes from.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSite, type Site } from '../../shared/site.ts'
import type { TraceLine } from '../../shared/trace.ts'
import { expectedRssi, sensorModels } from '../../gateway/estimation/radio-model.ts'
import { trackerOptions, type TrackerOptions } from '../../gateway/estimation/tracker.ts'
import { baselineLag, biasShare, bestShift, errorDirection, fitPathLoss, LAG_SHIFTS, positionAt, type Timed } from '../../bench/kolakowski-diagnosis.ts'
import { routeArgs, routeOptions, walkBefore, type Route } from '../../bench/kolakowski-routes.ts'
import { writeTrace } from '../../bench/trace-files.ts'
import { rect } from '../helpers/geo.ts'

const track: Timed[] = Array.from({ length: 41 }, (_, i) => ({ ts: 500 * i, x: 0.25 * i, y: 1 }))

test('a track is read between its points, and at its ends outside them', () => {
  const cases: Array<[number, number]> = [
    [-1000, 0],
    [0, 0],
    [250, 0.125],
    [1000, 0.5],
    [20_000, 10],
    [30_000, 10]
  ]
  for (const [ts, x] of cases) assert.ok(Math.abs(positionAt(track, ts).x - x) < 1e-9, `at ${ts}: ${positionAt(track, ts).x}`)
})

test('bias by place: an error that repeats at a place is bias, one that alternates there is noise', () => {
  const truth = Array.from({ length: 40 }, (_, i) => ({ x: 0.5 + (i % 4), y: 0.5 }))
  const cases: Array<[string, Array<{ x: number; y: number }>, number]> = [
    ['the same offset everywhere', truth.map(p => ({ x: p.x + 1, y: p.y })), 1],
    ['each place its own offset', truth.map((p, i) => ({ x: p.x, y: p.y + (i % 4) - 1.5 })), 1],
    ['left and right in turn at each place', truth.map((p, i) => ({ x: p.x + (Math.floor(i / 4) % 2 === 0 ? 1 : -1), y: p.y })), 0],
    ['no error', truth, 0]
  ]
  for (const [name, estimate, share] of cases) assert.ok(Math.abs(biasShare(truth, estimate, 1) - share) < 1e-9, `${name}: ${biasShare(truth, estimate, 1)}`)
})

test('lag: estimates describing the track 2 s late match it best 2 s earlier', () => {
  const late = track.filter(p => p.ts >= 4000).map(p => ({ ts: p.ts, ...positionAt(track, p.ts - 2000) }))
  const shifts = [-4000, -3000, -2000, -1000, 0, 1000]
  const best = bestShift(track, late, shifts)
  assert.equal(best.shiftMs, -2000)
  assert.ok(best.meanM < 1e-9)
})

test("direction: a fit pulled towards the receivers' centre, one behind the travel, one beside it", () => {
  // `track` runs along y = 1 in +x at 0.5 m/s, for 20 s; the centre lies at y = 5, across its travel.
  const centre = { x: 5, y: 5 }
  const inner = track.filter(p => p.ts >= 2000 && p.ts <= 18_000)
  const cases: Array<[string, (p: Timed) => { x: number; y: number }, { inwardM: number; behindM: number; acrossM: number }]> = [
    ['behind by 1 m', p => ({ x: p.x - 1, y: p.y }), { inwardM: NaN, behindM: 1, acrossM: 0 }],
    ['ahead by 0.5 m', p => ({ x: p.x + 0.5, y: p.y }), { inwardM: NaN, behindM: -0.5, acrossM: 0 }],
    [
      '0.4 m towards the centre',
      p => ({ x: p.x + (0.4 * (centre.x - p.x)) / Math.hypot(centre.x - p.x, centre.y - p.y), y: p.y + (0.4 * (centre.y - p.y)) / Math.hypot(centre.x - p.x, centre.y - p.y) }),
      { inwardM: 0.4, behindM: NaN, acrossM: NaN }
    ],
    ['0.3 m beside the travel, away from the centre', p => ({ x: p.x, y: p.y - 0.3 }), { inwardM: NaN, behindM: 0, acrossM: 0.3 }]
  ]
  for (const [name, place, want] of cases) {
    const d = errorDirection(track, inner, inner.map(place), centre)
    assert.equal(d.movingShare, 1, name)
    for (const k of ['inwardM', 'behindM', 'acrossM'] as const) if (!Number.isNaN(want[k])) assert.ok(Math.abs(d[k] - want[k]) < 1e-9, `${name}: ${k} ${d[k]}`)
  }
  // Standing still: no direction of travel, so neither behind nor across counts.
  const still = inner.map(p => ({ ...p, x: 3 }))
  const d = errorDirection(
    still,
    still,
    still.map(p => ({ x: p.x - 1, y: p.y })),
    centre
  )
  assert.equal(d.movingShare, 0)
  assert.equal(d.behindM, 0)
})

test('path loss fitted on readings that follow the model exactly gives the model back', () => {
  const cases: Array<[number, number]> = [
    [-59, 2.2],
    [-45, 1.5],
    [-70, 3]
  ]
  for (const [a, n] of cases) {
    const d = [0.5, 1, 2, 4, 8]
    const fit = fitPathLoss(
      d,
      d.map(v => a - 10 * n * Math.log10(v))
    )
    assert.ok(Math.abs(fit.a - a) < 1e-9 && Math.abs(fit.n - n) < 1e-9 && fit.sdDb < 1e-9, JSON.stringify(fit))
  }
})

/** A 9 x 7 m flat with six receivers, and a tag walking its length at 0.5 m/s, heard three times a second. */
function lateReadings(delayMs: number): { site: Site; lines: TraceLine[] } {
  const site = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, outsideHeard: false },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'flat' }, geometry: rect(0, 0, 9, 7) },
      ...[
        [5.5, 2.4],
        [0.8, 6.8],
        [3, 0.1],
        [3.8, 7],
        [6, 0.4],
        [8.7, 6.6]
      ].map(([x, y], i) => ({
        type: 'Feature' as const,
        properties: { kind: 'sensor' as const, id: `a${i + 1}`, z: 2.3 },
        geometry: { type: 'Point' as const, coordinates: [x, y] }
      }))
    ]
  })
  const models = sensorModels(site)
  // Back and forth along y = 3.5 between x = 1 and x = 8 (14 s a leg).
  const at = (ms: number) => {
    const leg = (Math.max(0, ms) / 1000) * 0.5
    const u = leg % 14
    return { x: 1 + (u <= 7 ? u : 14 - u), y: 3.5 }
  }
  const lines: TraceLine[] = []
  for (let ts = 0; ts <= 60_000; ts += 333) {
    if (ts % 999 === 0) for (const id of models.keys()) lines.push({ ts, store: 's', sensor: id, heartbeat: true })
    const p = at(ts - delayMs)
    for (const m of models.values()) lines.push({ ts, store: 's', sensor: m.id, t: 'ble', id: 'tag:t', rssi: expectedRssi(m, Math.hypot(p.x - m.x, p.y - m.y, 1.3 - m.z)) })
    lines.push({ ts, truth: { subject: 'tag:t', ...at(ts), floor: 0 } })
  }
  return { site, lines }
}

test("the readings' own lag: the naive baseline on readings 0 or 2 s late matches the truth that much earlier (within its 1 s window)", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'instore-lag-'))
  for (const delayMs of [0, 2000]) {
    const { site, lines } = lateReadings(delayMs)
    const trace = join(dir, `late-${delayMs}.jsonl`)
    await writeTrace(trace, lines)
    const lag = await baselineLag(site, trace, LAG_SHIFTS)
    assert.ok(lag.shiftMs <= -delayMs && lag.shiftMs >= -delayMs - 1000, `${delayMs} ms late: best ${lag.shiftMs} ms`)
  }
})

test('a route given on the command line is tracker options over the defaults: grid and window merged into theirs', () => {
  const { site } = lateReadings(0)
  const base = trackerOptions(site)
  const cases: Array<[string, Route, (o: Partial<TrackerOptions>) => boolean]> = [
    ['nothing', {}, o => Object.keys(o).length === 0],
    ['a plain option', { reportLagMs: 5000 }, o => o.reportLagMs === 5000 && o.grid === undefined],
    ['one grid option', { grid: { driftM: 0.4 } }, o => o.grid?.driftM === 0.4 && o.grid.walkMps === base.grid.walkMps && o.grid.maxCells === base.grid.maxCells],
    [
      'one window option',
      { window: { floorSigmaDb: 1.5 } },
      o => o.window?.floorSigmaDb === 1.5 && o.window.tauMs === base.window.tauMs && o.window.rawSigmaDb === base.window.rawSigmaDb
    ]
  ]
  for (const [name, route, ok] of cases) assert.ok(ok(routeOptions(site, route)), `${name}: ${JSON.stringify(routeOptions(site, route))}`)
})

test('the command line: every option set given is a route (the first was dropped without --data), --data and --after-walk are not', () => {
  const cases: Array<[string[], { data: string; afterWalk: boolean; given: string[] }]> = [
    [['{"a":1}'], { data: '../shared/data/kolakowski-ble-flat', afterWalk: false, given: ['{"a":1}'] }],
    [['{"a":1}', '{"b":2}'], { data: '../shared/data/kolakowski-ble-flat', afterWalk: false, given: ['{"a":1}', '{"b":2}'] }],
    [['--data', 'D', '{"a":1}'], { data: 'D', afterWalk: false, given: ['{"a":1}'] }],
    [['--after-walk', '{"a":1}', '--data', 'D'], { data: 'D', afterWalk: true, given: ['{"a":1}'] }]
  ]
  for (const [args, want] of cases) assert.deepEqual(routeArgs(args), want, args.join(' '))
})

test('the walk heard before a track: its readings without their truth, sessions closed up, ending a minute before the track', () => {
  const walk: TraceLine[] = [
    { ts: 0, store: 's', sensor: 'a1', t: 'ble', id: 'tag:t', rssi: -60 },
    { ts: 0, truth: { subject: 'tag:t', x: 1, y: 1, floor: 0 } },
    { ts: 1000, store: 's', sensor: 'a1', heartbeat: true },
    { ts: 3_601_000, store: 's', sensor: 'a1', t: 'ble', id: 'tag:t', rssi: -61 }
  ]
  const before = walkBefore(walk, 10_000_000)
  assert.equal(before.length, 3)
  assert.ok(before.every(l => !('truth' in l)))
  assert.deepEqual(
    before.map(l => l.ts),
    [10_000_000 - 60_000 - 6000, 10_000_000 - 60_000 - 5000, 10_000_000 - 60_000]
  )
})
