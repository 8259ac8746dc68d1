// Issue 29 item 3: raw events are kept for the configured retention, then dropped, in pages; the
// analytics counts (rollups) stay. Runs on both engines (scripts/test.ts's PostgreSQL pass).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { startRetention } from '../../server/db/retention.ts'
import { storeEvents } from '../../server/db/rollups.ts'
import type { AnalyticsReplyT } from '../../server/schemas.ts'
import { silentLogger } from '../../shared/log.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_retention_test'
const DAY = 86_400_000
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }

test('events received before the retention are dropped, in pages; the analytics counts stay', async () => {
  const { app, ctx } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'retention-')), log: silentLogger, adminToken: ADMIN }))
  try {
    assert.equal((await app.inject({ method: 'POST', url: '/v1/stores', headers: { authorization: `Bearer ${ADMIN}` }, payload: { site } })).statusCode, 201)
    const now = Date.now()
    // Received 40 days ago (more than one page of them) and 2 days ago.
    const rows = Array.from({ length: 12_000 }, (_, i) => {
      const old = i < 11_000
      const e = {
        id: `r${i}`,
        type: 'shop.exit',
        storeId: site.storeId,
        subject: `h:${i.toString(16).padStart(16, '0')}`,
        visitId: `v${i}`,
        seq: i + 1,
        ts: now - (old ? 40 : 2) * DAY,
        shop: 'boutique',
        durationMs: 60_000
      }
      return { id: e.id, store_id: e.storeId, type: e.type, subject: e.subject, ts: e.ts, body: JSON.stringify(e), received: e.ts }
    })
    await ctx.db.transaction().execute(async trx => {
      for (let i = 0; i < rows.length; i += 1000) await storeEvents(trx, rows.slice(i, i + 1000))
    })
    const visits = async () =>
      ((await app.inject({ url: `/v1/analytics/stores/${site.storeId}`, headers: { authorization: `Bearer ${ADMIN}` } })).json() as AnalyticsReplyT).visits.total
    assert.equal(await visits(), 12_000)
    const cases: Array<[retentionDays: number, dropped: number, left: number]> = [
      [60, 0, 12_000],
      [30, 11_000, 1000],
      [30, 0, 1000]
    ]
    for (const [days, dropped, left] of cases) {
      const r = startRetention(
        ctx.db,
        ctx.data.engine,
        days * DAY,
        err => {
          throw err
        },
        () => now
      )
      try {
        // The first run starts on its own at once; runOnce joins it or runs again.
        assert.equal((await r.runOnce()) + (await r.runOnce()), dropped, `retention ${days} d`)
      } finally {
        await r.stop()
      }
      const count = async (table: 'events' | 'visits') =>
        Number(
          (
            await ctx.db
              .selectFrom(table)
              .select(eb => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n
        )
      assert.equal(await count('events'), left, `retention ${days} d: events left`)
      // The visits rows name subjects too: they go with the events.
      assert.equal(await count('visits'), left, `retention ${days} d: visits left`)
      assert.equal(await visits(), 12_000, 'the counts stay')
    }
  } finally {
    await app.close()
  }
})

test('a retention of 0 or less is refused', () => {
  for (const ms of [0, -1, Number.NaN]) assert.throws(() => startRetention({} as never, 'sqlite', ms, () => {}), /retention must be above 0/)
})
