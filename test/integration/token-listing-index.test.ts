// The outside tester's s12 item 2: with 400,000 device tokens, an admin's `GET /v1/tokens?store=X`
// read every token's stores (7-26 s, /healthz held as long on SQLite) and a plain `GET /v1/tokens`
// sorted every token. Migration 019_token_listing indexes the listing's order, and the tokens that
// name stores apart: the plans of the queries a listing runs (tokens.ts tokenListQuery) must walk
// an index in the page's order, never the table nor a sort, on both engines. Plans, not timings.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { tokenListQuery, type TokenListing } from '../../server/routes/tokens.ts'

/** Device tokens, older than every store's: enough that a planner with statistics prefers an index for a page. */
const N = 20_000

test(`a token listing page reads an index in its order, a store's never a device token (${TEST_ENGINE})`, { timeout: 180_000 }, async () => {
  const chain = await startChain('token-listing', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    const db = ctx.db
    const t0 = Date.now() - 86_400_000
    await db.transaction().execute(async trx => {
      for (let i = 0; i < N; i += 500)
        await trx
          .insertInto('tokens')
          .values(
            Array.from({ length: 500 }, (_, j) => ({
              hash: createHash('sha256').update(randomBytes(16)).digest('hex'),
              role: 'device',
              stores: '[]',
              device_id: randomUUID(),
              created: t0 + i + j,
              id: `tok_${randomBytes(6).toString('hex')}`
            }))
          )
          .execute()
    })
    await sql`ANALYZE`.execute(db)
    const list = async (q: string, token = chain.admin) =>
      (await (await fetch(`${url}/v1/tokens${q}`, { headers: { authorization: `Bearer ${token}` } })).json()) as Array<{ role: string; stores: string[] }>
    // What the listings answer: a store's gateway and manager tokens, a manager's own, a first page.
    assert.deepEqual((await list('?store=s1')).map(t => `${t.role} ${t.stores}`).sort(), ['gateway s1', 'manager s1'])
    assert.deepEqual((await list('', chain.manager.s2)).map(t => `${t.role} ${t.stores}`).sort(), ['gateway s2', 'manager s2'])
    assert.equal((await list('?limit=7')).length, 7)
    assert.equal((await list('?role=gateway')).length, 2)

    const plan = async (o: Partial<TokenListing>) => {
      const q = tokenListQuery(db, ctx.data.engine, { cursor: null, limit: 100, theirs: null, ...o }).compile()
      if (TEST_ENGINE === 'postgres') {
        const text = q.sql.replace(/\$(\d+)/g, (_, n: string) => {
          const v = q.parameters[Number(n) - 1]
          return typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`
        })
        return (await sql.raw<Record<string, string>>(`EXPLAIN ${text}`).execute(db)).rows.map(r => Object.values(r)[0]).join('\n')
      }
      return ((ctx.data.sqlite?.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...(q.parameters as unknown[])) ?? []) as Array<{ detail: string }>).map(r => r.detail).join('\n')
    }
    const walks = (p: string, index: string) => {
      assert.match(p, new RegExp(index), `the plan:\n${p}`)
      // No sort of the rows found, no read of the whole table.
      assert.doesNotMatch(p, /TEMP B-TREE FOR ORDER BY|Sort Key|Seq Scan on tokens|SCAN tokens(?! USING)/, `the plan:\n${p}`)
    }
    walks(await plan({}), 'tokens_created')
    walks(await plan({ cursor: { created: t0 + 5, id: 'tok_' } }), 'tokens_created')
    walks(await plan({ store: 's1' }), 'tokens_stored_created')
    walks(await plan({ theirs: ['s1', 's2'] }), 'tokens_stored_created')
    // By role: either index serves the page in order (PostgreSQL walks (created, id) when nearly every token is a device's).
    walks(await plan({ role: 'device' }), 'tokens_(role_)?created')
    // A role with a store: the tokens naming stores only, never every device token (re-tester, s12).
    walks(await plan({ role: 'device', store: 's1' }), 'tokens_stored_created')
    walks(await plan({ role: 'gateway', theirs: ['s1'] }), 'tokens_stored_created')
    assert.deepEqual(await list('?role=device&store=s1'), [])
    assert.deepEqual(
      (await list('?role=gateway&store=s1')).map(t => `${t.role} ${t.stores}`),
      ['gateway s1']
    )
  } finally {
    await chain.close()
  }
})
