// Issue 29 item 3: on PostgreSQL raw events are partitioned by month of their time; retention drops a
// month whose events all arrived before it as one table, and leaves a month with a late arrival
// to the row-by-row delete. On SQLite the same calls keep the same counts (one table).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { startRetention } from '../../server/db/retention.ts'
import { dropOldMonths, ensureMonths } from '../../server/db/partitions.ts'
import pg from 'pg'
import { ROOT } from '../helpers/run.ts'
import { storeEvents } from '../../server/db/rollups.ts'
import { silentLogger } from '../../shared/log.ts'

const DAY = 86_400_000
// A fixed today, so that which months end before the retention does not depend on the date the test runs.
const NOW = Date.UTC(2026, 11, 6, 12)

test('retention drops whole months of events on PostgreSQL, keeps a month with a late arrival, and counts the same on both engines', async () => {
  const { app, ctx } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'partitions-')), log: silentLogger, adminToken: 'adm_partitions' }))
  const pg = ctx.data.engine === 'postgres'
  const parts = async (): Promise<string[]> =>
    pg
      ? (
          await sql<{ name: string }>`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' ORDER BY 1`.execute(ctx.db)
        ).rows.map(r => r.name)
      : []
  try {
    if (pg) {
      assert.ok((await parts()).includes('events_default'), 'a default partition')
      // The months around our fixed today (the server made those around the real one).
      await ensureMonths(ctx.db, NOW - 90 * DAY)
      await ensureMonths(ctx.db, NOW)
    }
    const rows: Array<[ts: number, received: number]> = [
      ...Array.from({ length: 300 }, (_, i): [number, number] => [Date.UTC(2026, 8, 10) + i * 60_000, Date.UTC(2026, 8, 10) + i * 60_000]), // September
      ...Array.from({ length: 200 }, (_, i): [number, number] => [Date.UTC(2026, 9, 5) + i * 60_000, Date.UTC(2026, 9, 5) + i * 60_000]), // October
      [Date.UTC(2026, 9, 30), NOW - 2 * DAY], // October, arrived late (a gateway back after weeks offline)
      ...Array.from({ length: 100 }, (_, i): [number, number] => [NOW - DAY + i * 60_000, NOW - DAY + i * 60_000]) // this month
    ]
    const events = rows.map(([ts, received], i) => ({
      id: `p${i}`,
      store_id: 'store-p',
      type: 'shop.enter',
      subject: `h:${i.toString(16).padStart(16, '0')}`,
      ts,
      body: JSON.stringify({ id: `p${i}`, type: 'shop.enter', storeId: 'store-p', subject: 'x', visitId: `v${i}`, seq: i + 1, ts, shop: 'boutique' }),
      received
    }))
    await ctx.db.transaction().execute(async trx => {
      assert.equal((await storeEvents(trx, events)).size, events.length)
      // Sent again (an uplink retry): nothing stored twice, on either engine.
      assert.equal((await storeEvents(trx, events.slice(0, 50))).size, 0)
    })
    const count = async (): Promise<number> =>
      Number(
        (
          await ctx.db
            .selectFrom('events')
            .select(eb => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n
      )
    assert.equal(await count(), events.length)
    // Keep 30 days: September goes as a table; October's on-time events row by row (one came late).
    const r = startRetention(
      ctx.db,
      ctx.data.engine,
      30 * DAY,
      err => {
        throw err
      },
      () => NOW
    )
    try {
      assert.equal((await r.runOnce()) + (await r.runOnce()), 500)
    } finally {
      await r.stop()
    }
    assert.equal(await count(), 101)
    if (pg) {
      const left = await parts()
      assert.ok(!left.includes('events_m202609'), `September dropped as a table: ${left.join(' ')}`)
      assert.ok(left.includes('events_m202610'), 'October stays: one of its events arrived within the retention')
    }
  } finally {
    await app.close()
  }
})

