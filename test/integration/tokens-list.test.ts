// The outside tester's defect 5 (tokens-list.mjs): with 300,000 device tokens stored, a manager's
// GET /v1/tokens showed 2 tokens but took 2 s and 150 MB each call: the route read every token
// row and filtered in JavaScript. Now the database filters by role, store and the manager's
// stores, and answers one page (`limit`, `after`; `Link: rel="next"` and `X-Next-Cursor`).
// Checked here on the rows the database hands back, not on timing.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CompiledQuery, QueryResult } from 'kysely'
import { buildServer } from '../../server/app.ts'
import type { Context } from '../../server/context.ts'
import { onTestDb, TEST_ENGINE } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'
import type { FastifyInstance } from 'fastify'

const ADMIN = 'adm_tokens_list_test'
const DEVICES = 3000
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as Record<string, unknown>
interface TokenInfo {
  id: string
  role: string
  stores: string[]
  deviceId: string | null
}
let app: FastifyInstance
let ctx: Context
let url = ''
/** The most rows any query on the tokens table handed back since the last reset. */
let most = 0

before(async () => {
  ;({ app, ctx } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'tokens-list-')), log: silentLogger, adminToken: ADMIN })))
  url = await app.listen({ port: 0, host: '127.0.0.1' })
  const executor = ctx.db.getExecutor()
  const run = executor.executeQuery.bind(executor)
  executor.executeQuery = async <R>(q: CompiledQuery, ...rest: unknown[]): Promise<QueryResult<R>> => {
    const r = await (run as (q: CompiledQuery, ...rest: unknown[]) => Promise<QueryResult<R>>)(q, ...rest)
    if (/from "tokens"/i.test(q.sql)) most = Math.max(most, r.rows.length)
    return r
  }
  // One installed app each: device tokens vastly outnumber the operators' (written at once, not registered one by one).
  const now = Date.now()
  for (let i = 0; i < DEVICES; i += 500)
    await ctx.db
      .insertInto('tokens')
      .values(
        Array.from({ length: Math.min(500, DEVICES - i) }, (_, k) => ({
          hash: `h${i + k}`,
          role: 'device' as const,
          stores: '[]',
          device_id: `d${i + k}`,
          created: now - DEVICES + i + k,
          id: `tok_dev${String(i + k).padStart(5, '0')}`
        }))
      )
      .execute()
})
after(async () => {
  await app.close()
})

const list = async (token: string, query = '') => {
  most = 0
  const res = await fetch(`${url}/v1/tokens${query}`, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, body: (await res.json()) as TokenInfo[], next: res.headers.get('x-next-cursor'), link: res.headers.get('link'), rows: most }
}

test(`a manager's listing reads only the gateway and manager tokens of their stores, never the device tokens (${TEST_ENGINE})`, async () => {
  const gw = (await api<{ gatewayTokenId: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: 'm1' } })).body
  await api(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: 'm2' } })
  const mgr = (await api<{ id: string; token: string }>(`${url}/v1/operators`, ADMIN, 'POST', { role: 'manager', stores: ['m1'] })).body
  await api(`${url}/v1/operators`, ADMIN, 'POST', { role: 'manager', stores: ['m1', 'm2'] })
  const cases: Array<[query: string, want: string[]]> = [
    ['', [gw.gatewayTokenId, mgr.id]],
    ['?role=gateway', [gw.gatewayTokenId]],
    ['?role=device', []],
    ['?role=admin', []],
    ['?store=m1', [gw.gatewayTokenId, mgr.id]]
  ]
  for (const [query, want] of cases) {
    const r = await list(mgr.token, query)
    assert.equal(r.status, 200, query)
    assert.deepEqual(r.body.map(t => t.id).sort(), [...want].sort(), query)
    assert.ok(r.rows <= 3, `${query}: the database handed back ${r.rows} token rows`)
    assert.equal(r.next, null)
  }
  assert.equal((await list(mgr.token, '?store=m2')).status, 403, "another store's tokens")
})

test(`an admin's listing is paged by the database: each page reads at most its rows, and the pages together give every token once (${TEST_ENGINE})`, async () => {
  const first = await list(ADMIN, '?role=device&limit=250')
  assert.equal(first.body.length, 250)
  assert.ok(first.rows <= 251, `the database handed back ${first.rows} rows for a page of 250`)
  assert.match(first.link ?? '', /^<\/v1\/tokens\?role=device&limit=250&after=[^>]+>; rel="next"$/)
  const seen = first.body.map(t => t.id)
  let next = first.next
  for (let pages = 1; next !== null; pages++) {
    assert.ok(pages < 20, 'the pages end')
    const r = await list(ADMIN, `?role=device&limit=250&after=${encodeURIComponent(next)}`)
    assert.ok(r.rows <= 251)
    seen.push(...r.body.map(t => t.id))
    next = r.next
  }
  assert.equal(seen.length, DEVICES)
  assert.equal(new Set(seen).size, DEVICES, 'no token twice')
  // The default page, a device's own tokens, and bad paging parameters.
  const all = await list(ADMIN)
  assert.equal(all.body.length, 100)
  assert.ok(all.rows <= 101)
  assert.deepEqual(
    (await list(ADMIN, '?deviceId=d42')).body.map(t => t.id),
    ['tok_dev00042']
  )
  for (const bad of ['?limit=0', '?limit=1001', '?limit=x', '?after=12', '?after=1.a%20b', '?page=2']) assert.equal((await list(ADMIN, bad)).status, 400, bad)
})
