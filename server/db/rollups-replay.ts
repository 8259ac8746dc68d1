// Migration 002's one count of a database's stored events and acks, when the rollups (rollups.ts)
// were added to a database that already had events.
import type { Db, Q } from './schema.ts'
import { applyEvent, Counts, storeAck, type EventRow } from './rollups.ts'

/**
 * Counts a database's stored events and acks once (rollups added to a database that already had
 * events): the events in time order, then the acks, in pages. Each page starts after the last row
 * of the one before (its time, store and id), never at an offset: an offset reads every skipped row
 * again, and a row stored or deleted before the cursor meanwhile moves every later row across a
 * page boundary (one counted twice or not at all). `page` and `paged` (called after each page) are
 * for tests.
 */
export async function replayRollups(q: Q, visits = true, o: { page?: number; paged?: () => Promise<void> } = {}): Promise<void> {
  const PAGE = o.page ?? 2000
  const counts = new Counts()
  let after: { ts: number; store_id: string; id: string } | null = null
  for (;;) {
    const from: { ts: number; store_id: string; id: string } | null = after
    const page: EventRow[] = await q
      .selectFrom('events')
      .selectAll()
      .$if(from !== null, qb => qb.where(eb => eb(eb.refTuple('ts', 'store_id', 'id'), '>', eb.tuple(from?.ts ?? 0, from?.store_id ?? '', from?.id ?? ''))))
      .orderBy('ts')
      .orderBy('store_id')
      .orderBy('id')
      .limit(PAGE)
      .execute()
    for (const e of page) await applyEvent(q, e, counts, visits)
    if (page.length < PAGE) break
    const last = page[page.length - 1]
    after = { ts: Number(last.ts), store_id: last.store_id, id: last.id }
    await o.paged?.()
  }
  await counts.write(q)
  const acks = await q.selectFrom('acks').selectAll().execute()
  await q.deleteFrom('acks').execute()
  for (const a of acks) await storeAck(q, a.trigger_id, a.status, a.ts)
}

/**
 * Migration 002 on a database with events: counts them once, without the visits table (migration
 * 009 fills it afterwards), its pages reading the events on an index of their order made for it.
 */
export async function replayRollupsOnce(db: Db): Promise<void> {
  await db.schema.createIndex('events_replay_order').ifNotExists().on('events').columns(['ts', 'store_id', 'id']).execute()
  await replayRollups(db, false)
  await db.schema.dropIndex('events_replay_order').ifExists().execute()
}
