// What a tracked device keeps is bounded by structure (issue 28: 5,000 devices within 250 MiB):
// its walk history by time and size, its windows and motion filter packed into one buffer each,
// and the device itself dropped once not heard within the tracker's TTL, however addresses churn.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { WalkHistory, WALK_HISTORY_MS, WALK_SAMPLE_MS, WALK_SENSORS, sensorTable, unpackFix, packListening } from '../../gateway/estimation/walk-history.ts'
import { RssiWindow, RssiWindows, defaultWindowOptions } from '../../gateway/estimation/rssi-window.ts'
import { MotionFilter } from '../../gateway/estimation/kalman.ts'
import type { Observation, Silence } from '../../gateway/estimation/solver.ts'
import { Tracker, trackerOptions } from '../../gateway/estimation/tracker.ts'
import { rect } from '../helpers/geo.ts'

// A 60 × 40 m shop with a sensor every 10 m: 24 sensors, more than a fix keeps.
const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 60, 40) },
    ...[5, 15, 25, 35].flatMap(y =>
      [5, 15, 25, 35, 45, 55].map(x => ({
        type: 'Feature' as const,
        properties: { kind: 'sensor' as const, id: `s${x}-${y}` },
        geometry: { type: 'Point' as const, coordinates: [x, y] }
      }))
    )
  ]
})
const models = sensorModels(site)
const list = [...models.values()]
const index = new Map(list.map((m, i) => [m.id, i]))

/** A fix's observations of every sensor at (x, y), with each sensor's floor and spread as the tracker gives them. */
function heard(rng: Rng, x: number, y: number, floorOf = (i: number) => -95 + (i % 3)): Observation[] {
  return list.map((m, i) => ({
    sensor: m,
    rssi: expectedRssi(m, Math.hypot(x - m.x, y - m.y, 1.2 - m.z)) + rng.normal(0, 4),
    sigma: 3 + rng.uniform(0, 1),
    ageMs: 500,
    floorDbm: floorOf(i),
    rawSigmaDb: 6
  }))
}

test('a walk history never holds more than half a minute of fixes, and its buffer stays within a bound however long the device stays', () => {
  const rng = new Rng(3)
  const h = new WalkHistory()
  const cap = WALK_HISTORY_MS / WALK_SAMPLE_MS + 1
  // The most numbers one fix packs: every kept sensor in full, every other sensor silent one by one.
  const perFix = 5 * WALK_SENSORS + 2 * list.length
  let most = 0
  for (let t = 0; t <= 20 * 60_000; t += 1000) {
    const obs = heard(rng, 30 + 20 * Math.sin(t / 60_000), 20)
    const silent: Silence[] = list.slice(0, t % 7).map(sensor => ({ sensor, floorDbm: -96 }))
    h.add(t, 30, 20, obs, silent, index, null, (t / 1000) % 2 === 0 ? sensorTable(list.length) : null)
    assert.ok(h.fixes.length <= cap, `${h.fixes.length} fixes kept at ${t} ms`)
    assert.ok(h.fixes[0].t >= t - WALK_HISTORY_MS - WALK_SAMPLE_MS, `a fix from ${h.fixes[0].t} kept at ${t}`)
    most = Math.max(most, h.bytes)
  }
  // A quarter as much again as the live fixes need (walk-history.ts `room`), in float32s.
  assert.ok(most <= 4 * Math.ceil(1.25 * (cap + 1) * perFix), `buffer grew to ${most} bytes`)
  h.clear()
  assert.equal(h.bytes, 0)
  assert.equal(h.fixes.length, 0)
})

