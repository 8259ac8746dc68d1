import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { staleBuild } from '../../gateway/build-check.ts'

test('a build older than a source file beside it is stale; run from source, alone or current it is not', () => {
  const root = mkdtempSync(join(tmpdir(), 'build-check-'))
  mkdirSync(join(root, 'dist'))
  mkdirSync(join(root, 'gateway', 'io'), { recursive: true })
  const bundle = join(root, 'dist', 'instore-gateway.mjs')
  writeFileSync(bundle, '')
  writeFileSync(join(root, 'gateway', 'io', 'uplink.ts'), '')
  const at = (p: string, s: number) => utimesSync(p, s, s)
  at(join(root, 'gateway', 'io', 'uplink.ts'), 1_000)
  at(bundle, 2_000)
  const alone = mkdtempSync(join(tmpdir(), 'build-alone-'))
  writeFileSync(join(alone, 'instore-gateway.mjs'), '')
  const cases: Array<[string, string, () => void, string | null]> = [
    ['current build', pathToFileURL(bundle).href, () => {}, null],
    ['a source changed after the build', pathToFileURL(bundle).href, () => at(join(root, 'gateway', 'io', 'uplink.ts'), 3_000), join('gateway', 'io', 'uplink.ts')],
    ['run from source', pathToFileURL(join(root, 'gateway', 'main.ts')).href, () => {}, null],
    ['a build with no source beside it', pathToFileURL(join(alone, 'instore-gateway.mjs')).href, () => {}, null]
  ]
  for (const [name, url, before, want] of cases) {
    before()
    assert.equal(staleBuild(url), want, name)
  }
})
