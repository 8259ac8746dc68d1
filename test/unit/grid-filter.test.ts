// The grid Bayes filter for fixed receivers (grid-filter.ts, grid-layout.ts): its cells stay bounded
// on any site, the site's walls are its prior, it is chosen where the floor fits, and a moving tag
// whose near receiver drops out while a far one fades up is not thrown across the room.
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite, type Site } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { GridLayout } from '../../gateway/estimation/grid-layout.ts'
import { GridFilters, defaultGridFilterOptions } from '../../gateway/estimation/grid-filter.ts'
import { Tracker, trackerOptions, type TrackerOptions } from '../../gateway/estimation/tracker.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { rect } from '../helpers/geo.ts'

/** Receivers of a 9 x 7 m flat, near the walls and at different heights, as in the Kolakowski flat. */
const RECEIVERS: Array<[string, number, number]> = [
  ['a1', 5.5, 2.4],
  ['a2', 0.8, 6.8],
  ['a3', 3, 0.1],
  ['a4', 3.8, 7],
  ['a5', 6, 0.4],
  ['a6', 8.7, 6.6]
]

function flat(w = 9, h = 7, outsideHeard = false, mapped = false): Site {
  const radioMap = { x0: 0, y0: 0, cell: 1, nx: 2, ny: 2, values: [0, 0, 0, 0] }
  return parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, outsideHeard },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'flat' }, geometry: rect(0, 0, w, h) },
      ...RECEIVERS.map(([id, x, y]) => ({
        type: 'Feature' as const,
        properties: { kind: 'sensor' as const, id, z: 2.3, ...(mapped ? { radioMap } : {}) },
        geometry: { type: 'Point' as const, coordinates: [x, y] }
      }))
    ]
  })
}

test('the grid holds at most maxCells cells (one row more at worst), never smaller than cellM, on any site', () => {
  const o = defaultGridFilterOptions
  const cases: Array<[name: string, bounds: [number, number, number, number], cell: number]> = [
    ['a flat', [0, 0, 9, 7], o.cellM],
    ['a shop with its street', [-10, -10, 30, 22], 0],
    ['a kilometre', [0, 0, 1000, 1000], 0],
    ['a line', [0, 0, 500, 0.1], 0]
  ]
  for (const [name, bounds, cell] of cases) {
    const g = new GridLayout(flat(), bounds, o)
    assert.ok(g.size <= o.maxCells + Math.max(g.nx, g.ny), `${name}: ${g.size} cells`)
    assert.ok(g.cell >= o.cellM, `${name}: cell ${g.cell} m`)
    if (cell > 0) assert.equal(g.cell, cell, name)
    assert.ok(g.xs.every(x => x >= bounds[0] && x <= bounds[2]) && g.ys.every(y => y >= bounds[1] && y <= bounds[3]), `${name}: cells inside the bounds`)
  }
})

test("the floor's prior: cells outside every shop are unlikely where nobody is heard outside, as likely as any where a street passes", () => {
  for (const [outsideHeard, outside] of [
    [false, defaultGridFilterOptions.outsideWeight],
    [true, 1]
  ] as const) {
    const g = new GridLayout(flat(9, 7, outsideHeard), [-2, -2, 11, 9], defaultGridFilterOptions)
    const mask = g.mask(0)
    for (let k = 0; k < g.size; k++) {
      const inside = g.xs[k] > 0 && g.xs[k] < 9 && g.ys[k] > 0 && g.ys[k] < 7
      assert.equal(mask[k], inside ? 1 : outside, `outsideHeard ${outsideHeard}, cell (${g.xs[k]}, ${g.ys[k]})`)
    }
  }
})

test("'auto' takes the grid where the floor fits maxCells cells of cellM and no receiver has a radio map, the Kalman filter elsewhere; 'grid' and 'kalman' as asked", () => {
  const o = defaultGridFilterOptions
  const cases: Array<[filter: 'kalman' | 'grid' | 'auto', bounds: [number, number, number, number], mapped: boolean, grid: boolean]> = [
    ['auto', [0, 0, 9, 7], false, true],
    ['auto', [0, 0, 100, 60], false, false],
    ['auto', [0, 0, 9, 7], true, false],
    ['grid', [0, 0, 100, 60], false, true],
    ['grid', [0, 0, 9, 7], true, true],
    ['kalman', [0, 0, 9, 7], false, false]
  ]
  for (const [filter, bounds, mapped, grid] of cases)
    assert.equal(GridFilters.create(flat(9, 7, false, mapped), bounds, o, 2000, filter) !== null, grid, `${filter} on ${bounds}, maps ${mapped}`)
  const site = flat()
  assert.equal(trackerOptions(site).filter, 'auto')
})

