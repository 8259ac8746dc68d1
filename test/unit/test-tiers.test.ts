// The test tiers themselves: which files each tier runs, and what an interop test does without
// its third-party part (skip on a developer's machine, fail in CI).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { decide, inCi } from '../helpers/parts.ts'
import { pickFiles, SLOW_FIRST, serverFiles, slowFirst, tierFiles } from '../../scripts/test.ts'
import { ROOT } from '../helpers/run.ts'
import { setTimeout as sleep } from 'node:timers/promises'

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
    [undefined, false],
    ['', false],
    ['0', false],
    ['false', false],
    ['FALSE', false],
    ['true', true],
    ['1', true],
    ['yes', true]
  ]
  for (const [value, want] of cases) assert.equal(inCi(value === undefined ? {} : { CI: value }), want, `CI=${value}`)
})

test('each tier runs its folder; test files not yet filed into a tier run with integration; helpers never', () => {
  const root = mkdtempSync(join(tmpdir(), 'tiers-'))
  const files = [
    'test/unit/a.test.ts',
    'test/unit/deep/b.test.ts',
    'test/integration/c.test.ts',
    'test/interop/d.test.ts',
    'test/e.test.ts',
    'test/helpers/f.test.ts',
    'test/unit/not-a-test.ts'
  ]
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true })
    writeFileSync(join(root, f), '')
  }
  const rel = (fs: string[]) => fs.map(f => relative(root, f))
  assert.deepEqual(rel(tierFiles('unit', root)), ['test/unit/a.test.ts', 'test/unit/deep/b.test.ts'])
  assert.deepEqual(rel(tierFiles('integration', root)), ['test/integration/c.test.ts', 'test/e.test.ts'])
  assert.deepEqual(rel(tierFiles('interop', root)), ['test/interop/d.test.ts'])
})

test('the PostgreSQL pass takes the test files that start a server through the postgres helper or startServer, and no other', () => {
  const root = mkdtempSync(join(tmpdir(), 'tiers-pg-'))
  // Written in two pieces: this file itself must not look like a server test to serverFiles (it ran
  // in the PostgreSQL pass again for nothing).
  const cases: Array<[file: string, text: string, server: boolean]> = [
    ['test/integration/a.test.ts', "import { onTestDb } from '../helpers/post" + "gres.ts'\n", true],
    ['test/integration/b.test.ts', 'const s = await start' + 'Server(dir, ADMIN)\n', true],
    ['test/integration/c.test.ts', "import { startGateway } from '../helpers/gateway.ts'\n", false],
    ['test/unit/d.test.ts', '// mentions postgres.ts and startServer without calling either\n', false]
  ]
  for (const [f, text] of cases) {
    mkdirSync(join(root, f, '..'), { recursive: true })
    writeFileSync(join(root, f), text)
  }
  assert.deepEqual(serverFiles(['test/unit/test-tiers.test.ts'], ROOT), [], 'this file is no server test')
  assert.deepEqual(
    serverFiles(
      cases.map(c => c[0]),
      root
    ),
    cases.filter(c => c[2]).map(c => c[0])
  )
})

test('the slowest files start first, longest first, and every other file keeps its place after them', () => {
  const files = ['test/unit/a.test.ts', SLOW_FIRST[2], 'test/integration/b.test.ts', SLOW_FIRST[0], 'test/interop/c.test.ts']
  assert.deepEqual(slowFirst(files), [SLOW_FIRST[0], SLOW_FIRST[2], 'test/unit/a.test.ts', 'test/integration/b.test.ts', 'test/interop/c.test.ts'])
  assert.deepEqual(slowFirst(['test/unit/a.test.ts']), ['test/unit/a.test.ts'], 'a tier without a slow file runs as it was')
  // A renamed or removed file would silently lose its place at the front.
  for (const f of SLOW_FIRST) assert.ok(existsSync(join(ROOT, f)), `${f} is listed in SLOW_FIRST but does not exist`)
  assert.equal(new Set(SLOW_FIRST).size, SLOW_FIRST.length, 'no file twice')
})

test('the arguments name tiers or test files; none is every tier; anything else is refused', () => {
  const root = mkdtempSync(join(tmpdir(), 'tiers-pick-'))
  for (const f of ['test/unit/a.test.ts', 'test/integration/b.test.ts', 'test/interop/c.test.ts']) {
    mkdirSync(join(root, f, '..'), { recursive: true })
    writeFileSync(join(root, f), '')
  }
  assert.deepEqual(pickFiles([], root), ['test/unit/a.test.ts', 'test/integration/b.test.ts', 'test/interop/c.test.ts'])
  assert.deepEqual(pickFiles(['interop'], root), ['test/interop/c.test.ts'])
  assert.deepEqual(pickFiles(['test/integration/b.test.ts'], root), ['test/integration/b.test.ts'], 'a file alone')
  assert.deepEqual(pickFiles([join(root, 'test/integration/b.test.ts'), 'interop'], root), ['test/interop/c.test.ts', 'test/integration/b.test.ts'], 'an absolute path too')
  assert.deepEqual(pickFiles(['unit', 'test/unit/a.test.ts'], root), ['test/unit/a.test.ts'], 'once')
  assert.match(pickFiles(['units'], root) as string, /neither a tier nor a test file: units/)
  assert.match(pickFiles(['test/unit/gone.test.ts'], root) as string, /neither a tier nor a test file/)
})

