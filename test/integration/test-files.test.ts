// The test files as scripts/test.ts runs them (scripts/test-files.ts): bundled once, run with plain
// node (no tsx loader in their processes), each module still seeing its source's place, and each
// file reported under its source's name.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { buildTestFiles } from '../../scripts/test-files.ts'
import { ROOT } from '../helpers/run.ts'

const META = ['import', 'meta'].join('.')

test('a bundled test file sees its source module’s url, folder and name, and imports the helpers and packages', async () => {
  // A file outside the checkout (as test-tiers.test.ts gives the run), beside one of the checkout's.
  const dir = mkdtempSync(join(tmpdir(), 'test-files-'))
  const seen = join(dir, 'seen.json')
  const a = join(dir, 'a.test.ts')
  writeFileSync(
    a,
    `import { writeFileSync } from 'node:fs'\nimport { ROOT } from ${JSON.stringify(join(ROOT, 'test/helpers/run.ts'))}\nimport Database from 'better-sqlite3'\n` +
      // The fixture's import.meta written in pieces: this file, bundled, has its own import.meta replaced as text.
      `writeFileSync(process.argv[2], JSON.stringify({ url: ${META}.url, dirname: ${META}.dirname, filename: ${META}.filename, root: ROOT, db: typeof Database, argv: process.execArgv }))\n`
  )
  const zones = 'test/unit/zones.test.ts'
  const built = await buildTestFiles([a, zones])
  try {
    const out = built.bundles.get(a) as string
    assert.ok(out.startsWith(built.dir) && existsSync(out), out)
    assert.equal(built.bundles.get(join(ROOT, zones)), join(built.dir, 'test/unit/zones.test.mjs'), 'a file of the checkout keeps its path')
    const map = JSON.parse(readFileSync(built.map, 'utf8')) as Record<string, string>
    assert.deepEqual(map, { [out]: a, [join(built.dir, 'test/unit/zones.test.mjs')]: join(ROOT, zones) }, 'the map names the source of each bundle')
    const r = spawnSync(process.execPath, [out, seen], { cwd: ROOT, encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(JSON.parse(readFileSync(seen, 'utf8')), { url: pathToFileURL(a).href, dirname: dir, filename: a, root: ROOT, db: 'function', argv: [] })
  } finally {
    rmSync(built.dir, { recursive: true, force: true })
  }
})

test('a run runs its test files without tsx, reports a failing one under its source name, and removes the bundles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'test-files-run-'))
  const seen = join(dir, 'seen')
  mkdirSync(join(dir, 'sub'))
  const ok = join(dir, 'sub', 'argv.test.ts')
  writeFileSync(
    ok,
    "import { test } from 'node:test'\nimport { writeFileSync } from 'node:fs'\n" +
      `test('argv', () => {\n  writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ argv: process.execArgv, file: process.argv[1] }))\n})\n`
  )
  const bad = join(dir, 'bad.test.ts')
  // It fails as it loads: node:test then reports the file itself, by its path; the stack names the source's line.
  writeFileSync(bad, "const n: number = 1\n\nthrow new Error('boom ' + n)\n")
  const { NODE_TEST_CONTEXT: _, ...outside } = process.env
  // A bound for a hang: the run bundles the commands and the files, then runs two tiny files.
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/test.ts'), ok, bad], { cwd: ROOT, encoding: 'utf8', env: outside, timeout: 180_000 })
  assert.equal(r.status, 1, r.stdout + r.stderr)
  assert.match(r.stdout, /^ok \d+ - argv$/m)
  assert.match(r.stdout, new RegExp(`^not ok \\d+ - ${bad.replaceAll('.', '\\.')}$`, 'm'), 'the failing file under its source name')
  assert.ok(r.stdout.includes(`${bad}:3:`), `the stack names the source's line: ${r.stdout}`)
  const got = JSON.parse(readFileSync(seen, 'utf8')) as { argv: string[]; file: string }
  assert.deepEqual(got.argv, ['--enable-source-maps', '--test-force-exit'], 'no tsx loader in the test file’s process; source maps on')
  assert.match(got.file, /instore-test-files\/run-[^/]+\/outside\/0\/argv\.test\.mjs$/)
  assert.ok(!existsSync(join(got.file, '..', '..', '..')), 'the run’s bundles removed at its end')
})
