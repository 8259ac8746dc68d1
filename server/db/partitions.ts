// On PostgreSQL the raw events are partitioned by month of their event time (`ts`), so that
// retention drops a month as one table instead of deleting its rows one by one, and a table of
// years of events is never scanned whole. Event time, not arrival: a gateway re-sending an event
// after an outage sends the same time, so the copy meets the first in the same partition and the
// key (store, id, time) keeps it out. Months are created ahead of time (this one and the next
// two, at start and every hour); an event outside them (a clock far off, a late one of a month
// dropped already) goes to the default partition and is dropped by the ordinary paged delete.
import { sql } from 'kysely'
import type { Db } from './schema.ts'

const MONTHS_AHEAD = 2
/** How long creating or dropping a month may wait for its locks before it gives up until the next run. */
const DROP_LOCK_TIMEOUT = '200ms'
/** Old events copied into monthly partitions at the migration, at most this far back; older ones go to the default partition. */
const MONTHS_BACK = 120

const monthStart = (y: number, m: number): number => Date.UTC(y, m, 1)
const partName = (y: number, m: number): string => {
  const d = new Date(monthStart(y, m))
  return `events_m${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`
}

/**
 * Creating a partition needs the parent table to itself: like a drop, it gives up after
 * DROP_LOCK_TIMEOUT rather than hold every replica's inserts behind a long reader (months are made
 * ahead, so the next hourly run has weeks to succeed).
 */
async function createMonth(db: Db, y: number, m: number, migrating: boolean): Promise<void> {
  const name = partName(y, m)
  const create = sql`CREATE TABLE IF NOT EXISTS ${sql.table(name)} PARTITION OF events FOR VALUES FROM (${sql.lit(monthStart(y, m))}) TO (${sql.lit(monthStart(y, m + 1))})`
  // The migration runs in a transaction of its own, at start, with the table just made.
  if (migrating) return void (await create.execute(db))
  await db.transaction().execute(async trx => {
    await sql`SET LOCAL lock_timeout = ${sql.lit(DROP_LOCK_TIMEOUT)}`.execute(trx)
    await create.execute(trx)
  })
}

/**
 * Creates this month's partition and the next ones; every replica may run it. A month that
 * cannot be made (another replica made it at the same moment, or the default partition already
 * holds events of it) is left as it is: its events stay in the default partition. Every month is
 * tried; the other errors are thrown together at the end.
 */
export async function ensureMonths(db: Db, now: number, migrating = false): Promise<void> {
  const d = new Date(now)
  const failed: string[] = []
  for (let i = 0; i <= MONTHS_AHEAD; i++) {
    try {
      await createMonth(db, d.getUTCFullYear(), d.getUTCMonth() + i, migrating)
    } catch (err) {
      const msg = (err as Error).message
      if (!/already exists|would be violated/.test(msg) && (err as { code?: string }).code !== '55P03') failed.push(msg)
    }
  }
  if (failed.length > 0) throw new Error(failed.join('; '))
}

