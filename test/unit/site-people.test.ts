// Site people.fixtures / people.notFixtures (contract §1): each entry a MAC in a form the gateway
// recognises or an h: subject; anything else refuses the site file with the entry's path and reason.
// The outside tester's repro: '00:11:22:33:44', 'H:0123456789ABCDEF', 'printer-in-back' and
// 'zz:zz:zz:zz:zz:zz' were taken without a word, each hashed into a subject matching nothing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMac } from '../../gateway/ingest/subjects.ts'
import { peopleListProblems } from '../../shared/people-lists.ts'
import { siteProblems } from '../../shared/site.ts'
import { ROOT } from '../helpers/run.ts'

const ENTRIES: Array<[string, boolean]> = [
  ['aa:bb:cc:dd:ee:ff', true],
  ['AA-BB-CC-DD-EE-FF', true],
  ['aabbccddeeff', true],
  ['aabb.ccdd.eeff', true],
  ['aa bb cc dd ee ff', true],
  ['de_ad_be_ef_0_3', true],
  ['aabbcc-ddeeff', true],
  ['AA:bb-CC:dd-EE:ff', true],
  ['h:0123456789abcdef', true],
  ['00:11:22:33:44', false],
  ['H:0123456789ABCDEF', false],
  ['h:0123456789abcde', false],
  ['printer-in-back', false],
  ['zz:zz:zz:zz:zz:zz', false],
  ['aa:bb-cc:dd:ee:ff', true],
  ['aabbccddeeff00', false],
  // Re-tester (s11, 11-site-check-vs-gateway-mac-forms.mjs): widened to 64 bits in octets, the
  // gateway hashes them as their MAC; the site check refused them.
  ['aa:bb:cc:ff:fe:dd:ee:ff', true],
  ['00:aa:bb:cc:dd:ee:ff', true],
  ['aa@bb@cc@dd@ee@ff', true],
  ['0aabbccddeeff', false]
]

test('people list entries, table-driven: a MAC in any recognised form or an h: subject, nothing else', () => {
  for (const [e, ok] of ENTRIES) {
    const fixtures = peopleListProblems({ fixtures: [e] })
    const notFixtures = peopleListProblems({ notFixtures: ['aabbccddeeff', e] })
    assert.equal(fixtures.length === 0, ok, e)
    assert.equal(notFixtures.length === 0, ok, e)
    if (!ok) {
      assert.equal(fixtures[0].path, '/people/fixtures/0')
      assert.equal(notFixtures[0].path, '/people/notFixtures/1')
      assert.match(fixtures[0].reason, /neither a MAC address nor an h: subject/)
    }
  }
})

test("the site check's MAC forms are the gateway's (one recogniser, shared/mac.ts)", () => {
  for (const [e] of ENTRIES) if (!e.startsWith('h:') && !e.startsWith('H:')) assert.equal(peopleListProblems({ fixtures: [e] }).length === 0, isMac(e), e)
})

test("the outside tester's site file is refused, every bad entry listed with its path", () => {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as Record<string, unknown>
  site.people = { fixtures: ['00:11:22:33:44', 'H:0123456789ABCDEF', 'printer-in-back', 'aa:bb:cc:dd:ee:ff'], notFixtures: ['zz:zz:zz:zz:zz:zz'] }
  const problems = siteProblems(site)
  assert.deepEqual(
    problems.map(p => p.path),
    ['/people/fixtures/0', '/people/fixtures/1', '/people/fixtures/2', '/people/notFixtures/0']
  )
  assert.match(problems[1].reason, /lower-case/)
})
