// What a second outside tester reproduced in the server (defects 3 to 7 of the second server
// review): a registration a gateway reported expired once retention dropped its events, a campaign's last day judged at arrival rather than at the event's time, a recall set off
// by reordered content keys, a visit's segment moved by a second entry, a visit re-opened by an
// entry stored after its exit, and a trigger stamped after its visit's exit let through because the
// exit came later in the batch. On SQLite and again on PostgreSQL (test/helpers/postgres.ts).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer, type Context } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import type { Campaign } from '../../shared/campaigns.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import { storeFacts } from '../../server/hubs/push.ts'
import { expireRegistrations } from '../../server/identity.ts'
import { dropEventsBefore } from '../../server/db/retention.ts'
import { vetTrigger } from '../../server/hubs/vet.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'
import { enterFor, eventMaker } from '../helpers/visit.ts'
import { registerDevice } from '../helpers/replicas.ts'

const ADMIN = 'adm_server_review2'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string; timezone: string }
let app: FastifyInstance
let ctx: Context
let url = ''
let gateway = ''

const campaign = (id: string, extra: Partial<Campaign> = {}): Campaign => ({
  id,
  stores: ['s1'],
  when: { event: 'sector.enter', sector: 'women' },
  content: { title: `Server ${id}`, ttlMin: 180 },
  ...extra
})
const { ev, trig } = eventMaker('SR')
type Reply = { accepted: number; error: string; refused?: Array<{ index: number; error: string }> }
const post = async (events: unknown[]) => await api<Reply>(`${url}/v1/stores/s1/events`, gateway, 'POST', { events })
const pushed = async (deviceId: string) => (await ctx.hub.triggersAfter(deviceId, 0)).map(x => x.trigger.campaignId)
const register = () => registerDevice(url)

before(async () => {
  const built = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'server-review2-')), log: silentLogger, adminToken: ADMIN }))
  app = built.app
  ctx = built.ctx
  url = await app.listen({ port: 0, host: '127.0.0.1' })
  gateway = (await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: 's1' } })).body.gatewayToken
  for (const c of [campaign('lastday', { schedule: { to: '2026-12-06' } }), campaign('plain'), campaign('regulars', { audience: { segments: ['regular'] } })]) {
    assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', c)).status, 201, c.id)
  }
})
after(async () => {
  await app.close()
})

test("4: a campaign's dates are judged at the event's time, as its days and hours are, within the late margin", async () => {
  const d = await register()
  const facts = { ...storeFacts(JSON.stringify(site)), timeZone: 'UTC' }
  const lastMinute = Date.UTC(2026, 11, 6, 23, 59, 0)
  const cases: Array<[string, number, number, string | null]> = [
    ['fired at 23:59 on the last day, arriving 90 s later (after midnight)', lastMinute, lastMinute + 90_000, null],
    ['fired at 00:01 the day after', lastMinute + 120_000, lastMinute + 150_000, 'INSTORE_CAMPAIGN_OUT_OF_DATES'],
    ['fired on the last day but arriving far too late', lastMinute, lastMinute + 20 * 60_000, 'INSTORE_CAMPAIGN_OUT_OF_DATES']
  ]
  for (const [name, ts, now, code] of cases) {
    const t = trig('lastday', d.subject, { ts })
    const v = await vetTrigger(ctx.db, t, 's1', facts, now, [enterFor(t)])
    assert.equal(v.ok ? null : v.code, code, name)
  }
})

test("5: a PUT that only renames a campaign, its content's keys in another order, recalls nothing", async () => {
  const content = { title: 'Reorder', body: 'Same words', url: 'https://shop.example/', ttlMin: 600 }
  const reordered = { ttlMin: 600, url: 'https://shop.example/', body: 'Same words', title: 'Reorder' }
  assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', campaign('reorder', { content }))).status, 201)
  const d = await register()
  const t = trig('reorder', d.subject)
  assert.equal((await post([enterFor(t), t])).status, 200)
  const withdrawn = ctx.hub.dropped.withdrawn
  assert.equal((await api(`${url}/v1/campaigns/reorder`, ADMIN, 'PUT', campaign('reorder', { name: 'Renamed', content: reordered }))).status, 200)
  assert.equal(ctx.hub.dropped.withdrawn, withdrawn)
  assert.deepEqual(await pushed(d.deviceId), ['reorder'])
})

