// A private PostgreSQL cluster for the tests: `initdb` in a temporary folder, `pg_ctl` on a free
// port, stopped and removed when the test process ends. One cluster per test file (process); one
// database per server data folder, so a test that restarts a server on the same folder finds its
// data again, and tests never see each other's rows. As root (CI containers), the cluster runs as
// the `postgres` user (PostgreSQL refuses to run as root).
// The server suite runs twice (scripts/test.ts): on SQLite, then with INSTORE_TEST_DB=postgres on
// this cluster. Without PostgreSQL installed, that pass fails in CI and is left out on a developer machine.
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

export class PgCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly asUser: string[]
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
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`
    run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'])
    const c = new PgCluster(dir, port, bin, asUser)
    process.once('exit', () => c.stopSync())
    return c
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`
  }

  /** A new empty database; its URL. */
  async createDatabase(name: string): Promise<string> {
    const c = new pg.Client({ connectionString: this.url('postgres') })
    await c.connect()
    try {
      await c.query(`CREATE DATABASE "${name.replace(/[^a-z0-9_]/g, '_')}"`)
    } finally {
      await c.end()
    }
    return this.url(name.replace(/[^a-z0-9_]/g, '_'))
  }

  private stopped = false
  /** Stops the cluster at once and removes its folder. */
  stopSync(): void {
    if (this.stopped) return
    this.stopped = true
    try {
      const [exe, ...rest] = [...this.asUser, join(this.bin, 'pg_ctl'), '-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']
      execFileSync(exe as string, rest, { stdio: 'ignore' })
    } catch {
      /* already gone */
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}

let shared: Promise<PgCluster> | null = null
const byDir = new Map<string, Promise<string>>()
let made = 0

/** This process's cluster, started on first use. */
export function sharedCluster(): Promise<PgCluster> {
  shared ??= PgCluster.start()
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
    url = sharedCluster().then(c => c.createDatabase(`t${process.pid}_${++made}`))
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
