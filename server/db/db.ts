// The central server's state, on one of two engines: SQLite (one file, the embedded default) or
// PostgreSQL (`--database-url postgres://...`, shared by any number of replicas). Stores and their
// sites, hashed tokens, devices (their server-issued subject and identity key, consent), events
// (idempotent per store and id), pushed triggers and their acknowledgements, campaigns, and
// erasures that gateways have to apply. No raw MAC appears anywhere: gateways send subjects.
// Every change a gateway must learn of (a device added, its consent changed, an erasure) takes
// the next `config_version`, so a gateway's config pull can ask for what changed since the
// version it holds. Queries are Kysely's, the same text on both engines.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely'
import pg from 'pg'
import { privateFile } from '../../shared/private-file.ts'
import type { Db, Engine, Q } from './schema.ts'
import { migrate } from './migrations.ts'
import { upgradeLegacySqlite } from './legacy-sqlite.ts'
import { POOL_WAIT_CODE } from './retry.ts'

export type { Db, Q, Engine } from './schema.ts'

/** The notification channel on which a replica tells every other one (and itself) what changed. */
const CHANNEL = 'instore_triggers'

/**
 * What a signal says: a device has new triggers (or lost its consent); a token was revoked; a
 * store has a new live snapshot; a store's gateway posted events (for the other replicas' live streams);
 * a stream's lease was taken for its device's newer stream (its replica ends it).
 */
export type Topic = 'device' | 'token' | 'live' | 'event' | 'lease'
type Handlers = { [T in Topic]: Array<(id: string) => void> }
const parse = (payload: string): [Topic, string] | null => {
  const at = payload.indexOf(':')
  const topic = payload.slice(0, at)
  return topic === 'device' || topic === 'token' || topic === 'live' || topic === 'event' || topic === 'lease' ? [topic, payload.slice(at + 1)] : null
}

export interface DataStore {
  readonly engine: Engine
  readonly db: Db
  /** The SQLite file's own handle (pragmas, WAL checkpoints); null on PostgreSQL. */
  readonly sqlite: Database.Database | null
  /** Tells every replica (and this one) about `id`; on PostgreSQL, at the commit of `q`. */
  signal(q: Q, topic: Topic, id: string): Promise<void>
  /**
   * Calls `fn` for every signal of `topic`; `resync` (if given) after the notification channel
   * was lost and found again (signals may have been missed meanwhile).
   */
  onSignal(topic: Topic, fn: (id: string) => void, resync?: () => void): void
  close(): Promise<void>
}

export interface DataOptions {
  /** Folder of the SQLite file (used when no databaseUrl is given). */
  dataDir: string
  /** postgres://user:pass@host:port/db: PostgreSQL instead of the SQLite file. */
  databaseUrl?: string
  /** Where a lost notification channel is reported. */
  onError?: (err: Error) => void
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url)
}

/** Opens the database and runs its migrations. */
export async function openData(o: DataOptions): Promise<DataStore> {
  const store = o.databaseUrl !== undefined && o.databaseUrl !== '' ? openPostgres(o.databaseUrl, o.onError ?? (() => {})) : openSqlite(o.dataDir)
  try {
    await migrate(store.db, store.engine)
  } catch (err) {
    await store.close()
    throw err
  }
  return store
}

function openSqlite(dir: string): DataStore {
  const file = new Database(privateFile(join(dir, 'server.sqlite')))
  file.pragma('journal_mode = WAL')
  file.pragma('synchronous = NORMAL')
  file.pragma('foreign_keys = ON')
  // Deleted rows are overwritten, not left in free pages: an erasure leaves no bytes in the file.
  file.pragma('secure_delete = ON')
  upgradeLegacySqlite(file)
  const db: Db = new Kysely({ dialect: new SqliteDialect({ database: file }) })
  // One process holds the file: a wake-up is a local call, made after the caller's statement has
  // run (Kysely runs SQLite statements one at a time, so the caller's transaction ends first).
  const fns: Handlers = { device: [], token: [], live: [], event: [], lease: [] }
  return {
    engine: 'sqlite',
    db,
    sqlite: file,
    signal: async (_q, topic, id) => {
      setImmediate(() => {
        for (const f of fns[topic]) f(id)
      })
    },
    onSignal: (topic, fn) => {
      fns[topic].push(fn)
    },
    close: async () => {
      await db.destroy()
    }
  }
}

