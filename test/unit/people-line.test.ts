// The people benchmark's line per scenario and day (bench/people.ts): an empty room's true count is 0
// all day, and its MAE as a share of that read "2546296296.3% of 0.00" (issue 32, s12): the error
// in people is what says how near 0 it reads.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { peopleLine, type PeopleDay } from '../../bench/people.ts'
import { scorePeople, truthDwellS } from '../../simulators/evaluate-people.ts'
import { dwellSummary } from '../../gateway/presence/people.ts'
import type { Truth } from '../../simulators/engine.ts'

function day(est: number[], truth: number[]): PeopleDay {
  return {
    date: '2026-11-02',
    day: scorePeople(est, truth),
    open: null,
    visitors: { estimate: 0, truth: 0, error: 0 },
    dwell: { n: 0, medianS: null, p90S: null, buckets: {} },
    dwellTruth: { n: 0, medianS: null, p90S: null, buckets: {} },
    fixturesLearned: 0,
    atMostOne: 1,
    series: est.map((e, i) => [e, truth[i]]),
    newcomers: { peak: 0, refused: 0 },
    overCapacity: { peak: 0, excessVisitors: 0 }
  }
}

test('an empty room (truth 0 all day) gets its MAE in people, not as a share of 0', () => {
  const line = peopleLine(77, 'wifi-empty-room', day([0, 0.1, 0, 0.2], [0, 0, 0, 0]))
  assert.match(line, /whole day r n\/a MAE 0\.08 people \(truth 0\); visitors 0\/0/)
  assert.doesNotMatch(line, /% of 0\.00/)
})

test('a store with people in it keeps its MAE as a share of the true count', () => {
  const line = peopleLine(42, 'wifi-store', day([9, 11, 10, 10], [10, 10, 10, 10]))
  assert.match(line, /MAE 0\.50 \(5\.0% of 10\.00\)/)
})

test('dwell against the truth: only visits begun and ended within the day are timed, both sides on the line', () => {
  const H = 3_600_000
  const truth = {
    visits: [
      { enter: 0, exit: 600_000 },
      { enter: H, exit: H + 1_200_000 },
      // Still on at the day's end, and begun the day before: no dwell of this day.
      { enter: 23 * H, exit: 25 * H },
      { enter: -H, exit: 60_000 }
    ]
  } as unknown as Truth
  assert.deepEqual(truthDwellS(truth, 0, 24 * H), [600, 1200])
  const d = { ...day([1], [1]), dwell: dwellSummary([700, 1300, 9000]), dwellTruth: dwellSummary([600, 1200]) }
  assert.match(peopleLine(42, 'wifi-store', d), /; dwell n 3\/2 median 1300\/1200 s p90 9000\/1200 s$/)
})
