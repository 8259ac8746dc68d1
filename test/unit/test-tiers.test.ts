// The test tiers themselves: which files each tier runs, and what an interop test does without
// its third-party part (skip on a developer's machine, fail in CI).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { decide, inCi } from '../helpers/parts.ts'
import { tierFiles } from '../../scripts/test.ts'

test('a missing part skips the test on a developer machine and fails it in CI', () => {
  const cases: Array<[present: boolean, ci: boolean, want: ReturnType<typeof decide>]> = [
    [true, false, 'run'],
    [true, true, 'run'],
    [false, false, 'skip'],
    [false, true, 'fail']
  ]
  for (const [present, ci, want] of cases) assert.equal(decide(present, ci), want, `present ${present}, ci ${ci}`)
})

test('CI is on for any value of CI but empty, 0 and false', () => {
  const cases: Array<[value: string | undefined, want: boolean]> = [
    [undefined, false], ['', false], ['0', false], ['false', false], ['FALSE', false], ['true', true], ['1', true], ['yes', true]
  ]
  for (const [value, want] of cases) assert.equal(inCi(value === undefined ? {} : { CI: value }), want, `CI=${value}`)
})

test('each tier runs its folder; test files not yet filed into a tier run with integration; helpers never', () => {
  const root = mkdtempSync(join(tmpdir(), 'tiers-'))
  const files = ['test/unit/a.test.ts', 'test/unit/deep/b.test.ts', 'test/integration/c.test.ts', 'test/interop/d.test.ts',
    'test/e.test.ts', 'test/helpers/f.test.ts', 'test/unit/not-a-test.ts']
  for (const f of files) { mkdirSync(join(root, f, '..'), { recursive: true }); writeFileSync(join(root, f), '') }
  const rel = (fs: string[]) => fs.map(f => relative(root, f))
  assert.deepEqual(rel(tierFiles('unit', root)), ['test/unit/a.test.ts', 'test/unit/deep/b.test.ts'])
  assert.deepEqual(rel(tierFiles('integration', root)), ['test/integration/c.test.ts', 'test/e.test.ts'])
  assert.deepEqual(rel(tierFiles('interop', root)), ['test/interop/d.test.ts'])
})
