// Scoring (issue 27): a truth visit that no reading supports (every sensor that could hear it was
// off) is no detection a gateway could make: counted as unheard, outside recall.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { evaluateEvents, heardDuring, defaultEvalOptions, type HeardIndex } from '../../simulators/evaluate.ts'
import type { Truth, TruthVisit, TruthStay } from '../../simulators/engine.ts'

const W0 = 1_764_000_000_000
const heard: HeardIndex = new Map([
  ['app:a', [W0 + 60_000, W0 + 70_000]],
  ['app:b', [W0 + 500_000]]
])

const cases: Array<{ subject: string; from: number; to: number; want: boolean }> = [
  { subject: 'app:a', from: W0 + 50_000, to: W0 + 65_000, want: true },
  { subject: 'app:a', from: W0 + 61_000, to: W0 + 69_000, want: false },
  { subject: 'app:a', from: W0 + 70_000, to: W0 + 80_000, want: true },
  { subject: 'app:b', from: W0, to: W0 + 100_000, want: false },
  { subject: 'app:c', from: W0, to: W0 + 900_000, want: false }
]
for (const c of cases) {
  test(`heardDuring ${c.subject} ${c.from - W0}..${c.to - W0} ms: ${c.want}`, () => {
    assert.equal(heardDuring(heard, c.subject, c.from, c.to), c.want)
  })
}

test('a visit no reading supports is not judged; a heard one that is missed still counts against recall', () => {
  const visit = (subject: string, enter: number, exit: number): TruthVisit => ({ subject, person: subject, kind: 'regular', shop: 'main', enter, exit })
  const truth: Truth = {
    storeId: 's1',
    windows: [[W0, W0 + 3_600_000]],
    stays: [],
    wifiPhones: {},
    visits: [visit('app:a', W0 + 55_000, W0 + 120_000), visit('app:b', W0 + 100_000, W0 + 200_000), visit('app:d', W0 + 300_000, W0 + 400_000)]
  }
  const events = [
    { type: 'shop.enter', subject: 'app:a', ts: W0 + 56_000, shop: 'main' },
    { type: 'shop.exit', subject: 'app:a', ts: W0 + 119_000, shop: 'main' }
  ]
  const supported = (v: TruthVisit | TruthStay): boolean => v.subject !== null && heardDuring(heard, v.subject, v.enter, v.exit)
  const all = evaluateEvents(truth, events, defaultEvalOptions).visits
  assert.deepEqual([all.truth, all.unheard, all.recall], [3, 0, 1 / 3])
  const judged = evaluateEvents(truth, events, defaultEvalOptions, supported).visits
  // app:b and app:d were never heard during their visits: not judged.
  assert.deepEqual([judged.truth, judged.unheard, judged.recall, judged.falseVisits], [1, 2, 1, 0])
})
