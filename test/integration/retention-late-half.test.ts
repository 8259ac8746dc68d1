// Review of s9 merge: once retention had dropped a visit's row, its id went to dropped_visit_ids and
// every later entry or exit of it counted nothing, also an exit never counted (held in a gateway's
// outbox past the retention): the visit lost its duration. The ids keep which halves were counted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { onTestDb, TEST_ENGINE } from '../helpers/postgres.ts'
import type { AnalyticsReplyT } from '../../server/schemas.ts'
import { silentLogger } from '../../shared/log.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_retention_late_half_test'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }

test(`a visit's row dropped by retention: its late first exit (or entry) counts once, a counted half never again (${TEST_ENGINE})`, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'retention-late-half-'))
  const auth = { authorization: `Bearer ${ADMIN}` }
  const t0 = Date.now() - 60_000
  const freq = { visits7d: 0, visits30d: 0, visits90d: 0, daysSinceLastVisit: null, segment: 'first' }
  // v3: only its entry is stored before retention; v4: only its exit.
  const v3 = { storeId: site.storeId, subject: 'h:00000000000000cc', visitId: 'v3', shop: 'boutique' }
  const v4 = { storeId: site.storeId, subject: 'h:00000000000000dd', visitId: 'v4', shop: 'boutique' }
  const enter = (v: object, id: string, seq: number) => ({ ...v, id, type: 'shop.enter', seq, ts: t0, frequency: freq })
  const exit = (v: object, id: string, seq: number) => ({ ...v, id, type: 'shop.exit', seq, ts: t0 + 50_000, durationMs: 50_000 })
  let s = await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: ADMIN }))
  const count = async (table: 'visits' | 'events') =>
    Number(
      (
        await s.ctx.db
          .selectFrom(table)
          .select(eb => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n
    )
  // Entries and durations counted, at one resolution (each count is kept at several).
  const counted = async (metric: 'enter' | 'dur') => {
    const rows = await s.ctx.db.selectFrom('an_counts').select(['res', 'n']).where('metric', '=', metric).execute()
    const res = rows.map(r => r.res).sort()[0]
    return rows.filter(r => r.res === res).reduce((a, r) => a + Number(r.n), 0)
  }
  try {
    const gw = ((await s.app.inject({ method: 'POST', url: '/v1/stores', headers: auth, payload: { site } })).json() as { gatewayToken: string }).gatewayToken
    const post = async (events: unknown[]) =>
      (await s.app.inject({ method: 'POST', url: `/v1/stores/${site.storeId}/events`, headers: { authorization: `Bearer ${gw}` }, payload: { events } })).json()
    const analytics = async () => ((await s.app.inject({ url: `/v1/analytics/stores/${site.storeId}`, headers: auth })).json() as AnalyticsReplyT).visits
    assert.deepEqual(await post([enter(v3, 'v3-enter-1', 1), exit(v4, 'v4-exit-1', 2)]), { accepted: 2, duplicates: 0 })
    assert.equal(await counted('enter'), 1)
    assert.equal(await counted('dur'), 1)
    await s.app.close()
    s = await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: ADMIN, retentionMs: 1 }))
    for (let i = 0; (await count('events')) + (await count('visits')) > 0; i++) {
      assert.ok(i < 500, 'retention dropped the events and the visits')
      await new Promise(r => setTimeout(r, 20))
    }
    // The halves held in a gateway's outbox arrive now: each counts once.
    assert.deepEqual(await post([exit(v3, 'v3-exit-1', 3), enter(v4, 'v4-enter-1', 4)]), { accepted: 2, duplicates: 0 })
    const v = await analytics()
    assert.ok(v.medianDurationMs != null && v.medianDurationMs > 0, `v3's exit counted its duration: ${JSON.stringify(v)}`)
    assert.equal(await counted('enter'), 2)
    assert.equal(await counted('dur'), 2)
    // Every half again, under new event ids: nothing more is counted.
    const again = [enter(v3, 'v3-enter-2', 5), exit(v3, 'v3-exit-2', 6), enter(v4, 'v4-enter-2', 7), exit(v4, 'v4-exit-2', 8)]
    assert.deepEqual(await post(again), { accepted: 4, duplicates: 0 })
    assert.equal(await counted('enter'), 2)
    assert.equal(await counted('dur'), 2)
    assert.equal((await analytics()).total, v.total)
  } finally {
    await s.app.close()
  }
})
