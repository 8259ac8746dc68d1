// Operators' listings over real HTTP, on the test engine: a store manager's GET /v1/stores and
// GET /v1/campaigns read the rows of their own store only, whatever the chain's size (counted in
// rows the database hands back, not in time), and an admin's are paged with a cursor.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { CompiledQuery, QueryResult } from 'kysely'
import { buildServer } from '../../server/app.ts'
import type { Context } from '../../server/context.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import type { Campaign } from '../../shared/campaigns.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_listing_test'
let app: FastifyInstance
let ctx: Context
let url = ''
let manager = ''
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
const campaign = (id: string, store: string): Campaign => ({ id, stores: [store], when: { event: 'sector.enter' }, content: { title: 't' } })
// Rows the database hands back to the server, over every query (the token lookup included).
const read = { rows: 0, queries: 0 }

before(async () => {
  const built = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'listing-')), log: silentLogger, adminToken: ADMIN }))
  app = built.app
  ctx = built.ctx
  url = await app.listen({ port: 0, host: '127.0.0.1' })
  assert.equal((await api(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: 'mine' } })).status, 201)
  assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', campaign('c-mine', 'mine'))).status, 201)
  manager = (await api<{ token: string }>(`${url}/v1/operators`, ADMIN, 'POST', { role: 'manager', stores: ['mine'] })).body.token
  const executor = ctx.db.getExecutor()
  const executeQuery = executor.executeQuery.bind(executor)
  executor.executeQuery = async <R>(q: CompiledQuery<R>): Promise<QueryResult<R>> => {
    const r = await executeQuery(q)
    read.rows += r.rows.length
    read.queries += 1
    return r
  }
})
after(async () => {
  await app.close()
})

/** Rows and queries one GET costs the database, and its answer. */
async function cost<T>(path: string, token: string): Promise<{ rows: number; queries: number; status: number; body: T }> {
  const before = { ...read }
  const r = await api<T>(`${url}${path}`, token)
  return { rows: read.rows - before.rows, queries: read.queries - before.queries, ...r }
}

/** Grows the chain by `n` stores of others, two campaigns each, written as the routes write them. */
async function grow(from: number, n: number): Promise<void> {
  const text = JSON.stringify(site)
  for (let i = from; i < from + n; i++) {
    const id = `st-${String(i).padStart(4, '0')}`
    await ctx.db
      .insertInto('stores')
      .values({ id, site: text.replace('"boutique"', JSON.stringify(id)), updated: Date.now() })
      .execute()
    for (const k of [0, 1]) {
      const c = campaign(`c-${id}-${k}`, id)
      await ctx.db
        .insertInto('campaigns')
        .values({ id: c.id, body: JSON.stringify(c), stores: JSON.stringify(c.stores), updated: Date.now() })
        .execute()
      await ctx.db.insertInto('campaign_stores').values({ store_id: id, campaign_id: c.id }).execute()
    }
  }
}

test("a store manager's listings read their store's rows only, however large the chain", async () => {
  await cost('/v1/stores', manager) // the token's first use is recorded once; measure after it
  const small = { stores: await cost<{ storeId: string }[]>('/v1/stores', manager), campaigns: await cost<Campaign[]>('/v1/campaigns', manager) }
  await grow(0, 150)
  const big = { stores: await cost<{ storeId: string }[]>('/v1/stores', manager), campaigns: await cost<Campaign[]>('/v1/campaigns', manager) }
  assert.deepEqual(
    big.stores.body.map(s => s.storeId),
    ['mine']
  )
  assert.deepEqual(
    big.campaigns.body.map(c => c.id),
    ['c-mine']
  )
  assert.deepEqual(
    [big.stores.rows, big.stores.queries],
    [small.stores.rows, small.stores.queries],
    'GET /v1/stores reads as many rows in a chain of 151 stores as in a chain of 1'
  )
  assert.deepEqual(
    [big.campaigns.rows, big.campaigns.queries],
    [small.campaigns.rows, small.campaigns.queries],
    'GET /v1/campaigns reads as many rows with 301 campaigns as with 1'
  )
  assert.ok(big.campaigns.rows < 10, `a manager's campaign listing read ${big.campaigns.rows} rows`)
})

test('an admin pages through the listings with a cursor; a page is bounded', async () => {
  await grow(150, 60) // idempotent on order: the chain now has 211 stores, 421 campaigns
  const all = async (path: string, limit: string): Promise<{ ids: string[]; pages: number; most: number }> => {
    const ids: string[] = []
    let next: string | null = `${path}?limit=${limit}`
    let pages = 0
    let most = 0
    while (next !== null) {
      const before = read.rows
      const res: Response = await fetch(`${url}${next}`, { headers: { authorization: `Bearer ${ADMIN}` } })
      assert.equal(res.status, 200)
      most = Math.max(most, read.rows - before)
      const body = (await res.json()) as { storeId?: string; id?: string }[]
      ids.push(...body.map(x => x.storeId ?? x.id ?? ''))
      pages += 1
      const link = res.headers.get('link')
      next = link === null ? null : (/^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? null)
      if (link !== null) assert.equal(new URL(next ?? '', url).searchParams.get('after'), res.headers.get('x-next-cursor'))
    }
    return { ids, pages, most }
  }
  const stores = await all('/v1/stores', '50')
  assert.equal(stores.ids.length, 211)
  assert.equal(new Set(stores.ids).size, 211, 'no store twice')
  assert.deepEqual(stores.ids, [...stores.ids].sort(), 'in id order')
  assert.equal(stores.pages, 5)
  assert.ok(stores.most <= 55, `a page of 50 read ${stores.most} rows`)
  const campaigns = await all('/v1/campaigns', '100')
  assert.equal(campaigns.ids.length, 421)
  assert.equal(new Set(campaigns.ids).size, 421)
  // Without a limit, a page holds the default (200), never the whole chain.
  const first = await cost<unknown[]>('/v1/campaigns', ADMIN)
  assert.equal(first.body.length, 200)
  const refused = await api<{ error: string }>(`${url}/v1/campaigns?limit=1001`, ADMIN)
  assert.deepEqual([refused.status, refused.body.error], [400, 'INSTORE_BAD_REQUEST'])
  assert.equal((await api(`${url}/v1/stores?limit=0`, ADMIN)).status, 400)
  assert.equal((await api(`${url}/v1/stores?offset=3`, ADMIN)).status, 400, 'an unknown parameter is refused, not ignored')
})
