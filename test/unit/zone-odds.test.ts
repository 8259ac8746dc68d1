import { test } from 'node:test'
import assert from 'node:assert/strict'
import { zoneCosts, insideLogOdds2, type ZoneCosts } from '../../gateway/estimation/zone-odds.ts'
import { expectedRssi, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import { stepZones, newTrack, defaultZoneParams, type ZoneEvent, type Evidence } from '../../gateway/presence/zones.ts'
import { parseSite } from '../../shared/site.ts'
import type { Observation } from '../../gateway/estimation/solver.ts'
import { rect } from '../helpers/geo.ts'

// The boutique's layout: a 20 x 12 m shop, three rows of sensors at 2.8 m, the street 4 m out.
const site = parseSite({
  type: 'FeatureCollection', storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 20, 12) },
    { type: 'Feature', properties: { kind: 'sensor', id: 'b0' }, geometry: { type: 'Point', coordinates: [1, 1] } }
  ]
})
const shop = site.shops[0]
const sensors: SensorModel[] = [[1, 1], [10, 1], [19, 1], [5.5, 6], [10, 6], [14.5, 6], [1, 11], [10, 11], [19, 11]]
  .map(([x, y], i) => ({ id: 'b' + i, x, y, z: 2.8, floor: 0, a: -59, n: 2.2 }))
const opts = { tagHeight: 1.2, huberK: 2, bounds: [-10, -10, 30, 22] as [number, number, number, number] }

/** What the sensors hear of a phone at (x, y) transmitting `offset` dB over the reference, without noise. */
function heard (x: number, y: number, offset: number): Observation[] {
  return sensors.map(s => ({ sensor: s, rssi: expectedRssi(s, Math.hypot(x - s.x, y - s.y, 1.2 - s.z)) + offset, sigma: 3 }))
}
function sum (fixes: ZoneCosts[]): ZoneCosts {
  return { inside: fixes[0].inside.map((_, k) => fixes.reduce((a, f) => a + f.inside[k], 0)), outside: fixes[0].outside.map((_, k) => fixes.reduce((a, f) => a + f.outside[k], 0)) }
}

test('one offset for the stretch tells a phone inside from a loud one on the street', () => {
  // An ordinary phone 2.5 m inside the front wall, walking along it.
  const inside = sum([4, 6, 8].map(x => zoneCosts(heard(x, 2.5, 0), [], opts, shop, x, 2.5, 0)))
  assert.ok(insideLogOdds2(inside, 0, 0, 4) > 3)
  // A phone 8 dB loud on the street 4 m out: each fix alone could sit just inside with that
  // loudness, but one offset for all of them fits the street better.
  const street = sum([4, 6, 8].map(x => zoneCosts(heard(x, -4, 8), [], opts, shop, x, 1, 0)))
  assert.ok(insideLogOdds2(street, 0, 0, 4) < 0)
})

test('a shop entry waits for the radio to say inside', () => {
  const p = { ...defaultZoneParams, shopEnterS: 5, shopExitS: 20 }
  const run = (x: (i: number) => number, y: number, offset: number): string[] => {
    const track = newTrack()
    const out: ZoneEvent[] = []
    for (let i = 0; i < 20; i++) {
      const xi = x(i)
      // The position says 3 m inside either way; the radio says where the phone is.
      const e: Evidence = { x: xi, y: 3, accuracyM: 1, radio: { costs: (zone, base) => zoneCosts(heard(xi, y, offset), [], opts, zone, xi, 3, base), offsetPrior: { mean: 0, sd: 4 }, overlap: 3 } }
      out.push(...stepZones(track, e, i * 1000, site, p, () => 'v'))
    }
    return out.map(e => `${e.type}@${e.ts / 1000}`)
  }
  assert.deepEqual(run(i => 2 + i * 0.5, 3, 0), ['shop.enter@0'])
  assert.deepEqual(run(i => 2 + i * 0.5, -4, 8), [])
  // Without radio, the position alone decides (as before the test existed).
  const track = newTrack()
  const out: ZoneEvent[] = []
  for (let i = 0; i < 10; i++) out.push(...stepZones(track, { x: 5, y: 3, accuracyM: 1 }, i * 1000, site, p, () => 'v'))
  assert.deepEqual(out.map(e => e.type), ['shop.enter'])
})

test('once the radio is sure, a shopper by the back wall enters though never a margin inside', () => {
  const run = (sureOdds: number): string[] => {
    const p = { ...defaultZoneParams, shopEnterSureOdds: sureOdds }
    const track = newTrack()
    const out: ZoneEvent[] = []
    for (let i = 0; i < 30; i++) {
      // Five fixes mid-shop start the entry and make the radio sure; then the back wall, 1 m
      // from it with positions 2 m accurate (the entry margin, 1.7 m, is never met there).
      const [x, y] = i < 5 ? [5, 6] : [10, 11]
      const e: Evidence = { x, y, accuracyM: 2, radio: { costs: (zone, base) => zoneCosts(heard(x, y, 0), [], opts, zone, x, y, base), offsetPrior: { mean: 0, sd: 4 }, overlap: 3 } }
      out.push(...stepZones(track, e, i * 1000, site, p, () => 'v'))
    }
    return out.map(e => `${e.type}@${e.ts / 1000}`)
  }
  assert.deepEqual(run(defaultZoneParams.shopEnterSureOdds), ['shop.enter@0'])
  // Without it the entry's evidence ends with the fifth fix, and the candidate lapses.
  assert.deepEqual(run(0), [])
})

test('a fix the radio put deep inside a large shop is still weighed against the street, out of its reach', () => {
  // A hypermarket's front: a 100 x 60 m shop, rows of sensors 5 and 15 m in, the street 6 m out.
  const big = parseSite({
    type: 'FeatureCollection', storeId: 'h',
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'hyper' }, geometry: rect(0, 0, 100, 60) },
      { type: 'Feature', properties: { kind: 'sensor', id: 'h0' }, geometry: { type: 'Point', coordinates: [6, 5] } }
    ]
  }).shops[0]
  const rows: SensorModel[] = [5, 15].flatMap(y => [31, 44, 56, 69].map(x => ({ id: `h${x}-${y}`, x, y, z: 3, floor: 0, a: -59, n: 2.4 })))
  const at = (x: number, y: number): Observation[] => rows.map(s => ({ sensor: s, rssi: expectedRssi(s, Math.hypot(x - s.x, y - s.y, 1.2 - s.z)), sigma: 3 }))
  const wide = { ...opts, bounds: [-10, -10, 110, 70] as [number, number, number, number] }
  // The phone walks the street; its fixes sit in the mirror place across the front row, 14 m in,
  // so the street is 20 m from each of them.
  const street = sum([45, 50, 55].map(x => zoneCosts(at(x, -6), [], wide, big, x, 14, 0)))
  assert.ok(insideLogOdds2(street, 0, 0, 4) < -3, String(insideLogOdds2(street, 0, 0, 4)))
})
