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
  /** The guard's quorum share (default 0.2). */
  share?: number
  offers: Offer[]
  admitted: string[]
  refused: string[]
  ahead?: string[]
  /** How many messages are held right after the offer with this label. */
  held?: Record<string, number>
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
    name: 'a new day: the jump waits for a second sensor (a fifth of the five heard, at least 2), then goes in order',
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
    name: 'one sensor ahead while the others are quiet waits for another sensor, then goes in order',
    offers: [...before, ...Array.from({ length: 10 }, (_, i): Offer => [`l${i}`, 40 * S + i * 250, 's:a']), ['b', 42 * S, 's:b']],
    admitted: [...labels(before), ...Array.from({ length: 10 }, (_, i) => `l${i}`), 'b'],
    refused: [],
    held: { l9: 10, b: 0 }
  },
  {
    name: 'one sensor ahead while the others send nothing at all: taken after 16 messages',
    offers: [...before, ...Array.from({ length: 17 }, (_, i): Offer => [`l${i}`, 40 * S + i * 250, 's:a'])],
    admitted: [...labels(before), ...Array.from({ length: 17 }, (_, i) => `l${i}`)],
    refused: [],
    held: { l15: 16, l16: 0 }
  },
  {
    name: 'a lone sensor ahead by more than 10 minutes waits for a quorum while it has sent fewer than 64 messages',
    offers: [...before, ...Array.from({ length: 40 }, (_, i): Offer => [`l${i}`, 11 * MIN + i * 250, 's:a']), ['b', 11 * MIN + 10 * S, 's:b']],
    admitted: [...labels(before), ...Array.from({ length: 40 }, (_, i) => `l${i}`), 'b'],
    refused: [],
    held: { l39: 40, b: 0 }
  },
  {
    name: 'the only sender of a trace near the wall clock is taken after 16 messages',
    offers: Array.from({ length: 17 }, (_, i): Offer => [`l${i}`, HOUR - 5 * MIN + i * 250, 's:a']),
    admitted: Array.from({ length: 17 }, (_, i) => `l${i}`),
    refused: [],
    held: { l15: 16, l16: 0 }
  },
  {
    name: 'the only sender of a recorded trace (older than 10 minutes) sets the clock at once',
    offers: [['l0', 0, 's:a']],
    admitted: ['l0'],
    refused: [],
    held: { l0: 0 }
  },
  {
    name: 'a trace of phone scans only on a site with sensors flows; a phone ahead of the sensors once they speak is refused',
    offers: [
      ...Array.from({ length: 17 }, (_, i): Offer => [`p${i}`, i * 250, 'd:1']),
      ['q', 30 * S, 'd:2'],
      ['a', 30 * S + 100, 's:a'],
      ['x', 5 * MIN, 'd:1'],
      ['b', 30 * S + 200, 's:b']
    ],
    admitted: [...Array.from({ length: 17 }, (_, i) => `p${i}`), 'q', 'a', 'b'],
    refused: ['x']
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

// The five holes an outside tester found in the guard that judged leads against the newest time
// let through and "speaking" by the last 16 arrivals (docs/limits.md, 2026-12-06).
const creep = Array.from({ length: 12 }, (_, i): Offer[] => [
  [`kc${i}`, S + 1500 * i, 's:c'],
  [`ka${i}`, S + 250 * i, 's:a'],
  [`kb${i}`, S + 250 * i + 10, 's:b']
]).flat()
const nine = steady(0, 2, '', ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'])
const fill = Array.from({ length: 16 }, (_, i): Offer => [`f${i}`, S + 100 * i, 's:c'])
cases.push(
  {
    name: 'hole 1: a sensor creeping ahead within the lead of its own last message is refused once past the others',
    offers: [...before, ...creep],
    admitted: labels([...before, ...creep]).filter(l => !/^kc([2-9]|1[01])$/.test(l)),
    refused: Array.from({ length: 10 }, (_, i) => `kc${i + 2}`),
    ahead: ['c']
  },
  {
    name: 'hole 2: a sensor that filled the last 16 arrivals and then jumps 5 minutes is held, and refused by the next sensor',
    offers: [...before, ...fill, ['x', 5 * MIN, 's:c'], ['a', S, 's:a']],
    admitted: [...labels(before), ...labels(fill), 'a'],
    refused: ['x'],
    ahead: ['c']
  },
  {
    name: 'hole 2: a phone on a site with sensors that filled the last 16 arrivals and then jumps 5 minutes is refused by the next sensor',
    offers: [...before, ...fill.map(([l, dt]): Offer => [l, dt, 'd:p']), ['x', 5 * MIN, 'd:p'], ['a', S, 's:a']],
    admitted: [...labels(before), ...labels(fill), 'a'],
    refused: ['x']
  },
  {
    name: 'hole 3: a first (retained) message within 10 minutes of the wall clock does not set the clock unvoted',
    offers: [['x', HOUR - MIN, 's:a'], ...before],
    admitted: labels(before),
    refused: ['x'],
    ahead: ['a']
  },
  {
    name: 'the only sensor working after a night (the others off or dead) is taken after 64 messages: the store does not stop',
    offers: [...before, ...Array.from({ length: 65 }, (_, i): Offer => [`l${i}`, 14 * HOUR + i * 250, 's:a'])],
    admitted: [...labels(before), ...Array.from({ length: 65 }, (_, i) => `l${i}`)],
    refused: [],
    held: { l63: 64, l64: 0 }
  },
  {
    name: 'a site without sensors: two of six phones an hour ahead (a time zone wrong) do not move the clock; half of those heard must agree',
    sensors: 0,
    offers: [...Array.from({ length: 6 }, (_, i): Offer => [`p${i}`, i * 100, `d:${i}`]), ['x', HOUR, 'd:6'], ['y', HOUR + 100, 'd:7'], ['p6', 2 * S, 'd:0']],
    admitted: [...Array.from({ length: 6 }, (_, i) => `p${i}`), 'p6'],
    refused: ['x', 'y'],
    ahead: ['device:6', 'device:7']
  },
  {
    name: 'a site without sensors: one phone id running 5 minutes ahead of the others is refused',
    sensors: 0,
    offers: [
      ['p0', 0, 'd:1'],
      ['q0', 100, 'd:2'],
      ['x', 5 * MIN, 'd:3'],
      ['p1', 300, 'd:1']
    ],
    admitted: ['p0', 'q0', 'p1'],
    refused: ['x'],
    ahead: ['device:3']
  },
  {
    name: 'hole 5: after a silent night two of nine sensors coming back move the clock (a fifth of the nine)',
    sensors: 9,
    offers: [...nine, ['m1', 14 * HOUR, 's:a'], ['m2', 14 * HOUR + 100, 's:b']],
    admitted: [...labels(nine), 'm1', 'm2'],
    refused: []
  },
  {
    name: 'a night on a site of nine with a quorum share of a half: two are not enough',
    sensors: 9,
    share: 0.5,
    offers: [...nine, ['m1', 14 * HOUR, 's:a'], ['m2', 14 * HOUR + 100, 's:b'], ['m3', 14 * HOUR + 200, 's:c'], ['m4', 14 * HOUR + 300, 's:d'], ['m5', 14 * HOUR + 400, 's:e']],
    admitted: [...labels(nine), 'm1', 'm2', 'm3', 'm4', 'm5'],
    refused: [],
    held: { m4: 4 }
  }
)

for (const c of cases) {
  test(`clock guard: ${c.name}`, () => {
    const g = new ClockGuard<string>({ maxLeadMs: 2000, maxAheadMs: 10 * MIN, wall: () => T0 + HOUR, quorumShare: c.share ?? 0.2 }, c.sensors ?? 5)
    const admitted: string[] = []
    const refused: string[] = []
    for (const [label, dt, from] of c.offers) {
      const v = g.offer(label, dt === null ? null : T0 + dt, from.startsWith('s:') ? { sensor: from.slice(2) } : { device: from.slice(2) })
      admitted.push(...v.admit)
      refused.push(...v.refuse.map(r => r.item))
      if (c.held?.[label] !== undefined) assert.equal(g.heldCount, c.held[label], `held after ${label}`)
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
