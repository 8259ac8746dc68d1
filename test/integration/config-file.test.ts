import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBin } from '../helpers/run.ts'

test('a gateway config file with problems is refused, every problem listed, exit code 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'))
  writeFileSync(join(dir, 'gw.json'), JSON.stringify({ site: 'sites/boutique.site.json', port: '1883', colour: 'blue', 'http-port': 0 }))
  const r = await runBin('instore-gateway', ['--config', join(dir, 'gw.json')])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /2 problem\(s\)/)
  assert.match(r.stderr, /port: must be a number/)
  assert.match(r.stderr, /colour: unknown option/)
})

test('the example deployment config names only real options', async () => {
  // --help exits 0 only after the config file expanded cleanly.
  const r = await runBin('instore-gateway', ['--config', 'deploy/gateway.example.json', '--help'])
  assert.equal(r.code, 0, r.stderr)
})
