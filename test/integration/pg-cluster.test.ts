// The PostgreSQL pass's one cluster (scripts/test.ts): test processes told its template's URL make
// their databases there, each a migrated copy of the template and each their own; a test file run
// by hand, without the variable, still gets a private cluster.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import pg from 'pg'
import { partTest } from '../helpers/parts.ts'
import { PgCluster, SHARED_CLUSTER_ENV } from '../helpers/postgres.ts'
import { ROOT } from '../helpers/run.ts'

/** What a test process on PostgreSQL gets from the helper for two data folders (the first asked twice). */
function probe(env: NodeJS.ProcessEnv): { a: string; b: string; again: string; port: number } {
  const code = `import { serverDb, sharedCluster } from './test/helpers/postgres.ts'
const a = await serverDb('/data/a'), b = await serverDb('/data/b'), again = await serverDb('/data/a')
process.stdout.write(JSON.stringify({ a: a.databaseUrl, b: b.databaseUrl, again: again.databaseUrl, port: (await sharedCluster()).port }))`
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, env: { ...process.env, INSTORE_TEST_DB: 'postgres', ...env } })
  return JSON.parse(out.toString()) as { a: string; b: string; again: string; port: number }
}

partTest(
  'postgresql',
  "test processes share the pass's cluster through INSTORE_TEST_PG_URL, each database a migrated copy of the template; without it a process starts its own",
  { timeout: 180_000 },
  async () => {
    assert.throws(() => PgCluster.attach('http://127.0.0.1:5432/x'), /not a postgres:\/\/ URL/)
    const cluster = await PgCluster.start()
    try {
      const template = await cluster.makeTemplate()
      const first = probe({ [SHARED_CLUSTER_ENV]: template })
      const second = probe({ [SHARED_CLUSTER_ENV]: template })
      assert.equal(first.port, cluster.port, 'on the shared cluster')
      assert.equal(first.again, first.a, 'one database per data folder')
      const urls = [first.a, first.b, second.a, second.b]
      assert.equal(new Set(urls).size, 4, `no two folders nor processes share a database: ${urls.join(' ')}`)
      for (const url of urls) {
        const c = new pg.Client({ connectionString: url })
        await c.connect()
        try {
          const applied = (await c.query<{ n: string }>('SELECT count(*) AS n FROM kysely_migration')).rows[0].n
          assert.ok(Number(applied) > 0, `${url}: the migrations come with the copy`)
          assert.equal((await c.query('SELECT 1 FROM events')).rowCount, 0, `${url}: the server's tables, empty`)
        } finally {
          await c.end()
        }
      }
      const alone = probe({ [SHARED_CLUSTER_ENV]: '' })
      assert.notEqual(alone.port, cluster.port, 'a file run by hand starts a cluster of its own')
    } finally {
      cluster.stopSync()
    }
  }
)
