// SQLite files made before versioned migrations: brought to the shape migration 001 expects, once,
// before the migrator runs. Each step checks what the file has, so a new file (no tables yet) and
// an already-migrated one pass through untouched. PostgreSQL databases never had these shapes.
import { randomBytes } from 'node:crypto'
import type Database from 'better-sqlite3'

const columns = (db: Database.Database, table: string) => new Map((db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string; pk: number }>).map(c => [c.name, c]))

export function upgradeLegacySqlite(db: Database.Database): void {
  eventsKeyedPerStore(db)
  if (columns(db, 'triggers').size > 0 && !columns(db, 'triggers').has('visit_id')) db.exec('ALTER TABLE triggers ADD COLUMN visit_id TEXT')
  // Databases from before server-issued identities: `ble_id` (a caller-chosen id) becomes `subject`.
  // Such devices have no identity key, so no gateway can resolve them: their apps register again.
  if (columns(db, 'devices').has('ble_id')) db.exec('ALTER TABLE devices RENAME COLUMN ble_id TO subject')
  const add: Array<[string, string, string]> = [
    ['devices', 'identity_key', 'TEXT'],
    ['devices', 'k', 'INTEGER NOT NULL DEFAULT 10'],
    ['devices', 'listed', 'INTEGER NOT NULL DEFAULT 0'],
    ['devices', 'version', 'INTEGER NOT NULL DEFAULT 0'],
    ['erasures', 'version', 'INTEGER NOT NULL DEFAULT 0'],
    ['tokens', 'id', 'TEXT'],
    ['tokens', 'last_used', 'INTEGER']
  ]
  for (const [table, col, type] of add) {
    const cols = columns(db, table)
    if (cols.size > 0 && !cols.has(col)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${col} ${type}`)
  }
  // Tokens from before public ids get one each, so operators can list and revoke them.
  if (columns(db, 'tokens').has('id')) {
    const fill = db.prepare('UPDATE tokens SET id = ? WHERE hash = ?')
    for (const r of db.prepare('SELECT hash FROM tokens WHERE id IS NULL').all() as Array<{ hash: string }>) fill.run('tok_' + randomBytes(9).toString('base64url'), r.hash)
  }
  // Rollups were once kept by SQLite triggers; they are kept in code now, on both engines.
  for (const t of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'an\\_%' ESCAPE '\\'").all() as Array<{ name: string }>) {
    db.exec(`DROP TRIGGER "${t.name.replaceAll('"', '""')}"`)
  }
}

/**
 * Databases from before event ids were unique per store only: rebuilds `events` with the key
 * (store_id, id), keeping every row, column and index. With a global key, one store's gateway
 * could squat another store's ids (its events then dropped as duplicates) or probe them.
 */
function eventsKeyedPerStore(db: Database.Database): void {
  if (columns(db, 'events').get('store_id')?.pk !== 0) return
  const table = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").get() as { sql: string }
  const indexes = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL").all() as Array<{ sql: string }>
  const create = table.sql
    .replace(/^CREATE TABLE\s+("?events"?)/i, 'CREATE TABLE events_rekeyed')
    .replace(/\bid\s+TEXT\s+PRIMARY\s+KEY/i, 'id TEXT NOT NULL')
    .replace(/\)\s*$/, ', PRIMARY KEY (store_id, id))')
  const names = [...columns(db, 'events').keys()].map(c => `"${c}"`).join(', ')
  db.transaction(() => {
    db.exec(create)
    db.exec(`INSERT INTO events_rekeyed (${names}) SELECT ${names} FROM events`)
    db.exec('DROP TABLE events')
    db.exec('ALTER TABLE events_rekeyed RENAME TO events')
    for (const i of indexes) db.exec(i.sql)
  })()
}
