// The central server's state in SQLite (WAL): stores and their sites, hashed tokens, devices (their
// server-issued subject and identity key, consent), events (idempotent on id), pushed triggers and
// their acknowledgements, campaigns, and erasures that gateways have to apply. No raw MAC appears
// anywhere: gateways send subjects. Every change a gateway must learn of (a device added, its
// consent changed, an erasure) takes the next `config_version`, so a gateway's config pull can
// ask for what changed since the version it holds.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { privateFile } from '../../shared/private-file.ts'

export function openDb (dir: string): Database.Database {
  const db = new Database(privateFile(join(dir, 'server.sqlite')))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  // Deleted rows are overwritten, not left in free pages: an erasure leaves no bytes in the file.
  db.pragma('secure_delete = ON')
  db.exec(`
    CREATE TABLE IF NOT EXISTS stores (id TEXT PRIMARY KEY, site TEXT NOT NULL, updated INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS tokens (
      hash TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'gateway', 'device')),
      stores TEXT NOT NULL DEFAULT '[]', device_id TEXT, created INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS devices (
      device_id TEXT PRIMARY KEY, subject TEXT NOT NULL UNIQUE, identity_key TEXT, k INTEGER NOT NULL DEFAULT 10,
      presence INTEGER NOT NULL, marketing INTEGER NOT NULL, listed INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0,
      created INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS config_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
    INSERT OR IGNORE INTO config_version (id, version) VALUES (1, 0);
    CREATE TABLE IF NOT EXISTS events (
      id TEXT NOT NULL, store_id TEXT NOT NULL, type TEXT NOT NULL, subject TEXT NOT NULL, ts INTEGER NOT NULL,
      body TEXT NOT NULL, received INTEGER NOT NULL, PRIMARY KEY (store_id, id));
    CREATE INDEX IF NOT EXISTS events_store_type ON events (store_id, type, ts);
    CREATE INDEX IF NOT EXISTS events_subject ON events (subject);
    CREATE TABLE IF NOT EXISTS triggers (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, trigger_id TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL,
      store_id TEXT NOT NULL, campaign_id TEXT NOT NULL, ts INTEGER NOT NULL, expires INTEGER NOT NULL, body TEXT NOT NULL,
      visit_id TEXT);
    CREATE INDEX IF NOT EXISTS triggers_device ON triggers (device_id, seq);
    CREATE TABLE IF NOT EXISTS acks (trigger_id TEXT NOT NULL, status TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (trigger_id, status));
    CREATE TABLE IF NOT EXISTS campaigns (id TEXT PRIMARY KEY, body TEXT NOT NULL, stores TEXT NOT NULL, updated INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS erasures (subject TEXT PRIMARY KEY, ts INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0);
  `)
  eventsKeyedPerStore(db)
  // Databases from before the server applied per-visit caps itself lack the visit column.
  const triggerCols = (db.prepare('PRAGMA table_info(triggers)').all() as Array<{ name: string }>).map(c => c.name)
  if (!triggerCols.includes('visit_id')) db.exec('ALTER TABLE triggers ADD COLUMN visit_id TEXT')
  db.exec('CREATE INDEX IF NOT EXISTS triggers_caps ON triggers (device_id, campaign_id, ts)')
  migrate(db)
  db.exec('CREATE INDEX IF NOT EXISTS devices_version ON devices (version)')
  return db
}

/**
 * Databases from before server-issued identities: `ble_id` (a caller-chosen id) becomes `subject`.
 * Such devices have no identity key, so no gateway can resolve them: their apps register again.
 */
function migrate (db: Database.Database): void {
  const cols = (table: string) => new Set((db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map(c => c.name))
  const dev = cols('devices')
  if (dev.has('ble_id')) db.exec('ALTER TABLE devices RENAME COLUMN ble_id TO subject')
  const add: Array<[string, string, string]> = [['devices', 'identity_key', 'TEXT'], ['devices', 'k', 'INTEGER NOT NULL DEFAULT 10'],
    ['devices', 'listed', 'INTEGER NOT NULL DEFAULT 0'], ['devices', 'version', 'INTEGER NOT NULL DEFAULT 0'], ['erasures', 'version', 'INTEGER NOT NULL DEFAULT 0']]
  for (const [table, col, type] of add) if (!cols(table).has(col)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${col} ${type}`)
}

/** Takes the next config version (inside the caller's transaction). */
export function nextConfigVersion (db: Database.Database): number {
  return (db.prepare('UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version').get() as { version: number }).version
}

export function configVersion (db: Database.Database): number {
  return (db.prepare('SELECT version FROM config_version WHERE id = 1').get() as { version: number }).version
}

/**
 * Databases from before event ids were unique per store only: rebuilds `events` with the key
 * (store_id, id), keeping every row, column and index. With a global key, one store's gateway
 * could squat another store's ids (its events then dropped as duplicates) or probe them.
 */
function eventsKeyedPerStore (db: Database.Database): void {
  const cols = db.prepare('PRAGMA table_info(events)').all() as Array<{ name: string, pk: number }>
  if (cols.find(c => c.name === 'store_id')?.pk !== 0) return
  const table = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").get() as { sql: string }
  const indexes = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL").all() as Array<{ sql: string }>
  const create = table.sql.replace(/^CREATE TABLE\s+("?events"?)/i, 'CREATE TABLE events_rekeyed')
    .replace(/\bid\s+TEXT\s+PRIMARY\s+KEY/i, 'id TEXT NOT NULL').replace(/\)\s*$/, ', PRIMARY KEY (store_id, id))')
  const names = cols.map(c => `"${c.name}"`).join(', ')
  db.transaction(() => {
    db.exec(create)
    db.exec(`INSERT INTO events_rekeyed (${names}) SELECT ${names} FROM events`)
    db.exec('DROP TABLE events')
    db.exec('ALTER TABLE events_rekeyed RENAME TO events')
    for (const i of indexes) db.exec(i.sql)
  })()
}
