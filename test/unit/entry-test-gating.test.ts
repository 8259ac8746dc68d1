// How often a shop candidate's radio test is asked (gateway/presence/zones-entry.ts, issue 28): every
// ENTRY_TEST_STRIDE fixes (every fix: every other one cost a false visit in the department-store
// hour), each test standing for the fixes since the last, and no more once the candidate's odds
// are far past both thresholds. The radio is stubbed (a fixed cost per fix) and
// counts the tests asked; the entries decided must be the ones every fix's test decides.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { stepZones, newZoneState, defaultZoneParams, type Evidence, type EvidenceSource, type ZoneState } from '../../gateway/presence/zones.ts'
import { ENTRY_TEST_STRIDE } from '../../gateway/presence/zones-entry.ts'
import { addCosts, insideLogOdds2, type RadioSum } from '../../gateway/estimation/zone-odds.ts'
import { rect } from '../helpers/geo.ts'

const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 20, 12) },
    { type: 'Feature', properties: { kind: 'sensor', id: 'r' }, geometry: { type: 'Point', coordinates: [10, 6] } }
  ]
})
const p = { ...defaultZoneParams, shopEnterS: 5, shopExitS: 20, shopHoldS: 0 }
const repeat = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v)
const fix = (x: number, y: number): Evidence => ({
  x,
  y,
  accuracyM: 2,
  radio: { from: 'test', fix: { obs: [], silent: [], x, y }, offsetPrior: { mean: 0, sd: 4 }, overlap: 1 }
})

/** A stub radio making inside e^(gap/2) times likelier per fix, counting the tests asked. */
function radio(gap: number): EvidenceSource & { asked: number } {
  const s = {
    asked: 0,
    zoneCosts: () => {
      s.asked++
      return { inside: repeat(13, 0), outside: repeat(13, gap) }
    },
    walkGaps: () => assert.fail('no hold')
  }
  return s
}

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

test('entry tests: every fix is tested (every other fix cost a false visit in the department-store hour)', () => assert.equal(ENTRY_TEST_STRIDE, 1))

// [name, per-fix gap in -2 ln L, fixes a margin inside, events, tests asked]
const cases: Array<[string, number, number, string[], number]> = [
  // e^0.6 a fix: the entry's odds of 20 at the fifth fix, confirmed after 5 s of evidence (the sixth): a visit has no candidate left to test.
  ['a slow entry is tested at each fix until it is entered', 1.2, 12, ['shop.enter@0', 'shop.exit@11', 'visit.summary@11'], 6],
  ['a radio saying outside is no visit, each fix tested', -1.2, 12, [], 12],
  // e^12 a fix: past the sure odds (1,000) and the margin after the second fix's test (3 fixes): no more tests.
  ['a candidate far past both thresholds is tested no more', 24, 12, ['shop.enter@0', 'shop.exit@11', 'visit.summary@11'], 2]
]
for (const [name, gap, n, events, asked] of cases) {
  test(`entry tests: ${name}`, () => {
    const r = radio(gap)
    assert.deepEqual(run(r, [...repeat(n, fix(10, 6)), ...repeat(30, null)]), events)
    assert.equal(r.asked, asked)
  })
}

test('entry tests: a test standing for two fixes adds what two tests of the same costs add', () => {
  const costs = { inside: [1, 2.5, 3], outside: [4, 0.25, 7] }
  const sum = (): RadioSum => ({ base: 0, mean: 0, sd: 4, overlap: 3, fixes: 0, inside: [], outside: [] })
  const once = sum()
  const twice = sum()
  addCosts(once, costs)
  addCosts(once, costs, 2)
  for (let i = 0; i < 3; i++) addCosts(twice, costs)
  assert.deepEqual(once, twice)
  assert.equal(insideLogOdds2(once, 0, 0, 4), insideLogOdds2(twice, 0, 0, 4))
})
