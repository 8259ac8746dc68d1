// The event clock's guard (gateway/ingest/clock-guard.ts) as a pure function of the messages:
// what is let through, in which order, and what is refused as running ahead.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ClockGuard } from '../../gateway/ingest/clock-guard.ts'

const T0 = 1_764_000_000_000
const S = 1000
const MIN = 60 * S
const HOUR = 60 * MIN

/** A message: a label, its time after T0 (null: none), and who sent it (`s:` a sensor, `d:` a phone). */
type Offer = [label: string, dt: number | null, from: string]

interface Case {
  name: string
  sensors?: number
  offers: Offer[]
  admitted: string[]
  refused: string[]
  ahead?: string[]
}

/** Sensors a..e speaking in turn, `n` rounds of 250 ms from `t`. */
function steady(t: number, n: number, prefix = '', who = ['a', 'b', 'c', 'd', 'e']): Offer[] {
  const out: Offer[] = []
  for (let i = 0; i < n; i++) for (const s of who) out.push([`${prefix}${s}${i}`, t + i * 250, 's:' + s])
  return out
}
const labels = (o: Offer[]): string[] => o.map(x => x[0])

const before = steady(0, 4)
const after = steady(S, 4, 'n')
const cases: Case[] = [
  { name: 'a steady stream: everything at once, in order', offers: before, admitted: labels(before), refused: [] },
  {
    name: 'a first message years ahead of the wall clock waits, and the first sensor at a plausible time refuses it',
    offers: [['x', 3 * 365 * 24 * HOUR, 's:a'], ...before],
    admitted: labels(before),
    refused: ['x'],
    ahead: ['a']
  },
  {
    name: 'two phones an hour ahead never confirm a jump',
    offers: [...before, ['p', HOUR, 'd:1'], ['q', HOUR, 'd:2'], ...after],
    admitted: [...labels(before), ...labels(after)],
    refused: ['p', 'q']
  },
  {
    name: 'one sensor repeating itself an hour ahead never confirms a jump',
    offers: [...before, ...Array.from({ length: 20 }, (_, i): Offer => [`x${i}`, HOUR + i * 250, 's:a']), ...after],
    admitted: [...labels(before), ...labels(after)],
    refused: Array.from({ length: 20 }, (_, i) => `x${i}`),
    ahead: ['a']
  },
  {
    name: 'a sensor 7 minutes ahead while the others speak is refused, message by message',
    offers: [...before, ['x1', S + 7 * MIN, 's:c'], ['b1', S, 's:b'], ['x2', S + 7 * MIN + 250, 's:c'], ['a1', S + 250, 's:a']],
    admitted: [...labels(before), 'b1', 'a1'],
    refused: ['x1', 'x2'],
    ahead: ['c']
  },
  {
    name: 'a new day: the jump waits for three sensors (half of the five heard), then goes in order',
    offers: [...before, ...steady(14 * HOUR, 1, 'm', ['a', 'a', 'b', 'c', 'd'])],
    admitted: [...labels(before), 'ma0', 'ma0', 'mb0', 'mc0', 'md0'],
    refused: []
  },
  {
    name: 'a new day with one sensor far ahead of the others: the lower median wins, the outlier is refused',
    offers: [...before, ['x', 14 * HOUR + 9 * MIN, 's:e'], ['m1', 14 * HOUR, 's:a'], ['m2', 14 * HOUR + 100, 's:b']],
    admitted: [...labels(before), 'm1', 'm2'],
    refused: ['x'],
    ahead: ['e']
  },
  {
    name: 'one sensor alone in a quiet store: a short lead is taken at once',
    offers: [...before, ...Array.from({ length: 30 }, (_, i): Offer => [`l${i}`, 40 * S + i * 250, 's:a'])],
    admitted: [...labels(before), ...Array.from({ length: 30 }, (_, i) => `l${i}`)],
    refused: []
  },
  {
    name: 'one sensor a few seconds ahead, the others silent from then on: taken with its 16th message after the first',
    offers: [...before, ...Array.from({ length: 17 }, (_, i): Offer => [`l${i}`, 5 * S + i * 250, 's:a'])],
    admitted: [...labels(before), ...Array.from({ length: 17 }, (_, i) => `l${i}`)],
    refused: []
  },
  {
    name: 'a site without sensors: phones vote',
    sensors: 0,
    offers: [
      ['p0', 0, 'd:1'],
      ['q0', 100, 'd:2'],
      ['p1', HOUR, 'd:1'],
      ['q1', HOUR + 100, 'd:2']
    ],
    admitted: ['p0', 'q0', 'p1', 'q1'],
    refused: []
  },
  {
    name: 'a site with one sensor takes every jump',
    sensors: 1,
    offers: [
      ['a0', 0, 's:a'],
      ['a1', 9 * HOUR, 's:a']
    ],
    admitted: ['a0', 'a1'],
    refused: []
  }
]

for (const c of cases) {
  test(`clock guard: ${c.name}`, () => {
    const g = new ClockGuard<string>({ maxLeadMs: 2000, maxAheadMs: 10 * MIN, wall: () => T0 + HOUR }, c.sensors ?? 5)
    const admitted: string[] = []
    const refused: string[] = []
    for (const [label, dt, from] of c.offers) {
      const v = g.offer(label, dt === null ? null : T0 + dt, from.startsWith('s:') ? { sensor: from.slice(2) } : { device: from.slice(2) })
      admitted.push(...v.admit)
      refused.push(...v.refuse.map(r => r.item))
    }
    assert.deepEqual(admitted, c.admitted)
    assert.deepEqual(refused, c.refused)
    assert.deepEqual([...g.ahead.keys()], c.ahead ?? [])
    assert.equal(g.pending, false)
  })
}

test('a hold says how many messages wait and since when, so /healthz can report a jump that is never confirmed', () => {
  let wall = T0
  const g = new ClockGuard<string>({ maxLeadMs: 2 * S, maxAheadMs: 10 * MIN, wall: () => wall }, 9)
  for (const s of ['a', 'b', 'c']) g.offer(s, T0, { sensor: s })
  assert.equal(g.heldCount, 0)
  wall += 5 * S
  // After a silent night two sensors come back; the far jump waits for a third.
  g.offer('m1', T0 + 10 * HOUR, { sensor: 'a' })
  wall += 40 * S
  g.offer('m2', T0 + 10 * HOUR + S, { sensor: 'a' })
  assert.equal(g.heldCount, 2)
  assert.equal(g.heldSinceWall, T0 + 5 * S)
})
