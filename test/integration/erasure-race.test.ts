// An erasure racing a batch of events about the same shopper (an outside tester, PostgreSQL): once
// the erasure has answered, nothing about the subject is left, whichever came first. On PostgreSQL
// the batch holds the device's row shared while it stores, and the erasure locks the row first.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_erasure_race'

test('an erasure during a batch of events about the shopper leaves none of them stored', async () => {
  const { app, ctx } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'erasure-race-')), log: silentLogger, adminToken: ADMIN }))
  try {
    const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
    const made = await app.inject({ method: 'POST', url: '/v1/stores', headers: { authorization: `Bearer ${ADMIN}` }, payload: { site } })
    const gw = (made.json() as { gatewayToken: string }).gatewayToken
    for (const delayMs of [0, 10, 30, 60]) {
      const reg = await app.inject({ method: 'POST', url: '/v1/devices', payload: { consent: { presence: true, marketing: false } } })
      const d = reg.json() as { deviceId: string; token: string; subject: string }
      const now = Date.now()
      const events = Array.from({ length: 500 }, (_, k) => ({
        id: `race-${delayMs}-${k}`,
        type: 'sector.enter',
        storeId: site.storeId,
        subject: d.subject,
        visitId: `v${delayMs}-${k}`,
        seq: k + 1,
        ts: now - 1000,
        shop: 'boutique',
        sector: 'women'
      }))
      const post = app.inject({ method: 'POST', url: `/v1/stores/${site.storeId}/events`, headers: { authorization: `Bearer ${gw}` }, payload: { events } })
      await new Promise(resolve => setTimeout(resolve, delayMs))
      const del = await app.inject({ method: 'DELETE', url: `/v1/devices/${d.deviceId}`, headers: { authorization: `Bearer ${d.token}` } })
      assert.equal(del.statusCode, 204)
      await post
      const left = await ctx.db.selectFrom('events').select('id').where('subject', '=', d.subject).execute()
      assert.equal(left.length, 0, `erased ${delayMs} ms into the batch: ${left.length} events left`)
    }
  } finally {
    await app.close()
  }
})