/** BIGINT (ms times, counts) and NUMERIC (sums) read back as numbers: every value here is far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 || oid === 1700 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser
}

/** PostgreSQL: connections per replica. */
export const POOL_SIZE = 10
/** PostgreSQL: the longest a request waits for a free connection of the pool, ms. */
export const POOL_WAIT_MS = 5_000

/**
 * Whether a failed pool connect is pg-pool's wait for a free connection running out (busy), by its
 * exact message: pg's own "Connection terminated due to connection timeout" is the database down,
 * a 5xx counted as an error, not a busy 503.
 */
export function isPoolWaitTimeout(err: Error): boolean {
  return err.message === 'timeout exceeded when trying to connect'
}

function openPostgres(url: string, onError: (err: Error) => void): DataStore {
  const pool = new pg.Pool({ connectionString: url, types, max: POOL_SIZE, connectionTimeoutMillis: POOL_WAIT_MS })
  pool.on('error', err => onError(err))
  // A wait for a connection past POOL_WAIT_MS is the database being busy (retry.ts isBusy): the
  // caller answers 503 with Retry-After rather than queueing requests without bound.
  const bounded = {
    connect: () =>
      pool.connect().catch((err: Error) => {
        if (!isPoolWaitTimeout(err)) throw err
        throw Object.assign(new Error(`no database connection free within ${POOL_WAIT_MS} ms: ${err.message}`), { code: POOL_WAIT_CODE })
      }),
    end: () => pool.end()
  }
  const db: Db = new Kysely({ dialect: new PostgresDialect({ pool: bounded }) })
  const fns: Handlers = { device: [], token: [], live: [], event: [], lease: [] }
  const resyncs: Array<() => void> = []
  let listener: pg.Client | null = null
  let closed = false
  let retry: NodeJS.Timeout | null = null
  // One connection per replica listens; NOTIFY is sent inside the writer's transaction, so a
  // wake-up is delivered only once the trigger is committed and visible to every replica.
  const listen = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url, types })
    c.on('notification', m => {
      const p = m.payload === undefined ? null : parse(m.payload)
      if (p) for (const f of fns[p[0]]) f(p[1])
    })
    c.on('error', err => {
      onError(err)
      lost(c)
    })
    c.on('end', () => lost(c))
    await c.connect()
    await c.query(`LISTEN ${CHANNEL}`)
    listener = c
  }
  const lost = (c: pg.Client) => {
    if (listener !== c || closed) return
    listener = null
    // Wake-ups sent while the channel was down are lost: every open stream reads again once it is back.
    const again = () => {
      retry = null
      listen().then(
        () => {
          for (const r of resyncs) r()
        },
        err => {
          onError(err as Error)
          if (!closed) retry = setTimeout(again, 1000)
        }
      )
    }
    retry = setTimeout(again, 200)
  }
  let started: Promise<void> | null = null
  return {
    engine: 'postgres',
    db,
    sqlite: null,
    signal: async (q, topic, id) => {
      await sql`SELECT pg_notify(${CHANNEL}, ${`${topic}:${id}`})`.execute(q)
    },
    onSignal: (topic, fn, resync) => {
      fns[topic].push(fn)
      if (resync) resyncs.push(resync)
      started ??= listen().catch(err => {
        onError(err as Error)
        lost(listener as pg.Client)
      })
    },
    close: async () => {
      closed = true
      if (retry) clearTimeout(retry)
      await started?.catch(() => {})
      await listener?.end().catch(() => {})
      await db.destroy()
    }
  }
}

/** Takes the next config version (inside the caller's transaction). */
export async function nextConfigVersion(q: Q): Promise<number> {
  const r = await q
    .updateTable('config_version')
    .set(eb => ({ version: eb('version', '+', 1) }))
    .where('id', '=', 1)
    .returning('version')
    .executeTakeFirstOrThrow()
  return Number(r.version)
}

export async function configVersion(q: Q): Promise<number> {
  return Number((await q.selectFrom('config_version').select('version').where('id', '=', 1).executeTakeFirstOrThrow()).version)
}
