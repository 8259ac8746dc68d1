import { test } from 'node:test'
import assert from 'node:assert/strict'
import { zoneCosts, zoneCostsSummingAll, insideLogOdds2, type ZoneCosts } from '../../gateway/estimation/zone-odds.ts'
import { Rng } from '../../shared/rng.ts'
import { expectedRssi, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import { stepZones, newZoneState, defaultZoneParams, type ZoneEvent, type Evidence, type EvidenceSource, type ZoneState } from '../../gateway/presence/zones.ts'
import { parseSite } from '../../shared/site.ts'
import type { Observation } from '../../gateway/estimation/solver.ts'
import { rect } from '../helpers/geo.ts'

// The boutique's layout: a 20 x 12 m shop, three rows of sensors at 2.8 m, the street 4 m out.
const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 20, 12) },
    { type: 'Feature', properties: { kind: 'sensor', id: 'b0' }, geometry: { type: 'Point', coordinates: [1, 1] } }
  ]
})
const shop = site.shops[0]
const sensors: SensorModel[] = [
  [1, 1],
  [10, 1],
  [19, 1],
  [5.5, 6],
  [10, 6],
  [14.5, 6],
  [1, 11],
  [10, 11],
  [19, 11]
].map(([x, y], i) => ({ id: 'b' + i, x, y, z: 2.8, floor: 0, a: -59, n: 2.2 }))
const opts = { tagHeight: 1.2, huberK: 2, bounds: [-10, -10, 30, 22] as [number, number, number, number] }

/** What the sensors hear of a phone at (x, y) transmitting `offset` dB over the reference, without noise. */
function heard(x: number, y: number, offset: number): Observation[] {
  return sensors.map(s => ({ sensor: s, rssi: expectedRssi(s, Math.hypot(x - s.x, y - s.y, 1.2 - s.z)) + offset, sigma: 3 }))
}
/** The tracker's answer to a shop-entry radio test, over the sensors above (tracker.ts `zoneCosts`). */
const source: EvidenceSource = {
  zoneCosts: (r, zone, base) => zoneCosts(r.fix.obs, r.fix.silent, opts, zone, r.fix.x, r.fix.y, base),
  walkGaps: () => assert.fail('no walk evidence was given')
}
/** A fix at (x, y) with the radio of a phone at (px, py) `offset` dB loud. */
function fix(x: number, y: number, accuracyM: number, px: number, py: number, offset: number): Evidence {
  return { x, y, accuracyM, radio: { from: 'ble', fix: { obs: heard(px, py, offset), silent: [], x, y }, offsetPrior: { mean: 0, sd: 4 }, overlap: 3 } }
}
/** Runs a device's fixes, one a second, through the zone stage; the events. */
function steps(path: Evidence[], p: typeof defaultZoneParams): ZoneEvent[] {
  let state: ZoneState = newZoneState()
  const out: ZoneEvent[] = []
  path.forEach((e, i) => {
    const step = stepZones(state, e, i * 1000, { site, params: p, newVisitId: () => 'v', source })
    state = step.state
    out.push(...step.events)
  })
  return out
}
function sum(fixes: ZoneCosts[]): ZoneCosts {
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
  // The position says 3 m inside either way; the radio says where the phone is.
  const run = (x: (i: number) => number, y: number, offset: number): string[] =>
    steps(
      Array.from({ length: 20 }, (_, i) => fix(x(i), 3, 1, x(i), y, offset)),
      p
    ).map(e => `${e.type}@${e.ts / 1000}`)
  assert.deepEqual(
    run(i => 2 + i * 0.5, 3, 0),
    ['shop.enter@0']
  )
  assert.deepEqual(
    run(i => 2 + i * 0.5, -4, 8),
    []
  )
  // Without radio, the position alone decides (as before the test existed).
  assert.deepEqual(
    steps(
      Array.from({ length: 10 }, () => ({ x: 5, y: 3, accuracyM: 1 })),
      p
    ).map(e => e.type),
    ['shop.enter']
  )
})

test('once the radio is sure, a shopper by the back wall enters though never a margin inside', () => {
  const run = (sureOdds: number, byRadio = false): string[] => {
    const p = { ...defaultZoneParams, shopEnterSureOdds: sureOdds, shopEnterByRadio: byRadio }
    // Five fixes mid-shop start the entry and make the radio sure; then the back wall, 1 m
    // from it with positions 2 m accurate (the entry margin, 1.7 m, is never met there).
    const path = Array.from({ length: 30 }, (_, i) => (i < 5 ? fix(5, 6, 2, 5, 6, 0) : fix(10, 11, 2, 10, 11, 0)))
    return steps(path, p).map(e => `${e.type}@${e.ts / 1000}`)
  }
  assert.deepEqual(run(defaultZoneParams.shopEnterSureOdds), ['shop.enter@0'])
  // Without it the entry's evidence ends with the fifth fix, and the candidate lapses...
  assert.deepEqual(run(0), [])
  // ...unless each fix's own readings, at the offset the entry's fixes share, count (`shopEnterByRadio`).
  assert.deepEqual(run(0, true), ['shop.enter@0'])
})

test('a fix the radio put deep inside a large shop is still weighed against the street, out of its reach', () => {
  // A hypermarket's front: a 100 x 60 m shop, rows of sensors 5 and 15 m in, the street 6 m out.
  const big = parseSite({
    type: 'FeatureCollection',
    storeId: 'h',
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

test('the shop-entry test skips the places that cannot count and still gives every cost of summing them all, to the bit (issue 28)', () => {
  const rng = new Rng(28)
  // Readings near each sensor's floor (truncated), silent sensors, fixes inside, outside, at the
  // wall and deep inside (the other side searched around the outline too), loud and quiet phones.
  const floored = sensors.map(s => ({ ...s, id: s.id + 'f' }))
  const noisy = (px: number, py: number, offset: number): Observation[] =>
    floored.slice(0, 7).map(s => {
      const rssi = expectedRssi(s, Math.hypot(px - s.x, py - s.y, 1.2 - s.z)) + offset + rng.normal(0, 4)
      return { sensor: s, rssi, sigma: rng.uniform(2, 5), floorDbm: -75, rawSigmaDb: 6 }
    })
  const quiet = floored.slice(7).map(s => ({ sensor: s, floorDbm: -80 }))
  const cases: Array<[string, number, number, number]> = [
    ['inside', 6, 5, 0],
    ['outside by the front', 8, -3, 4],
    ['at the wall', 0.2, 6, -6],
    ['deep inside', 10, 7, 8],
    ['far on the street', 10, -9, -10]
  ]
  for (const [name, px, py, offset] of cases) {
    for (let round = 0; round < 5; round++) {
      const obs = noisy(px, py, offset)
      const x = px + rng.normal(0, 2)
      const y = py + rng.normal(0, 2)
      const base = rng.uniform(-8, 8)
      const skipped = zoneCosts(obs, quiet, opts, shop, x, y, base)
      const all = zoneCostsSummingAll(obs, quiet, opts, shop, x, y, base)
      assert.ok(all.inside.every(Number.isFinite) && all.outside.every(Number.isFinite), name)
      for (let k = 0; k < all.inside.length; k++) {
        assert.ok(Object.is(skipped.inside[k], all.inside[k]) && Object.is(skipped.outside[k], all.outside[k]), `${name}, round ${round}, step ${k}`)
      }
    }
  }
})
