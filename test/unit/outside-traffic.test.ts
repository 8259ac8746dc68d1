// The traffic learned around a shop (issue 27, the nights replay's missed short visits): a place
// outside where nobody is ever placed (behind the back wall) costs the entry test's outside side,
// the street does not, and a fresh gateway charges nothing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OutsideTraffic, trafficOf } from '../../gateway/estimation/outside-traffic.ts'
import { zoneCosts } from '../../gateway/estimation/zone-odds.ts'
import { expectedRssi, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import { parseSite } from '../../shared/site.ts'
import { MAX_SITE_EXTENT_M } from '../../shared/site-extent.ts'
import { rect } from '../helpers/geo.ts'

// The boutique: a 20 x 12 m shop, its street 4 m in front of it (y < 0).
const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 20, 12) },
    { type: 'Feature', properties: { kind: 'sensor', id: 'b0' }, geometry: { type: 'Point', coordinates: [1, 1] } }
  ]
})
const shop = site.shops[0]

/** A street's traffic: fixes spread along y = -4 from x = -5 to 25, and shoppers' fixes inside (not counted). */
function street(t: OutsideTraffic): void {
  for (let k = 0; k < 3000; k++) t.count(site.shops, 0, -5 + (k % 300) / 10, -5.5 + ((k * 7) % 30) / 10)
  for (let k = 0; k < 3000; k++) t.count(site.shops, 0, 1 + (k % 180) / 10, 1 + ((k * 13) % 100) / 10)
}

test('a place outside costs its rarity in the traffic around the shop, the street next to nothing', () => {
  const fresh = new OutsideTraffic()
  const learned = new OutsideTraffic()
  street(learned)
  // A few passers-by: too few fixes a cell to tell a wall nobody walks along from a street cell left empty by chance.
  const sparse = new OutsideTraffic()
  for (let k = 0; k < 60; k++) sparse.count(site.shops, 0, -5 + k / 2, -4)
  const cases: Array<{ what: string; t: OutsideTraffic; x: number; y: number; cost: (c: number) => boolean }> = [
    { what: 'nothing learned yet, behind the back wall', t: fresh, x: 10, y: 14, cost: c => c === 0 },
    { what: 'nothing learned yet, on the street', t: fresh, x: 10, y: -4, cost: c => c === 0 },
    { what: 'little traffic yet, behind the back wall', t: sparse, x: 10, y: 14, cost: c => c === 0 },
    { what: 'the street', t: learned, x: 10, y: -4, cost: c => c < 1 },
    { what: 'behind the back wall', t: learned, x: 10, y: 14, cost: c => c > 5 },
    { what: 'beyond a side wall', t: learned, x: -2, y: 8, cost: c => c > 5 },
    { what: 'out of the grid', t: learned, x: 500, y: 500, cost: c => c > 5 }
  ]
  for (const c of cases) {
    const got = c.t.cost(shop, c.x, c.y)
    assert.ok(c.cost(got), `${c.what}: cost ${got}`)
  }
})

test('fixes inside the shop or on another floor are not outside traffic', () => {
  const t = new OutsideTraffic()
  for (let k = 0; k < 100; k++) t.count(site.shops, 0, 10, 6)
  for (let k = 0; k < 100; k++) t.count(site.shops, 1, 10, 14)
  assert.equal(t.cost(shop, 10, 14), 0, 'nothing counted: nothing charged')
  t.count(site.shops, 0, Number.NaN, 3)
  assert.equal(t.cost(shop, 10, 14), 0, 'a fix without a place is not counted')
})

test('each gateway learns its own traffic', () => {
  const a = {}
  const b = {}
  street(trafficOf(a))
  assert.ok(trafficOf(a).cost(shop, 10, 14) > 0)
  assert.equal(trafficOf(b).cost(shop, 10, 14), 0)
  assert.equal(trafficOf(a).view(shop).traffic, trafficOf(a), 'the zone the entry test is given carries its map')
  assert.deepEqual(trafficOf(a).view(shop).polygon, shop.polygon)
})

test('the entry test: a place behind the back wall that the radio fits best is no longer preferred to inside once the street is known', () => {
  // Only the back and middle rows are on (the front row switched off), so a phone standing by the
  // back wall sounds much like one as far behind it: by symmetry about the back row.
  const sensors: SensorModel[] = [
    [1, 11],
    [10, 11],
    [19, 11],
    [5.5, 6],
    [14.5, 6]
  ].map(([x, y], i) => ({ id: 'b' + i, x, y, z: 2.8, floor: 0, a: -59, n: 2.2 }))
  const opts = { tagHeight: 1.2, huberK: 2, bounds: [-10, -10, 30, 22] as [number, number, number, number] }
  // Readings that fit a place 2 m behind the back wall best, the fix (the motion filter's) inside.
  const [px, py] = [5.7, 14]
  const obs = sensors.map(s => ({ sensor: s, rssi: expectedRssi(s, Math.hypot(px - s.x, py - s.y, 1.2 - s.z)), sigma: 3 }))
  const t = new OutsideTraffic()
  street(t)
  const before = zoneCosts(obs, [], opts, shop, px, 10, 0)
  const after = zoneCosts(obs, [], opts, t.view(shop), px, 10, 0)
  const min = (a: number[]) => Math.min(...a)
  assert.ok(min(before.outside) < min(before.inside), 'the radio alone prefers behind the wall')
  assert.ok(min(after.outside) >= min(after.inside), `outside ${min(after.outside)} against inside ${min(after.inside)}: still preferred`)
  assert.equal(min(after.inside), min(before.inside), 'inside costs what it did')
})

test('a shop kilometres across gets a map of bounded size, its cells larger (a valid site; 1 m cells would take gigabytes)', () => {
  const huge = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, MAX_SITE_EXTENT_M, MAX_SITE_EXTENT_M) },
      { type: 'Feature', properties: { kind: 'sensor', id: 'b0' }, geometry: { type: 'Point', coordinates: [1, 1] } }
    ]
  })
  const t = new OutsideTraffic()
  const before = process.memoryUsage().arrayBuffers
  t.count(huge.shops, 0, -4, 10)
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, 'the map took over 64 MiB')
  assert.ok(Number.isFinite(t.cost(huge.shops[0], -4, 10)))
})
