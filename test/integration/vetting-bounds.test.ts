// What an outside tester did to the central server from one store's gateway (repros t1, t8b, t15):
// a visit forged 29 days back and a trigger pushed on it to a shopper never in that store; a GET of
// analytics that closed every store's long visits and so changed another store's trigger vetting;
// and batches whose triggers each parsed the shopper's last 50 stored entries (500 sectors each),
// stalling every request. Real HTTP, SQLite and again on PostgreSQL (two replicas there).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { InstoreEvent } from '../../shared/events.ts'
import { api } from '../helpers/procs.ts'
import { startChain, registerDevice, type Chain } from '../helpers/replicas.ts'
import { enterFor, eventMaker } from '../helpers/visit.ts'
import { MAX_TRIGGERS_PER_BATCH } from '../../server/routes/gateway.ts'
import { dropStaleOpenRows, OPEN_FOR_AT_MOST_MS } from '../../server/db/rollups.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'

const HOUR = 3_600_000
let chain: Chain
let a = ''
let b = ''
const { ev, trig } = eventMaker('VB')
type Reply = { accepted: number; duplicates: number; error: string; refused?: Array<{ index: number; error: string }> }
const post = async (url: string, store: 's1' | 's2', events: unknown[]) => await api<Reply>(`${url}/v1/stores/${store}/events`, chain.gw[store], 'POST', { events })
const pushed = async (deviceId: string) => (await chain.replicas[0].ctx.hub.triggersAfter(deviceId, 0)).map(x => x.trigger.campaignId)
const refusedTotal = async (code: string) =>
  Number(new RegExp(`instore_server_events_refused_total\\{reason="${code}"\\} (\\d+)`).exec(await (await fetch(`${b}/metrics`)).text())?.[1] ?? 0)
const openVisits = async (store: string, since = 0) =>
  Number(
    (
      await chain.replicas[0].ctx.db
        .selectFrom('an_open_visits')
        .select(eb => eb.fn.countAll().as('n'))
        .where('store_id', '=', store)
        .where('ts', '>=', since)
        .executeTakeFirstOrThrow()
    ).n
  )

before(async () => {
  chain = await startChain('vetting-bounds', 2)
  a = chain.replicas[0].url
  b = chain.replicas[1].url
  const campaign = { id: 'b-offer', stores: ['s2'], when: { event: 'sector.enter', sector: 'women' }, content: { title: 'Offer', ttlMin: 60 } }
  assert.equal((await api(`${a}/v1/campaigns`, chain.admin, 'POST', campaign)).status, 201)
})
after(async () => {
  await chain.close()
})

/** A trigger of store s2's campaign on `visitId`, now. */
const atS2 = (subject: string, visitId: string, over: Partial<InstoreEvent> = {}) => trig('b-offer', subject, { storeId: 's2', visitId, ...over })

test("t1: store s2's gateway cannot forge a back-dated visit for a shopper seen only in s1: an entry more than 6 h old is stale for a trigger", async () => {
  const now = Date.now()
  const cases: Array<[string, number, boolean, string | null]> = [
    ['an entry stamped 29 days ago, posted before the trigger', now - 29 * 24 * HOUR, false, 'INSTORE_VISIT_STALE'],
    ['an entry stamped 7 h ago, in the same batch', now - 7 * HOUR, true, 'INSTORE_VISIT_STALE'],
    ['an entry stamped 5 h ago, posted before the trigger', now - 5 * HOUR, false, null]
  ]
  for (const [name, enteredAt, sameBatch, code] of cases) {
    const victim = await registerDevice(a)
    assert.equal((await post(a, 's1', [ev(victim.subject, { type: 'shop.enter', sector: undefined, visitId: 'v1' })])).status, 200, `${name}: seen in s1`)
    const t = atS2(victim.subject, `forged-${enteredAt}`)
    const enter = { ...enterFor(t), ts: enteredAt }
    if (!sameBatch) assert.equal((await post(b, 's2', [enter])).status, 200, `${name}: the entry is stored (a gateway says who is in its store)`)
    const before = code === null ? 0 : await refusedTotal(code)
    const r = await post(b, 's2', sameBatch ? [enter, t] : [t])
    if (code === null) {
      assert.deepEqual([r.status, r.body.accepted], [200, 1], name)
      assert.deepEqual(await pushed(victim.deviceId), ['b-offer'], `${name}: pushed`)
      continue
    }
    assert.deepEqual([r.status, r.body.refused?.map(x => x.error)], [422, [code]], name)
    assert.equal(await refusedTotal(code), before + 1, `${name}: counted`)
    assert.deepEqual(await pushed(victim.deviceId), [], `${name}: never pushed`)
  }
})

