// Radio maps learned online from traffic (grid filter option `learnMaps`, grid-filter-maps.ts): a
// map is centred, shrunk, capped and fades; a step teaches only where the posterior without the
// receiver is tight; a receiver that reads hot in one half of a flat learns it there, and a
// receiver that departs from its model nowhere learns no map (the filter's belief does not
// become a map).
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite, type Site } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { OnlineMaps, teachOne, type OnlineMapOptions } from '../../gateway/estimation/grid-filter-maps.ts'
import { GridFilters, defaultGridFilterOptions } from '../../gateway/estimation/grid-filter.ts'
import { Problem } from '../../gateway/estimation/likelihood.ts'
import { sensorModels, expectedRssi, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import type { SolverOptions } from '../../gateway/estimation/solver-types.ts'
import { rect } from '../helpers/geo.ts'

const RECEIVERS: Array<[string, number, number]> = [
  ['a1', 5.5, 2.4],
  ['a2', 0.8, 6.8],
  ['a3', 3, 0.1],
  ['a4', 3.8, 7],
  ['a5', 6, 0.4],
  ['a6', 8.7, 6.6]
]

function flat(): Site {
  return parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, outsideHeard: false },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'flat' }, geometry: rect(0, 0, 9, 7) },
      ...RECEIVERS.map(([id, x, y]) => ({
        type: 'Feature' as const,
        properties: { kind: 'sensor' as const, id, z: 2.3 },
        geometry: { type: 'Point' as const, coordinates: [x, y] }
      }))
    ]
  })
}

const O: OnlineMapOptions = { mapCellM: 1, mapPrior: 4, mapMaxDb: 6, mapTightM: 0.6, mapMemory: 1e9 }
const BOX: [number, number, number, number] = [0, 0, 4, 4]

/** One teaching step at a single point (x, y) with residual r. */
function at(maps: OnlineMaps, sensor: string, x: number, y: number, r: number): void {
  maps.learn(sensor, Float64Array.of(x), Float64Array.of(y), Float64Array.of(1), Float64Array.of(r))
}

test('a learned map: nothing before evidence, centred on the receiver mean, shrunk by the prior count, capped, fading', () => {
  const cases: Array<[name: string, o: OnlineMapOptions, teach: (m: OnlineMaps) => void, check: (m: OnlineMaps) => string | null]> = [
    ['no evidence', O, () => {}, m => (m.map('a1') === undefined && m.values('a1').every(v => v === 0) ? null : 'a map without evidence')],
    [
      'hot at one node, as read elsewhere: centred',
      O,
      m => {
        for (let i = 0; i < 200; i++) {
          at(m, 'a1', 0, 0, 8)
          at(m, 'a1', 4, 4, 2)
        }
      },
      m => {
        const here = m.map('a1')?.at(0, 0) ?? NaN
        const there = m.map('a1')?.at(4, 4) ?? NaN
        return Math.abs(here - 3) < 0.2 && Math.abs(there + 3) < 0.2 ? null : `corners ${here}, ${there} (want +3, -3)`
      }
    ],
    [
      'one step is shrunk to little',
      O,
      m => {
        at(m, 'a1', 0, 0, 8)
        at(m, 'a1', 4, 4, 2)
      },
      m => (Math.abs(m.map('a1')?.at(0, 0) ?? NaN) < 1 ? null : `one step gave ${m.map('a1')?.at(0, 0)} dB`)
    ],
    [
      'capped',
      O,
      m => {
        for (let i = 0; i < 200; i++) {
          at(m, 'a1', 0, 0, 40)
          at(m, 'a1', 4, 4, -40)
        }
      },
      m => (m.values('a1').every(v => Math.abs(v) <= O.mapMaxDb) ? null : `values ${m.values('a1')}`)
    ],
    [
      'old evidence fades',
      { ...O, mapMemory: 50 },
      m => {
        for (let i = 0; i < 200; i++) {
          at(m, 'a1', 0, 0, 6)
          at(m, 'a1', 4, 4, 0)
        }
        for (let i = 0; i < 400; i++) {
          at(m, 'a1', 0, 0, -6)
          at(m, 'a1', 4, 4, 0)
        }
      },
      m => ((m.map('a1')?.at(0, 0) ?? NaN) < -2 ? null : `after the change ${m.map('a1')?.at(0, 0)} dB`)
    ]
  ]
  for (const [name, o, teach, check] of cases) {
    const m = new OnlineMaps(BOX, o)
    teach(m)
    assert.equal(check(m), null, name)
  }
})

