// The path of a held visit that the street-walk test could not tell by its end (issue 27, the
// nights replay's false visits): a passer-by the radio placed inside, across the front row from
// the street, walks on along the street placed inside the whole way, and was announced at its end;
// a shopper comes back out where it went in. The street's direction is learned from the outside
// traffic (outside-traffic.ts `streetAxis`).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { stepZones, newZoneState, defaultZoneParams, type Evidence, type EvidenceSource, type ZoneState } from '../../gateway/presence/zones.ts'
import { crossedFront, type Path, type Place } from '../../gateway/presence/visit-hold.ts'
import { OutsideTraffic, trafficOf } from '../../gateway/estimation/outside-traffic.ts'
import { rect } from '../helpers/geo.ts'

// The boutique: a 20 x 12 m shop, its street 4 m in front of it (y < 0), its door at x = 10.
const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 20, 12) },
    { type: 'Feature', properties: { kind: 'sensor', id: 'r' }, geometry: { type: 'Point', coordinates: [10, 6] } }
  ]
})
const shop = site.shops[0]
const repeat = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v)

/** Passers-by's fixes along the street (y = -5.5 to -2.5, x = -5 to 25). */
function street(t: OutsideTraffic): void {
  for (let k = 0; k < 3000; k++) t.count(site.shops, 0, -5 + (k % 300) / 10, -5.5 + ((k * 7) % 30) / 10)
}
/**
 * The street as the sensors place it: passers-by walk a few metres out along the front, but their
 * fixes scatter metres either side, here evenly over 24 m along and 12.5 m across: spread across
 * more than half as far as along, as on the nights replay, so no line by the old rule's bound.
 */
function wideStreet(t: OutsideTraffic): void {
  for (let k = 0; k < 4000; k++) t.count(site.shops, 0, -2 + (k % 240) / 10, -13 + ((k * 7) % 125) / 10)
}
/** A corner shop's traffic: a street 4 m wide along the front and one as busy along the east wall. */
function corner(t: OutsideTraffic): void {
  for (let k = 0; k < 4000; k++) t.count(site.shops, 0, (k % 200) / 10, -5 + ((k * 7) % 40) / 10)
  for (let k = 0; k < 2400; k++) t.count(site.shops, 0, 21 + ((k * 7) % 40) / 10, (k % 120) / 10)
}
/** Traffic all round the shop: no street to walk along. */
function square(t: OutsideTraffic): void {
  for (let k = 0; k < 6000; k++) t.count(site.shops, 0, -12 + (k % 440) / 10, -12 + ((k * 37) % 360) / 10)
}

/** A fresh map that has counted `traffic`. */
function learnt(traffic: (t: OutsideTraffic) => void): OutsideTraffic {
  const t = new OutsideTraffic()
  traffic(t)
  return t
}

test('the street axis is learned from the traffic outside the shop: none before there is enough, none where the traffic is no line', () => {
  const learned = new OutsideTraffic()
  street(learned)
  const sparse = new OutsideTraffic()
  for (let k = 0; k < 60; k++) sparse.count(site.shops, 0, -5 + k / 2, -4)
  const round = new OutsideTraffic()
  square(round)
  const cases: Array<{ what: string; t: OutsideTraffic; want: (a: [number, number] | null) => boolean }> = [
    { what: 'nothing counted', t: new OutsideTraffic(), want: a => a === null },
    { what: 'a few passers-by', t: sparse, want: a => a === null },
    { what: 'a street along x', t: learned, want: a => a !== null && Math.abs(a[0]) > 0.99 && Math.abs(Math.hypot(a[0], a[1]) - 1) < 1e-9 },
    { what: 'traffic all round', t: round, want: a => a === null },
    { what: 'a street along x, placed widely across it', t: learnt(wideStreet), want: a => a !== null && Math.abs(a[0]) > 0.99 },
    { what: 'a corner shop, streets on two sides', t: learnt(corner), want: a => a === null }
  ]
  for (const c of cases) {
    const got = c.t.streetAxis(shop)
    assert.ok(c.want(got), `${c.what}: ${JSON.stringify(got)}`)
  }
})

