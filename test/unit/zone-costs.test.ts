// The shop-entry test's search rewritten for less garbage (issue 28: module functions over packed
// per-test state instead of closures, the expected reading and silence cost written out inline)
// must give every cost of the search as first written (test/helpers/zone-costs-reference.ts), to
// the bit: random fixes with reporting floors (the truncation term), more silent sensors than are
// counted, a radio map on some sensors, and learned street traffic, skipping places and summing all.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { zoneCosts, zoneCostsSummingAll, type ZoneCosts } from '../../gateway/estimation/zone-odds.ts'
import { OutsideTraffic } from '../../gateway/estimation/outside-traffic.ts'
import { RadioMap } from '../../gateway/estimation/radio-map.ts'
import { expectedRssi, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import type { Observation, Silence } from '../../gateway/estimation/solver.ts'
import { parseSite } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { rect } from '../helpers/geo.ts'
import { referenceCosts } from '../helpers/zone-costs-reference.ts'

// A 20 x 12 m shop with its street 4 m out (y < 0), sensors in three rows at 2.8 m.
const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 20, 12) },
    { type: 'Feature', properties: { kind: 'sensor', id: 'b0' }, geometry: { type: 'Point', coordinates: [1, 1] } }
  ]
})
const shop = site.shops[0]
const map = new RadioMap({ x0: -10, y0: -10, cell: 2, nx: 21, ny: 17, values: Array.from({ length: 21 * 17 }, (_, i) => ((i * 37) % 13) - 6) })
const sensors: SensorModel[] = [
  [1, 1],
  [10, 1],
  [19, 1],
  [5.5, 6],
  [10, 6],
  [14.5, 6],
  [1, 11],
  [10, 11],
  [19, 11],
  [-3, -6],
  [23, -6]
].map(([x, y], i) => ({ id: `b${i}`, x, y, z: 2.8, floor: 0, a: -59 + (i % 3), n: 2.2, ...(i % 4 === 1 ? { map } : {}) }))
const opts = { tagHeight: 1.2, huberK: 2, bounds: [-10, -10, 30, 22] as [number, number, number, number] }

function same(a: ZoneCosts, b: ZoneCosts): boolean {
  return a.inside.every((v, k) => Object.is(v, b.inside[k])) && a.outside.every((v, k) => Object.is(v, b.outside[k]))
}

test('the rewritten shop-entry search gives every cost of the search as first written, to the bit', () => {
  const rng = new Rng(28)
  const traffic = new OutsideTraffic()
  for (let k = 0; k < 3000; k++) traffic.count(site.shops, 0, -5 + (k % 300) / 10, -5.5 + ((k * 7) % 30) / 10)
  const zones = [shop, traffic.view(shop)]
  let cases = 0
  for (let c = 0; c < 60; c++) {
    // A phone somewhere about the shop and its street; a fix the radio put near it.
    const px = -6 + 32 * rng.next()
    const py = -8 + 24 * rng.next()
    const offset = 8 * (rng.next() - 0.5)
    const heardBy = sensors.filter(() => rng.next() < 0.7)
    if (heardBy.length === 0) continue
    const obs: Observation[] = heardBy.map(s => ({
      sensor: s,
      rssi: expectedRssi(s, Math.hypot(px - s.x, py - s.y, 1.2 - s.z)) + offset + 4 * (rng.next() - 0.5),
      sigma: 1.5 + 3 * rng.next(),
      ...(rng.next() < 0.6 ? { floorDbm: -95 + 10 * rng.next(), rawSigmaDb: 4 + 4 * rng.next() } : {})
    }))
    const silent: Silence[] = sensors.filter(s => !heardBy.includes(s)).map(s => ({ sensor: s, floorDbm: -90 + 6 * rng.next() }))
    const fx = px + 6 * (rng.next() - 0.5)
    const fy = py + 6 * (rng.next() - 0.5)
    const base = 6 * (rng.next() - 0.5)
    for (const zone of zones) {
      const args = [obs, silent, opts, zone, fx, fy, base] as const
      assert.ok(same(zoneCosts(...args), referenceCosts(...args, true)), `case ${c}: skipping places, ${zone === shop ? 'no' : 'with'} traffic`)
      assert.ok(same(zoneCostsSummingAll(...args), referenceCosts(...args, false)), `case ${c}: summing every place`)
      cases++
    }
  }
  assert.ok(cases > 80, `only ${cases} cases`)
})
