// Defect 7 of the s8 outside tester's server list: a `text/plain` body was parsed (fastify's
// default parser) and reached the route as a string, answered 400, instead of being refused as a
// body that is not JSON (docs/api.md: 415 INSTORE_BAD_MEDIA_TYPE for any body not application/json).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { onTestDb, TEST_ENGINE } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_media_type_test'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }

test(`a body that is not application/json is 415 INSTORE_BAD_MEDIA_TYPE, text/plain included (${TEST_ENGINE})`, async () => {
  const { app } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'media-type-')), log: silentLogger, adminToken: ADMIN }))
  try {
    const gw = ((await app.inject({ method: 'POST', url: '/v1/stores', headers: { authorization: `Bearer ${ADMIN}` }, payload: { site } })).json() as { gatewayToken: string })
      .gatewayToken
    const routes = [
      { url: '/v1/devices', auth: {}, body: '{"consent":{"presence":true,"marketing":true}}' },
      { url: `/v1/stores/${site.storeId}/events`, auth: { authorization: `Bearer ${gw}` }, body: '{"events":[]}' }
    ]
    for (const r of routes) {
      for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/xml']) {
        const res = await app.inject({ method: 'POST', url: r.url, headers: { ...r.auth, 'content-type': type }, payload: r.body })
        assert.equal(res.statusCode, 415, `${r.url} ${type}`)
        assert.equal((res.json() as { error: string }).error, 'INSTORE_BAD_MEDIA_TYPE', `${r.url} ${type}`)
      }
      const ok = await app.inject({ method: 'POST', url: r.url, headers: { ...r.auth, 'content-type': 'application/json' }, payload: r.body })
      assert.ok(ok.statusCode < 300, `${r.url} as JSON: ${ok.statusCode}`)
    }
  } finally {
    await app.close()
  }
})
