// Issue 32's deliverables not covered elsewhere, through a pipeline (test/helpers/people-run.ts):
// people now per sector with its sources and range, published at least every 10 s of event time;
// the site file exempting a device from fixture learning; the fixtures /metrics lists, bounded.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { run, siteFile, T0, type Phone } from '../helpers/people-run.ts'
import { MAX_FIXTURE_LABELS } from '../../gateway/presence/wifi-devices.ts'

test('people now per sector too, with bySource, low and high, published at least every 10 s of event time', () => {
  const phones: Phone[] = [
    { x: 4, y: 3, macs: () => '00:11:22:33:55:01' },
    { x: 5, y: 9, macs: () => '00:11:22:33:55:02' },
    { x: 16, y: 8, macs: () => '00:11:22:33:55:03' }
  ]
  const { occ } = run(phones, 6)
  const last = occ[occ.length - 1]
  // new arrivals (1-8, 1-5), women (1-8, 6-11), men (12-19, 6-11): one phone each.
  const sectors = { new: 1, women: 1, men: 1 }
  for (const [id, n] of Object.entries(sectors)) {
    assert.equal(last.sectors[id], n, `${id}: ${JSON.stringify(last)}`)
    assert.equal(last.bySource?.wifi.sectors[id], n, id)
    assert.ok((last.low?.sectors[id] ?? Infinity) <= n && (last.high?.sectors[id] ?? -1) >= n, `${id}: ${JSON.stringify(last)}`)
  }
  const gaps = occ.slice(1).map((o, i) => o.ts - occ[i].ts)
  assert.ok(
    gaps.every(g => g <= 10_000),
    `largest gap ${Math.max(...gaps)} ms`
  )
})

test('the site file exempts a device from fixture learning (notFixtures): always on, it still counts', () => {
  const always: Phone = { x: 18, y: 2, macs: () => '00:aa:bb:cc:ee:01' }
  const cases = [
    { name: 'learned as a fixture', people: { coldStartQuietS: 0, fixtureAfterS: 1800 }, n: 0, fixtures: 1 },
    { name: 'exempt in the site file', people: { coldStartQuietS: 0, fixtureAfterS: 1800, notFixtures: ['00:AA:BB:CC:EE:01'] }, n: 1, fixtures: 0 }
  ]
  for (const c of cases) {
    // Longer than visits last is in the range only, so the count is read at 25 min (shorter) and 40 min (learned by then).
    const { occ } = run([always], 40, 120, { ...siteFile, people: c.people })
    const at25 = occ.find(o => o.ts >= T0 + 25 * 60_000)
    const last = occ[occ.length - 1]
    assert.equal(last.fixtures, c.fixtures, `${c.name}: ${JSON.stringify(last)}`)
    assert.equal(at25?.shops.boutique, 1, `${c.name}: at 25 min`)
    assert.equal(last.high?.shops.boutique, c.n === 0 ? 0 : 1, c.name)
  }
})

test('/metrics lists fixtures by address up to a bound; the rest are counted as subject="other"', () => {
  const n = MAX_FIXTURE_LABELS + 5
  const macs = Array.from({ length: n }, (_, i) => `00:aa:bb:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`)
  const phones: Phone[] = macs.map((m, i) => ({ x: 1 + (i % 18), y: 1 + Math.floor(i / 18), macs: () => m }))
  const { metrics, occ } = run(phones, 2, 60, { ...siteFile, people: { coldStartQuietS: 0, fixtures: macs } })
  assert.equal(occ[occ.length - 1].fixtures, n)
  const listed = metrics.split('\n').filter(l => /^instore_people_fixtures\{subject="h:[0-9a-f]{16}"\} 1$/.test(l))
  assert.equal(listed.length, MAX_FIXTURE_LABELS)
  assert.match(metrics, /instore_people_fixtures\{subject="other"\} 5\n/)
  assert.doesNotMatch(metrics, /00:aa:bb/i, 'no raw MAC')
})
