// Analytics rollups, kept by SQLite triggers as rows arrive, so that no analytics query ever
// scans events or parses their JSON: each trigger reads only the one new row. Open visits and
// open sector stays are small tables (a row while someone is inside); everything else is a count
// per store and key in an_counts, kept three times: for all time (res 't', at 0), per day (res
// 'd', at = days since the epoch) and per hour (res 'h', at = hours since the epoch), so that any
// `since` is answered from whole days plus the hours of one day. Counts hold no device id:
// erasing a device removes its events and its open rows, and leaves the anonymous counts;
// withdrawing presence consent closes its open rows (the gateway drops the visit without an exit).
//   metric  k1                 k2
//   enter   frequency segment  0                      shop.enter
//   dur     ''                 log-1.05 bucket of ms  shop.exit with durationMs
//   dwell   sector             DWELL_BUCKETS_S index  sector.exit with dwellMs
//   fc, fs  campaign, sector   FUNNEL_STEPS index     trigger.fired (0) and its acks (1-4)
import type Database from 'better-sqlite3'

export const DWELL_BUCKETS_S = [30, 60, 120, 300, 600, 1800]
export const FUNNEL_STEPS = ['fired', 'delivered', 'opened', 'dismissed', 'converted'] as const
/** Durations are counted in buckets 5% wide: the median visit duration is exact to within that. */
export const DURATION_STEP = 1.05
export const HOUR_MS = 3_600_000

const field = (path: string, row = 'NEW') => `json_extract(${row}.body, '$.${path}')`
const hour = (row = 'NEW') => `CAST(${row}.ts AS INTEGER) / ${HOUR_MS}`
/** The three resolutions of one count: `select` yields (store_id, metric, k1, k2) of `row`. */
const bump = (select: string, row = 'NEW') => [['t', '0'], ['d', `${hour(row)} / 24`], ['h', hour(row)]].map(([res, at]) =>
  `INSERT INTO an_counts (store_id, metric, res, at, k1, k2, n) ${select.replace('$RES', `'${res}', ${at}`)} ON CONFLICT DO UPDATE SET n = n + 1;`).join('\n    ')
/** A trigger per event type: an insert runs only the statements of its own type. */
const onInsert = (type: string, body: string) => `CREATE TRIGGER IF NOT EXISTS "an_insert_${type}" AFTER INSERT ON events WHEN NEW.type = '${type}' BEGIN${body}
  END;`