/** Migration 005 on PostgreSQL: the events table becomes partitioned, its rows kept. */
export async function partitionEvents(db: Db, now: number): Promise<void> {
  const kind = await sql<{ relkind: string }>`SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relname = 'events' AND n.nspname = current_schema()`.execute(db)
  if (kind.rows[0]?.relkind === 'p') return
  await sql`ALTER TABLE events RENAME TO events_unpartitioned`.execute(db)
  await sql`ALTER TABLE events_unpartitioned RENAME CONSTRAINT events_pkey TO events_unpartitioned_pkey`.execute(db)
  for (const ix of ['events_store_type', 'events_subject', 'events_id', 'events_received']) await sql`DROP INDEX IF EXISTS ${sql.id(ix)}`.execute(db)
  await sql`CREATE TABLE events (
    id text NOT NULL, store_id text NOT NULL, type text NOT NULL, subject text NOT NULL,
    ts bigint NOT NULL, body text NOT NULL, received bigint NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (store_id, id, ts)
  ) PARTITION BY RANGE (ts)`.execute(db)
  await sql`CREATE TABLE events_default PARTITION OF events DEFAULT`.execute(db)
  // Months of the rows there are (within reason) before the copy: a month created once the
  // default partition holds rows of it would be refused.
  const span = await sql<{ lo: string | null; hi: string | null }>`SELECT min(ts) AS lo, max(ts) AS hi FROM events_unpartitioned`.execute(db)
  const d = new Date(now)
  const first = monthStart(d.getUTCFullYear(), d.getUTCMonth() - MONTHS_BACK)
  const lo = Math.max(Number(span.rows[0]?.lo ?? now), first)
  const hi = Math.min(Number(span.rows[0]?.hi ?? now), now)
  for (let t = new Date(lo), end = new Date(hi); t.getTime() <= end.getTime(); t = new Date(monthStart(t.getUTCFullYear(), t.getUTCMonth() + 1))) {
    await createMonth(db, t.getUTCFullYear(), t.getUTCMonth(), true)
  }
  await ensureMonths(db, now, true)
  await sql`INSERT INTO events (id, store_id, type, subject, ts, body, received)
    SELECT id, store_id, type, subject, ts, body, received FROM events_unpartitioned`.execute(db)
  await sql`DROP TABLE events_unpartitioned`.execute(db)
  await db.schema.createIndex('events_store_type').on('events').columns(['store_id', 'type', 'ts']).execute()
  await db.schema.createIndex('events_subject').on('events').column('subject').execute()
  await db.schema.createIndex('events_id').on('events').column('id').execute()
  await db.schema.createIndex('events_received').on('events').column('received').execute()
}

/**
 * Drops the monthly partitions whose every event arrived before `before` (a month ends before it
 * and none of its events came late); how many events went with them. The rest is for the paged delete.
 * Each month in a transaction of its own that first locks the month (an event being stored there
 * commits before the count, or waits and fails, unacknowledged, once the month is gone) and gives
 * up after DROP_LOCK_TIMEOUT: the drop needs the parent table to itself, and must not hold every
 * replica's inserts behind a long reader (the month is tried again at the next run).
 */
export async function dropOldMonths(db: Db, before: number, keepIdsFrom = Number.POSITIVE_INFINITY): Promise<number> {
  const parts = await sql<{ name: string }>`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
    WHERE p.relname = 'events' AND n.nspname = current_schema()`.execute(db)
  let dropped = 0
  for (const { name } of parts.rows) {
    const m = /^events_m(\d{4})(\d{2})$/.exec(name)
    // The month is 1-based in the name: as monthStart's 0-based month it is the month after, the partition's end.
    if (!m || monthStart(Number(m[1]), Number(m[2])) > before) continue
    try {
      dropped += await db.transaction().execute(async trx => {
        await sql`SET LOCAL lock_timeout = ${sql.lit(DROP_LOCK_TIMEOUT)}`.execute(trx)
        await sql`LOCK TABLE ${sql.table(name)} IN ACCESS EXCLUSIVE MODE`.execute(trx)
        const late = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(name)} WHERE received >= ${before}`.execute(trx)
        if (Number(late.rows[0]?.n ?? 0) > 0) return 0
        const n = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(name)}`.execute(trx)
        // Ids a gateway may still send again stay known (retention.ts dropEventsBefore).
        if (Number.isFinite(keepIdsFrom))
          await sql`INSERT INTO dropped_event_ids (store_id, id, ts) SELECT store_id, id, ts FROM ${sql.table(name)} WHERE ts >= ${keepIdsFrom} ON CONFLICT DO NOTHING`.execute(trx)
        await sql`DROP TABLE ${sql.table(name)}`.execute(trx)
        return Number(n.rows[0]?.n ?? 0)
      })
    } catch (err) {
      // Busy (lock_not_available) or dropped by another replica (undefined_table): its rows wait for the next run or are gone.
      const code = (err as { code?: string }).code
      if (code !== '55P03' && code !== '42P01') throw err
    }
  }
  return dropped
}
