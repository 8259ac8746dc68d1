import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MotionFilter } from '../../gateway/estimation/kalman.ts'
import { Tracker, trackerOptions } from '../../gateway/estimation/tracker.ts'
import { likeliestSector } from '../../gateway/estimation/placement.ts'
import { sensorModels } from '../../gateway/estimation/radio-model.ts'
import { parseSite, locate } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { rect } from '../helpers/geo.ts'

test('a standing device: the filter averages noisy fixes well below their own spread', () => {
  const r = new Rng(3)
  let err = 0
  let n = 0
  for (let trial = 0; trial < 50; trial++) {
    const f = new MotionFilter()
    for (let k = 0; k < 30; k++) {
      f.update(k * 1000, 5 + r.normal(0, 1.5), 5 + r.normal(0, 1.5), 2.25, 2.25, 0)
      if (k >= 20) {
        err += Math.hypot(f.x - 5, f.y - 5)
        n++
      }
    }
  }
  // One fix alone errs ~1.9 m on average (Rayleigh, σ = 1.5 m).
  assert.ok(err / n < 0.9, `mean error ${(err / n).toFixed(2)}`)
})

test('a walking device is followed, not left behind', () => {
  const f = new MotionFilter()
  for (let k = 0; k <= 20; k++) f.update(k * 1000, k * 1.0, 0, 0.25, 0.25, 0)
  assert.ok(Math.abs(f.x - 20) < 1.5, `x ${f.x}`)
  assert.ok(f.movingProbability > 0.5)
})

test('gating: a single wild fix is rejected; a sustained jump re-initialises the track', () => {
  const f = new MotionFilter()
  for (let k = 0; k < 10; k++) f.update(k * 1000, 0, 0, 0.25, 0.25, 0)
  assert.equal(f.update(10_000, 40, 0, 0.25, 0.25, 0), false)
  assert.ok(Math.abs(f.x) < 0.5)
  f.update(11_000, 40, 0, 0.25, 0.25, 0)
  f.update(12_000, 40, 0, 0.25, 0.25, 0)
  assert.ok(Math.abs(f.x - 40) < 0.5, 'after three rejections in a row the filter follows the evidence')
})

test('tracker state expires when a device goes quiet, and is bounded in size', () => {
  const site = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      {
        type: 'Feature',
        properties: { kind: 'shop', id: 'm' },
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [10, 0],
              [10, 10],
              [0, 10],
              [0, 0]
            ]
          ]
        }
      },
      { type: 'Feature', properties: { kind: 'sensor', id: 'a' }, geometry: { type: 'Point', coordinates: [0, 0] } }
    ]
  })
  const t = new Tracker(site, sensorModels(site), trackerOptions(site, { ttlMs: 30_000, maxDevices: 100 }))
  t.addReading('x', 'a', 0, -60)
  t.addReading('y', 'a', 20_000, -60)
  assert.deepEqual(t.expire(35_000), ['x'])
  assert.equal(t.size, 1)
  for (let i = 0; i < 500; i++) t.addReading('rot:' + i, 'a', 40_000 + i, -70)
  assert.equal(t.size, 100, 'rotating addresses never grow the state past maxDevices')
  const gone = t.expire(40_600)
  assert.equal(gone.length, 401, 'subjects evicted by the cap are reported like expired ones, so callers forget them too')
  assert.deepEqual(gone.slice(0, 2), ['y', 'rot:0'])
  assert.deepEqual(t.expire(40_700), [], 'each eviction is reported once')
})

test("multi-floor site: each fix picks the floor the device sounds nearest on, positions it with that floor's sensors, and follows it to another floor", () => {
  const corners = [
    [1, 1],
    [19, 1],
    [19, 11],
    [1, 11],
    [10, 6]
  ]
  const site = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    radio: { pathLossExponent: 2, rssiAt1m: -59 },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'ground' }, geometry: rect(0, 0, 20, 12) },
      { type: 'Feature', properties: { kind: 'shop', id: 'upper', floor: 1 }, geometry: rect(0, 0, 20, 12) },
      ...[0, 1].flatMap(floor =>
        corners.map(([x, y], i) => ({
          type: 'Feature' as const,
          properties: { kind: 'sensor' as const, id: `f${floor}s${i}`, floor, z: 2.5 },
          geometry: { type: 'Point' as const, coordinates: [x, y] as [number, number] }
        }))
      )
    ]
  })
  const t = new Tracker(site, sensorModels(site), trackerOptions(site))
  const rng = new Rng(7)
  // Its own floor's sensors by path loss; the other floor's through a 15 dB slab.
  const hear = (ts: number, x: number, y: number, floor: number) => {
    for (const s of site.sensors.values()) {
      const d = Math.hypot(x - s.x, y - s.y, 1.2 - s.z)
      t.addReading('p', s.id, ts, Math.round(-59 - 20 * Math.log10(d) - (s.floor === floor ? 0 : 15) + rng.normal(0, 2)))
    }
  }
  let last = null as ReturnType<Tracker['estimate']>
  for (let ts = 0; ts < 20_000; ts += 250) {
    hear(ts, 15, 4, 1)
    if (ts % 1000 === 0) last = t.estimate('p', ts)
  }
  assert.ok(last !== null && last.floor === 1, `floor ${last?.floor}`)
  assert.ok(Math.hypot(last.x - 15, last.y - 4) < 1.5, `at ${last.x}, ${last.y}`)
  // Down the stairs: the ground floor takes over, and the position follows on it.
  for (let ts = 20_000; ts < 40_000; ts += 250) {
    hear(ts, 5, 8, 0)
    if (ts % 1000 === 0) last = t.estimate('p', ts)
  }
  assert.ok(last !== null && last.floor === 0, `floor ${last?.floor}`)
  assert.ok(Math.hypot(last.x - 5, last.y - 8) < 1.5, `at ${last.x}, ${last.y}`)
})

