// The grid filter's own Huber threshold (grid option `huberK`, one sigma): real receivers depart
// from the path-loss model by place, by up to ±10 dB for tens of seconds, and with the solver's
// threshold (two sigmas) one receiver reading hot at a place pulled the grid's weight towards it.
// The solver's fix keeps its own threshold.
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite, type Site } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { defaultGridFilterOptions } from '../../gateway/estimation/grid-filter.ts'
import { Tracker, trackerOptions } from '../../gateway/estimation/tracker.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { rect } from '../helpers/geo.ts'

/** A 9 x 7 m flat nobody is heard outside of, its receivers near the walls (as the Kolakowski flat's). */
function flat(): Site {
  const receivers: Array<[string, number, number]> = [
    ['a1', 5.5, 2.4],
    ['a2', 0.8, 6.8],
    ['a3', 3, 0.1],
    ['a4', 3.8, 7],
    ['a5', 6, 0.4],
    ['a6', 8.7, 6.6]
  ]
  return parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, outsideHeard: false },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'flat' }, geometry: rect(0, 0, 9, 7) },
      ...receivers.map(([id, x, y]) => ({
        type: 'Feature' as const,
        properties: { kind: 'sensor' as const, id, z: 2.3 },
        geometry: { type: 'Point' as const, coordinates: [x, y] }
      }))
    ]
  })
}

/**
 * Mean error of the published positions of a tag standing at `p` for a minute, four readings a
 * second per receiver with 4 dB of noise, while receiver `off` reads `offDb` off its model: a
 * place-bound departure (a reflecting wall, a shelf in the way). `huberK` is the grid's, if given.
 */
function standing(seed: number, p: { x: number; y: number }, off: string, offDb: number, huberK?: number): number {
  const site = flat()
  const models = sensorModels(site)
  const base = trackerOptions(site)
  const grid = huberK === undefined ? base.grid : { ...base.grid, huberK }
  const tracker = new Tracker(site, models, trackerOptions(site, { filter: 'grid', grid }))
  const rng = new Rng(seed)
  let sum = 0
  let n = 0
  for (let s = 0; s < 60; s++) {
    for (let k = 0; k < 4; k++) {
      const ts = s * 1000 + k * 250
      for (const m of models.values()) {
        const rssi = expectedRssi(m, Math.hypot(p.x - m.x, p.y - m.y, 1.3 - m.z)) + rng.normal(0, 4) + (m.id === off ? offDb : 0)
        tracker.addReading('tag', m.id, ts, rssi)
      }
    }
    const e = tracker.estimate('tag', s * 1000 + 1000)
    if (e === null || s < 10) continue
    sum += Math.hypot(e.x - p.x, e.y - p.y)
    n++
  }
  return sum / n
}

test("the grid's Huber threshold is one sigma by default, the solver's stays two", () => {
  assert.equal(defaultGridFilterOptions.huberK, 1)
  assert.equal(trackerOptions(flat()).huberK, 2)
})

test('one receiver off its model at a place (10 dB hot, or 8 dB cold) pulls the grid less with its threshold at one sigma than at the solver’s two', () => {
  const cases: Array<[p: { x: number; y: number }, off: string, offDb: number]> = [
    [{ x: 2, y: 4 }, 'a1', 10],
    [{ x: 6, y: 5 }, 'a3', -8]
  ]
  for (const [p, off, offDb] of cases)
    for (const seed of [1, 2, 3]) {
      const now = standing(seed, p, off, offDb)
      const before = standing(seed, p, off, offDb, 2)
      assert.ok(now < before - 0.08, `${off} ${offDb} dB, seed ${seed}: mean error ${now.toFixed(2)} m, with the threshold at two sigmas ${before.toFixed(2)} m`)
    }
})

test('with every receiver on its model the tag is placed about as well either way', () => {
  for (const seed of [1, 2, 3]) {
    const now = standing(seed, { x: 2, y: 4 }, 'a1', 0)
    const before = standing(seed, { x: 2, y: 4 }, 'a1', 0, 2)
    assert.ok(now < before + 0.05, `seed ${seed}: mean error ${now.toFixed(2)} m, at two sigmas ${before.toFixed(2)} m`)
  }
})
