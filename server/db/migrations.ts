// Versioned migrations, in code, run at every start on both engines (Kysely's Migrator keeps what
// ran in kysely_migration and takes a lock, so replicas starting together migrate once). Only the
// column types that the engines spell differently are chosen per engine: the trigger sequence
// (SQLite's INTEGER PRIMARY KEY AUTOINCREMENT, PostgreSQL's BIGSERIAL). Every statement is
// IF NOT EXISTS: a SQLite file from before migrations (upgraded by legacy-sqlite.ts) passes 001 with its rows untouched.
import { type Kysely, type Migration, Migrator, sql } from 'kysely'
import type { Db, Engine, Tables } from './schema.ts'
import { replayVisits } from './rollups.ts'
import { replayRollupsOnce } from './rollups-replay.ts'
import { partitionEvents } from './partitions.ts'
import { lateMigrations } from './migrations-late.ts'

function base(engine: Engine): Migration {
  return {
    async up(k: Kysely<unknown>) {
      const db = k as unknown as Db
      const s = db.schema
      await s
        .createTable('stores')
        .ifNotExists()
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('site', 'text', c => c.notNull())
        .addColumn('updated', 'bigint', c => c.notNull())
        .execute()
      await s
        .createTable('tokens')
        .ifNotExists()
        .addColumn('hash', 'text', c => c.primaryKey())
        .addColumn('role', 'text', c => c.notNull().check(sql`role IN ('admin', 'manager', 'gateway', 'device')`))
        .addColumn('stores', 'text', c => c.notNull().defaultTo('[]'))
        .addColumn('device_id', 'text')
        .addColumn('created', 'bigint', c => c.notNull())
        .addColumn('id', 'text')
        .addColumn('last_used', 'bigint')
        .execute()
      await s.createIndex('tokens_id').ifNotExists().unique().on('tokens').column('id').execute()
      // Hashes of revoked tokens: a token given again at every start (--admin-token) must stay revoked.
      await s
        .createTable('revoked_tokens')
        .ifNotExists()
        .addColumn('hash', 'text', c => c.primaryKey())
        .addColumn('ts', 'bigint', c => c.notNull())
        .execute()
      await s
        .createTable('devices')
        .ifNotExists()
        .addColumn('device_id', 'text', c => c.primaryKey())
        .addColumn('subject', 'text', c => c.notNull().unique())
        .addColumn('identity_key', 'text')
        .addColumn('k', 'integer', c => c.notNull().defaultTo(10))
        .addColumn('presence', 'integer', c => c.notNull())
        .addColumn('marketing', 'integer', c => c.notNull())
        .addColumn('listed', 'integer', c => c.notNull().defaultTo(0))
        .addColumn('version', 'bigint', c => c.notNull().defaultTo(0))
        .addColumn('created', 'bigint', c => c.notNull())
        .execute()
      await s.createIndex('devices_version').ifNotExists().on('devices').column('version').execute()
      await s
        .createTable('config_version')
        .ifNotExists()
        .addColumn('id', 'integer', c => c.primaryKey().check(sql`id = 1`))
        .addColumn('version', 'bigint', c => c.notNull())
        .execute()
      await db
        .insertInto('config_version')
        .values({ id: 1, version: 0 })
        .onConflict(oc => oc.column('id').doNothing())
        .execute()
      await s
        .createTable('events')
        .ifNotExists()
        .addColumn('id', 'text', c => c.notNull())
        .addColumn('store_id', 'text', c => c.notNull())
        .addColumn('type', 'text', c => c.notNull())
        .addColumn('subject', 'text', c => c.notNull())
        .addColumn('ts', 'bigint', c => c.notNull())
        .addColumn('body', 'text', c => c.notNull())
        .addColumn('received', 'bigint', c => c.notNull())
        .addPrimaryKeyConstraint('events_pkey', ['store_id', 'id'])
        .execute()
      await s.createIndex('events_store_type').ifNotExists().on('events').columns(['store_id', 'type', 'ts']).execute()
      await s.createIndex('events_subject').ifNotExists().on('events').column('subject').execute()
      await s.createIndex('events_id').ifNotExists().on('events').column('id').execute()
      await s.createIndex('events_received').ifNotExists().on('events').column('received').execute()
      await s
        .createTable('triggers')
        .ifNotExists()
        .addColumn('seq', engine === 'postgres' ? 'bigserial' : 'integer', c => (engine === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('trigger_id', 'text', c => c.notNull().unique())
        .addColumn('device_id', 'text', c => c.notNull())
        .addColumn('store_id', 'text', c => c.notNull())
        .addColumn('campaign_id', 'text', c => c.notNull())
        .addColumn('ts', 'bigint', c => c.notNull())
        .addColumn('expires', 'bigint', c => c.notNull())
        .addColumn('body', 'text', c => c.notNull())
        .addColumn('visit_id', 'text')
        .execute()
      await s.createIndex('triggers_device').ifNotExists().on('triggers').columns(['device_id', 'seq']).execute()
      await s.createIndex('triggers_caps').ifNotExists().on('triggers').columns(['device_id', 'campaign_id', 'ts']).execute()
      await s
        .createTable('acks')
        .ifNotExists()
        .addColumn('trigger_id', 'text', c => c.notNull())
        .addColumn('status', 'text', c => c.notNull())
        .addColumn('ts', 'bigint', c => c.notNull())
        .addPrimaryKeyConstraint('acks_pkey', ['trigger_id', 'status'])
        .execute()
      await s
        .createTable('campaigns')
        .ifNotExists()
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('body', 'text', c => c.notNull())
        .addColumn('stores', 'text', c => c.notNull())
        .addColumn('updated', 'bigint', c => c.notNull())
        .execute()
      await s
        .createTable('erasures')
        .ifNotExists()
        .addColumn('subject', 'text', c => c.primaryKey())
        .addColumn('ts', 'bigint', c => c.notNull())
        .addColumn('version', 'bigint', c => c.notNull().defaultTo(0))
        .execute()
    }
  }
}

/** The analytics rollups (rollups.ts); a database that had events before them is counted once. */
const rollups: Migration = {
  async up(k: Kysely<unknown>) {
    const db = k as unknown as Db
    const had = (await db.introspection.getTables()).some(t => t.name === 'an_counts')
    const s = db.schema
    await s
      .createTable('an_open_visits')
      .ifNotExists()
      .addColumn('store_id', 'text', c => c.notNull())
      .addColumn('visit_id', 'text', c => c.notNull())
      .addColumn('shop', 'text', c => c.notNull())
      .addColumn('ts', 'bigint', c => c.notNull())
      .addPrimaryKeyConstraint('an_open_visits_pkey', ['store_id', 'visit_id'])
      .execute()
    await s.createIndex('an_open_visits_ts').ifNotExists().on('an_open_visits').column('ts').execute()
    await s
      .createTable('an_open_stays')
      .ifNotExists()
      .addColumn('store_id', 'text', c => c.notNull())
      .addColumn('visit_id', 'text', c => c.notNull())
      .addColumn('sector', 'text', c => c.notNull())
      .addColumn('ts', 'bigint', c => c.notNull())
      .addPrimaryKeyConstraint('an_open_stays_pkey', ['store_id', 'visit_id', 'sector'])
      .execute()
    await s.createIndex('an_open_stays_ts').ifNotExists().on('an_open_stays').column('ts').execute()
    await s
      .createTable('an_counts')
      .ifNotExists()
      .addColumn('store_id', 'text', c => c.notNull())
      .addColumn('metric', 'text', c => c.notNull())
      .addColumn('res', 'text', c => c.notNull())
      .addColumn('at', 'bigint', c => c.notNull())
      .addColumn('k1', 'text', c => c.notNull())
      .addColumn('k2', 'bigint', c => c.notNull())
      .addColumn('n', 'bigint', c => c.notNull())
      .addPrimaryKeyConstraint('an_counts_pkey', ['store_id', 'metric', 'res', 'at', 'k1', 'k2'])
      .execute()
    // Without the visits table (migration 009 fills it afterwards).
    if (!had) await replayRollupsOnce(db)
  }
}

/** Counters of the rate limits, shared by every replica. */
const rateLimits: Migration = {
  async up(k: Kysely<unknown>) {
    await (k as unknown as Db).schema
      .createTable('rate_limits')
      .ifNotExists()
      .addColumn('key', 'text', c => c.primaryKey())
      .addColumn('window_start', 'bigint', c => c.notNull())
      .addColumn('n', 'bigint', c => c.notNull())
      .execute()
  }
}

/** The latest live snapshot of each store (one row per store, upserted: no history). */
const liveSnapshots: Migration = {
  async up(k: Kysely<unknown>) {
    await (k as unknown as Db).schema
      .createTable('live_snapshots')
      .ifNotExists()
      .addColumn('store_id', 'text', c => c.primaryKey())
      .addColumn('body', 'text', c => c.notNull())
      .addColumn('version', 'bigint', c => c.notNull())
      .addColumn('updated', 'bigint', c => c.notNull())
      .execute()
  }
}

/** Raw events partitioned by month on PostgreSQL (partitions.ts); nothing on SQLite. */
function monthly(engine: Engine): Migration {
  return {
    async up(k: Kysely<unknown>) {
      if (engine === 'postgres') await partitionEvents(k as unknown as Db, Date.now())
    }
  }
}

/**
 * When a gateway last reported each device: registration expiry judges on it, since the events that
 * also prove it may be dropped by retention sooner than the registration TTL.
 */
function deviceLastReported(engine: Engine): Migration {
  return {
    async up(k: Kysely<unknown>) {
      // Idempotent like the others (SQLite has no ADD COLUMN IF NOT EXISTS): a database whose
      // migration records were lost still starts.
      const has =
        engine === 'postgres'
          ? sql`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'devices' AND column_name = 'last_reported'`
          : sql`SELECT 1 FROM pragma_table_info('devices') WHERE name = 'last_reported'`
      if ((await has.execute(k)).rows.length > 0) return
      await (k as unknown as Db).schema.alterTable('devices').addColumn('last_reported', 'bigint').execute()
    }
  }
}

/**
 * Which campaigns name which store, one row per pair: a gateway's config pull reads its own
 * store's campaigns through it, never every campaign of the chain, and a store's campaigns are
 * counted against its limit. Filled from the campaigns already stored.
 */
const campaignStores: Migration = {
  async up(k: Kysely<unknown>) {
    const db = k as unknown as Db
    await db.schema
      .createTable('campaign_stores')
      .ifNotExists()
      .addColumn('store_id', 'text', c => c.notNull())
      .addColumn('campaign_id', 'text', c => c.notNull())
      .addPrimaryKeyConstraint('campaign_stores_pkey', ['store_id', 'campaign_id'])
      .execute()
    await db.schema.createIndex('campaign_stores_campaign').ifNotExists().on('campaign_stores').column('campaign_id').execute()
    for (const r of await db.selectFrom('campaigns').select(['id', 'stores']).execute()) {
      const stores = [...new Set(JSON.parse(r.stores) as string[])]
      if (stores.length > 0)
        await db
          .insertInto('campaign_stores')
          .values(stores.map(store_id => ({ store_id, campaign_id: r.id })))
          .onConflict(oc => oc.doNothing())
          .execute()
    }
  }
}

/**
 * Open SSE streams, one row each, held by the replica that serves it and renewed by its heartbeat
 * (server/hubs/stream-leases.ts, 020 adds when each began): the caps on streams per device, token and store hold across
 * replicas, and a killed replica's rows lapse on their own.
 */
const streamLeases: Migration = {
  async up(k: Kysely<unknown>) {
    const db = k as unknown as Db
    await db.schema
      .createTable('stream_leases')
      .ifNotExists()
      .addColumn('id', 'text', c => c.primaryKey())
      .addColumn('kind', 'text', c => c.notNull())
      .addColumn('owner', 'text', c => c.notNull())
      .addColumn('token_id', 'text')
      .addColumn('replica', 'text', c => c.notNull())
      .addColumn('expires', 'bigint', c => c.notNull())
      .execute()
    await db.schema.createIndex('stream_leases_owner').ifNotExists().on('stream_leases').columns(['kind', 'owner']).execute()
    await db.schema.createIndex('stream_leases_token').ifNotExists().on('stream_leases').columns(['kind', 'token_id']).execute()
    await db.schema.createIndex('stream_leases_replica').ifNotExists().on('stream_leases').column('replica').execute()
  }
}

/**
 * What trigger vetting needs of each visit, in columns (schema.ts `visits`): vetting reads one row
 * by its key instead of parsing a subject's stored entries. Filled once from stored events.
 */
const visitsTable: Migration = {
  async up(k: Kysely<unknown>) {
    const db = k as unknown as Db
    const s = db.schema
    const had = (await db.introspection.getTables()).some(t => t.name === 'visits')
    await s
      .createTable('visits')
      .ifNotExists()
      .addColumn('store_id', 'text', c => c.notNull())
      .addColumn('subject', 'text', c => c.notNull())
      .addColumn('visit_id', 'text', c => c.notNull())
      .addColumn('enter_ts', 'bigint')
      .addColumn('received', 'bigint', c => c.notNull())
      .addColumn('segment', 'text')
      .addColumn('exit_ts', 'bigint')
      .addPrimaryKeyConstraint('visits_pkey', ['store_id', 'subject', 'visit_id'])
      .execute()
    await s.createIndex('visits_subject').ifNotExists().on('visits').column('subject').execute()
    await s.createIndex('visits_received').ifNotExists().on('visits').column('received').execute()
    if (!had) await replayVisits(db)
  }
}

/**
 * Trigger identity per store (event ids are unique per store only): `trigger_id` becomes the
 * server's key `<store>/<event id>` for new rows (triggerKey in push.ts) and `event_id` keeps the
 * id phones see and acknowledge. Rows from before keep their key (the event id, which never holds
 * a `/`) and get it as their event id too: one set-based statement.
 */
function triggerEventIds(engine: Engine): Migration {
  return {
    async up(k: Kysely<unknown>) {
      const db = k as unknown as Db
      const has =
        engine === 'postgres'
          ? sql`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'triggers' AND column_name = 'event_id'`
          : sql`SELECT 1 FROM pragma_table_info('triggers') WHERE name = 'event_id'`
      if ((await has.execute(k)).rows.length === 0) await db.schema.alterTable('triggers').addColumn('event_id', 'text').execute()
      await db
        .updateTable('triggers')
        .set(eb => ({ event_id: eb.ref('trigger_id') }))
        .where('event_id', 'is', null)
        .execute()
      await db.schema.createIndex('triggers_event').ifNotExists().on('triggers').columns(['event_id', 'device_id']).execute()
    }
  }
}

/**
 * Whose open visit or sector stay each open row is: withdrawal and erasure delete a subject's open
 * rows by this indexed column, never by reading its stored entries. Rows from before get theirs
 * from their visits row, else from their stored entry (backfillOpenRowSubjects): a row whose visit
 * has no visits row would otherwise never be closed at withdrawal or erasure.
 */
function openRowSubjects(engine: Engine): Migration {
  return {
    async up(k: Kysely<unknown>) {
      const db = k as unknown as Db
      for (const table of ['an_open_visits', 'an_open_stays'] as const) {
        const has =
          engine === 'postgres'
            ? sql`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table} AND column_name = 'subject'`
            : sql`SELECT 1 FROM pragma_table_info(${table}) WHERE name = 'subject'`
        if ((await has.execute(k)).rows.length === 0) await db.schema.alterTable(table).addColumn('subject', 'text').execute()
        await db.schema.createIndex(`${table}_subject`).ifNotExists().on(table).column('subject').execute()
      }
      await backfillOpenRowSubjects(db)
    }
  }
}

/**
 * Sets the subject of open rows that have none (stored before migration 011), set-based: from the
 * visit's visits row, else from the entry that opened it (same store, type and time, the index's
 * key; its body names the visit id, or its id is the visit id). Open rows are few, hours old at most.
 */
export async function backfillOpenRowSubjects(k: Db): Promise<void> {
  for (const [table, type] of [
    ['an_open_visits', 'shop.enter'],
    ['an_open_stays', 'sector.enter']
  ] as const) {
    const t = sql.raw(table)
    await sql`UPDATE ${t} SET subject = (SELECT v.subject FROM visits v WHERE v.store_id = ${t}.store_id AND v.visit_id = ${t}.visit_id LIMIT 1) WHERE subject IS NULL`.execute(k)
    await sql`UPDATE ${t} SET subject = (
        SELECT e.subject FROM events e
        WHERE e.store_id = ${t}.store_id AND e.type = ${type} AND e.ts = ${t}.ts
          AND (e.id = ${t}.visit_id OR e.body LIKE '%"visitId":"' || ${t}.visit_id || '"%')
        LIMIT 1)
      WHERE subject IS NULL`.execute(k)
  }
}

export async function migrate(db: Kysely<Tables>, engine: Engine): Promise<void> {
  const migrations: Record<string, Migration> = {
    '001_base': base(engine),
    '002_rollups': rollups,
    '003_rate_limits': rateLimits,
    '004_live_snapshots': liveSnapshots,
    '005_monthly_events': monthly(engine),
    '006_device_last_reported': deviceLastReported(engine),
    '007_campaign_stores': campaignStores,
    '008_stream_leases': streamLeases,
    '009_visits': visitsTable,
    '010_trigger_event_ids': triggerEventIds(engine),
    '011_open_row_subjects': openRowSubjects(engine),
    // 012 on: migrations-late.ts.
    ...lateMigrations(engine)
  }
  const { error, results } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateToLatest()
  if (error !== undefined) {
    const failed = results?.find(r => r.status === 'Error')?.migrationName ?? '(before any migration)'
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`)
  }
}