test('a path along the street, well beyond what its fixes’ errors explain, crossed the front; one back out where it came in, or deeper, did not', () => {
  const along: [number, number] = [1, 0]
  const path = (from: Place, to: Place, accuracyM: number): Path => ({ from, to, accuracy: { sum: 20 * accuracyM, n: 20 } })
  const cases: Array<{ what: string; path: Path; axis: [number, number] | null; crossed: boolean }> = [
    // The nights replay's two passers-by announced at their end (seed 11, days 3 and 4).
    { what: 'passer-by, left to right', path: path([6.8, 1.5], [18.4, 4.9], 2.5), axis: along, crossed: true },
    { what: 'passer-by, right to left', path: path([14.5, 6], [3.5, 1.8], 2.5), axis: [-1, 0], crossed: true },
    { what: 'shopper, out by the door it came in by', path: path([5.2, 0.4], [9.1, 1], 2.8), axis: along, crossed: false },
    { what: 'shopper, gone deep', path: path([20.2, 5], [24.7, 17.1], 2.5), axis: along, crossed: false },
    { what: 'along the street, within the fixes’ errors', path: path([6, 2], [14, 2], 5), axis: along, crossed: false },
    { what: 'no street learned', path: path([6.8, 1.5], [18.4, 4.9], 2.5), axis: null, crossed: false },
    { what: 'no path kept (a state saved before it)', path: {}, axis: along, crossed: false }
  ]
  for (const c of cases) assert.equal(crossedFront(c.path, c.axis), c.crossed, c.what)
})

/** A fix at (x, y) with its radio and walk evidence (the stubs' answers do not depend on them). */
const fix = (x: number, y: number): Evidence => ({
  x,
  y,
  accuracyM: 2,
  radio: { from: 'test', fix: { obs: [], silent: [], x, y }, offsetPrior: { mean: 0, sd: 4 }, overlap: 1, walk: [] }
})

/** Steps one device through `path` (a fix a second) with the radio saying inside and the street-walk test unable to tell; its events as "type@s". */
function run(path: Array<Evidence | null>, learn: (t: OutsideTraffic) => void): string[] {
  const source: EvidenceSource = {
    zoneCosts: () => ({ inside: repeat(13, 0), outside: repeat(13, 1.2) }),
    walkGaps: () => ({ line: 10, stop: 10 })
  }
  learn(trafficOf(source))
  const params = { ...defaultZoneParams, shopEnterS: 5, shopExitS: 20 }
  let state: ZoneState = newZoneState()
  const out: string[] = []
  path.forEach((e, i) => {
    const step = stepZones(state, e, i * 1000, { site, params, newVisitId: () => 'v', source })
    state = step.state
    for (const ev of step.events) out.push(`${ev.type}@${ev.ts / 1000}`)
  })
  return out
}

test('zones: a held visit the street-walk test cannot tell by its end is dropped if its path ran along the street, announced if it came back out', () => {
  const quiet = repeat(30, null)
  // 3 m inside, 0.8 m/s along the front from x = 2 to 18: the radio's mirror place of a passer-by.
  const passing = Array.from({ length: 21 }, (_, i) => fix(2 + 0.8 * i, 3))
  // In by the door, 4 m in, back out by the door.
  const shopping = Array.from({ length: 21 }, (_, i) => fix(10 + (i % 3) * 0.3, 1 + 4 * Math.sin((Math.PI * i) / 20)))
  const cases: Array<{ what: string; path: Array<Evidence | null>; learn: (t: OutsideTraffic) => void; events: string[] }> = [
    { what: 'passer-by placed inside, street learned', path: [...passing, ...quiet], learn: street, events: [] },
    { what: 'passer-by placed inside, a street placed widely across', path: [...passing, ...quiet], learn: wideStreet, events: [] },
    { what: 'passer-by placed inside, no street learned yet', path: [...passing, ...quiet], learn: () => {}, events: ['shop.enter@0', 'shop.exit@20', 'visit.summary@20'] },
    { what: 'shopper in and out by the door', path: [...shopping, ...quiet], learn: street, events: ['shop.enter@0', 'shop.exit@20', 'visit.summary@20'] }
  ]
  for (const c of cases) assert.deepEqual(run(c.path, c.learn), c.events, c.what)
})
