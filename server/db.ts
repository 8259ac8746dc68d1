// The central server's state in SQLite (WAL): stores and their sites, hashed tokens, devices and
// consent, events (idempotent on id), pushed triggers and their acknowledgements, campaigns, and
// erasures that gateways still have to apply. No raw MAC appears anywhere: gateways send subjects.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { privateFile } from '../shared/private-file.ts'

export function openDb (dir: string): Database.Database {
  const db = new Database(privateFile(join(dir, 'server.sqlite')))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.exec(`
    CREATE TABLE IF NOT EXISTS stores (id TEXT PRIMARY KEY, site TEXT NOT NULL, updated INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS tokens (
      hash TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'gateway', 'device')),
      stores TEXT NOT NULL DEFAULT '[]', device_id TEXT, created INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS devices (
      device_id TEXT PRIMARY KEY, ble_id TEXT NOT NULL UNIQUE, presence INTEGER NOT NULL, marketing INTEGER NOT NULL, created INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS events (
      id TEXT PRIMARY KEY, store_id TEXT NOT NULL, type TEXT NOT NULL, subject TEXT NOT NULL, ts INTEGER NOT NULL,
      body TEXT NOT NULL, received INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS events_store_type ON events (store_id, type, ts);
    CREATE INDEX IF NOT EXISTS events_subject ON events (subject);
    CREATE TABLE IF NOT EXISTS triggers (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, trigger_id TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL,
      store_id TEXT NOT NULL, campaign_id TEXT NOT NULL, ts INTEGER NOT NULL, expires INTEGER NOT NULL, body TEXT NOT NULL,
      visit_id TEXT);
    CREATE INDEX IF NOT EXISTS triggers_device ON triggers (device_id, seq);
    CREATE TABLE IF NOT EXISTS acks (trigger_id TEXT NOT NULL, status TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (trigger_id, status));
    CREATE TABLE IF NOT EXISTS campaigns (id TEXT PRIMARY KEY, body TEXT NOT NULL, stores TEXT NOT NULL, updated INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS erasures (subject TEXT PRIMARY KEY, ts INTEGER NOT NULL);
  `)
  // Databases from before the server applied per-visit caps itself lack the visit column.
  const triggerCols = (db.prepare('PRAGMA table_info(triggers)').all() as Array<{ name: string }>).map(c => c.name)
  if (!triggerCols.includes('visit_id')) db.exec('ALTER TABLE triggers ADD COLUMN visit_id TEXT')
  db.exec('CREATE INDEX IF NOT EXISTS triggers_caps ON triggers (device_id, campaign_id, ts)')
  return db
}