const dwellBucket = `CASE ${DWELL_BUCKETS_S.map((b, i) => `WHEN ${field('dwellMs')} < ${b * 1000} THEN ${i}`).join(' ')} ELSE ${DWELL_BUCKETS_S.length} END`
const isNumber = (path: string) => `json_type(NEW.body, '$.${path}') IN ('integer', 'real')`
const sectorStayKey = (row = 'NEW') => `coalesce(${field('visitId', row)}, ${row}.subject)`

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS an_open_visits (store_id TEXT NOT NULL, visit_id TEXT NOT NULL, shop TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (store_id, visit_id));
  CREATE INDEX IF NOT EXISTS an_open_visits_ts ON an_open_visits (ts);
  CREATE TABLE IF NOT EXISTS an_open_stays (store_id TEXT NOT NULL, visit_id TEXT NOT NULL, sector TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (store_id, visit_id, sector));
  CREATE INDEX IF NOT EXISTS an_open_stays_ts ON an_open_stays (ts);
  CREATE TABLE IF NOT EXISTS an_counts (store_id TEXT NOT NULL, metric TEXT NOT NULL, res TEXT NOT NULL, at INTEGER NOT NULL, k1 TEXT NOT NULL, k2 INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (store_id, metric, res, at, k1, k2)) WITHOUT ROWID;
  ${onInsert('shop.enter', `
    INSERT OR REPLACE INTO an_open_visits (store_id, visit_id, shop, ts)
      VALUES (NEW.store_id, coalesce(${field('visitId')}, NEW.id), coalesce(${field('shop')}, ''), NEW.ts);
    ${bump(`SELECT NEW.store_id, 'enter', $RES, coalesce(${field('frequency.segment')}, 'unknown'), 0, 1 WHERE true`)}`)}
  ${onInsert('shop.exit', `
    DELETE FROM an_open_visits WHERE store_id = NEW.store_id AND visit_id = ${field('visitId')};
    ${bump(`SELECT NEW.store_id, 'dur', $RES, '', CAST(round(ln(max(${field('durationMs')}, 1)) / ln(${DURATION_STEP})) AS INTEGER), 1 WHERE ${isNumber('durationMs')}`)}`)}
  ${onInsert('sector.enter', `
    INSERT OR REPLACE INTO an_open_stays (store_id, visit_id, sector, ts) VALUES (NEW.store_id, ${sectorStayKey()}, coalesce(${field('sector')}, ''), NEW.ts);`)}
  ${onInsert('sector.exit', `
    DELETE FROM an_open_stays WHERE store_id = NEW.store_id AND visit_id = ${sectorStayKey()} AND sector = coalesce(${field('sector')}, '');
    ${bump(`SELECT NEW.store_id, 'dwell', $RES, coalesce(${field('sector')}, ''), ${dwellBucket}, 1 WHERE ${isNumber('dwellMs')}`)}`)}
  ${onInsert('trigger.fired', `
    ${bump(`SELECT NEW.store_id, 'fc', $RES, coalesce(${field('campaignId')}, ''), 0, 1 WHERE true`)}
    ${bump(`SELECT NEW.store_id, 'fs', $RES, coalesce(${field('sector')}, ''), 0, 1 WHERE true`)}`)}
  CREATE TRIGGER IF NOT EXISTS an_events_delete AFTER DELETE ON events BEGIN
    DELETE FROM an_open_visits WHERE OLD.type = 'shop.enter' AND store_id = OLD.store_id AND visit_id = coalesce(${field('visitId', 'OLD')}, OLD.id);
    DELETE FROM an_open_stays WHERE OLD.type = 'sector.enter' AND store_id = OLD.store_id AND visit_id = ${sectorStayKey('OLD')};
  END;
  CREATE TRIGGER IF NOT EXISTS an_acks_insert AFTER INSERT ON acks BEGIN
    ${['fc:campaignId', 'fs:sector'].map(m => {
      const [metric, path] = m.split(':')
      return bump(`SELECT e.store_id, '${metric}', $RES, coalesce(${field(path, 'e')}, ''),
        CASE NEW.status ${FUNNEL_STEPS.map((s, i) => `WHEN '${s}' THEN ${i}`).join(' ')} ELSE ${FUNNEL_STEPS.length} END, 1
      FROM events e WHERE e.id = NEW.trigger_id AND e.type = 'trigger.fired'`, 'e')
    }).join('\n    ')}
  END;
`

/**
 * Creates the rollup tables and triggers. On a database that had events before the rollups
 * existed, the events and acks are replayed once through the triggers (in time order), in one
 * transaction.
 */
export function installRollups (db: Database.Database): void {
  const had = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'an_counts'").get() !== undefined
  db.transaction(() => {
    db.exec(SCHEMA)
    if (had) return
    const n = (db.prepare('SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM acks) AS n').get() as { n: number }).n
    if (n === 0) return
    db.exec(`
      CREATE TEMP TABLE an_replay_events AS SELECT * FROM events;
      CREATE TEMP TABLE an_replay_acks AS SELECT * FROM acks;
      DELETE FROM acks; DELETE FROM events;
      INSERT INTO events SELECT * FROM an_replay_events ORDER BY ts, rowid;
      INSERT INTO acks SELECT * FROM an_replay_acks;
      DROP TABLE an_replay_events; DROP TABLE an_replay_acks;`)
  })()
}

/**
 * Closes a subject's open visits and sector stays (presence consent withdrawn: the gateway drops
 * the visit without an exit event, so analytics would show the shopper inside until the 6-h
 * cut-off). Its events stay: withdrawal is not erasure. Returns how many rows were closed.
 */
export function closeOpenRowsOf (db: Database.Database, subject: string): number {
  const visits = db.prepare(`DELETE FROM an_open_visits WHERE (store_id, visit_id) IN
    (SELECT store_id, coalesce(json_extract(body, '$.visitId'), id) FROM events WHERE subject = ? AND type = 'shop.enter')`).run(subject).changes
  const stays = db.prepare(`DELETE FROM an_open_stays WHERE (store_id, visit_id) IN
    (SELECT store_id, coalesce(json_extract(body, '$.visitId'), subject) FROM events WHERE subject = ? AND type = 'sector.enter')`).run(subject).changes
  return visits + stays
}
