import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { WalkHistory, WALK_SAMPLE_MS, WALK_HISTORY_MS, streetWalkGaps, packListening, walkTest } from '../../gateway/estimation/street-walk.ts'
import type { Observation } from '../../gateway/estimation/solver.ts'
import { Tracker, trackerOptions, type Estimate } from '../../gateway/estimation/tracker.ts'
import { departmentFront } from '../helpers/geo.ts'

// A department-store front: rows of sensors 3, 10 and 17 m in, 11 m apart; the street 4 m out.
const site = parseSite(departmentFront())
const models = sensorModels(site)
const list = [...models.values()]
const index = new Map(list.map((m, i) => [m.id, i]))
const shop = site.shops[0]
const o = { tagHeight: 1.2, huberK: 2, bounds: [-10, -10, 40, 30] as [number, number, number, number] }
const prior = { mean: 0, sd: 4 }

/**
 * Half a minute of fixes along `path` (position at time s) from a phone `offsetDb` loud, each
 * window mean `noiseDb` off at random; the fixes themselves sit at `placed` (where a tracker put them).
 */
function history(path: (s: number) => [number, number], offsetDb: number, noiseDb: number, placed = path): WalkHistory {
  const h = new WalkHistory()
  const rng = new Rng(7)
  for (let t = 0; t <= WALK_HISTORY_MS; t += 1000) {
    const [x, y] = path(t / 1000)
    const obs: Observation[] = list.map(m => ({
      sensor: m,
      rssi: expectedRssi(m, Math.hypot(x - m.x, y - m.y, o.tagHeight - m.z)) + offsetDb + rng.normal(0, noiseDb),
      sigma: 2,
      floorDbm: -Infinity,
      rawSigmaDb: 6
    }))
    const [px, py] = placed(t / 1000)
    h.add(t, px, py, obs, [], index)
  }
  return h
}

test('street walk: a fix is kept every two seconds, for half a minute', () => {
  const h = history(s => [s, -4], 0, 0)
  assert.equal(h.fixes.length, WALK_HISTORY_MS / WALK_SAMPLE_MS + 1)
  assert.ok(h.fixes[h.fixes.length - 1].t - h.fixes[0].t <= WALK_HISTORY_MS)
})

test('street walk: a passer-by on the street is explained by a walk outside, even where its fixes were put inside', () => {
  // Placed at the mirror place across the front row, as a tracker may put a loud phone.
  const gaps = streetWalkGaps(
    history(
      s => [2 + 0.9 * s, -4],
      6,
      1.5,
      s => [2 + 0.9 * s, 9]
    ).fixes,
    list,
    shop,
    o,
    prior
  )
  assert.ok(gaps.line < 3 && gaps.stop < 3, `gaps ${JSON.stringify(gaps)}`)
})

test('street walk: a shopper inside, walking or standing by the front, is not', () => {
  const walking = streetWalkGaps(history(s => [3 + 0.8 * s, 8], 0, 1.5).fixes, list, shop, o, prior)
  assert.ok(walking.line > 50, `walking: gaps ${JSON.stringify(walking)}`)
  const byTheFront = streetWalkGaps(history(() => [15, 1.5], 0, 1.5).fixes, list, shop, o, prior)
  assert.ok(byTheFront.line > 10, `by the front: gaps ${JSON.stringify(byTheFront)}`)
})

test('street walk: a shopper who walked in from the street and stopped fits a walk that stops far better than a straight one', () => {
  const gaps = streetWalkGaps(history(s => (s < 10 ? [10, -4 + 0.9 * s] : [10, 5]), 0, 1.5).fixes, list, shop, o, prior)
  assert.ok(gaps.stop - gaps.line > 15, `gaps ${JSON.stringify(gaps)}`)
})

test('street walk: too few fixes, or a receiver the models no longer have, tell nothing', () => {
  const h = history(s => [s, -4], 0, 0)
  assert.deepEqual(streetWalkGaps(h.fixes.slice(0, 2), list, shop, o, prior), { line: Infinity, stop: Infinity })
  assert.deepEqual(streetWalkGaps(h.fixes, list.slice(0, 3), shop, o, prior), { line: Infinity, stop: Infinity })
})

