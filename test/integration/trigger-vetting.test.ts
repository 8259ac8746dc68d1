// What an outside tester found the server let reach a phone (defects 3 and 4 of the server review):
// triggers outside a campaign's hours, weekdays and audience; triggers for phones never in the
// posting store (made-up visits, another store's visit, a visit already over); and a deleted
// campaign's phishing link still delivered to a phone that connected afterwards. One test each,
// on SQLite and again on PostgreSQL (test/helpers/postgres.ts).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer, type Context } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { localTime } from '../../shared/local-time.ts'
import type { Campaign } from '../../shared/campaigns.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import { api } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'
import { enterFor, eventMaker } from '../helpers/visit.ts'
import { registerDevice } from '../helpers/replicas.ts'

const ADMIN = 'adm_trigger_vetting'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string; timezone: string }
let app: FastifyInstance
let ctx: Context
let url = ''
const gw: Record<string, string> = {}

const campaign = (id: string, extra: Partial<Campaign> = {}): Campaign => ({
  id,
  stores: ['s1', 's2'],
  when: { event: 'sector.enter', sector: 'women' },
  content: { title: `Server ${id}`, ttlMin: 180 },
  ...extra
})
const { ev, trig } = eventMaker('TV')
type Reply = { accepted: number; duplicates: number; error: string; refused?: Array<{ index: number; error: string }> }
const post = async (events: unknown[], store = 's1') => await api<Reply>(`${url}/v1/stores/${store}/events`, gw[store], 'POST', { events })
const pushed = async (deviceId: string) => (await ctx.hub.triggersAfter(deviceId, 0)).map(x => x.trigger.campaignId)
const refusedTotal = async (code: string) =>
  Number(new RegExp(`instore_server_events_refused_total\\{reason="${code}"\\} (\\d+)`).exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0)
const register = () => registerDevice(url)

before(async () => {
  const built = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'trigger-vetting-')), log: silentLogger, adminToken: ADMIN }))
  app = built.app
  ctx = built.ctx
  url = await app.listen({ port: 0, host: '127.0.0.1' })
  for (const s of ['s1', 's2']) gw[s] = (await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: s } })).body.gatewayToken
  // Hours and a weekday that exclude now in the store's time zone, as the tester's 06:00-06:30 did.
  const local = localTime(Date.now(), site.timezone)
  const otherHours: [string, string] = local.minutes < 720 ? ['18:00', '19:00'] : ['06:00', '06:30']
  const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const
  for (const c of [
    campaign('hours', { schedule: { hours: [otherHours] } }),
    campaign('days', { schedule: { days: days.filter(d => d !== local.weekday) } }),
    campaign('regulars', { audience: { segments: ['regular'] } }),
    campaign('now', { schedule: { hours: [['00:00', '24:00']], days: [...days] }, audience: { segments: ['first', 'regular'] } }),
    campaign('plain'),
    campaign('leaving', { when: { event: 'shop.exit' } })
  ])
    assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', c)).status, 201, c.id)
})
after(async () => {
  await app.close()
})

test("3: a campaign's hours, weekdays (store time zone) and audience hold at the server: each refusal coded, counted, never pushed", async () => {
  const d = await register()
  const cases: Array<[string, string, string | null]> = [
    ['hours excluding now', 'hours', 'INSTORE_CAMPAIGN_OUT_OF_HOURS'],
    ['days excluding today', 'days', 'INSTORE_CAMPAIGN_OFF_DAY'],
    ['regulars only, a first-time visitor', 'regulars', 'INSTORE_CAMPAIGN_AUDIENCE'],
    ['every hour and day, first-time visitors included', 'now', null]
  ]
  for (const [name, id, code] of cases) {
    const t = trig(id, d.subject)
    const before = code === null ? 0 : await refusedTotal(code)
    // The visit's own entry, earlier in the same batch, says it is a first visit.
    const r = await post([enterFor(t, 'first'), t])
    if (code === null) assert.deepEqual([r.status, r.body.accepted], [200, 2], name)
    else {
      assert.deepEqual([r.status, r.body.accepted, r.body.refused?.map(x => [x.index, x.error])], [422, 1, [[1, code]]], name)
      assert.equal(await refusedTotal(code), before + 1, `${name}: counted`)
    }
  }
  assert.deepEqual(await pushed(d.deviceId), ['now'])
})

test("3: the audience is the segment of the visit's own entry: a regular's visit gets the regulars' campaign", async () => {
  const d = await register()
  const t = trig('regulars', d.subject)
  assert.equal((await post([enterFor(t, 'regular')])).status, 200)
  assert.equal((await post([t])).status, 200, 'the entry stored in an earlier post counts')
  assert.deepEqual(await pushed(d.deviceId), ['regulars'])
})

