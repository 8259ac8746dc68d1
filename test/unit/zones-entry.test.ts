// The shop entry where the radio test weighs it (gateway/presence/zones-entry.ts): the position
// opens the question and the radio answers it. Short visits of shoppers who stood just inside the
// front were lost while their radio said inside (issue 27, the nights replay). The radio is stubbed: each fix makes inside (or outside) a little
// likelier, by a factor of e^0.6, so the entry's odds of 20 come with the fifth fix, 1,000 with the twelfth.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { stepZones, newZoneState, defaultZoneParams, type Evidence, type EvidenceSource, type ZoneState } from '../../gateway/presence/zones.ts'
import { favoursInside } from '../../gateway/presence/zones-entry.ts'
import { trafficOf } from '../../gateway/estimation/outside-traffic.ts'
import { rect } from '../helpers/geo.ts'

const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 20, 12) },
    { type: 'Feature', properties: { kind: 'sensor', id: 'r' }, geometry: { type: 'Point', coordinates: [10, 6] } }
  ]
})
// Announced when confirmed (no street-walk hold), to look at the entry alone.
const p = { ...defaultZoneParams, shopEnterS: 5, shopExitS: 20, shopHoldS: 0 }
const repeat = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v)
const perFix = (inside: number, outside: number) => ({ inside: repeat(13, inside), outside: repeat(13, outside) })
const saysInside: EvidenceSource = { zoneCosts: () => perFix(0, 1.2), walkGaps: () => assert.fail('no hold') }
const saysOutside: EvidenceSource = { zoneCosts: () => perFix(1.2, 0), walkGaps: () => assert.fail('no hold') }

/** A fix at (x, y) with its radio (what the stub answers does not depend on it); accuracy 2 m: a margin of 1.7 m inside is confident. */
const fix = (x: number, y: number, withRadio = true): Evidence => ({
  x,
  y,
  accuracyM: 2,
  ...(withRadio ? { radio: { from: 'test', fix: { obs: [], silent: [], x, y }, offsetPrior: { mean: 0, sd: 4 }, overlap: 1 } } : {})
})

/** Steps one device through `path` (one fix a second from `t0`) and returns its events as "type@s". */
function run(source: EvidenceSource, path: Array<Evidence | null>, params = p): string[] {
  let state: ZoneState = newZoneState()
  const out: string[] = []
  path.forEach((e, i) => {
    const step = stepZones(state, e, i * 1000, { site, params, newVisitId: shop => shop, source })
    state = step.state
    for (const z of step.events) out.push(`${z.type}@${z.ts / 1000}`)
  })
  return out
}

// The visit ends a walk from its last fix a margin inside (none here, so when it was confirmed), at
// most 10 s before its last fix inside (zones.ts): a shopper on the front wall loses that time.
const frontWall = [...repeat(15, fix(10, 0.8)), ...repeat(30, null)]

// Entries opened anywhere inside the outline (`shopEnterFromOutline`), with no fix counting by its
// own radio (`shopEnterByRadio` off), and a site that trusts the radio sooner (`shopEnterSureOdds`
// 20, the entry's own odds); entries as they were before either (`marginOnly`).
const opening = { ...p, shopEnterFromOutline: true, shopEnterByRadio: false }
const trusting = { ...opening, shopEnterSureOdds: 20 }
const marginOnly = { ...opening, shopEnterFromOutline: false }