test("6: a visit's first shop.enter fixes its segment: a second entry, in a later post or the same batch, changes nothing", async () => {
  const d = await register()
  // In a later post: the tester's repro.
  const t = trig('regulars', d.subject)
  assert.equal((await post([{ ...enterFor(t, 'first'), ts: t.ts - 60_000 }])).status, 200)
  assert.equal((await post([{ ...enterFor(t, 'regular'), id: `${enterFor(t).id}b`, ts: t.ts - 30_000 }])).status, 200)
  const later = await post([t])
  assert.deepEqual([later.status, later.body.refused?.map(x => x.error)], [422, ['INSTORE_CAMPAIGN_AUDIENCE']], 'second entry in a later post')
  // In one batch: the first entry counts, not the last.
  const u = trig('regulars', d.subject)
  const same = await post([{ ...enterFor(u, 'first'), ts: u.ts - 60_000 }, { ...enterFor(u, 'regular'), id: `${enterFor(u).id}b`, ts: u.ts - 30_000 }, u])
  assert.deepEqual([same.status, same.body.refused?.map(x => [x.index, x.error])], [422, [[2, 'INSTORE_CAMPAIGN_AUDIENCE']]], 'second entry in the same batch')
  assert.deepEqual(await pushed(d.deviceId), [])
})

test('7: a visit whose exit is stored stays closed whatever the order its events arrive in', async () => {
  const d = await register()
  const exitOf = (t: InstoreEvent, ts: number) => ev(d.subject, { type: 'shop.exit', sector: undefined, visitId: t.visitId, ts, durationMs: 1000 })
  // The exit is posted, then its entry arrives late: the visit is not re-opened.
  const a = trig('plain', d.subject)
  assert.equal((await post([exitOf(a, a.ts - 500)])).status, 200)
  assert.equal((await post([enterFor(a)])).status, 200)
  const open = await ctx.db.selectFrom('an_open_visits').select('visit_id').where('visit_id', '=', String(a.visitId)).execute()
  assert.deepEqual(open, [], 'no open row for a visit whose exit is stored')
  assert.deepEqual(
    (await post([a])).body.refused?.map(x => x.error),
    ['INSTORE_VISIT_CLOSED'],
    'entry after its exit'
  )
  // In one batch, an entry after the exit re-opens nothing.
  const b = trig('plain', d.subject)
  const reopened = await post([enterFor(b), exitOf(b, b.ts - 500), { ...enterFor(b), id: `${enterFor(b).id}b`, ts: b.ts - 200 }, b])
  assert.deepEqual(
    reopened.body.refused?.map(x => [x.index, x.error]),
    [[3, 'INSTORE_VISIT_CLOSED']],
    'entry, exit, entry, trigger'
  )
  // A trigger stamped after its visit's exit, the exit later in the batch: refused by the timestamps.
  const c = trig('plain', d.subject)
  const exitLater = await post([enterFor(c), c, exitOf(c, c.ts - 500)])
  assert.deepEqual([exitLater.status, exitLater.body.refused?.map(x => [x.index, x.error])], [422, [[1, 'INSTORE_VISIT_CLOSED']]], 'exit later in the batch')
  // A trigger stamped before the exit that follows it in the batch still goes.
  const e = trig('plain', d.subject)
  assert.equal((await post([enterFor(e), e, exitOf(e, e.ts + 500)])).status, 200, 'trigger before the exit')
  assert.deepEqual(await pushed(d.deviceId), ['plain'])
})

test('3: registration expiry keeps a device a gateway reported within the TTL, though retention dropped its events', async () => {
  const DAY = 86_400_000
  const reported = await register()
  const silent = await register()
  const enter = enterFor(trig('plain', reported.subject, { ts: Date.now() - 5 * DAY }))
  assert.equal((await post([enter])).status, 200)
  for (const d of [reported, silent]) {
    await ctx.db
      .updateTable('devices')
      .set({ created: Date.now() - 31 * DAY })
      .where('device_id', '=', d.deviceId)
      .execute()
    await ctx.db
      .updateTable('tokens')
      .set({ created: Date.now() - 31 * DAY, last_used: null })
      .where('device_id', '=', d.deviceId)
      .execute()
  }
  // The event was received 5 days ago, and a retention of 3 days drops it: nothing stored names the device any more.
  await ctx.db
    .updateTable('events')
    .set({ received: Date.now() - 5 * DAY })
    .where('subject', '=', reported.subject)
    .execute()
  assert.ok((await dropEventsBefore(ctx.db, Date.now() - 3 * DAY)) >= 1)
  assert.equal(await expireRegistrations(ctx.db, Date.now(), 30 * DAY), 1, 'only the device no gateway reported')
  const left = (await ctx.db.selectFrom('devices').select('device_id').where('device_id', 'in', [reported.deviceId, silent.deviceId]).execute()).map(r => r.device_id)
  assert.deepEqual(left, [reported.deviceId])
})