test('3: a trigger needs an open visit of that subject in the posting store: made-up, foreign and ended visits are refused', async () => {
  const d = await register()
  const other = await register()
  // A fresh device never seen by any gateway: s2's gateway posts triggers with made-up visits.
  for (let i = 0; i < 5; i++) {
    const r = await post([trig('plain', d.subject, { storeId: 's2', visitId: `made-up-${i}` })], 's2')
    assert.deepEqual([r.status, r.body.error], [422, 'INSTORE_VISIT_UNKNOWN'], `made-up visit ${i}`)
  }
  const atS1 = trig('plain', d.subject)
  assert.equal((await post([enterFor(atS1)])).status, 200)
  const cases: Array<[string, InstoreEvent[], string, string]> = [
    ["s1's visit, posted by s2's gateway", [{ ...atS1, id: 'TV-s2', storeId: 's2' }], 's2', 'INSTORE_VISIT_UNKNOWN'],
    ["another subject's visit", [trig('plain', other.subject, { visitId: atS1.visitId })], 's1', 'INSTORE_VISIT_UNKNOWN'],
    [
      'a visit that ended earlier in the same batch',
      [ev(d.subject, { type: 'shop.exit', sector: undefined, visitId: atS1.visitId, ts: atS1.ts - 200, durationMs: 800 }), { ...atS1, id: 'TV-after-exit' }],
      's1',
      'INSTORE_VISIT_CLOSED'
    ],
    ['a visit that ended in an earlier post', [{ ...atS1, id: 'TV-later' }], 's1', 'INSTORE_VISIT_CLOSED']
  ]
  for (const [name, events, store, code] of cases) {
    const r = await post(events, store)
    assert.deepEqual([r.status, r.body.refused?.at(-1)?.error], [422, code], name)
  }
  assert.deepEqual(await pushed(d.deviceId), [])
  assert.deepEqual(await pushed(other.deviceId), [])
})

test('3: the trigger of a shop.exit rule follows its exit, and a batch keeps its good events', async () => {
  const d = await register()
  const ts = Date.now()
  const visitId = `leaving-${Date.now()}`
  const enter = enterFor(ev(d.subject, { visitId, ts }))
  const exit = ev(d.subject, { type: 'shop.exit', sector: undefined, visitId, ts, durationMs: 1000 })
  const fired = trig('leaving', d.subject, { visitId, ts, sector: undefined })
  const forged = trig('plain', d.subject, { visitId: 'nobody-entered' })
  const r = await post([enter, forged, exit, fired, ev(d.subject, { visitId })])
  assert.deepEqual([r.status, r.body.accepted, r.body.refused?.map(x => [x.index, x.error])], [422, 4, [[1, 'INSTORE_VISIT_UNKNOWN']]])
  assert.deepEqual(await pushed(d.deviceId), ['leaving'])
})

/** The triggers a phone that connects now reads from its stream, up to the one named `until`. */
async function streamed(d: { deviceId: string; token: string }, until: string): Promise<string[]> {
  const ac = new AbortController()
  const res = await fetch(`${url}/v1/devices/${d.deviceId}/triggers`, { headers: { authorization: `Bearer ${d.token}` }, signal: ac.signal })
  assert.equal(res.status, 200)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  // A read blocks until the server writes: ending the request ends a wait for a trigger that never comes.
  const guard = setTimeout(() => ac.abort(), 10_000)
  let text = ''
  const got = () => [...text.matchAll(/^data: (.*)$/gm)].map(m => (JSON.parse(m[1]) as { campaignId: string }).campaignId)
  await waitFor(
    async () => {
      const { value } = await reader.read()
      text += new TextDecoder().decode(value)
      return got().includes(until)
    },
    10_000,
    `the stream to deliver ${until}`
  )
  clearTimeout(guard)
  ac.abort()
  return got()
}

test('4: deleting, deactivating or re-linking a campaign withdraws its pending triggers: a phone connecting later never gets them', async () => {
  const phish = (id: string): Campaign => campaign(id, { content: { title: 'Log in', url: 'https://phish.example/', ttlMin: 10080 } })
  for (const id of ['oops', 'off', 'relink', 'renamed']) assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', phish(id))).status, 201, id)
  const d = await register()
  const visit = trig('plain', d.subject)
  assert.equal((await post([enterFor(visit), ...['oops', 'off', 'relink', 'renamed'].map(id => trig(id, d.subject, { visitId: visit.visitId }))])).status, 200)
  assert.deepEqual((await pushed(d.deviceId)).sort(), ['off', 'oops', 'relink', 'renamed'])
  const withdrawn = ctx.hub.dropped.withdrawn
  assert.equal((await api(`${url}/v1/campaigns/oops`, ADMIN, 'DELETE')).status, 204)
  assert.equal((await api(`${url}/v1/campaigns/off`, ADMIN, 'PUT', { ...phish('off'), active: false })).status, 200)
  assert.equal((await api(`${url}/v1/campaigns/relink`, ADMIN, 'PUT', { ...phish('relink'), content: { title: 'Log in', url: 'https://shop.example/' } })).status, 200)
  // A change that leaves the content as it was (a new name) recalls nothing.
  assert.equal((await api(`${url}/v1/campaigns/renamed`, ADMIN, 'PUT', { ...phish('renamed'), name: 'Renamed' })).status, 200)
  assert.equal(ctx.hub.dropped.withdrawn, withdrawn + 3)
  // The phone connects afterwards; a fresh trigger marks the end of what it is sent.
  assert.equal((await post([trig('plain', d.subject, { visitId: visit.visitId })])).status, 200)
  assert.deepEqual(await streamed(d, 'plain'), ['renamed', 'plain'])
})

test('4: a trigger recorded as its campaign changes is still checked against the live campaign when read', async () => {
  const d = await register()
  const t = trig('plain', d.subject)
  assert.equal((await post([enterFor(t), t])).status, 200)
  // As if the change landed between vetting and recording: the row is pending, the campaign differs.
  await ctx.db
    .updateTable('campaigns')
    .set({ body: JSON.stringify(campaign('plain', { content: { title: 'Changed' } })) })
    .where('id', '=', 'plain')
    .execute()
  try {
    assert.deepEqual(await pushed(d.deviceId), [])
  } finally {
    await ctx.db
      .updateTable('campaigns')
      .set({ body: JSON.stringify(campaign('plain')) })
      .where('id', '=', 'plain')
      .execute()
  }
})