test('a step teaches only where the posterior without the receiver is tight', () => {
  const site = flat()
  const models = sensorModels(site)
  const a1 = models.get('a1') as SensorModel
  const others = [...models.values()].filter(s => s.id !== 'a1').map(sensor => ({ sensor, rssi: expectedRssi(sensor, 3), sigma: 3 }))
  const options: SolverOptions = { tagHeight: 1.3, bounds: [0, 0, 9, 7], huberK: 2, offsetPrior: { mean: 0, sd: 4 } }
  const grid = { xs: Float64Array.of(1, 2, 8, 2.1), ys: Float64Array.of(1, 2, 6, 2.1), size: 4 }
  // [name, weights per cell (one layer, the other empty), taught]
  const cases: Array<[string, number[], boolean]> = [
    ['spread over the room', [0.25, 0.25, 0.25, 0.25], false],
    ['on one cell', [0, 1, 0, 0], true],
    ['on two cells 0.14 m apart', [0, 0.5, 0, 0.5], true]
  ]
  for (const [name, p, taught] of cases) {
    const maps = new OnlineMaps([0, 0, 9, 7], O)
    const w = Float32Array.from([...p, 0, 0, 0, 0])
    teachOne(maps, grid, w, { sensor: a1, rssi: -60, sigma: 3 }, new Problem(others, options), O)
    assert.equal((maps.taught.get('a1') ?? 0) > 0, taught, name)
  }
})

/**
 * A tag walked back and forth across the flat for `seconds`, each receiver's reading every second
 * (2 dB of noise), a1 reading `hotDb` more wherever x < 4.5: the learned maps.
 */
function walk(hotDb: number, seconds: number, learnMaps = true): OnlineMaps | null {
  const site = flat()
  const models = sensorModels(site)
  const grids = GridFilters.create(site, [0, 0, 9, 7], { ...defaultGridFilterOptions, cellM: 0.5, learnMaps, mapCellM: 2, mapTightM: 1 }, 2000, 'grid') as GridFilters
  const options: SolverOptions = { tagHeight: 1.3, bounds: [0, 0, 9, 7], huberK: 2, offsetPrior: { mean: 0, sd: 4 } }
  const rng = new Rng(7)
  const device = {}
  for (let s = 0; s < seconds; s++) {
    // Back and forth along y = 3.5, 0.5 m/s, between x = 1 and x = 8.
    const u = (s * 0.5) % 14
    const x = 1 + (u <= 7 ? u : 14 - u)
    const y = 3.5
    const obs = [...models.values()].map(sensor => ({
      sensor,
      rssi: expectedRssi(sensor, Math.hypot(x - sensor.x, y - sensor.y, 1.3 - sensor.z)) + rng.normal(0, 2) + (sensor.id === 'a1' && x < 4.5 ? hotDb : 0),
      sigma: 2
    }))
    grids.step(device, 0, s * 1000, s * 1000, obs, options, [])
  }
  return grids.maps
}

test('a receiver reading hot in one half of the flat learns it there; the others learn far less', () => {
  const maps = walk(8, 400) as OnlineMaps
  const a1 = maps.map('a1')
  assert.ok(a1 !== undefined && (maps.taught.get('a1') ?? 0) > 50, `a1 taught ${maps.taught.get('a1')} times`)
  const step = (id: string) => (maps.map(id)?.at(2.5, 3.5) ?? 0) - (maps.map(id)?.at(6.5, 3.5) ?? 0)
  assert.ok(step('a1') > 2, `a1's map left minus right: ${step('a1').toFixed(2)} dB`)
  for (const [id] of RECEIVERS.slice(1)) assert.ok(Math.abs(step(id)) < step('a1'), `${id}: ${step(id).toFixed(2)} dB against a1's ${step('a1').toFixed(2)}`)
})

test("where every receiver follows its model, the learned maps stay small: the filter's belief is not learned as a map", () => {
  const maps = walk(0, 400) as OnlineMaps
  for (const [id] of RECEIVERS) {
    const worst = Math.max(...maps.values(id).map(Math.abs))
    assert.ok(worst < 1.5, `${id}: largest correction ${worst.toFixed(2)} dB`)
  }
})

test('without the option no map is learned', () => {
  assert.equal(walk(8, 20, false), null)
})
