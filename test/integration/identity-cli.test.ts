// The commands' identity options: a standalone gateway's --devices, replay's --devices. Bad input
// is a one-line reason and exit code 2 (contract §8).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBin, ROOT } from '../helpers/run.ts'

const dir = mkdtempSync(join(tmpdir(), 'idcli-'))
const site = join(ROOT, 'sites/boutique.site.json')
const file = (name: string, body: unknown) => {
  const p = join(dir, name)
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body))
  return p
}
const good = file('good.devices.json', [{ subject: 'app:00112233', key: '00'.repeat(16), k: 10, consent: { presence: true, marketing: true } }])

const cases: Array<[string, string, string[], RegExp]> = [
  [
    'gateway: --devices with --central',
    'instore-gateway',
    ['--site', site, '--devices', good, '--central', 'http://127.0.0.1:1', '--token', 't'],
    /--devices is for standalone gateways/
  ],
  ['gateway: a devices file that is not JSON', 'instore-gateway', ['--site', site, '--devices', file('bad.json', '{')], /--devices:/],
  [
    'gateway: a device with a short key',
    'instore-gateway',
    ['--site', site, '--devices', file('short.json', [{ subject: 'app:00', key: 'abcd', k: 10, consent: { presence: true, marketing: true } }])],
    /--devices: .*key/
  ],
  [
    'gateway: a subject outside app:',
    'instore-gateway',
    ['--site', site, '--devices', file('subject.json', [{ subject: 'h:00', key: '00'.repeat(16), k: 10, consent: { presence: true, marketing: true } }])],
    /--devices: .*subject/
  ],
  ['replay: a devices file that does not exist', 'instore-replay', ['--trace', file('t.jsonl', ''), '--devices', join(dir, 'nope.json')], /no such file/]
]

for (const [name, bin, args, reason] of cases) {
  test(`${name} is refused with exit code 2`, async () => {
    const r = await runBin(bin, args)
    assert.equal(r.code, 2, r.stdout + r.stderr)
    assert.match(r.stderr, reason)
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line')
  })
}

// Repro (issue 25, hostile tester item 14): writeFileSync's mode applies only on create, so a
// devices file left world-readable by an earlier run stayed so; --devices loaded it silently.
test('the simulator narrows an existing, world-readable devices file to its owner', async () => {
  const out = join(dir, 'sim.jsonl')
  const devices = join(dir, 'sim.devices.json')
  writeFileSync(devices, '[]')
  chmodSync(devices, 0o644)
  const r = await runBin('instore-sim', ['--scenario', join(ROOT, 'simulators/scenarios/boutique.json'), '--out', out, '--duration', '5'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.equal(statSync(devices).mode & 0o777, 0o600)
})

const modes: Array<[number, boolean]> = [
  [0o644, true],
  [0o640, true],
  [0o604, true],
  [0o600, false]
]
for (const [mode, warned] of modes) {
  test(`gateway: a devices file of mode ${mode.toString(8)} is ${warned ? '' : 'not '}warned about`, async () => {
    const p = file(`mode-${mode.toString(8)}.devices.json`, [{ subject: 'app:00112233', key: '00'.repeat(16), k: 10, consent: { presence: true, marketing: true } }])
    chmodSync(p, mode)
    // A later usage error stops the gateway right after the devices file is checked.
    const r = await runBin('instore-gateway', ['--site', site, '--devices', p, '--meraki-validator', 'v'])
    assert.equal(r.code, 2, r.stdout + r.stderr)
    assert.equal(/readable by group or others/.test(r.stdout + r.stderr), warned, r.stdout + r.stderr)
  })
}