test("fixes of one tick share the heard sensors' floors and spreads: fewer numbers a fix, the very same fix unpacked", () => {
  const rng = new Rng(5)
  const silentOf = (obs: Observation[]): Silence[] => list.filter((_, i) => i % 5 === 0 && obs.length > 0).map(sensor => ({ sensor, floorDbm: -97 }))
  const cases: Array<{ name: string; floors: (i: number) => number; tableAgrees: boolean }> = [
    { name: 'the same floors as the tick before', floors: i => -95 + (i % 3), tableAgrees: true },
    { name: 'a floor that moved since the first fix of the tick', floors: i => (i === 0 ? -80 : -95 + (i % 3)), tableAgrees: false }
  ]
  for (const c of cases) {
    const table = sensorTable(list.length)
    const listening = packListening(
      list.map(sensor => ({ sensor, floorDbm: -97 })),
      index
    )
    // The tick's first device fills the table.
    new WalkHistory().add(0, 1, 1, heard(rng, 10, 10), [], index, null, table)
    const obs = heard(rng, 20, 10, c.floors).slice(0, 12)
    const silent = silentOf(obs)
    const full = new WalkHistory()
    const shared = new WalkHistory()
    full.add(0, 20, 10, obs, silent, index, null, null)
    shared.add(0, 20, 10, obs, silent, index, null, table)
    assert.equal(shared.fixes[0].table !== null, c.tableAgrees, c.name)
    const used = (h: WalkHistory) => h.fixes[0].end - h.fixes[0].at
    if (c.tableAgrees) assert.equal(used(shared), used(full) - 2 * obs.length, c.name)
    else assert.equal(used(shared), used(full), c.name)
    const unpack = (h: WalkHistory) => {
      const o: Observation[] = []
      const s: Silence[] = []
      assert.ok(unpackFix(h.fixes[0], list, o, s))
      return { o, s }
    }
    assert.deepEqual(unpack(shared), unpack(full), c.name)
    // And with the silent sensors as a mask over the tick's listening ones.
    const masked = new WalkHistory()
    const listed = listening.list.filter(q => silent.some(s => s.sensor === q.sensor))
    masked.add(0, 20, 10, obs, listed, index, listening, table)
    assert.deepEqual(unpack(masked).o, unpack(full).o, c.name)
  }
})

test('RSSI windows packed per device: each sensor its own window, in the order first heard, as one window alone would give', () => {
  const rng = new Rng(9)
  const packed = new RssiWindows(defaultWindowOptions)
  const alone = new Map<number, RssiWindow>()
  const keys = [7, 2, 11, 0, 5]
  const order: number[] = []
  let t = 0
  for (let n = 0; n < 400; n++) {
    // Mostly in order, sometimes late, sometimes a gap past the window (a fresh start).
    t += rng.uniform(0, 1) < 0.02 ? 5000 : rng.uniform(0, 1) < 0.1 ? -300 : 120
    const key = keys[Math.floor(rng.uniform(0, keys.length))]
    if (!order.includes(key)) order.push(key)
    const rssi = Math.round(rng.normal(-70, 6))
    packed.add(key, t, rssi)
    let w = alone.get(key)
    if (w === undefined) alone.set(key, (w = new RssiWindow(defaultWindowOptions)))
    w.add(t, rssi)
    for (const k of keys) {
      const i = packed.indexOf(k)
      const one = alone.get(k)
      assert.equal(i < 0, one === undefined)
      if (one === undefined) continue
      assert.equal(packed.last(i), one.last)
      assert.deepEqual(packed.observation(i, t + 200, list[0]), one.observation(t + 200, list[0]))
    }
  }
  assert.deepEqual(
    Array.from({ length: packed.size }, (_, i) => packed.key(i)),
    order
  )
  assert.equal(packed.indexOf(99), -1)
})

test('a motion filter keeps its mode probabilities and both models in one buffer', () => {
  const f = new MotionFilter()
  assert.equal(f.mu.buffer.byteLength, (2 + 2 * 20) * 8)
  f.update(0, 3, 4, 1, 1, 0)
  f.update(1000, 3.5, 4, 1, 1, 0)
  assert.ok(Math.abs(f.mu[0] + f.mu[1] - 1) < 1e-12)
  assert.ok(Math.abs(f.x - 3.25) < 0.5 && Math.abs(f.y - 4) < 0.5)
})

test('under address churn the tracker holds only the devices heard within its TTL, each with a bounded walk history', () => {
  const o = trackerOptions(site)
  const tracker = new Tracker(site, models, o)
  const rng = new Rng(11)
  const devices = 40
  const rotateS = 10
  const t0 = 1_764_000_000_000
  let most = 0
  for (let s = 0; s < 300; s++) {
    for (let i = 0; i < devices; i++) {
      const subject = `tag:${i}-${Math.floor(s / rotateS)}`
      const x = 5 + ((i * 7) % 50)
      const y = 5 + ((i * 3) % 30)
      for (const ob of heard(rng, x, y).filter(ob => ob.rssi > -85)) tracker.addReading(subject, ob.sensor.id, t0 + s * 1000 + i, Math.round(ob.rssi))
    }
    const t = t0 + s * 1000 + 1000
    for (const subject of [...tracker.active(t)]) {
      const e = tracker.estimate(subject, t)
      if (e !== null) assert.ok(e.walk.length <= WALK_HISTORY_MS / WALK_SAMPLE_MS + 1)
    }
    tracker.expire(t)
    most = Math.max(most, tracker.size)
  }
  // The addresses of the last TTL and the one before it at most: each address lives rotateS.
  assert.ok(most <= devices * (o.ttlMs / 1000 / rotateS + 1), `${most} devices held`)
  assert.ok(most >= devices, `${most} devices held`)
})
