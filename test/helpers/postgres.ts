// A PostgreSQL cluster for the tests. scripts/test.ts starts one for its whole PostgreSQL pass and
// names it in INSTORE_TEST_PG_URL: every test process then makes its databases there, from a template
// with the migrations already applied (initdb, start and migrations cost seconds per file). A file
// run on its own, without that variable, starts a private cluster (`initdb` in a temporary folder,
// `pg_ctl` on a free port), stopped and removed when the test process ends. One database per server
// data folder, so a test that restarts a server on the same folder finds its data again, and tests
// never see each other's rows. As root (CI containers), the cluster runs as the `postgres` user
// (PostgreSQL refuses to run as root).
// The server suite runs twice (scripts/test.ts): on SQLite, then with INSTORE_TEST_DB=postgres on
// PostgreSQL. Without PostgreSQL installed, that pass fails in CI and is left out on a developer machine.
import { execFileSync } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { postgresBin } from './parts.ts'
import { freePort } from './run.ts'

export type TestEngine = 'sqlite' | 'postgres'
/** The engine this test process runs the server on. */
export const TEST_ENGINE: TestEngine = process.env.INSTORE_TEST_DB === 'postgres' ? 'postgres' : 'sqlite'

/** Set by scripts/test.ts for its PostgreSQL pass: the shared cluster's template database URL. */
export const SHARED_CLUSTER_ENV = 'INSTORE_TEST_PG_URL'
const TEMPLATE = 'instore_template'

export class PgCluster {
  private constructor(
    readonly port: number,
    /** What stopping the cluster needs; null when another process started it (and stops it). */
    private readonly own: { dir: string; bin: string; asUser: string[] } | null,
    /** The migrated database new ones are copied from; null: new databases are empty. */
    private readonly template: string | null
  ) {}

  /** Starts a new cluster; throws when PostgreSQL is not installed. */
  static async start(): Promise<PgCluster> {
    const bin = postgresBin()
    if (bin === null) throw new Error('PostgreSQL is not installed (.ci/run installs it): no initdb under /usr/lib/postgresql/*/bin')
    const root = process.getuid?.() === 0
    const dir = mkdtempSync(join(tmpdir(), 'instore-pg-'))
    const asUser = root ? ['runuser', '-u', 'postgres', '--'] : []
    if (root) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
      chownSync(dir, uid, gid)
    }
    const run = (cmd: string, args: string[]) => {
      const [exe, ...rest] = [...asUser, join(bin, cmd), ...args]
      execFileSync(exe as string, rest, { stdio: ['ignore', 'pipe', 'pipe'] })
    }
    const data = join(dir, 'data')
    run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions'])
    const port = await freePort()
    // Durability is not under test here: no fsync makes the suite faster; the socket stays in our folder.
    // Two test files at a time, each with a few servers of pools of connections: 400 leaves room.
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400`
    run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'])
    const c = new PgCluster(port, { dir, bin, asUser }, null)
    process.once('exit', () => c.stopSync())
    return c
  }

  /** The cluster another process started and named by its template's URL (SHARED_CLUSTER_ENV). */
  static attach(templateUrl: string): PgCluster {
    const u = new URL(templateUrl)
    if (!/^postgres(ql)?:$/.test(u.protocol) || u.port === '') throw new Error(`${SHARED_CLUSTER_ENV} is not a postgres:// URL with a port: ${templateUrl}`)
    return new PgCluster(Number(u.port), null, decodeURIComponent(u.pathname.slice(1)) || null)
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`
  }

  /** A new database (a copy of the template on a shared cluster, empty otherwise); its URL. */
  async createDatabase(name: string): Promise<string> {
    const safe = name.replace(/[^a-z0-9_]/g, '_')
    const c = new pg.Client({ connectionString: this.url('postgres') })
    await c.connect()
    try {
      await c.query(`CREATE DATABASE "${safe}"${this.template === null ? '' : ` TEMPLATE "${this.template}"`}`)
    } finally {
      await c.end()
    }
    return this.url(safe)
  }

  /**
   * Makes the template the test processes copy their databases from: the server's migrations
   * applied once; its URL (for SHARED_CLUSTER_ENV). Nothing may stay connected to it.
   */
  async makeTemplate(): Promise<string> {
    const url = await this.createDatabase(TEMPLATE)
    const { openData } = await import('../../server/db/db.ts')
    const data = await openData({ dataDir: tmpdir(), databaseUrl: url })
    await data.close()
    return url
  }

  private stopped = false
  /** Stops the cluster at once and removes its folder; nothing for one another process started. */
  stopSync(): void {
    if (this.stopped || this.own === null) return
    this.stopped = true
    const { dir, bin, asUser } = this.own
    try {
      const [exe, ...rest] = [...asUser, join(bin, 'pg_ctl'), '-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']
      execFileSync(exe as string, rest, { stdio: 'ignore' })
    } catch {
      /* already gone */
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

let shared: Promise<PgCluster> | null = null
const byDir = new Map<string, Promise<string>>()
// Database names must not collide with those of other test processes on a shared cluster, nor
// with those of an earlier process that had the same pid.
const tag = `${process.pid}_${Date.now().toString(36)}`
let made = 0

/** This process's cluster: the pass's shared one when scripts/test.ts names it, else a private one started on first use. */
export function sharedCluster(): Promise<PgCluster> {
  const url = process.env[SHARED_CLUSTER_ENV]
  shared ??= url !== undefined && url !== '' ? Promise.resolve(PgCluster.attach(url)) : PgCluster.start()
  return shared
}

/**
 * What buildServer (or the server command) needs to keep `dataDir`'s state on this process's
 * engine: nothing on SQLite (the file in dataDir), a database of its own on PostgreSQL.
 */
export async function serverDb(dataDir: string): Promise<{ databaseUrl?: string }> {
  if (TEST_ENGINE === 'sqlite') return {}
  let url = byDir.get(dataDir)
  if (!url) {
    url = sharedCluster().then(c => c.createDatabase(`t${tag}_${++made}`))
    byDir.set(dataDir, url)
  }
  return { databaseUrl: await url }
}

/** buildServer's options with the database of this process's engine added. */
export async function onTestDb<O extends { dataDir: string }>(o: O): Promise<O & { databaseUrl?: string }> {
  return { ...o, ...(await serverDb(o.dataDir)) }
}

/** Reads a server's database as a test would read its SQLite file: `?` placeholders on either engine. */
export interface ServerReader {
  all<T = Record<string, unknown>>(text: string, ...params: unknown[]): Promise<T[]>
  /** The server's own tables. */
  tables(): Promise<string[]>
  close(): Promise<void>
}

export async function readServer(dataDir: string): Promise<ServerReader> {
  const { databaseUrl } = await serverDb(dataDir)
  if (databaseUrl === undefined) {
    const Database = (await import('better-sqlite3')).default
    const db = new Database(join(dataDir, 'server.sqlite'), { readonly: true })
    return {
      all: async <T>(text: string, ...params: unknown[]) => db.prepare(text).all(...params) as T[],
      tables: async () => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map(r => r.name),
      close: async () => {
        db.close()
      }
    }
  }
  const c = new pg.Client({ connectionString: databaseUrl })
  await c.connect()
  return {
    all: async <T>(text: string, ...params: unknown[]) => {
      let i = 0
      return (
        await c.query(
          text.replace(/\?/g, () => `$${++i}`),
          params
        )
      ).rows as T[]
    },
    tables: async () => (await c.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'")).rows.map(r => r.name),
    close: async () => {
      await c.end()
    }
  }
}
