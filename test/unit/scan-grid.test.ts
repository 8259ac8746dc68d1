// Phone-scan positions from a grid posterior per phone (scan-grid.ts): what a scan heard, what it
// did not, and what the grid learns from the traffic alone.
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite, type Site } from '../../shared/site.ts'
import { ScanGrid } from '../../gateway/estimation/scan-grid.ts'
import { beaconModels, expectedRssi, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import { rect } from '../helpers/geo.ts'

/** A 30 x 30 m floor with beacons at the given places (ids a, b, c, ...), site radio defaults. */
function floor(beacons: Array<[number, number]>): Site {
  return parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, tagHeightM: 1.2 },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'floor' }, geometry: rect(0, 0, 30, 30) },
      ...beacons.map(([x, y], i) => ({
        type: 'Feature' as const,
        properties: { kind: 'beacon' as const, id: String.fromCharCode(97 + i), z: 2.5 },
        geometry: { type: 'Point' as const, coordinates: [x, y] as [number, number] }
      }))
    ]
  })
}

/** What a phone at (x, y) reads from beacon m by the site's own model (1.2 m high), dBm. */
const reading = (m: SensorModel, x: number, y: number) => Math.round(expectedRssi(m, Math.hypot(m.x - x, m.y - y, m.z - 1.2)))

/** The same scan `n` times a second apart (a phone standing), then its fix. */
function stand(site: Site, heard: (models: Map<string, SensorModel>) => Array<[string, number]>, n: number, grid = new ScanGrid(site)) {
  const models = beaconModels(site)
  for (let i = 0; i < n; i++) for (const [id, rssi] of heard(models)) grid.add('p', id, 1000 * (i + 1), rssi, models)
  return { fix: grid.fix('p', 1000 * (n + 1), models), grid }
}

test('a scan places the phone by the beacons it heard and by those it did not', () => {
  const at = (models: Map<string, SensorModel>, ids: string[], x: number, y: number): Array<[string, number]> => ids.map(id => [id, reading(models.get(id) as SensorModel, x, y)])
  const cases: Array<{
    name: string
    beacons: Array<[number, number]>
    heard: (m: Map<string, SensorModel>) => Array<[string, number]>
    check: (x: number, y: number) => boolean
  }> = [
    {
      name: 'one beacon heard loud: beside it',
      beacons: [
        [5, 5],
        [25, 5],
        [5, 25],
        [25, 25]
      ],
      heard: m => at(m, ['a'], 5, 6),
      check: (x, y) => Math.hypot(x - 5, y - 5) < 4
    },
    // Two beacons alike, 12 m each: two places either side of the line between them, averaged on it.
    {
      name: 'two heard alike, nothing else on the floor: on the line between them',
      beacons: [
        [5, 15],
        [25, 15]
      ],
      heard: m => at(m, ['a', 'b'], 15, 8.4),
      check: (x, y) => Math.abs(x - 15) < 1.5 && Math.abs(y - 15) < 2
    },
    // The same with a third beacon near one of the two places, never heard: the phone is at the other.
    {
      name: 'two heard alike, a third near one answer not heard: the other answer',
      beacons: [
        [5, 15],
        [25, 15],
        [15, 28]
      ],
      heard: m => at(m, ['a', 'b'], 15, 8.4),
      check: (x, y) => Math.abs(x - 15) < 1.5 && y < 12
    }
  ]
  for (const c of cases) {
    const { fix } = stand(floor(c.beacons), c.heard, 30)
    assert.ok(fix !== null && c.check(fix.x, fix.y), `${c.name}: ${JSON.stringify(fix)}`)
    assert.equal(fix?.method, 'grid')
  }
})

test('the grid learns from the traffic: the reporting floor, how often a scan reports a beacon it could hear, how often phones move', () => {
  const site = floor([
    [5, 5],
    [25, 5],
    [5, 25],
    [25, 25]
  ])
  const models = beaconModels(site)
  const ids = ['a', 'b', 'c', 'd']
  // A phone in a far corner hears the far beacon faintly (the floor), then one in the middle
  // whose scans each report one beacon of four (scans are short).
  const sparse = new ScanGrid(site)
  for (let i = 0; i < 30; i++) for (const id of ['a', 'd']) sparse.add('far', id, 1000 * (i + 1), reading(models.get(id) as SensorModel, 29, 29), models)
  for (let i = 0; i < 200; i++) {
    const id = ids[i % 4]
    sparse.add('p', id, 1000 * (i + 1), reading(models.get(id) as SensorModel, 15, 15), models)
  }
  sparse.fix('p', 201_000, models)
  assert.ok(sparse.detect < 0.4, `detection chance ${sparse.detect}`)
  // The weak end of the readings heard, not the contract's -127, once enough readings came.
  assert.equal(sparse.floor, reading(models.get('a') as SensorModel, 29, 29))
  // A phone that scans 5 s then goes quiet for 25 s (the app in the background): one that stays
  // put teaches a slower move rate than the starting guess, one that crosses the floor each time a faster one.
  const rates = [false, true].map(crossing => {
    const g = new ScanGrid(site)
    for (let cycle = 0; cycle < 100; cycle++) {
      const [x, y] = crossing && cycle % 2 === 1 ? [24, 24] : [6, 6]
      for (let i = 0; i < 5; i++) for (const id of ids) g.add('p', id, 30_000 * cycle + 1000 * (i + 1), reading(models.get(id) as SensorModel, x, y), models)
    }
    g.fix('p', 3_001_000, models)
    return g.moveRate
  })
  assert.ok(rates[0] < 0.015 && rates[1] > 0.025, JSON.stringify(rates))
})

test("phones' grids are dropped: quiet past phoneTtlMs, the least recently heard past maxPhones, and at once when forgotten", () => {
  const site = floor([
    [5, 5],
    [25, 25]
  ])
  const models = beaconModels(site)
  const grid = new ScanGrid(site, { ...new ScanGrid(site).o, phoneTtlMs: 60_000, maxPhones: 2 })
  grid.add('p1', 'a', 1000, -70, models)
  grid.add('p2', 'a', 2000, -70, models)
  grid.add('p3', 'a', 3000, -70, models)
  assert.equal(grid.size, 2)
  assert.equal(grid.fix('p1', 4000, models), null)
  grid.forget('p2')
  assert.equal(grid.fix('p2', 4000, models), null)
  grid.add('p4', 'a', 50_000, -70, models)
  grid.expire(64_000)
  assert.equal(grid.fix('p3', 64_000, models), null)
  assert.ok(grid.fix('p4', 64_000, models) !== null)
})
