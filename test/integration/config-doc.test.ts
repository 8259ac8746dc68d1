// docs/configuration.md is generated from the schemas and the commands' option specs: it must
// be current, and every option in it must say what it does.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { CONFIG_DOC, renderConfigDoc, undocumented } from '../../scripts/config-doc.ts'

test('docs/configuration.md is what npm run docs:config writes today', () => {
  assert.equal(readFileSync(CONFIG_DOC, 'utf8'), renderConfigDoc(), 'docs/configuration.md is stale: run npm run docs:config')
})

test("every site, zone, radio and campaign member has a description (in its schema, or the generator's notes)", () => {
  assert.deepEqual(undocumented(), [])
})

test('the reference lists every zone parameter with the default the gateway uses', async () => {
  const { defaultZoneParams } = await import('../../gateway/presence/zones.ts')
  const text = renderConfigDoc()
  for (const [k, v] of Object.entries(defaultZoneParams)) {
    assert.ok(text.includes(`| \`${k}\` | `) && text.includes(`\`${JSON.stringify(v)}\``), `zones.${k} = ${JSON.stringify(v)} missing`)
  }
})
