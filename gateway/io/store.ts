// The gateway's durable state in SQLite (WAL): visit history for frequency, the outbox of every
// event (written before it is published or sent), open zone state for resuming after a crash,
// per-subject event sequence numbers, campaign caps, what the gateway learned about the site's
// radio, the Wi-Fi fixtures people counting learned, and the dead letters (events the central
// server refused one by one).
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { privateFile } from '../../shared/private-file.ts'
import type { ZoneTrack } from '../presence/zones.ts'
import { WriteRetry, type RetryLimits, DEFAULT_RETRY_LIMITS, diskFull } from './write-retry.ts'

export type OutboxRow = { seq: number; id: string; type: string; body: string }

export interface SavedState {
  subject: string
  state: string
  version: number
  siteKey: string
}

export interface DeadLetter {
  seq: number
  id: string
  type: string
  status: number
  reason: string
  at: number
}

export type VisitHistory = { visits7d: number; visits30d: number; visits90d: number; lastEnter: number | null }

const DAY = 86_400_000
/** Subjects erased in one transaction by eraseInSlices(): each slice scans the outbox once, and readings wait only that long. */
const ERASE_SLICE = 2000

export class GatewayStore {
  readonly db: Database.Database
  private readonly q
  /** Writes the disk refused, waiting to be stored (write-retry.ts). */
  readonly retry: WriteRetry
  // While writes wait, what later transactions read of them comes from here (cleared once stored).
  private readonly seqs = new Map<string, number>()
  private readonly caps = new Map<string, { lastTs: number; visitId: string | null; visitCount: number }>()
  /** The outbox rows handed on so far: a mark the disk refused must not hand a row on twice. */
  private publishedTo = 0
  /** Standalone (no central server), publishing a row delivers it. `expiredEvents`: rows never delivered, dropped past retention (purgeVisits). */
  standalone = false
  expiredEvents = 0
  private sentTo = 0

