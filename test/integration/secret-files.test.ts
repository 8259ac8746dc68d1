// Files holding secrets, as a retailer's engineer installs them following docs/deployment.md (s8
// report item 2): the gateway's config (the store's gateway token) and its broker auth file (the
// logins' hashes). `sudo cp` left them 0644, readable by every local user, without a word; the unit
// (User=instore) needs its group to read them, so the docs now install them 0640 root:instore and
// the gateway warns at start when other users may read either.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBin, ROOT } from '../helpers/run.ts'

const dir = mkdtempSync(join(tmpdir(), 'secret-files-'))
const site = join(ROOT, 'sites/boutique.site.json')

const modes: Array<[number, boolean]> = [
  [0o644, true],
  [0o604, true],
  [0o602, true],
  [0o640, false],
  [0o600, false]
]
for (const [mode, warned] of modes) {
  test(`gateway: a config file and an auth file of mode ${mode.toString(8)} are ${warned ? '' : 'not '}warned about`, async () => {
    const m = mode.toString(8)
    const auth = join(dir, `auth-${m}.json`)
    writeFileSync(auth, '{}')
    chmodSync(auth, mode)
    const config = join(dir, `gateway-${m}.json`)
    writeFileSync(config, JSON.stringify({ site, auth: `auth-${m}.json`, token: 'gw_secret' }))
    chmodSync(config, mode)
    // A later usage error stops the gateway right after the files are checked.
    const r = await runBin('instore-gateway', ['--config', config, '--meraki-validator', 'v'])
    assert.equal(r.code, 2, r.stdout + r.stderr)
    const out = r.stdout + r.stderr
    assert.equal(/config file is readable or writable by every local user/.test(out), warned, out)
    assert.equal(/auth file is readable or writable by every local user/.test(out), warned, out)
    if (warned) assert.ok(out.includes(config) && out.includes(auth) && out.includes(`"mode":"${m}"`), out)
  })
}
