// The shop entry where the radio test weighs it (gateway/presence/zones-entry.ts): the position
// opens the question and the radio answers it. Short visits of shoppers who stood just inside the
// front were lost while their radio said inside (issue 27, the nights replay). The radio is stubbed: each fix makes inside (or outside) a little
// likelier, by a factor of e^0.6, so the entry's odds of 20 come with the fifth fix, 1,000 with the twelfth.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { stepZones, newZoneState, defaultZoneParams, type Evidence, type EvidenceSource, type ZoneState } from '../../gateway/presence/zones.ts'
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

// Entries opened anywhere inside the outline (`shopEnterFromOutline`), and a site that also trusts
// the radio sooner (`shopEnterSureOdds` 20, the entry's own odds).
const opening = { ...p, shopEnterFromOutline: true }
const trusting = { ...opening, shopEnterSureOdds: 20 }

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
    'by default, a fix just inside opens no entry: it begins with the first fix a margin inside',
    saysInside,
    [...repeat(4, fix(10, 0.8)), ...repeat(8, fix(10, 6)), ...repeat(30, null)],
    p,
    ['shop.enter@4', 'shop.exit@11', 'visit.summary@11']
  ]
]
for (const [name, source, path, params, want] of cases) test(`zones entry: ${name}`, () => assert.deepEqual(run(source, path, params), want))
