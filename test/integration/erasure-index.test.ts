// Reviewer (s10): the erasures table had no index on `version`, so each gateway's config delta
// (every gateway, every pull period) read the whole table, which only grows. Migration
// 018_erasure_versions adds one; the plan of the query a delta runs (config-reply.ts
// erasuresQuery) must use it, on both engines.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { erasuresQuery } from '../../server/config-reply.ts'

/** Erasures in the table: enough that a planner with statistics prefers an index for a recent few. */
const N = 20_000

test(`a config delta reads the erasures past its version through an index, not the whole table (${TEST_ENGINE})`, { timeout: 120_000 }, async () => {
  const chain = await startChain('erasure-index', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    const db = ctx.db
    const pull = async (since = '') =>
      (await (await fetch(`${url}/v1/stores/s1/config${since ? `?since=${encodeURIComponent(since)}` : ''}`, { headers: { authorization: `Bearer ${chain.gw.s1}` } })).json()) as {
        version: string
        erasures: string[]
      }
    const first = await pull()
    const base = Number(first.version.split('.')[0])
    await db.transaction().execute(async trx => {
      for (let i = 0; i < N; i += 500)
        await trx
          .insertInto('erasures')
          .values(Array.from({ length: 500 }, (_, j) => ({ subject: `app:${(i + j).toString(16).padStart(16, '0')}`, ts: Date.now(), version: base + 1 + i + j })))
          .execute()
      // The config version moves past every erasure, as an erasure does.
      await trx
        .updateTable('config_version')
        .set({ version: base + N })
        .where('id', '=', 1)
        .execute()
    })
    await sql`ANALYZE`.execute(db)
    // The delta since the whole config names every erasure; the one since a late version, the last ones.
    const delta = await pull(first.version)
    assert.equal(delta.erasures.length, N)
    const late = `${base + N - 3}.${first.version.split('.').slice(1).join('.')}`
    assert.deepEqual(
      (await pull(late)).erasures,
      [N - 3, N - 2, N - 1].map(i => `app:${i.toString(16).padStart(16, '0')}`)
    )

    const q = erasuresQuery(db, base + N - 3).compile()
    const plan =
      TEST_ENGINE === 'postgres'
        ? (await sql.raw<Record<string, string>>(`EXPLAIN ${q.sql.replace(/\$1/g, String(base + N - 3))}`).execute(db)).rows.map(r => Object.values(r)[0]).join('\n')
        : ((ctx.data.sqlite?.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...(q.parameters as number[])) ?? []) as Array<{ detail: string }>).map(r => r.detail).join('\n')
    assert.match(plan, /erasures_version/, `the delta's plan:\n${plan}`)
  } finally {
    await chain.close()
  }
})
