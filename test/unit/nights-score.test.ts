// How the nights bench reports each missed and false visit (bench/nights.ts): a miss says how many
// of its phone's visits were found, a false visit how many visits its phone has in the truth, so a
// reader of a 45-day run sees at once whether misses gather on a few phones and whether false
// visits are passers-by (issue 27).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { scoreNights } from '../../bench/nights.ts'
import type { Truth } from '../../simulators/engine.ts'
import type { EventMsg } from '../../simulators/evaluate.ts'

const S = 1000
const day = (d: number) => d * 86_400 * S
const visit = (subject: string, d: number, a: number, b: number) => ({ subject, person: subject, kind: 'regular', shop: 'boutique', enter: day(d) + a * S, exit: day(d) + b * S })
const found = (subject: string, d: number, a: number, b: number): EventMsg[] => [
  { type: 'shop.enter', subject, ts: day(d) + a * S, shop: 'boutique' },
  { type: 'shop.exit', subject, ts: day(d) + b * S, shop: 'boutique' }
]

test('nights score: each miss with its phone record, each false visit with its phone in the truth', () => {
  const truth: Truth = {
    storeId: 's',
    windows: [
      [day(0), day(0) + 3600 * S],
      [day(1), day(1) + 3600 * S]
    ],
    visits: [visit('app:quiet', 0, 100, 150), visit('app:quiet', 0, 1000, 1300), visit('app:quiet', 1, 200, 245), visit('app:other', 1, 500, 900)],
    stays: [],
    wifiPhones: {}
  }
  const events = [...found('app:quiet', 0, 1002, 1290), ...found('app:other', 1, 505, 880), ...found('app:passer', 1, 2000, 2020)]
  const r = scoreNights(truth, events)
  assert.deepEqual(r.missed, ['day 1 app:quiet boutique 100-150 s (its phone: 1 of 3 found)', 'day 2 app:quiet boutique 200-245 s (its phone: 1 of 3 found)'])
  assert.deepEqual(r.falses, ['day 2 app:passer boutique 2000-2020 s (its phone: 0 visits in the truth)'])
  assert.deepEqual(
    r.byLength.map(b => [b.band, b.visits, b.found]),
    [
      ['under 40 s', 0, 0],
      ['40 to 60 s', 2, 0],
      ['60 s or more', 2, 2]
    ]
  )
})
