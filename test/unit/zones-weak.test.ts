// A shop entry the radio only leans towards (`shopEnterWeakOdds`, issue 27's nights replay): a
// quiet phone standing just inside the front sounds, fix by fix, much like a passer-by, and its
// radio odds stayed under the entry's 20 for its whole short visit. Such an entry is held all the
// same, and only the street-walk test's shopper's verdict (a walk that stops) announces it. The
// radio is stubbed: each fix makes inside likelier by e^0.05 (odds 1.7 after ten fixes, 7.4 after
// forty: never 20 within these visits), or outside likelier; the walk test answers [line, stop] per test.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { stepZones, newZoneState, defaultZoneParams, type Evidence, type EvidenceSource, type ZoneState } from '../../gateway/presence/zones.ts'
import type { WalkGaps } from '../../gateway/estimation/street-walk.ts'
import { rect } from '../helpers/geo.ts'

const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 20, 12) },
    { type: 'Feature', properties: { kind: 'sensor', id: 'r' }, geometry: { type: 'Point', coordinates: [10, 6] } }
  ]
})
const repeat = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v)
type Gaps = [line: number, stop: number]
const shopper: Gaps = [50, 50]
const passerBy: Gaps = [0.5, 0.5]
const unsure: Gaps = [10, 10]

/** A fix a margin inside (accuracy 2 m) with its radio and kept walk (what the stubs answer does not depend on them). */
const fix = (x: number, y: number): Evidence => ({
  x,
  y,
  accuracyM: 2,
  radio: { from: 'test', fix: { obs: [], silent: [], x, y }, offsetPrior: { mean: 0, sd: 4 }, overlap: 1, walk: [] }
})

/**
 * Steps one device through `path` (a fix a second) with each fix's radio making inside e^(perFix/2)
 * times likelier, the walk test answering `gaps` in turn (the last one again once used up); its
 * events as "type@s (at i)", and how many walk tests ran.
 */
function run(perFix: number, gaps: Gaps[], path: Array<Evidence | null>, params = defaultZoneParams): { events: string[]; tests: number } {
  let tests = 0
  const source: EvidenceSource = {
    zoneCosts: () => ({ inside: repeat(13, 0), outside: repeat(13, perFix) }),
    walkGaps: (): WalkGaps => {
      const [line, stop] = gaps[Math.min(tests++, gaps.length - 1)]
      return { line, stop }
    }
  }
  let state: ZoneState = newZoneState()
  const events: string[] = []
  path.forEach((e, i) => {
    const step = stepZones(state, e, i * 1000, { site, params, newVisitId: shop => shop, source })
    state = step.state
    for (const z of step.events) if (z.type.startsWith('shop.')) events.push(`${z.type}@${z.ts / 1000} (at ${i})`)
  })
  return { events, tests }
}

// A quiet phone that walks in, stands 40 s a few metres inside the front and leaves.
const stands = [...repeat(40, fix(5, 4)), ...repeat(40, null)]

test("zones weak entry: a visit the radio only leans towards is held and announced on a shopper's verdict", () => {
  assert.deepEqual(run(0.1, [unsure, shopper], stands).events, ['shop.enter@0 (at 25)', 'shop.exit@39 (at 70)'])
})

test("zones weak entry: without a shopper's verdict it is dropped: two passer-by's, none by shopHoldMaxS, or none by its end", () => {
  assert.deepEqual(run(0.1, [passerBy], stands).events, [], "two passer-by's verdicts in a row")
  assert.deepEqual(run(0.1, [passerBy, shopper], stands).events, ['shop.enter@0 (at 25)', 'shop.exit@39 (at 70)'], 'one is not enough')
  assert.deepEqual(run(0.1, [unsure], [...repeat(70, fix(5, 4)), ...repeat(40, null)]).events, [], 'still unsure at shopHoldMaxS')
  assert.deepEqual(run(0.1, [unsure], stands).events, [], 'ended unsure')
  // Gone quiet before its first test: the test runs on its last fixes at the timeout, and only a shopper's verdict announces it.
  assert.deepEqual(run(0.1, [unsure], [...repeat(15, fix(5, 4)), ...repeat(40, null)]).events, [])
  assert.deepEqual(run(0.1, [shopper], [...repeat(15, fix(5, 4)), ...repeat(40, null)]).events, ['shop.enter@0 (at 45)', 'shop.exit@14 (at 45)'])
})

test('zones weak entry: the radio leaning outside, or shopEnterWeakOdds 0, is no visit; odds of 20 are held as before', () => {
  assert.deepEqual(run(-0.1, [shopper], stands), { events: [], tests: 0 })
  assert.deepEqual(run(0.1, [shopper], stands, { ...defaultZoneParams, shopEnterWeakOdds: 0 }), { events: [], tests: 0 })
  // Sure enough for an entry: a visit neither verdict told is announced at shopHoldMaxS, as before;
  // so is one held on weak odds (e^0.125 a fix: 4 at ten fixes) whose radio reaches 20 while held.
  const long = [...repeat(70, fix(5, 4)), ...repeat(40, null)]
  assert.deepEqual(run(1.2, [unsure], long).events.slice(0, 1), ['shop.enter@0 (at 50)'])
  assert.deepEqual(run(0.25, [unsure], long).events.slice(0, 1), ['shop.enter@0 (at 50)'])
})