// The presence stage gets a tracker's evidence as plain data (no closures into the tracker's state,
// issue 30) and asks the tracker about it later, by what the data says.
test('street walk: an estimate is plain data, and the tracker answers the street-walk and entry tests from it', () => {
  const tracker = new Tracker(site, models, trackerOptions(site))
  const rng = new Rng(3)
  let e: Estimate | null = null
  for (let t = 0; t <= 20_000; t += 1000) {
    const [x, y] = [5 + (0.5 * t) / 1000, 8]
    for (const m of list) tracker.addReading('phone', m.id, t, expectedRssi(m, Math.hypot(x - m.x, y - m.y, o.tagHeight - m.z)) + rng.normal(0, 2))
    e = tracker.estimate('phone', t) ?? e
  }
  assert.ok(e !== null)
  const copy = structuredClone(e)
  assert.ok(e.walk.length >= 3, 'the walk so far comes with the estimate')
  assert.deepEqual(walkTest(tracker.walkModel, copy.walk, shop, Infinity), walkTest(tracker.walkModel, e.walk, shop, Infinity))
  assert.deepEqual(
    tracker.zoneCosts({ obs: copy.obs, silent: copy.silent, x: copy.fix.x, y: copy.fix.y }, shop, 0),
    tracker.zoneCosts({ obs: e.obs, silent: e.silent, x: e.fix.x, y: e.fix.y }, shop, 0)
  )
  // The walk is the one kept as of this estimate: later fixes (a minute of them, past the history
  // kept and past a new buffer) change neither its length nor what its test finds.
  // (A deep copy taken now is tested beside it afterwards, with the models as they are then.)
  const kept = e.walk.length
  const asThen = structuredClone(e.walk)
  for (let t = 21_000; t <= 80_000; t += 1000) {
    for (const m of list) tracker.addReading('phone', m.id, t, -70 + rng.normal(0, 2))
    tracker.estimate('phone', t)
  }
  assert.equal(e.walk.length, kept)
  assert.deepEqual(walkTest(tracker.walkModel, e.walk, shop, Infinity), walkTest(tracker.walkModel, asThen, shop, Infinity))
})

test("street walk: silent sensors kept as a mask over the tick's listening sensors give the very walks kept one by one", () => {
  // Sensors at the back row are listening and did not hear the phone; one of them heard it.
  const listening = list.filter(m => m.y === 17).map(m => ({ sensor: m, floorDbm: -93.7 }))
  const silent = listening.filter(q => q.sensor.x !== 15)
  const packed = packListening(listening, index)
  const rng = new Rng(3)
  const plain = new WalkHistory()
  const masked = new WalkHistory()
  for (let t = 0; t <= WALK_HISTORY_MS; t += 1000) {
    const x = 2 + (0.9 * t) / 1000
    const y = -4
    const obs: Observation[] = list
      .filter(m => m.y < 17 || m.x === 15)
      .map(m => ({
        sensor: m,
        rssi: expectedRssi(m, Math.hypot(x - m.x, y - m.y, o.tagHeight - m.z)) + rng.normal(0, 1.5),
        sigma: 2,
        floorDbm: -Infinity,
        rawSigmaDb: 6
      }))
    plain.add(t, x, y, obs, silent, index)
    masked.add(t, x, y, obs, silent, index, packed)
  }
  assert.ok(masked.fixes.every(f => f.listening === packed) && plain.fixes.every(f => f.listening === null))
  assert.ok(masked.bytes <= plain.bytes)
  assert.deepEqual(streetWalkGaps(masked.fixes, list, shop, o, prior), streetWalkGaps(plain.fixes, list, shop, o, prior))
  // Silent sensors that are not among the listening ones, in their order: kept one by one.
  const other = new WalkHistory()
  other.add(0, 0, 0, [], [...silent].reverse(), index, packed)
  assert.equal(other.fixes[0].listening, null)
})
