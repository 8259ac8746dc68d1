// s11 tester G, defect 2 at central: a gateway restarted on an edited site closes the stays and
// visits it had opened under the old names. The server's site no longer has those names; the
// exits must still close what they close (an_open_stays, an_open_visits), and a made-up zone
// must still be refused.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer, type Context } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_stay_renamed'
type Feature = { properties: Record<string, unknown> }
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string; features: Feature[] }
let app: FastifyInstance
let ctx: Context
let url = ''
type Reply = { accepted: number; error?: string; refused?: Array<{ error: string }> }

/** Provisions `store` with the boutique site, `rename` applied to its zone ids; returns the gateway token. */
async function provision(store: string, rename: Record<string, string> = {}): Promise<string> {
  const to = (id: unknown) => (typeof id === 'string' ? (rename[id] ?? id) : id)
  const features = site.features.map(f => ({
    ...f,
    properties: { ...f.properties, id: to(f.properties.id), ...(f.properties.shop !== undefined ? { shop: to(f.properties.shop) } : {}) }
  }))
  const r = await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: store, features } })
  assert.equal(r.status, 201)
  return r.body.gatewayToken
}

let n = 0
const ev = (store: string, type: InstoreEvent['type'], visitId: string, over: Partial<InstoreEvent> = {}): InstoreEvent => ({
  id: `R${++n}`,
  type,
  storeId: store,
  subject: 'h:00000000000000a1',
  visitId,
  seq: n,
  ts: Date.now() - 60_000 + n,
  shop: 'boutique',
  ...over
})
const post = (store: string, token: string, events: InstoreEvent[]) => api<Reply>(`${url}/v1/stores/${store}/events`, token, 'POST', { events })
const openStays = async (store: string) =>
  (await ctx.db.selectFrom('an_open_stays').select(['visit_id', 'sector']).where('store_id', '=', store).execute()).map(r => `${r.visit_id}/${r.sector}`)
const openVisits = async (store: string) => (await ctx.db.selectFrom('an_open_visits').select('visit_id').where('store_id', '=', store).execute()).map(r => r.visit_id)

before(async () => {
  const built = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'stay-renamed-')), log: silentLogger, adminToken: ADMIN }))
  app = built.app
  ctx = built.ctx
  url = await app.listen({ port: 0, host: '127.0.0.1' })
})
after(async () => {
  await app.close()
})

test('a sector renamed since its stay opened: the exit under the old name closes the stay; a made-up one is refused', async () => {
  let token = await provision('r1')
  const opened = await post('r1', token, [ev('r1', 'shop.enter', 'V1'), ev('r1', 'sector.enter', 'V1', { sector: 'women' })])
  assert.equal(opened.body.accepted, 2, JSON.stringify(opened.body))
  assert.deepEqual(await openStays('r1'), ['V1/women'])
  token = await provision('r1', { women: 'women-2' })
  const closed = await post('r1', token, [ev('r1', 'sector.exit', 'V1', { sector: 'women', dwellMs: 30_000 })])
  assert.deepEqual([closed.status, closed.body.accepted], [200, 1], JSON.stringify(closed.body))
  assert.deepEqual(await openStays('r1'), [])
  // Nothing open under that name (another visit, a sector that never was): refused as before.
  for (const e of [ev('r1', 'sector.exit', 'V1', { sector: 'women' }), ev('r1', 'sector.exit', 'V9', { sector: 'women' }), ev('r1', 'sector.exit', 'V1', { sector: 'nowhere' })]) {
    const r = await post('r1', token, [e])
    assert.deepEqual([r.status, r.body.refused?.[0]?.error], [422, 'INSTORE_UNKNOWN_ZONE'], JSON.stringify(e))
  }
})

test('a shop renamed since its visit opened: its sector, shop exit and summary under the old names close it', async () => {
  let token = await provision('r2')
  await post('r2', token, [ev('r2', 'shop.enter', 'V2'), ev('r2', 'sector.enter', 'V2', { sector: 'men' })])
  assert.deepEqual(await openVisits('r2'), ['V2'])
  token = await provision('r2', { boutique: 'boutique-2', men: 'men-2' })
  const closed = await post('r2', token, [
    ev('r2', 'sector.exit', 'V2', { sector: 'men', dwellMs: 1000 }),
    ev('r2', 'shop.exit', 'V2', { durationMs: 2000 }),
    ev('r2', 'visit.summary', 'V2', { durationMs: 2000, sectors: [] })
  ])
  assert.deepEqual([closed.status, closed.body.accepted], [200, 3], JSON.stringify(closed.body))
  assert.deepEqual(await openVisits('r2'), [])
  assert.deepEqual(await openStays('r2'), [])
  const late = await post('r2', token, [ev('r2', 'shop.enter', 'V3')])
  assert.deepEqual([late.status, late.body.refused?.[0]?.error], [422, 'INSTORE_UNKNOWN_ZONE'], 'an entry under the old name is refused')
})
