import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBin } from '../helpers/run.ts'
import { expandConfigFile, type CommandSpec, type OptionSpec } from '../../shared/cli.ts'

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

test('relative paths in a config file are relative to its folder; other values and the command line are as given', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'))
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify({ site: 'store.site.json', data: '/var/lib/instore', auth: '../auth.json', token: 'gw_token', prefix: 'shop/x' }))
  const spec = {
    name: 'x',
    summary: 'x',
    options: {
      config: { type: 'string', doc: 'config' },
      site: { type: 'string', path: true, doc: 'site' },
      data: { type: 'string', path: true, doc: 'data' },
      auth: { type: 'string', path: true, doc: 'auth' },
      devices: { type: 'string', path: true, doc: 'devices' },
      token: { type: 'string', doc: 'token' },
      prefix: { type: 'string', doc: 'prefix' }
    }
  } satisfies CommandSpec<Record<string, OptionSpec>>
  const argv = expandConfigFile(spec, ['--config', file, '--devices', 'here.json'])
  const value = (k: string) => argv[argv.indexOf(`--${k}`) + 1]
  const cases: Array<[string, string]> = [
    ['site', join(dir, 'store.site.json')],
    ['data', '/var/lib/instore'],
    ['auth', join(dir, '..', 'auth.json')],
    ['token', 'gw_token'],
    ['prefix', 'shop/x'],
    ['devices', 'here.json']
  ]
  for (const [k, want] of cases) assert.equal(value(k), want, k)
})
