// Migrations from 012 on, apart from migrations.ts so that each file stays small; listed, in
// order, by migrate() there.
import { type Kysely, type Migration, sql } from 'kysely'
import type { Engine } from './schema.ts'

/** Token listings are paged oldest first by role: an index in that order, so a page reads only its rows. */
export const tokenOrder: Migration = {
  async up(k: Kysely<unknown>) {
    await k.schema.createIndex('tokens_role_created').ifNotExists().on('tokens').columns(['role', 'created', 'id']).execute()
  }
}

/**
 * The app subjects each live snapshot shows (` app:… app:… `), so that a consent withdrawal or an
 * erasure finds the snapshots to empty by reading this short column, never every store's body.
 * Rows from before get '' and are matched by their body until their store's next snapshot (a
 * second at most), see LiveHub.forget.
 */
export function liveSnapshotApps(engine: Engine): Migration {
  return {
    async up(k: Kysely<unknown>) {
      // Run again when kysely_migration was lost (every migration here may be): the column stays.
      const has =
        engine === 'postgres'
          ? sql`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'live_snapshots' AND column_name = 'apps'`
          : sql`SELECT 1 FROM pragma_table_info('live_snapshots') WHERE name = 'apps'`
      if ((await has.execute(k)).rows.length === 0) await k.schema.alterTable('live_snapshots').addColumn('apps', 'text').execute()
    }
  }
}

/**
 * The ids of events that retention dropped while a gateway may still send them again (their time
 * within the accepted event age): a re-sent event stays a duplicate, not a new event counted twice.
 * Ids and times only, nobody's subject; retention deletes them once their events are too old to be
 * accepted at all.
 */
export const droppedEventIds: Migration = {
  async up(k: Kysely<unknown>) {
    await k.schema
      .createTable('dropped_event_ids')
      .ifNotExists()
      .addColumn('store_id', 'text', c => c.notNull())
      .addColumn('id', 'text', c => c.notNull())
      .addColumn('ts', 'bigint', c => c.notNull())
      .addPrimaryKeyConstraint('dropped_event_ids_pkey', ['store_id', 'id'])
      .execute()
    await k.schema.createIndex('dropped_event_ids_ts').ifNotExists().on('dropped_event_ids').column('ts').execute()
  }
}

/**
 * The admin token that comes from configuration (INSTORE_ADMIN_TOKEN, --admin-token(-file), or the
 * bootstrap token made at first start) is one slot: its hash, and where a bootstrap token was
 * written. One row, there from the start, so that replicas starting together lock it (admin-slot.ts).
 */
export const adminSlot: Migration = {
  async up(k: Kysely<unknown>) {
    await k.schema
      .createTable('admin_slot')
      .ifNotExists()
      .addColumn('id', 'integer', c => c.primaryKey().check(sql`id = 1`))
      .addColumn('hash', 'text')
      .addColumn('file', 'text')
      .execute()
    await sql`INSERT INTO admin_slot (id, hash, file) VALUES (1, NULL, NULL) ON CONFLICT (id) DO NOTHING`.execute(k)
  }
}

/**
 * The ids of visits whose row retention dropped while their events may still come (an entry or
 * exit within the accepted event age, under event ids never stored): the half (entry, exit) the
 * visit had counted is not counted again; the other still counts once. Store, visit id and the visit's latest time only, nobody's
 * subject; retention deletes them once the visit's events are too old to be accepted at all.
 */
export const droppedVisitIds: Migration = {
  async up(k: Kysely<unknown>) {
    await k.schema
      .createTable('dropped_visit_ids')
      .ifNotExists()
      .addColumn('store_id', 'text', c => c.notNull())
      .addColumn('visit_id', 'text', c => c.notNull())
      .addColumn('ts', 'bigint', c => c.notNull())
      // Which halves of the visit were counted before its row went (1: counted): a late first exit
      // (or entry) still counts its half, never one already counted.
      .addColumn('entered', 'integer', c => c.notNull().defaultTo(0))
      .addColumn('exited', 'integer', c => c.notNull().defaultTo(0))
      .addPrimaryKeyConstraint('dropped_visit_ids_pkey', ['store_id', 'visit_id'])
      .execute()
    await k.schema.createIndex('dropped_visit_ids_ts').ifNotExists().on('dropped_visit_ids').column('ts').execute()
  }
}

/**
 * Erasure deletes a device's tokens by device_id: without an index every erasure (anyone may
 * register and erase) read every token of the chain inside the one write transaction.
 */
export const tokenDevices: Migration = {
  async up(k: Kysely<unknown>) {
    await k.schema.createIndex('tokens_device_id').ifNotExists().on('tokens').column('device_id').execute()
  }
}

/**
 * A gateway's config delta reads the erasures past its version: without an index each delta (every
 * gateway, every pull period) read the whole table, which only grows with erasures.
 */
export const erasureVersions: Migration = {
  async up(k: Kysely<unknown>) {
    await k.schema.createIndex('erasures_version').ifNotExists().on('erasures').column('version').execute()
  }
}

/**
 * The token listing pages in (created, id) order: without an index on those alone, an admin's
 * listing sorted every token (one per installed app), and a store's read every device token's
 * stores. Only operator and gateway tokens name stores: the second index holds those alone, so a
 * store's listing and a manager's read them and never a device token.
 */
export const tokenListing: Migration = {
  async up(k: Kysely<unknown>) {
    await k.schema.createIndex('tokens_created').ifNotExists().on('tokens').columns(['created', 'id']).execute()
    await k.schema.createIndex('tokens_stored_created').ifNotExists().on('tokens').columns(['created', 'id']).where(sql.ref('stores'), '<>', sql.lit('[]')).execute()
  }
}

/**
 * When each stream lease began (ms), so that every replica can pick a device's oldest stream, wherever it
 * is held, and take its place for the device's new stream (stream-leases.ts). Leases from before
 * have none and count as the oldest.
 */
export function streamLeaseStarts(engine: Engine): Migration {
  return {
    async up(k: Kysely<unknown>) {
      const has =
        engine === 'postgres'
          ? sql`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'stream_leases' AND column_name = 'started'`
          : sql`SELECT 1 FROM pragma_table_info('stream_leases') WHERE name = 'started'`
      if ((await has.execute(k)).rows.length === 0) await k.schema.alterTable('stream_leases').addColumn('started', 'bigint').execute()
    }
  }
}

/** The migrations of this file, in order, as migrate() lists them. */
export function lateMigrations(engine: Engine): Record<string, Migration> {
  return {
    '012_token_order': tokenOrder,
    '013_live_snapshot_apps': liveSnapshotApps(engine),
    '014_dropped_event_ids': droppedEventIds,
    '015_admin_slot': adminSlot,
    '016_dropped_visit_ids': droppedVisitIds,
    '017_token_devices': tokenDevices,
    '018_erasure_versions': erasureVersions,
    '019_token_listing': tokenListing,
    '020_stream_lease_starts': streamLeaseStarts(engine)
  }
}