const cases: Array<[string, EvidenceSource, Array<Evidence | null>, typeof p, string[]]> = [
  [
    'with shopEnterFromOutline, a shopper who stood just inside the front before stepping a margin in is stamped from the first fix inside',
    saysInside,
    [...repeat(4, fix(10, 0.8)), ...repeat(8, fix(10, 6)), ...repeat(30, null)],
    opening,
    ['shop.enter@0', 'shop.exit@11', 'visit.summary@11']
  ],
  [
    'with it and shopEnterSureOdds 20, a shopper standing just inside the front, never a margin inside, is entered when the radio says inside',
    saysInside,
    frontWall,
    trusting,
    ['shop.enter@0', 'shop.exit@5', 'visit.summary@5']
  ],
  ['with it alone, such a shopper needs the radio sure (odds of 1,000) within the entry gap', saysInside, frontWall, opening, []],
  ['the same fixes with the radio saying outside are no visit', saysOutside, frontWall, trusting, []],
  ['without the radio test, a fix just inside is no entry (position alone needs the margin)', saysInside, [...repeat(15, fix(10, 0.8, false)), ...repeat(30, null)], trusting, []],
  ['a fix a margin inside opens the entry as before', saysInside, [...repeat(8, fix(10, 6)), ...repeat(30, null)], p, ['shop.enter@0', 'shop.exit@7', 'visit.summary@7']],
  [
    'with shopEnterFromOutline off, a fix just inside opens no entry: it begins with the first fix a margin inside',
    saysInside,
    [...repeat(4, fix(10, 0.8)), ...repeat(8, fix(10, 6)), ...repeat(30, null)],
    marginOnly,
    ['shop.enter@4', 'shop.exit@11', 'visit.summary@11']
  ],
  // The nights replay's quiet phones (issue 27): placed on the front wall for their whole visit,
  // their entry lapsed for want of fixes a margin inside while the radio said inside.
  [
    'by default, a shopper on the front wall whose radio says inside is entered once the odds reach 20',
    saysInside,
    frontWall,
    p,
    ['shop.enter@0', 'shop.exit@5', 'visit.summary@5']
  ],
  ['by default, the same fixes with the radio saying outside are no visit', saysOutside, frontWall, p, []]
]
for (const [name, source, path, params, want] of cases) test(`zones entry: ${name}`, () => assert.deepEqual(run(source, path, params), want))

// Fixes placed outside the outline while the radio says inside (a quiet phone by a back corner,
// the nights replay's misses): evidence where the outside traffic the gateway learned is thin,
// never on the street where passers-by walk, nor before the map has learned anything.
test('zones entry: a fix outside the outline counts by its radio only where the outside traffic is thin', () => {
  const trained = (): EvidenceSource => {
    const source: EvidenceSource = { ...saysInside }
    // The street along the front, 4 m out, walked by a thousand passers-by's fixes.
    for (let i = 0; i < 1000; i++) trafficOf(source).count(site.shops, 0, -4 + (i % 29), -4)
    return source
  }
  const path = (x: number, y: number) => [...repeat(3, fix(10, 0.8)), ...repeat(12, fix(x, y)), ...repeat(30, null)]
  // Behind the back wall, where nobody walks: entered from the first fix inside.
  assert.deepEqual(run(trained(), path(10, 14)), ['shop.enter@0', 'shop.exit@5', 'visit.summary@5'])
  // On the street: the entry lapses.
  assert.deepEqual(run(trained(), path(10, -4)), [])
  // A fresh gateway knows no street yet: nowhere outside counts.
  assert.deepEqual(run({ ...saysInside }, path(10, 14)), [])
  // Nor with the option off.
  assert.deepEqual(run(trained(), path(10, 14), { ...p, shopEnterByRadio: false }), [])
  // Nor a fix on another floor, whatever the map says under it.
  const upstairs = [...repeat(3, fix(10, 0.8)), ...repeat(12, { ...fix(10, 14), floor: 1 }), ...repeat(30, null)]
  assert.deepEqual(run(trained(), upstairs), [])
})

test('zones entry: a fix counts by its radio only if its own readings say inside at the offset the entry shares', () => {
  // Summed over the entry, the offset step 4 (of 13) is likeliest, and inside.
  const sum = { base: 0, mean: -4, sd: 4, overlap: 1, fixes: 5, inside: repeat(13, 10), outside: repeat(13, 14) }
  sum.inside[4] = 2
  const fixAt = (inside: number, outside: number) => {
    const c = perFix(1, 1)
    c.inside[4] = inside
    c.outside[4] = outside
    return c
  }
  assert.equal(favoursInside(sum, fixAt(0.5, 1.5)), true)
  assert.equal(favoursInside(sum, fixAt(1.5, 0.5)), false)
  // Another step saying inside does not make this fix inside.
  const elsewhere = fixAt(1.5, 0.5)
  elsewhere.inside[8] = 0
  assert.equal(favoursInside(sum, elsewhere), false)
})
