// A gateway started with nothing learned (people-cold.ts): the Wi-Fi devices it hears from the start
// were there before it, for a time it cannot know. In a closed store they are always-on devices and
// count in the range only, not as people now nor as visitors; in an open store newcomers come in,
// and the devices from the start count as any device does.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { run, type Phone } from '../helpers/people-run.ts'

// The boutique as shipped: the cold-start rule on.
const shipped = loadSiteFile('sites/boutique.site.json').file
const standing = (n: number, fromS?: number): Phone => ({
  x: 3 + 3 * (n % 5),
  y: 3 + 2 * Math.floor(n / 5),
  macs: () => `00:11:22:77:00:${n.toString(16).padStart(2, '0')}`,
  ...(fromS !== undefined ? { fromS } : {})
})

test('a first start in a closed store: the always-on devices heard from the start are not people now nor visitors (repro: each counted a person and a visitor for half an hour)', () => {
  const r = run(
    [0, 1, 2, 3, 4, 5].map(n => standing(n)),
    20,
    60,
    shipped
  )
  const last = r.occ[r.occ.length - 1]
  assert.equal(last.shops.boutique, 0, JSON.stringify(last))
  assert.ok((last.high?.shops.boutique ?? 0) >= 5, `in the range: ${JSON.stringify(last.high)}`)
  assert.equal(r.foot[r.foot.length - 1].visitors, 0, JSON.stringify(r.foot[r.foot.length - 1]))
  // A fixture the site file names says nothing of the others: still a first start.
  const named = run(
    [0, 1, 2, 3, 4, 5].map(n => standing(n)),
    20,
    60,
    { ...shipped, people: { ...shipped.people, fixtures: ['00:11:22:77:00:00'] } }
  )
  assert.equal(named.occ[named.occ.length - 1].shops.boutique, 0, JSON.stringify(named.occ[named.occ.length - 1]))
})

test('a first start in an open store: once newcomers come in, the devices heard from the start count, and are visitors', () => {
  // Four there from the start, four coming in 6 to 9 minutes later (after the first probe interval: newcomers for sure).
  const phones = [0, 1, 2, 3].map(n => standing(n)).concat([5, 6, 7, 8].map((n, i) => standing(n, 360 + 60 * i)))
  const r = run(phones, 16, 60, shipped)
  const last = r.occ[r.occ.length - 1]
  assert.equal(last.shops.boutique, 8, JSON.stringify(last))
  assert.equal(r.foot[r.foot.length - 1].visitors, 8, JSON.stringify(r.foot[r.foot.length - 1]))
})