test('a pass starts its files in the order given (node --test would sort them), and fails when a test fails', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tiers-order-'))
  const file = (name: string, body: string) => {
    writeFileSync(join(dir, name), `import { test } from 'node:test'\ntest('${name}', () => { ${body} })\n`)
    return join(dir, name)
  }
  // As scripts/test.ts runs it: not as a child of this test runner (NODE_TEST_CONTEXT changes the reporting).
  const { NODE_TEST_CONTEXT: _, ...outside } = process.env
  const pass = (files: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/test-run.ts'), ...files], { cwd: ROOT, encoding: 'utf8', env: outside })
  const order = [file('c.test.mjs', ''), file('a.test.mjs', ''), file('b.test.mjs', '')]
  const ok = pass(order)
  assert.equal(ok.status, 0, ok.stdout + ok.stderr)
  assert.deepEqual(
    [...ok.stdout.matchAll(/^ok \d+ - (\w)\.test\.mjs$/gm)].map(m => m[1]),
    ['c', 'a', 'b']
  )
  const bad = pass([order[0], file('d.test.mjs', "throw new Error('boom')")])
  assert.equal(bad.status, 1, bad.stdout)
  assert.match(bad.stdout, /^not ok \d+ - d\.test\.mjs$/m)
})

/** A test file that starts a child process (its pid in `pidFile`) and never ends. */
function hangingFile(dir: string, pidFile: string): string {
  const f = join(dir, 'hang.test.ts')
  writeFileSync(
    f,
    `import { test } from 'node:test'\nimport { spawn } from 'node:child_process'\nimport { writeFileSync } from 'node:fs'\n` +
      `test('hangs', async () => {\n  writeFileSync(${JSON.stringify(pidFile)}, String(spawn('sleep', ['120'], { stdio: 'ignore' }).pid))\n  setInterval(() => {}, 1000)\n  await new Promise(() => {})\n})\n`
  )
  return f
}
/** Whether process `pid` still runs (a zombie waiting for its reaper does not). */
const running = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
/** Waits up to 5 s for process `pid` to be gone (killed, then reaped by init). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && running(pid); i++) await sleep(100)
  return !running(pid)
}
/** scripts/test.ts over `files`, as CI runs it (not as a child of this test runner), stopped after `timeout` ms (a minute) whatever it does. */
function testScript(files: string[], env: Record<string, string>, timeout = 60_000) {
  const { NODE_TEST_CONTEXT: _, ...outside } = process.env
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/test.ts'), ...files], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...outside, ...env },
    timeout,
    killSignal: 'SIGKILL'
  })
}

test('a test file that hangs is stopped at its timeout and named `not ok`; the others run; what it started is killed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tiers-hang-'))
  const pidFile = join(dir, 'pid')
  const fine = join(dir, 'fine.test.ts')
  writeFileSync(fine, "import { test } from 'node:test'\ntest('fine', () => {})\n")
  const r = testScript([hangingFile(dir, pidFile), fine], { INSTORE_TEST_FILE_TIMEOUT_MS: '8000' })
  assert.equal(r.status, 1, r.stdout + r.stderr)
  assert.match(r.stdout, /^not ok \d+ - .*hang\.test\.ts$/m)
  assert.match(r.stdout, /^ok \d+ - fine$/m)
  const pid = Number(readFileSync(pidFile, 'utf8'))
  assert.ok(await gone(pid), 'the hung file’s child killed')
})

test('a pass past its limit is stopped with every process it started', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tiers-limit-'))
  const pidFile = join(dir, 'pid')
  const r = testScript([hangingFile(dir, pidFile)], { INSTORE_TEST_FILE_TIMEOUT_MS: '600000', INSTORE_TEST_PASS_LIMIT_MS: '8000' })
  assert.equal(r.status, 1, r.stdout + r.stderr)
  assert.match(r.stderr, /stopped after .* min and its processes killed/)
  const pid = Number(readFileSync(pidFile, 'utf8'))
  assert.ok(await gone(pid), 'the hung file’s child killed')
})

test('a run bundles the commands for its test files and removes them at the end; a run started inside a run reuses its folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tiers-bins-'))
  const seen = join(dir, 'seen')
  const f = join(dir, 'bins.test.ts')
  writeFileSync(
    f,
    "import { test } from 'node:test'\nimport { existsSync, writeFileSync } from 'node:fs'\nimport { join } from 'node:path'\n" +
      `test('bins', () => {\n  const d = process.env.INSTORE_TEST_BIN_DIR ?? ''\n  writeFileSync(${JSON.stringify(seen)}, d)\n  if (!existsSync(join(d, 'instore-server.mjs'))) throw new Error('no bundle in ' + d)\n})\n`
  )
  // A bound for a hang: this test's two runs took 56 s together at load average 45 on 2 cores.
  const built = testScript([f], { INSTORE_TEST_BIN_DIR: '' }, 180_000)
  assert.equal(built.status, 0, built.stdout + built.stderr)
  const folder = readFileSync(seen, 'utf8')
  assert.equal(relative(join(ROOT, 'node_modules', '.cache', 'instore-test-bin'), join(folder, '..')), '', folder)
  assert.ok(!existsSync(folder), 'removed at the end of the run')
  const given = mkdtempSync(join(tmpdir(), 'tiers-given-bins-'))
  writeFileSync(join(given, 'instore-server.mjs'), '')
  const reused = testScript([f], { INSTORE_TEST_BIN_DIR: given }, 180_000)
  assert.equal(reused.status, 0, reused.stdout + reused.stderr)
  assert.equal(readFileSync(seen, 'utf8'), given)
  assert.ok(existsSync(join(given, 'instore-server.mjs')), "the parent's folder is left to the parent")
})
