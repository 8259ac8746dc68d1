// Tester s12 G, issue 4: a shop outline 10,000 km across was taken, and the gateway froze on its
// first readings. A site wider than a store can be is refused at start-up, with a specific reason.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { MAX_SITE_EXTENT_M } from '../../shared/site-extent.ts'
import { siteProblems } from '../../shared/site.ts'
import { ROOT } from '../helpers/run.ts'

const boutique = () =>
  JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { features: Array<{ geometry: { coordinates: unknown }; properties: { id: string } }> }

function withShop(size: number): unknown {
  const s = boutique()
  const shop = s.features.findIndex(f => f.properties.id === 'boutique')
  s.features[shop].geometry.coordinates = [
    [
      [0, 0],
      [size, 0],
      [size, size],
      [0, size],
      [0, 0]
    ]
  ]
  return s
}

test('a shop outline 10,000 km across is refused at start-up, naming the feature and the bound', () => {
  const problems = siteProblems(withShop(10_000_000))
  assert.equal(problems.length, 1, JSON.stringify(problems))
  assert.match(problems[0].path, /^\/features\/\d+\/geometry$/)
  assert.match(problems[0].reason, new RegExp(`spans 10000000 × 10000000 m; a store's site is at most ${MAX_SITE_EXTENT_M} m across`))
})

test('a site up to the bound is taken', () => {
  assert.deepEqual(siteProblems(withShop(MAX_SITE_EXTENT_M)), [])
  assert.equal(siteProblems(withShop(MAX_SITE_EXTENT_M + 1)).length, 1)
})

test('every site file shipped with the project is within the bound', () => {
  for (const f of readdirSync(join(ROOT, 'sites')).filter(n => n.endsWith('.json'))) assert.deepEqual(siteProblems(JSON.parse(readFileSync(join(ROOT, 'sites', f), 'utf8'))), [], f)
})
