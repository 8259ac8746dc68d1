// The commands as scripts/test.ts bundles them for a test run (scripts/test-bins.ts): every command
// of bin/ is there, and each bundled module still finds what lies beside its source (the server's
// pages and the SDK it serves, the gateway's pool workers), as when run from bin/.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binSources, buildTestBins, TEST_BIN_ENV } from '../../scripts/test-bins.ts'
import { binEntry, ROOT, START_TIMEOUT_MS } from '../helpers/run.ts'
import { waitFor } from '../helpers/gateway.ts'
import { startGatewayProc, startProc, stopChild } from '../helpers/procs.ts'

test('every command of bin/ is bundled, from the module its script imports', async () => {
  const sources = binSources()
  const names = readdirSync(join(ROOT, 'bin'))
    .filter(f => f.endsWith('.mjs'))
    .map(f => f.slice(0, -'.mjs'.length))
    .sort()
  assert.deepEqual(Object.keys(sources), names)
  for (const [name, src] of Object.entries(sources)) assert.ok(existsSync(join(ROOT, src)), `${name}: ${src}`)
  const out = await buildTestBins()
  try {
    assert.deepEqual(readdirSync(out).sort(), names.map(n => `${n}.mjs`).sort())
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})

test('binEntry: bin/ without the variable, the bundle with it, an error when the folder lacks the command', () => {
  assert.equal(binEntry('instore-server', {}), join(ROOT, 'bin', 'instore-server.mjs'))
  assert.equal(binEntry('instore-server', { [TEST_BIN_ENV]: '' }), join(ROOT, 'bin', 'instore-server.mjs'))
  const dir = mkdtempSync(join(tmpdir(), 'test-bins-'))
  assert.throws(() => binEntry('instore-server', { [TEST_BIN_ENV]: dir }), /has no instore-server\.mjs/)
})

test('the bundled server serves its pages and the SDK, read beside their source; the bundled gateway starts its pool workers', async () => {
  const out = await buildTestBins()
  try {
    const data = mkdtempSync(join(tmpdir(), 'test-bins-server-'))
    const server = await startProc(
      'instore-server',
      ['--port', '0', '--data', data, '--admin-token', 'adm_test_token_0123456789'],
      /"server started"/,
      join(out, 'instore-server.mjs')
    )
    try {
      const url = (/"url":"(http:\/\/[0-9.:]+)"/.exec(server.out()) as RegExpExecArray)[1]
      for (const [path, type] of [
        ['/', /text\/html/],
        ['/dashboard.js', /javascript/],
        ['/sdk.js', /javascript/]
      ] as const) {
        const res = await fetch(url + path)
        assert.equal(res.status, 200, path)
        assert.match(res.headers.get('content-type') ?? '', type, path)
        assert.ok((await res.text()).length > 100, path)
      }
    } finally {
      await stopChild(server.child)
    }
    const gw = await startGatewayProc(
      ['--site', join(ROOT, 'sites/boutique.site.json'), '--data', mkdtempSync(join(tmpdir(), 'test-bins-gw-')), '--workers', '1'],
      join(out, 'instore-gateway.mjs')
    )
    try {
      assert.doesNotMatch(gw.out(), /"level":"error"/)
      let metrics = ''
      await waitFor(
        async () => {
          metrics = await (await fetch(`${gw.http}/metrics`)).text()
          return /^instore_solver_workers 1$/m.test(metrics)
        },
        START_TIMEOUT_MS,
        'the solver worker, started from source'
      )
      assert.match(metrics, /^instore_solver_worker_restarts_total 0$/m)
    } finally {
      await stopChild(gw.child)
    }
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})