test('a PostgreSQL database from before monthly events is partitioned at start, its events kept and still deduplicated', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'partitions-upgrade-'))
  const first = await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: 'adm_partitions' }))
  const pg = first.ctx.data.engine === 'postgres'
  const old = [Date.UTC(2025, 0, 15), Date.UTC(2026, 5, 1), Date.now() - DAY]
  try {
    if (pg) {
      // The table as migration 001 made it, with a few events of long ago, and 005 (and those after it) not yet run.
      await sql`DROP TABLE events`.execute(first.ctx.db)
      await sql`CREATE TABLE events (id text NOT NULL, store_id text NOT NULL, type text NOT NULL, subject text NOT NULL,
        ts bigint NOT NULL, body text NOT NULL, received bigint NOT NULL, CONSTRAINT events_pkey PRIMARY KEY (store_id, id))`.execute(first.ctx.db)
      await sql`CREATE INDEX events_received ON events (received)`.execute(first.ctx.db)
      for (const [i, ts] of old.entries()) {
        await sql`INSERT INTO events VALUES (${`u${i}`}, 'store-u', 'shop.enter', 'h:00', ${ts}, '{}', ${ts})`.execute(first.ctx.db)
      }
      await sql`DELETE FROM kysely_migration WHERE name >= '005_monthly_events'`.execute(first.ctx.db)
    }
  } finally {
    await first.app.close()
  }
  const second = await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: 'adm_partitions' }))
  try {
    if (!pg) return
    const kind = await sql<{ relkind: string }>`SELECT relkind FROM pg_class WHERE relname = 'events'`.execute(second.ctx.db)
    assert.equal(kind.rows[0]?.relkind, 'p')
    const rows = await sql<{ id: string; part: string }>`SELECT id, tableoid::regclass::text AS part FROM events ORDER BY id`.execute(second.ctx.db)
    assert.deepEqual(
      rows.rows.map(r => r.id),
      ['u0', 'u1', 'u2']
    )
    assert.deepEqual(rows.rows.map(r => r.part).slice(0, 2), ['events_m202501', 'events_m202606'])
    const again = await second.ctx.db
      .transaction()
      .execute(async trx => await storeEvents(trx, [{ id: 'u1', store_id: 'store-u', type: 'shop.enter', subject: 'h:00', ts: old[1], body: '{}', received: Date.now() }]))
    assert.equal(again.size, 0, 'an event stored before the upgrade is not stored again')
  } finally {
    await second.app.close()
  }
})

test('one id posted twice at once with two times is stored once on either engine; a month busy with a reader is dropped at a later run, never while it blocks inserts', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'partitions-race-'))
  const o = await onTestDb({ dataDir, log: silentLogger, adminToken: 'adm_partitions' })
  const { app, ctx } = await buildServer(o)
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
  try {
    const made = await app.inject({ method: 'POST', url: '/v1/stores', headers: { authorization: 'Bearer adm_partitions' }, payload: { site } })
    const gw = (made.json() as { gatewayToken: string }).gatewayToken
    const now = Date.now()
    for (let i = 0; i < 10; i++) {
      const post = (ts: number) =>
        app.inject({
          method: 'POST',
          url: `/v1/stores/${site.storeId}/events`,
          headers: { authorization: `Bearer ${gw}` },
          payload: { events: [{ id: `twice-${i}`, type: 'shop.enter', storeId: site.storeId, subject: `h:${i.toString(16).padStart(16, '0')}`, seq: 1, ts, shop: 'boutique' }] }
        })
      const [a, b] = await Promise.all([post(now - 60_000), post(now - 59_000)])
      assert.deepEqual([a.statusCode, b.statusCode], [200, 200])
    }
    const rows = await ctx.db.selectFrom('events').select('id').where('id', 'like', 'twice-%').execute()
    assert.equal(rows.length, 10, 'one row per id')
    if (ctx.data.engine !== 'postgres' || o.databaseUrl === undefined) return
    // A reader holds the table: the drop gives up at once (the month stays), and succeeds once the reader is done.
    await ensureMonths(ctx.db, NOW - 90 * DAY)
    const sept = Date.UTC(2026, 8, 10)
    await ctx.db.transaction().execute(async trx => {
      await storeEvents(trx, [{ id: 'old-1', store_id: 'store-p', type: 'shop.enter', subject: 'h:00', ts: sept, body: '{}', received: sept }])
    })
    const reader = new pg.Client({ connectionString: o.databaseUrl })
    await reader.connect()
    try {
      await reader.query('BEGIN')
      await reader.query('SELECT count(*) FROM events')
      const started = Date.now()
      assert.equal(await dropOldMonths(ctx.db, NOW - 30 * DAY), 0)
      // Waiting would last until the reader commits, after this line: any finite bound tells the two apart,
      // and a generous one holds on a loaded machine.
      assert.ok(Date.now() - started < 60_000, 'gave up instead of waiting for the reader')
      await reader.query('COMMIT')
    } finally {
      await reader.end()
    }
    assert.equal(await dropOldMonths(ctx.db, NOW - 30 * DAY), 1)
  } finally {
    await app.close()
  }
})