  constructor(dir: string, file = 'gateway.sqlite', limits: RetryLimits = DEFAULT_RETRY_LIMITS) {
    this.db = new Database(privateFile(join(dir, file)))
    this.db.pragma('journal_mode = WAL')
    // NORMAL is durable across process crashes in WAL mode (only a power cut can lose the tail).
    this.db.pragma('synchronous = NORMAL')
    this.db.pragma('secure_delete = ON') // erased subjects leave no bytes in free pages
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS visits (
        visit_id TEXT PRIMARY KEY, subject TEXT NOT NULL, shop TEXT NOT NULL,
        enter_ts INTEGER NOT NULL, exit_ts INTEGER, sectors TEXT);
      CREATE INDEX IF NOT EXISTS visits_subject ON visits (subject, enter_ts);
      CREATE INDEX IF NOT EXISTS visits_enter ON visits (enter_ts);
      CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
        ts INTEGER NOT NULL, body TEXT NOT NULL, published INTEGER NOT NULL DEFAULT 0, sent INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (published) WHERE published = 0;
      CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (sent) WHERE sent = 0;
      CREATE TABLE IF NOT EXISTS zone_state (subject TEXT PRIMARY KEY, state TEXT NOT NULL, ts INTEGER NOT NULL,
        version INTEGER NOT NULL DEFAULT 0, site_key TEXT NOT NULL DEFAULT '');
      CREATE TABLE IF NOT EXISTS dead_letters (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL,
        status INTEGER NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS subject_seq (subject TEXT PRIMARY KEY, seq INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS learned (name TEXT PRIMARY KEY, key TEXT NOT NULL, state TEXT NOT NULL, ts INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS people_fixtures (subject TEXT PRIMARY KEY, until INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS people_counted (subject TEXT PRIMARY KEY, day TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS trigger_caps (
        campaign TEXT NOT NULL, subject TEXT NOT NULL, last_ts INTEGER NOT NULL, visit_id TEXT, visit_count INTEGER NOT NULL,
        PRIMARY KEY (campaign, subject));
    `)
    // Zone state saved before it carried a version and a site key: the columns, at version 0.
    const cols = (this.db.prepare('PRAGMA table_info(zone_state)').all() as Array<{ name: string }>).map(c => c.name)
    if (!cols.includes('version')) this.db.exec('ALTER TABLE zone_state ADD COLUMN version INTEGER NOT NULL DEFAULT 0')
    if (!cols.includes('site_key')) this.db.exec("ALTER TABLE zone_state ADD COLUMN site_key TEXT NOT NULL DEFAULT ''")
    this.q = {
      history: this.db.prepare(`SELECT
          SUM(CASE WHEN enter_ts >= @t - 7 * ${DAY} THEN 1 ELSE 0 END) AS v7,
          SUM(CASE WHEN enter_ts >= @t - 30 * ${DAY} THEN 1 ELSE 0 END) AS v30,
          COUNT(*) AS v90, MAX(enter_ts) AS last
        FROM visits WHERE subject = @subject AND enter_ts >= @t - 90 * ${DAY} AND enter_ts < @t`),
      lastVisit: this.db.prepare('SELECT MAX(enter_ts) AS last FROM visits WHERE subject = ? AND enter_ts < ?'),
      openVisit: this.db.prepare('INSERT OR IGNORE INTO visits (visit_id, subject, shop, enter_ts) VALUES (?, ?, ?, ?)'),
      closeVisit: this.db.prepare('UPDATE visits SET exit_ts = ?, sectors = ? WHERE visit_id = ?'),
      purge: this.db.prepare('DELETE FROM visits WHERE enter_ts < ?'),
      dropDelivered: this.db.prepare('DELETE FROM outbox WHERE ts < ? AND published = 1 AND sent = 1'),
      dropPublished: this.db.prepare('DELETE FROM outbox WHERE ts < ? AND published = 1'),
      expireOutbox: this.db.prepare('DELETE FROM outbox WHERE ts < ?'),
      expireDead: this.db.prepare('DELETE FROM dead_letters WHERE at < ?'),
      addEvent: this.db.prepare('INSERT OR IGNORE INTO outbox (id, type, ts, body) VALUES (?, ?, ?, ?)'),
      unpublished: this.db.prepare('SELECT seq, id, type, body FROM outbox WHERE published = 0 AND seq > ? ORDER BY seq LIMIT ?'),
      markPublished: this.db.prepare('UPDATE outbox SET published = 1 WHERE seq <= ? AND published = 0'),
      unsent: this.db.prepare('SELECT seq, id, type, body FROM outbox WHERE sent = 0 AND seq > ? ORDER BY seq LIMIT ?'),
      markSent: this.db.prepare('UPDATE outbox SET sent = 1 WHERE seq <= ? AND sent = 0'),
      backlog: this.db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sent = 0 AND seq > ?'),
      saveState: this.db.prepare(
        'INSERT INTO zone_state (subject, state, ts, version, site_key) VALUES (?, ?, ?, ?, ?) ON CONFLICT(subject) DO UPDATE SET state = excluded.state, ts = excluded.ts, version = excluded.version, site_key = excluded.site_key'
      ),
      dropState: this.db.prepare('DELETE FROM zone_state WHERE subject = ?'),
      loadStates: this.db.prepare('SELECT subject, state, version, site_key FROM zone_state'),
      deadLetter: this.db.prepare('INSERT OR IGNORE INTO dead_letters (seq, id, type, body, status, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      markOneSent: this.db.prepare('UPDATE outbox SET sent = 1 WHERE seq = ?'),
      deadLetters: this.db.prepare('SELECT seq, id, type, status, reason, at FROM dead_letters ORDER BY seq DESC LIMIT ?'),
      deadCount: this.db.prepare('SELECT COUNT(*) AS n FROM dead_letters'),
      getSeq: this.db.prepare('SELECT seq FROM subject_seq WHERE subject = ?'),
      setSeq: this.db.prepare('INSERT INTO subject_seq (subject, seq) VALUES (?, ?) ON CONFLICT(subject) DO UPDATE SET seq = excluded.seq'),
      getCap: this.db.prepare('SELECT last_ts, visit_id, visit_count FROM trigger_caps WHERE campaign = ? AND subject = ?'),
      setCap: this.db.prepare(
        'INSERT INTO trigger_caps (campaign, subject, last_ts, visit_id, visit_count) VALUES (?, ?, ?, ?, ?) ON CONFLICT(campaign, subject) DO UPDATE SET last_ts = excluded.last_ts, visit_id = excluded.visit_id, visit_count = excluded.visit_count'
      ),
      // Erasures come one by one or, in a whole config, all at once: each statement takes a JSON
      // array of subjects, so the outbox's JSON is scanned once per config, not once per subject.
      eraseVisits: this.db.prepare('DELETE FROM visits WHERE subject IN (SELECT value FROM json_each(?))'),
      eraseState: this.db.prepare('DELETE FROM zone_state WHERE subject IN (SELECT value FROM json_each(?))'),
      eraseCaps: this.db.prepare('DELETE FROM trigger_caps WHERE subject IN (SELECT value FROM json_each(?))'),
      eraseSeq: this.db.prepare('DELETE FROM subject_seq WHERE subject IN (SELECT value FROM json_each(?))'),
      eraseFixtures: this.db.prepare('DELETE FROM people_fixtures WHERE subject IN (SELECT value FROM json_each(?))'),
      keepFixture: this.db.prepare('INSERT INTO people_fixtures (subject, until) VALUES (?, ?) ON CONFLICT(subject) DO UPDATE SET until = excluded.until'),
      dropFixtures: this.db.prepare('DELETE FROM people_fixtures WHERE until < ?'),
      fixtures: this.db.prepare('SELECT subject, until FROM people_fixtures'),
      eraseCounted: this.db.prepare('DELETE FROM people_counted WHERE subject IN (SELECT value FROM json_each(?))'),
      keepCounted: this.db.prepare('INSERT INTO people_counted (subject, day) VALUES (?, ?) ON CONFLICT(subject) DO UPDATE SET day = excluded.day'),
      dropCounted: this.db.prepare('DELETE FROM people_counted WHERE day <> ?'),
      counted: this.db.prepare('SELECT subject FROM people_counted WHERE day = ? LIMIT ?'),
      eraseOutbox: this.db.prepare("DELETE FROM outbox WHERE json_extract(body, '$.subject') IN (SELECT value FROM json_each(?))"),
      // Events the central server refused keep their whole body (subject, shop, times): erased too.
      eraseDead: this.db.prepare("DELETE FROM dead_letters WHERE json_valid(body) AND json_extract(body, '$.subject') IN (SELECT value FROM json_each(?))"),
      saveLearned: this.db.prepare(
        'INSERT INTO learned (name, key, state, ts) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET key = excluded.key, state = excluded.state, ts = excluded.ts'
      ),
      loadLearned: this.db.prepare('SELECT key, state, ts FROM learned WHERE name = ?')
    }
    this.retry = new WriteRetry(this.db, this.q as unknown as Record<string, Database.Statement>, limits, () => {
      this.seqs.clear()
      this.caps.clear()
    })
  }

  /** Runs fn in one transaction: the events and the state they change land together or not at all. */
  transaction<T>(fn: () => T): T {
    return this.retry.transaction(fn)
  }

  /** Earlier visits of a subject before time t (this visit not counted). */
  history(subject: string, t: number): VisitHistory {
    const r = this.q.history.get({ subject, t }) as { v7: number | null; v30: number | null; v90: number; last: number | null }
    const last = r.last ?? (this.q.lastVisit.get(subject, t) as { last: number | null }).last
    return { visits7d: r.v7 ?? 0, visits30d: r.v30 ?? 0, visits90d: r.v90, lastEnter: last }
  }

  openVisit(visitId: string, subject: string, shop: string, enter: number): void {
    this.retry.run('openVisit', visitId, subject, shop, enter)
  }
  closeVisit(visitId: string, exit: number, sectors: unknown): void {
    this.retry.run('closeVisit', exit, JSON.stringify(sectors), visitId)
  }
  purgeVisits(before: number, deliveredBefore = before): number {
    this.retry.run(this.standalone ? 'dropPublished' : 'dropDelivered', deliveredBefore)
    this.expiredEvents += this.retry.run('expireOutbox', before)
    this.retry.run('expireDead', before)
    return this.retry.run('purge', before)
  }

  addEvent(id: string, type: string, ts: number, body: string): void {
    this.retry.run('addEvent', id, type, ts, body)
  }
  unpublished(limit = 1000): OutboxRow[] {
    return this.q.unpublished.all(this.publishedTo, limit) as OutboxRow[]
  }
  markPublished(upToSeq: number): void {
    this.publishedTo = Math.max(this.publishedTo, upToSeq)
    this.retry.run('markPublished', upToSeq)
  }
  unsent(limit = 500): OutboxRow[] {
    return this.q.unsent.all(this.sentTo, limit) as OutboxRow[]
  }
  markSent(upToSeq: number): void {
    this.sentTo = Math.max(this.sentTo, upToSeq)
    this.retry.run('markSent', upToSeq)
  }
  backlog(): number {
    return (this.q.backlog.get(this.sentTo) as { n: number }).n
  }

  /** Open zone state of a subject, with the state format's version and the key of the site it was made for. */
  saveState(subject: string, track: ZoneTrack, ts: number, version = 0, siteKey = ''): void {
    this.retry.run('saveState', subject, JSON.stringify(track), ts, version, siteKey)
  }
  dropState(subject: string): void {
    this.retry.run('dropState', subject)
  }
  /** Saved zone states as stored, unparsed: the caller checks them against the site before trusting them. */
  loadStates(): SavedState[] {
    const rows = this.q.loadStates.all() as Array<{ subject: string; state: string; version: number; site_key: string }>
    return rows.map(r => ({ subject: r.subject, state: r.state, version: r.version, siteKey: r.site_key }))
  }

  /**
   * Sets aside an outbox event the central server refused (a 4xx for that event alone): kept with
   * the answer, marked sent so the events after it flow. Listed by /healthz, counted in /metrics.
   */
  deadLetter(row: OutboxRow, status: number, reason: string, at: number): void {
    this.transaction(() => {
      this.retry.run('deadLetter', row.seq, row.id, row.type, row.body, status, reason.slice(0, 500), at)
      this.retry.run('markOneSent', row.seq)
    })
  }

  /** The newest dead letters (without their bodies), newest first. */
  deadLetters(limit = 20): DeadLetter[] {
    return this.q.deadLetters.all(limit) as DeadLetter[]
  }
  deadLetterCount(): number {
    return (this.q.deadCount.get() as { n: number }).n
  }

  nextSeq(subject: string): number {
    const cur = this.seqs.get(subject) ?? (this.q.getSeq.get(subject) as { seq: number } | undefined)?.seq ?? 0
    this.retry.run('setSeq', subject, cur + 1)
    if (this.retry.inTransaction) this.seqs.set(subject, cur + 1)
    return cur + 1
  }

  cap(campaign: string, subject: string): { lastTs: number; visitId: string | null; visitCount: number } | null {
    const kept = this.caps.get(JSON.stringify([campaign, subject]))
    if (kept !== undefined) return kept
    const r = this.q.getCap.get(campaign, subject) as { last_ts: number; visit_id: string | null; visit_count: number } | undefined
    return r ? { lastTs: r.last_ts, visitId: r.visit_id, visitCount: r.visit_count } : null
  }

  setCap(campaign: string, subject: string, ts: number, visitId: string, visitCount: number): void {
    this.retry.run('setCap', campaign, subject, ts, visitId, visitCount)
    if (this.retry.inTransaction) this.caps.set(JSON.stringify([campaign, subject]), { lastTs: ts, visitId, visitCount })
  }

  /**
   * Removes every row about a subject (erasure): visit history, open zone state, its sequence
   * counter, campaign caps, and its outbox rows whether or not they were published or sent (an
   * unsent one must never reach the server after the erasure). Returns the rows removed.
   * Takes an array, never a spread: a config may erase more subjects than a call has arguments.
   */
  erase(subjects: string | readonly string[], within: () => void = () => {}): number {
    const n = this.eraseRows(typeof subjects === 'string' ? [subjects] : subjects, within)
    if (n >= 0) this.emptyLog()
    return Math.max(0, n)
  }

  /**
   * erase() of any number of subjects in slices of `slice`, yielding to the event loop between them
   * (`forget` drops each one's in-memory traces with its slice, `within` runs once per slice inside its
   * transaction), so that a config with a six-figure list of erasures does not hold readings up for its whole length.
   */
  async eraseInSlices(subjects: readonly string[], forget: (subject: string) => void = () => {}, within: () => void = () => {}, slice = ERASE_SLICE): Promise<number> {
    let n = 0
    for (let i = 0; i < subjects.length; i += slice) {
      if (i > 0) await new Promise<void>(resolve => setImmediate(resolve))
      const part = subjects.slice(i, i + slice)
      for (const s of part) forget(s)
      n += Math.max(0, this.eraseRows(part, within))
    }
    if (subjects.length > 0) this.emptyLog()
    return n
  }

  /** One transaction removing the subjects' rows, with `within`'s writes (a kept state they leave); -1 when there were none to name. */
  private eraseRows(subjects: readonly string[], within: () => void): number {
    if (subjects.length === 0) return -1
    const list = JSON.stringify(subjects)
    const gone = new Set(subjects)
    for (const s of subjects) this.seqs.delete(s)
    for (const k of [...this.caps.keys()]) if (gone.has((JSON.parse(k) as string[])[1])) this.caps.delete(k)
    return this.transaction(() => {
      within()
      return ['eraseVisits', 'eraseState', 'eraseCaps', 'eraseSeq', 'eraseFixtures', 'eraseCounted', 'eraseOutbox', 'eraseDead'].reduce((n, q) => n + this.retry.run(q, list), 0)
    })
  }

  private emptyLog(): void {
    // secure_delete clears freed pages of the database file, not the write-ahead log, which still
    // holds every version of the erased rows until a checkpoint: copy it back and empty it now.
    // (Rows a full disk made wait are erased when they are written; the next erasure empties the log again.)
    if (this.retry.waiting === 0) this.checkpoint()
  }

  /**
   * Erasure checkpoints not completed yet: a reader holding the database open (an operator's
   * `sqlite3`, a backup) makes SQLite answer busy rather than wait, and the erased rows stay in the
   * log until the checkpoint is tried again, once a second until it completes.
   */
  checkpointsPending = 0
  private checkpointTimer: NodeJS.Timeout | null = null

  /** Copies the write-ahead log into the database and truncates it to nothing; tried again while a reader blocks it. */
  private checkpoint(): void {
    let done = false
    try {
      const [r] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>
      done = r === undefined || (r.busy === 0 && r.log === r.checkpointed)
    } catch (err) {
      if (!diskFull(err)) throw err
    }
    if (done) {
      this.checkpointsPending = 0
      return
    }
    this.checkpointsPending++
    if (this.checkpointTimer !== null || !this.db.open) return
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = null
      // From a timer an error would stop the process: the next erasure tries again.
      try {
        if (this.db.open) this.checkpoint()
      } catch {
        this.checkpointsPending++
      }
    }, 1000)
    this.checkpointTimer.unref()
  }

  /**
   * A Wi-Fi address learned to be a fixture (people counting), kept until `until` (ms): a restart
   * must not count the store's always-on devices as people for hours while it learns them again.
   * Rows past their time go as another is kept.
   */
  keepFixture(subject: string, until: number, now: number): void {
    this.transaction(() => {
      this.retry.run('dropFixtures', now)
      this.retry.run('keepFixture', subject, until)
    })
  }

  fixtures(): Array<{ subject: string; until: number }> {
    return this.q.fixtures.all() as Array<{ subject: string; until: number }>
  }

  /** A subject counted as a visitor on `day` (people counting): a restart that day does not count it again. */
  keepCounted(subject: string, day: string): void {
    this.retry.run('keepCounted', subject, day)
  }

  /** The subjects counted as visitors on `day` (at most `max`); the rows of other days go. */
  counted(day: string, max: number): string[] {
    this.retry.run('dropCounted', day)
    return (this.q.counted.all(day, max) as Array<{ subject: string }>).map(r => r.subject)
  }

  /**
   * A day's people counts with who was counted (and taken back) since the last save, in one
   * transaction: a crash keeps the rows and the counts that go with them, or neither.
   */
  saveDay(name: string, key: string, state: string, ts: number, day: string, counted: string[], uncounted: string[]): void {
    this.transaction(() => {
      for (const c of counted) this.retry.run('keepCounted', c, day)
      if (uncounted.length > 0) this.retry.run('eraseCounted', JSON.stringify(uncounted))
      this.retry.run('saveLearned', name, key, state, ts)
    })
  }

  /**
   * Something the gateway learned as it ran (`key` names what it applies to), as JSON; false when skipped.
   * Saved again and again, the newest wins: while the disk refuses writes one is skipped, never left to wait (it would crowd
   * the events out of what may wait in memory), unless `mustKeep` (an erasure took something out: like the erased rows, it waits).
   */
  saveLearned(name: string, key: string, state: string, ts: number, mustKeep = false): boolean {
    if (mustKeep) this.retry.run('saveLearned', name, key, state, ts)
    else if (this.retry.waiting > 0) return false
    else
      try {
        this.q.saveLearned.run(name, key, state, ts)
      } catch (err) {
        if (!diskFull(err)) throw err
        return false
      }
    return true
  }
  loadLearned(name: string): { key: string; state: string; ts: number } | null {
    return (this.q.loadLearned.get(name) as { key: string; state: string; ts: number } | undefined) ?? null
  }

  close(): void {
    if (this.checkpointTimer !== null) clearTimeout(this.checkpointTimer)
    this.checkpointTimer = null
    if (this.db.open) this.db.close()
  }
}