test('at most maxTracks devices have a grid; a forgotten one frees its place', () => {
  const site = flat()
  const grids = GridFilters.create(site, [0, 0, 9, 7], { ...defaultGridFilterOptions, maxTracks: 2 }, 2000, 'grid') as GridFilters
  const models = sensorModels(site)
  const obs = [...models.values()].map(sensor => ({ sensor, rssi: expectedRssi(sensor, 4), sigma: 3 }))
  const options = { tagHeight: 1.3, bounds: [0, 0, 9, 7] as [number, number, number, number], huberK: 2, offsetPrior: { mean: 0, sd: 4 } }
  const devices = [{}, {}, {}]
  const stepped = devices.map(d => grids.step(d, 0, 1000, 1000, obs, options, []))
  assert.deepEqual(
    stepped.map(s => s !== null),
    [true, true, false]
  )
  grids.forget(devices[0])
  assert.ok(grids.step(devices[2], 0, 2000, 2000, obs, options, []) !== null)
  assert.equal(grids.size, 2)
})

test('a tick weighs at most tickTerms likelihood terms: fewer devices get a grid on a site with more cells and receivers', () => {
  const site = flat()
  // [search box, budget]: the flat's own box, and one four times its area (more cells, the same receivers).
  const cases: Array<[[number, number, number, number], number]> = [
    [[0, 0, 9, 7], defaultGridFilterOptions.tickTerms],
    [[0, 0, 18, 14], defaultGridFilterOptions.tickTerms],
    [[0, 0, 9, 7], 1]
  ]
  for (const [bounds, tickTerms] of cases) {
    const g = GridFilters.create(site, bounds, { ...defaultGridFilterOptions, tickTerms }, 2000, 'grid') as GridFilters
    const terms = g.layout.nx * g.layout.ny * RECEIVERS.length
    assert.equal(g.maxTracks, Math.max(1, Math.min(defaultGridFilterOptions.maxTracks, Math.floor(tickTerms / terms))), `${bounds}, ${tickTerms}`)
    assert.ok(g.maxTracks === 1 || g.maxTracks * terms <= tickTerms)
  }
})

/**
 * A tag carried across the flat at 0.2 m/s, four readings a second per receiver, 4 dB of noise; for
 * six seconds the receiver nearest it hears nothing and one across the room reads 12 dB hot. The
 * largest move of the published position from one second to the next, and the largest error.
 */
function dropout(filter: TrackerOptions['filter'], seed: number): { step: number; worst: number } {
  const site = flat()
  const models = sensorModels(site)
  const tracker = new Tracker(site, models, trackerOptions(site, { filter }))
  const rng = new Rng(seed)
  const truthAt = (ts: number) => ({ x: 1.5 + 0.2 * Math.min(30, ts / 1000), y: 1.2 })
  let step = 0
  let worst = 0
  let previous: { x: number; y: number } | null = null
  for (let s = 0; s < 40; s++) {
    const out = s >= 20 && s < 26
    for (let k = 0; k < 4; k++) {
      const ts = s * 1000 + k * 250
      const p = truthAt(ts)
      for (const m of models.values()) {
        if (out && m.id === 'a3') continue
        const rssi = expectedRssi(m, Math.hypot(p.x - m.x, p.y - m.y, 1.3 - m.z)) + rng.normal(0, 4) + (out && m.id === 'a4' ? 12 : 0)
        tracker.addReading('tag', m.id, ts, rssi)
      }
    }
    const e = tracker.estimate('tag', s * 1000 + 1000)
    if (e === null || s <= 5) continue
    const p = truthAt(e.ts)
    worst = Math.max(worst, Math.hypot(e.x - p.x, e.y - p.y))
    if (previous !== null) step = Math.max(step, Math.hypot(e.x - previous.x, e.y - previous.y))
    previous = { x: e.x, y: e.y }
  }
  return { step, worst }
}

test('a near receiver drops out while a far one fades up: the grid moves the tag no faster than it walks, and strays less than the Kalman filter', () => {
  for (const seed of [1, 2, 3, 4]) {
    const grid = dropout('grid', seed)
    const kalman = dropout('kalman', seed)
    // The tag walks 0.2 m a second; the noise moves an estimate a little more, and the stroll mode
    // (0.5 m per second) lets it follow a little faster than standing and walking alone did (0.49 m
    // at most on these seeds, 0.57 m with it, the largest error smaller on each).
    assert.ok(grid.step < 0.6, `seed ${seed}: grid's largest move in a second ${grid.step.toFixed(2)} m`)
    assert.ok(grid.worst < 1.6, `seed ${seed}: grid's largest error ${grid.worst.toFixed(2)} m`)
    assert.ok(grid.worst < kalman.worst, `seed ${seed}: largest error grid ${grid.worst.toFixed(2)} m, Kalman ${kalman.worst.toFixed(2)} m`)
  }
})

test("the default on a small flat is the grid: the same track with the site's options moves as the grid's does", () => {
  assert.deepEqual(dropout('auto', 1), dropout('grid', 1))
})
