// POST /v1/stores as the docs show it (s8 report item 6): the docs said "with a site file", and a
// site file posted as the body got "body must have required property 'site'". The docs now show
// the exact curl, and the 400 says what body the route takes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_provisioning_0123456789'

test('POST /v1/stores: a site file posted bare is refused with the body it takes; wrapped, it is provisioned', async () => {
  const { app } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'provision-')), log: silentLogger, adminToken: ADMIN }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
    const cases: Array<[unknown, RegExp]> = [
      [site, /^body is a site file itself: POST \/v1\/stores takes \{"site": <the site file>\}$/],
      [{}, /^body must have required property 'site': POST \/v1\/stores takes \{"site": <the site file>\}$/],
      [{ site: 3 }, /^body\/site must be object: POST \/v1\/stores takes/],
      [[], /^body must be object: POST \/v1\/stores takes/]
    ]
    for (const [body, message] of cases) {
      const r = await api<{ error: string; message: string }>(`${url}/v1/stores`, ADMIN, 'POST', body)
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 60))
      assert.equal(r.body.error, 'INSTORE_BAD_REQUEST')
      assert.match(r.body.message, message)
    }
    // A caller without the admin role learns nothing of the body: refused first.
    assert.equal((await api(`${url}/v1/stores`, null, 'POST', site)).status, 401)
    const ok = await api<{ storeId: string; gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site })
    assert.equal(ok.status, 201)
    assert.equal(ok.body.storeId, site.storeId)
    assert.match(ok.body.gatewayToken, /^gw_/)
  } finally {
    await app.close()
  }
})
