// Migration 002 counts a database's stored events once when the rollups are added. It paged them
// with OFFSET: every page read the skipped rows again, and a row stored before the cursor while
// it paged (another replica still running) moved every later row one place on, so the last event
// of a page was counted again. Pages now start after the last row of the one before.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { openData } from '../../server/db/db.ts'
import { replayRollups } from '../../server/db/rollups-replay.ts'
import { onTestDb, TEST_ENGINE } from '../helpers/postgres.ts'

test(`the rollups' replay counts each stored event once, also when one is stored before its cursor meanwhile (${TEST_ENGINE})`, async () => {
  const data = await openData(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'rollups-replay-')) }))
  try {
    const db = data.db
    const T = 1_764_000_000_000
    const enter = (i: number, ts: number) => ({
      id: `e${i}`,
      store_id: 's1',
      type: 'shop.enter',
      subject: `h:${String(i).padStart(16, '0')}`,
      ts,
      received: ts,
      body: JSON.stringify({ visitId: `v${i}`, shop: 'main', frequency: { segment: 'first' } })
    })
    const N = 10
    await db
      .insertInto('events')
      .values(Array.from({ length: N }, (_, i) => enter(i, T + i * 1000)))
      .execute()
    let late = 0
    await replayRollups(db, false, {
      page: 3,
      // An event stored meanwhile, earlier than every row read so far.
      paged: async () => {
        if (late++ === 0)
          await db
            .insertInto('events')
            .values(enter(99, T - 1000))
            .execute()
      }
    })
    const enters = await db.selectFrom('an_counts').select('n').where('metric', '=', 'enter').where('res', '=', 't').execute()
    assert.deepEqual(
      enters.map(r => Number(r.n)),
      [N]
    )
  } finally {
    await data.close()
  }
})

test('migration 002 run on a database with events counts them once and leaves no index of its own (sqlite)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rollups-002-'))
  let data = await openData({ dataDir })
  const T = 1_764_000_000_000
  await data.db
    .insertInto('events')
    .values(
      Array.from({ length: 5 }, (_, i) => ({
        id: `e${i}`,
        store_id: 's1',
        type: 'shop.enter',
        subject: `h:${String(i).padStart(16, '0')}`,
        ts: T + i,
        received: T + i,
        body: JSON.stringify({ visitId: `v${i}`, shop: 'main', frequency: { segment: 'first' } })
      }))
    )
    .execute()
  // As before migration 002: no rollups, and no record of it or of the later ones (which run again).
  for (const t of ['an_counts', 'an_open_visits', 'an_open_stays']) await sql`DROP TABLE ${sql.table(t)}`.execute(data.db)
  await sql`DELETE FROM kysely_migration WHERE name >= '002_rollups'`.execute(data.db)
  await data.close()
  data = await openData({ dataDir })
  try {
    const enters = await data.db.selectFrom('an_counts').select('n').where('metric', '=', 'enter').where('res', '=', 't').execute()
    assert.deepEqual(
      enters.map(r => Number(r.n)),
      [5]
    )
    assert.equal((await sql`SELECT name FROM sqlite_master WHERE name = 'events_replay_order'`.execute(data.db)).rows.length, 0)
  } finally {
    await data.close()
  }
})