test("t8b: reading analytics changes nothing: another store's long visits stay stored, and vetting judges them alike before and after", async () => {
  const d1 = await registerDevice(a)
  const d2 = await registerDevice(a)
  const present = async () => (await api<{ occupancy: { shops: Record<string, number> } }>(`${a}/v1/analytics/stores/s2`, chain.admin, 'GET')).body.occupancy.shops.boutique ?? 0
  const inside = await present()
  for (const d of [d1, d2]) assert.equal((await post(b, 's2', [{ ...enterFor(atS2(d.subject, 'long')), ts: Date.now() - 7 * HOUR }])).status, 200)
  const stored = await openVisits('s2')
  const first = await post(b, 's2', [atS2(d1.subject, 'long')])
  const read = await api<{ occupancy: { shops: Record<string, number> } }>(`${a}/v1/analytics/stores/s1`, chain.manager.s1, 'GET')
  assert.equal(read.status, 200)
  assert.equal(await openVisits('s2'), stored, "a GET of s1's analytics deletes none of s2's open visits")
  const second = await post(b, 's2', [atS2(d2.subject, 'long')])
  assert.deepEqual(
    [first.body.refused?.[0]?.error, second.body.refused?.[0]?.error],
    ['INSTORE_VISIT_STALE', 'INSTORE_VISIT_STALE'],
    'the same 6-h rule, whatever was read meanwhile'
  )
  assert.equal(await present(), inside, "s2's analytics counts neither 7-h-old visit as present")
  // The hourly sweep (not a GET) deletes them, and only them.
  const cutoff = Date.now() - OPEN_FOR_AT_MOST_MS
  const recent = await openVisits('s2', cutoff)
  assert.ok(recent <= stored - 2)
  assert.ok((await dropStaleOpenRows(chain.replicas[0].ctx.db, cutoff)) >= 2)
  assert.equal(await openVisits('s2'), recent, 'swept')
})

test('t15: a batch of more triggers than the bound is refused whole (413), and vetting costs one key read, however many and large the stored entries', async () => {
  // Ten shoppers, each with 50 stored entries of 500 sectors, as the tester's store B posted.
  const shoppers = await Promise.all(Array.from({ length: 10 }, () => registerDevice(a)))
  const fat = Array.from({ length: 500 }, () => ({ id: 'women', dwellMs: 123456789 }))
  for (const d of shoppers) {
    const entries = Array.from({ length: 50 }, (_, i) => ({ ...enterFor(atS2(d.subject, `fat-${i}`)), id: `fat-${d.subject}-${i}`, ts: Date.now() - HOUR, sectors: fat }))
    assert.equal((await post(b, 's2', entries)).status, 200)
  }
  const batch = (n: number) => Array.from({ length: n }, (_, i) => atS2(shoppers[i % shoppers.length].subject, `nope-${i}`))
  const before = await refusedTotal('INSTORE_TOO_MANY_TRIGGERS')
  const many = await post(b, 's2', batch(MAX_TRIGGERS_PER_BATCH + 1))
  assert.deepEqual([many.status, many.body.error, many.body.refused], [413, 'INSTORE_TOO_MANY_TRIGGERS', undefined], 'refused whole, without a list: a gateway splits it')
  assert.equal(await refusedTotal('INSTORE_TOO_MANY_TRIGGERS'), before + 1, 'counted')
  // The bound itself is vetted, while the server keeps answering others.
  const started = Date.now()
  const hog = post(b, 's2', batch(MAX_TRIGGERS_PER_BATCH))
  const health = await fetch(`${b}/healthz`)
  const waited = Date.now() - started
  const r = await hog
  assert.equal(health.status, 200)
  assert.deepEqual([r.status, new Set(r.body.refused?.map(x => x.error))], [422, new Set(['INSTORE_VISIT_UNKNOWN'])])
  assert.ok(waited < 5_000, `/healthz waited ${waited} ms behind a batch of ${MAX_TRIGGERS_PER_BATCH} triggers (${TEST_ENGINE})`)
})
