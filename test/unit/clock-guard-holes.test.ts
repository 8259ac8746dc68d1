// The event clock guard's holes an outside tester left open (issue 27, 2026-12-06): a sender taken
// alone moving the clock 10 minutes a message, and two sensors leapfrogging it by stamping in turn.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ClockGuard } from '../../gateway/ingest/clock-guard.ts'

const T0 = 1_764_000_000_000
const S = 1000
const MIN = 60 * S
const HOUR = 60 * MIN

/** A message: a label, its time after T0, and the sensor that sent it. */
type Offer = [label: string, dt: number, sensor: string]

/** Sensors speaking in turn, `n` rounds of 250 ms from `t`. */
function steady(t: number, n: number, who: string[], prefix = ''): Offer[] {
  const out: Offer[] = []
  for (let i = 0; i < n; i++) for (const s of who) out.push([`${prefix}${s}${i}`, t + i * 250, s])
  return out
}
const five = ['a', 'b', 'c', 'd', 'e']

/** Offers every message; returns what was let through and refused, and the newest time let through. */
function run(offers: Offer[], sensors = 5, share = 0.2): { admitted: string[]; refused: string[]; clock: number; g: ClockGuard<string> } {
  const g = new ClockGuard<string>({ maxLeadMs: 2 * S, maxAheadMs: 10 * MIN, wall: () => T0 + 400 * 24 * HOUR, quorumShare: share }, sensors)
  const at = new Map(offers.map(([l, dt]) => [l, dt]))
  const admitted: string[] = []
  const refused: string[] = []
  for (const [label, dt, s] of offers) {
    const v = g.offer(label, T0 + dt, { sensor: s })
    admitted.push(...v.admit)
    refused.push(...v.refuse.map(r => r.item))
  }
  return { admitted, refused, clock: Math.max(...admitted.map(l => at.get(l) ?? -Infinity)), g }
}

// The only sensor working after a night, taken alone after 64 messages.
const night = [...steady(0, 4, five), ...Array.from({ length: 64 }, (_, i): Offer => [`l${i}`, 14 * HOUR + i * 250, 'a'])]

test('a sender taken alone does not move the clock 10 minutes a message while the others are quiet', () => {
  const creep = Array.from({ length: 20 }, (_, i): Offer => [`x${i}`, 14 * HOUR + 16 * S + (i + 1) * (9 * MIN + 50 * S), 'a'])
  const r = run([...night, ...creep])
  assert.ok(r.admitted.includes('l63'), 'the night was taken')
  // The code this started from let every one through: 3 hours in 20 messages.
  assert.ok(r.clock <= 14 * HOUR + 16 * S + 10 * MIN, `the clock moved to T+${(r.clock - 14 * HOUR) / MIN} min past the morning`)
  assert.ok(r.g.heldCount > 0)
})

test('a sender taken alone with a gap in its messages goes on after 16 more, nothing refused and in order', () => {
  const after = Array.from({ length: 17 }, (_, i): Offer => [`g${i}`, 14 * HOUR + 16 * S + 3 * MIN + i * S, 'a'])
  const r = run([...night, ...after])
  assert.deepEqual(r.refused, [])
  assert.deepEqual(
    r.admitted.filter(l => l.startsWith('l') || l.startsWith('g')),
    [...night.filter(o => o[0].startsWith('l')), ...after].map(o => o[0])
  )
  assert.equal(r.g.pending, false)
})

test('a sender alone in a quiet store goes on second by second at once', () => {
  const on = Array.from({ length: 30 }, (_, i): Offer => [`s${i}`, 14 * HOUR + 16 * S + i * S, 'a'])
  const r = run([...night, ...on])
  assert.deepEqual(
    r.admitted.slice(-30),
    on.map(o => o[0])
  )
  assert.equal(r.g.heldCount, 0)
})

for (const c of [
  { name: 'five sensors with a quorum share of a half', sensors: 5, who: five, share: 0.5 },
  { name: 'fifteen sensors with the default share (a quorum of 3)', sensors: 15, who: 'abcdefghijklmno'.split(''), share: 0.2 }
]) {
  test(`two sensors stamping in turn 1.9 s past each other do not leapfrog the clock: ${c.name}`, () => {
    const before = steady(0, 4, c.who)
    const honest = c.who.filter(s => s !== 'a' && s !== 'b')
    const offers: Offer[] = [...before]
    // The others go on at the true time; a and b each claim 1.9 s past the other's last.
    let lead = 750
    for (let i = 0; i < 30; i++) {
      lead += 1900
      offers.push([`LF${i}`, lead, i % 2 === 0 ? 'a' : 'b'])
      for (const s of honest) offers.push([`${s}t${i}`, S + i * 250, s])
    }
    const r = run(offers, c.sensors, c.share)
    const jumps = r.admitted.filter(l => l.startsWith('LF'))
    // The code this started from let all 30 through: the clock ran 57 s ahead of the store in 7.5 s.
    assert.ok(jumps.length <= 2, `${jumps.length} leapfrogging messages let through`)
    assert.ok(r.clock <= S + 30 * 250 + 2 * S, `clock at T+${r.clock / S} s`)
    assert.ok(r.refused.length >= 20)
    assert.ok(
      honest.every(s => r.admitted.includes(`${s}t29`)),
      'the honest sensors go on'
    )
  })
}

test('a sender taken alone is named once others are refused as late behind it (an outside tester: a burst froze the store with /healthz ok)', () => {
  const r = run([...night, ['m0', 14 * HOUR + 16 * S + S, 'a']])
  assert.ok(r.admitted.includes('l63'), 'the burst was taken alone')
  assert.deepEqual(r.g.lastLone, { voter: 'a', late: 0, lateAt: 0 })
  for (let i = 0; i < 20; i++) r.g.noteLate()
  assert.equal(r.g.lastLone?.late, 20)
  assert.ok((r.g.lastLone?.lateAt ?? 0) > 0)
})