test('a working sensor that does not hear a device moves it away; one that stopped reporting does not count', () => {
  const sensor = (id: string, x: number, y: number) => ({
    type: 'Feature' as const,
    properties: { kind: 'sensor' as const, id, z: 2.5 },
    geometry: { type: 'Point' as const, coordinates: [x, y] as [number, number] }
  })
  const site = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      {
        type: 'Feature',
        properties: { kind: 'shop', id: 'm' },
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [-5, -10],
              [25, -10],
              [25, 20],
              [-5, 20],
              [-5, -10]
            ]
          ]
        }
      },
      // Three sensors on a line hear (8, 1) and its mirror (8, 9) alike; q lies above the line.
      sensor('a', 0, 5),
      sensor('b', 10, 5),
      sensor('c', 20, 5),
      sensor('q', 8, 14)
    ]
  })
  const models = sensorModels(site)
  const rssi = (s: string, x: number, y: number) => {
    const m = models.get(s)!
    return Math.round(m.a - 10 * m.n * Math.log10(Math.hypot(x - m.x, y - m.y, 1.2 - m.z)))
  }
  const place = (qWorking: boolean) => {
    const t = new Tracker(site, models, trackerOptions(site))
    // q's reporting floor: a pile of readings at -95 dBm from the other devices it hears.
    for (let i = 0; i < 400; i++) t.addReading('other' + (i % 20), 'q', i, i % 4 === 0 ? -95 : -80)
    if (qWorking) t.addReading('near-q', 'q', 9_500, -60)
    for (let k = 0; k < 8; k++) for (const s of ['a', 'b', 'c']) t.addReading('x', s, 8_000 + k * 250, rssi(s, 8, 1))
    return t.estimate('x', 10_000)
  }
  const working = place(true)
  assert.ok(working && Math.hypot(working.x - 8, working.y - 1) < 0.5, `got (${working?.x}, ${working?.y})`)
  // The same readings without q working: the mirror image is as likely, and silence says nothing.
  const offline = place(false)
  assert.ok(offline && Math.hypot(offline.x - 8, Math.abs(offline.y - 5) - 4) < 0.5, `got (${offline?.x}, ${offline?.y})`)
})

test('a position in the aisle moves into the sector beside it when that is likelier, given its accuracy', () => {
  const site = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'm' }, geometry: rect(0, 0, 30, 12) },
      // A 1 m aisle between a and b; c stands 8 m past b.
      { type: 'Feature', properties: { kind: 'sector', id: 'a', shop: 'm' }, geometry: rect(1, 1, 9.5, 11) },
      { type: 'Feature', properties: { kind: 'sector', id: 'b', shop: 'm' }, geometry: rect(10.5, 1, 19, 11) },
      { type: 'Feature', properties: { kind: 'sector', id: 'c', shop: 'm' }, geometry: rect(27, 1, 29, 11) },
      { type: 'Feature', properties: { kind: 'sensor', id: 'r' }, geometry: { type: 'Point', coordinates: [15, 6] } }
    ]
  })
  // 0.3 m from a, 0.7 m from b, 2 m accuracy: most of the spread lies in a.
  const moved = likeliestSector(site, 9.8, 6, 2, 0)
  assert.equal(moved.sector, 'a')
  assert.equal(locate(site, Math.round(moved.x * 100) / 100, Math.round(moved.y * 100) / 100).sector, 'a', 'published centimetres stay inside')
  assert.ok(Math.hypot(moved.x - 9.5, moved.y - 6) < 0.05, `moved to ${moved.x}, ${moved.y}`)
  // Within half a centimetre of a sector's edge: published in centimetres it would lie on the edge, so it is in the sector.
  assert.equal(likeliestSector(site, 9.503, 6, 0.2, 0).sector, 'a')
  // A precise position in the aisle is believed.
  assert.deepEqual(likeliestSector(site, 9.8, 6, 0.2, 0), { x: 9.8, y: 6, shop: 'm', sector: null })
  // In the middle of the wide aisle between b and c, the aisle stays likeliest.
  assert.deepEqual(likeliestSector(site, 23, 6, 2, 0), { x: 23, y: 6, shop: 'm', sector: null })
  // Inside a sector, or outside every shop, nothing moves.
  assert.deepEqual(likeliestSector(site, 5, 5, 3, 0), { x: 5, y: 5, shop: 'm', sector: 'a' })
  assert.deepEqual(likeliestSector(site, 15, -2, 3, 0), { x: 15, y: -2, shop: null, sector: null })
})
