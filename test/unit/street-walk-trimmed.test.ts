// The street-walk test's search for a passer-by's walk outside starts from lines through the fixes;
// one fix the radio threw far off drags them all (issue 27: the nights replay's false visit
// app:8e18d985, seed 42, day 5). The fixture is the test's own input as the gateway kept it there:
// the fixes' places, what each heard, and the receivers' models as self-calibration had them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadSiteFile } from '../../shared/site.ts'
import { walkGaps, type WalkOptions } from '../../gateway/estimation/street-walk.ts'
import type { SensorModel } from '../../gateway/estimation/radio-model.ts'
import type { FixSensors } from '../../gateway/estimation/walk-cost.ts'
import { ROOT } from '../helpers/run.ts'

interface Fixture {
  shop: string
  prior: { mean: number; sd: number }
  options: WalkOptions
  enough: number
  sensors: SensorModel[]
  fixes: Array<{
    t: number
    x: number
    y: number
    obs: Array<{ sensor: string; rssi: number; sigma: number; ageMs?: number; floorDbm?: number; rawSigmaDb?: number }>
    silent: Array<{ sensor: string; floorDbm: number }>
  }>
}

const fx = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/street-walk-passer-by.json'), 'utf8')) as Fixture
const site = loadSiteFile(join(ROOT, 'sites/boutique.site.json'))
const shop = site.shops.find(z => z.id === fx.shop)
const sensors = new Map(fx.sensors.map(s => [s.id, s]))
const model = (id: string): SensorModel => {
  const s = sensors.get(id)
  if (s === undefined) throw new Error(`fixture names an unknown sensor ${id}`)
  return s
}
const sensed: FixSensors[] = fx.fixes.map(f => ({
  obs: f.obs.map(o => ({ ...o, sensor: model(o.sensor) })),
  silent: f.silent.map(q => ({ ...q, sensor: model(q.sensor) }))
}))

test('a passer-by placed inside the front, one fix thrown behind the back wall: its walk outside is found', () => {
  assert.ok(shop !== undefined)
  // The fix that drags the lines: 3 m behind the back wall, between fixes along the front.
  assert.ok(fx.fixes.some(f => f.y > 15))
  const gaps = walkGaps(fx.fixes, sensed, shop, fx.options, fx.prior, fx.enough)
  // Before, the search outside settled 105 above the passer-by's walk, and the gap (64) made it a
  // shopper (`streetWalkSureGap` 40) and announced its visit. Its walk along the street explains
  // the fixes as well as any straight walk: a passer-by's verdict (`streetWalkGap` 3).
  assert.ok(gaps.line < 3, `line gap ${gaps.line}`)
  assert.ok(gaps.stop < 40, `stop gap ${gaps.stop}`)
})

test('the walk test over unpacked fixes: fewer than three, or fixes without what they heard, tell nothing', () => {
  assert.ok(shop !== undefined)
  const three = fx.fixes.slice(0, 2)
  assert.deepEqual(walkGaps(three, sensed.slice(0, 2), shop, fx.options, fx.prior), { line: Infinity, stop: Infinity })
  assert.deepEqual(walkGaps(fx.fixes, sensed.slice(1), shop, fx.options, fx.prior), { line: Infinity, stop: Infinity })
})
