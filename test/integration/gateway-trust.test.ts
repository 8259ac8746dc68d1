// Issue 25, "gateways say only what they may": a gateway token can report a trigger only for a
// campaign that exists, is active and runs in its store; what reaches the phone is the server's
// copy of the campaign, within caps and TTL the server counts itself; every event and live
// snapshot is validated (sizes, charsets, ranges) before it is stored or shown.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer, type Context } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import type { PushedTrigger } from '../../server/hubs/push.ts'
import { silentLogger } from '../../shared/log.ts'
import type { Campaign } from '../../shared/campaigns.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import { api } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import { ROOT } from '../helpers/run.ts'
import { openingVisits } from '../helpers/visit.ts'

const ADMIN = 'adm_trust_test'
const dataDir = mkdtempSync(join(tmpdir(), 'trust-'))
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
let app: FastifyInstance
let ctx: Context
let url = ''
const gw: Record<string, string> = {}
let device = { deviceId: '', subject: '' }

const campaign = (id: string, stores: string[], extra: Partial<Campaign> = {}): Campaign => ({
  id,
  stores,
  when: { event: 'sector.enter', sector: 'women' },
  content: { title: `Server title ${id}`, body: 'from the server', url: 'app://offers/1', ttlMin: 30 },
  ...extra
})
let n = 0
const trigger = (campaignId: string | undefined, over: Partial<InstoreEvent> = {}): InstoreEvent => ({
  id: `T${++n}`,
  type: 'trigger.fired',
  storeId: 's1',
  subject: device.subject,
  visitId: `V${n}`,
  seq: n,
  ts: Date.now(),
  sector: 'women',
  ...(campaignId !== undefined ? { campaignId } : {}),
  content: { title: 'Forged', url: 'https://phish.example/login', ttlMin: 10080 },
  reason: 'gateway says so',
  ...over
})
type Refused = Array<{ index: number; id: string | null; error: string }>
// Each trigger's visit is opened first: these tests are about campaigns, content, caps and TTL.
const post = openingVisits(
  async (events: unknown[], store: string = 's1', token: string = gw[store]) =>
    await api<{ accepted: number; duplicates: number; error: string; message: string; refused?: Refused }>(`${url}/v1/stores/${store}/events`, token, 'POST', { events })
)
const postRaw = async (path: string, body: string, token: string | null = gw.s1) => {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body })
  return { status: res.status, body: (await res.json()) as { error: string; message: string } }
}
/** What a stream opened now from the start would be sent (nothing to a device that may not receive). */
const pushedTo = async (deviceId: string): Promise<PushedTrigger[]> => ((await ctx.hub.mayReceive(deviceId)) ? (await ctx.hub.triggersAfter(deviceId, 0)).map(x => x.trigger) : [])
const stored = async (id: string) => await ctx.db.selectFrom('events').select('body').where('id', '=', id).executeTakeFirst()

/** Registers an app install with both consents; the server may issue the subject (issue 25 part A) or take ours. */
async function register(name: string): Promise<{ deviceId: string; subject: string }> {
  const consent = { presence: true, marketing: true }
  let r = await api<{ deviceId: string; subject?: string }>(`${url}/v1/devices`, null, 'POST', { consent })
  if (r.status === 400) r = await api(`${url}/v1/devices`, null, 'POST', { bleId: `app:${name}`, consent })
  assert.equal(r.status, 201)
  return { deviceId: r.body.deviceId, subject: r.body.subject ?? `app:${name}` }
}

async function start(): Promise<void> {
  // Snapshots back to back below: the live gate's interval (live-gate.ts) is not what these test.
  const built = await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: ADMIN, limits: { liveMinIntervalMs: 0 } }))
  app = built.app
  ctx = built.ctx
  url = await app.listen({ port: 0, host: '127.0.0.1' })
}

before(async () => {
  await start()
  for (const s of ['s1', 's2']) gw[s] = (await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: s } })).body.gatewayToken
  for (const c of [
    campaign('live', ['s1', 's2'], { cap: { cooldownS: 3600 } }),
    campaign('paused', ['s1'], { active: false }),
    campaign('elsewhere', ['s2']),
    campaign('per-visit', ['s1'], { cap: { perVisit: 1 } })
  ])
    assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', c)).status, 201)
  device = await register('7a11ed01')
})
after(async () => {
  await app.close()
})

test("repro 3: a forged trigger.fired (no such campaign, own url, a week's TTL) is refused, never stored, never pushed", async () => {
  const e = trigger('no-such-campaign')
  const r = await post([e])
  assert.equal(r.status, 422)
  assert.equal(r.body.error, 'INSTORE_NO_CAMPAIGN')
  assert.deepEqual(
    r.body.refused?.map(x => x.id),
    [e.id]
  )
  assert.equal(await stored(e.id), undefined)
  assert.deepEqual(await pushedTo(device.deviceId), [])
  assert.match(await (await fetch(`${url}/metrics`)).text(), /instore_server_events_refused_total\{reason="INSTORE_NO_CAMPAIGN"\} 1/)
})

test('a trigger.fired is refused unless its campaign exists, is active, runs in the posting store and fires where the event says', async () => {
  const cases: Array<[string, InstoreEvent, string]> = [
    ['no campaign id', trigger(undefined), 'INSTORE_NO_CAMPAIGN'],
    ['unknown campaign', trigger('nope'), 'INSTORE_NO_CAMPAIGN'],
    ['inactive campaign', trigger('paused'), 'INSTORE_CAMPAIGN_INACTIVE'],
    ["another store's campaign", trigger('elsewhere'), 'INSTORE_CAMPAIGN_OTHER_STORE'],
    ['a sector the rule does not name', trigger('live', { sector: 'men' }), 'INSTORE_CAMPAIGN_MISMATCH']
  ]
  for (const [name, e, code] of cases) {
    const r = await post([e])
    assert.equal(r.status, 422, name)
    assert.equal(r.body.error, code, name)
    assert.equal(await stored(e.id), undefined, name)
  }
  assert.deepEqual(await pushedTo(device.deviceId), [])
})

test("what reaches the phone is the server's campaign: its title, body, url and TTL, never the event's", async () => {
  const e = trigger('live')
  const r = await post([e])
  assert.equal(r.status, 200)
  assert.deepEqual(r.body, { accepted: 1, duplicates: 0 })
  const [t] = await pushedTo(device.deviceId)
  assert.deepEqual(t.content, campaign('live', []).content)
  assert.equal(t.expires - t.ts, 30 * 60_000)
  assert.deepEqual((JSON.parse((await stored(e.id))?.body ?? '{}') as InstoreEvent).content, campaign('live', []).content, "stored as the server's content too")
  const again = await post([e])
  assert.deepEqual([again.status, again.body], [200, { accepted: 0, duplicates: 1 }], 'a duplicate id stays idempotent')
  assert.equal((await pushedTo(device.deviceId)).length, 1)
})

test('caps hold across stores and restarts: more events from a gateway never mean more pushes', async () => {
  const before = (await pushedTo(device.deviceId)).length
  // Cooldown of an hour on "live": s1 fired above; neither s1 again nor s2 gets another push.
  assert.equal((await post([trigger('live', { ts: Date.now() + 1000 })])).status, 200)
  assert.equal((await post([trigger('live', { storeId: 's2' })], 's2')).status, 200)
  // A clock far ahead cannot jump the cooldown either: such an event is refused outright.
  assert.equal((await post([trigger('live', { ts: Date.now() + 7 * 86_400_000 })])).body.error, 'INSTORE_TS_FUTURE')
  assert.equal((await pushedTo(device.deviceId)).length, before)
  // Per visit: one push per visit, however many events.
  const visit = 'VISIT-A'
  for (let i = 0; i < 3; i++) assert.equal((await post([trigger('per-visit', { visitId: visit })])).status, 200)
  assert.equal((await pushedTo(device.deviceId)).length, before + 1)
  // The counts live in the database: a restarted server still applies them.
  await app.close()
  await start()
  assert.equal((await post([trigger('per-visit', { visitId: visit })])).status, 200)
  assert.equal((await post([trigger('live')])).status, 200)
  assert.equal((await pushedTo(device.deviceId)).length, before + 1)
  assert.equal((await post([trigger('per-visit', { visitId: 'VISIT-B' })])).status, 200)
  assert.equal((await pushedTo(device.deviceId)).length, before + 2, 'a new visit may get it again')
})

test("TTL is the campaign's, counted from no later than now: an old trigger expires whatever the event says", async () => {
  const other = await register('7a11ed02')
  const before = ctx.hub.dropped.expired
  assert.equal((await post([trigger('per-visit', { subject: other.subject, ts: Date.now() - 31 * 60_000 })])).status, 200)
  assert.equal(ctx.hub.dropped.expired, before + 1)
  assert.equal((await post([trigger('per-visit', { subject: other.subject, ts: Date.now() + 86_400_000 })])).body.error, 'INSTORE_TS_FUTURE', 'a day ahead is refused')
  assert.equal((await post([trigger('per-visit', { subject: other.subject, ts: Date.now() + 60_000 })])).status, 200)
  const [t] = await pushedTo(other.deviceId)
  assert.ok(t.ts <= Date.now() && t.expires - t.ts === 30 * 60_000, 'a future timestamp does not stretch the TTL')
})

test('a refused trigger does not cost the rest of its batch: the others are stored, a re-send is idempotent', async () => {
  const enter: InstoreEvent = {
    id: 'E-mixed',
    type: 'sector.enter',
    storeId: 's1',
    subject: device.subject,
    visitId: 'V-mixed',
    seq: 1,
    ts: Date.now(),
    shop: 'boutique',
    sector: 'women'
  }
  const forged = trigger('nope')
  const r = await post([enter, forged])
  assert.equal(r.status, 422)
  assert.deepEqual([r.body.accepted, r.body.duplicates, r.body.refused?.map(x => x.error)], [1, 0, ['INSTORE_NO_CAMPAIGN']])
  assert.ok(await stored(enter.id))
  assert.equal(await stored(forged.id), undefined)
  const again = await post([enter, forged])
  assert.deepEqual([again.status, again.body.accepted, again.body.duplicates], [422, 0, 1])
})

const hostile = '<img src=x onerror="window.__pwned=1">'
const good = (): InstoreEvent => ({
  id: `G${++n}`,
  type: 'sector.exit',
  storeId: 's1',
  subject: device.subject,
  visitId: 'V1',
  seq: 1,
  ts: Date.now(),
  shop: 'boutique',
  sector: 'women',
  dwellMs: 1000
})

test('every event is validated (charsets, sizes, ranges, no extra fields) before it is stored: a specific 400, counted', async () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['markup in the id', { id: hostile }],
    ['markup in the campaign id', { type: 'trigger.fired', campaignId: hostile }],
    ['markup in the sector', { sector: '"><script>window.__pwned=1</script>' }],
    ['markup in the shop', { shop: hostile }],
    ['markup in the subject', { subject: `app:${hostile}` }],
    ['a space in a visit id', { visitId: 'a b' }],
    ['an id too long', { id: 'x'.repeat(65) }],
    ['a negative dwell', { dwellMs: -1 }],
    ['confidence above 1', { confidence: 2 }],
    ['a timestamp past the range', { ts: 1e14 }],
    ['an unknown field', { html: '<b>' }],
    ['a javascript: url', { type: 'trigger.fired', campaignId: 'live', content: { title: 't', url: 'JavaScript:alert(1)' } }],
    ['a control character in a reason', { reason: 'a\u0000b' }],
    ['a deep sectors list', { type: 'visit.summary', sectors: [{ id: 'women', dwellMs: 1, more: [[[[]]]] }] }]
  ]
  for (const [name, over] of cases) {
    const e = { ...good(), ...over }
    const r = await post([e])
    assert.equal(r.status, 400, name)
    assert.equal(r.body.error, 'INSTORE_BAD_EVENT', name)
    assert.equal(await ctx.db.selectFrom('events').select('id').where('id', '=', e.id).executeTakeFirst(), undefined, name)
  }
  // JSON numbers beyond double range parse as Infinity: refused, not stored as garbage.
  const inf = await postRaw('/v1/stores/s1/events', JSON.stringify({ events: [good()] }).replace(/"dwellMs":1000/, '"dwellMs":1e999'))
  assert.deepEqual([inf.status, inf.body.error], [400, 'INSTORE_BAD_EVENT'])
  // An anonymous caller learns nothing about the schema.
  const anon = await postRaw('/v1/stores/s1/events', JSON.stringify({ events: [{ id: hostile }] }), null)
  assert.equal(anon.status, 401)
  assert.match(await (await fetch(`${url}/metrics`)).text(), /instore_server_events_refused_total\{reason="INSTORE_BAD_EVENT"\} 15/)
  assert.equal((await post([good()])).status, 200, 'a well-formed event still passes')
})

test('a live snapshot is validated before it reaches a dashboard: a specific 400, counted', async () => {
  const pos = { subject: device.subject, ts: 1, x: 1, y: 2, floor: 0, accuracyM: 1, shop: 'main', sector: null, source: 'ble' }
  const snap = (over: Record<string, unknown> = {}, p: Record<string, unknown> = {}) => ({
    ts: 1,
    positions: [{ ...pos, ...p }],
    occupancy: { ts: 1, shops: { main: 1 }, sectors: {}, passersBy: 0 },
    footfall: { date: '2026-12-06', wifiDevices: 1, wifiAddresses: 2, bleDevices: 1 },
    ...over
  })
  const cases: Array<[string, unknown]> = [
    ['markup in a subject', snap({}, { subject: hostile })],
    ['markup in a shop', snap({}, { shop: '"><script>window.__pwned=1</script>' })],
    ['a string coordinate', snap({}, { x: '1" onload="x' })],
    ['an unknown source', snap({}, { source: '<b>' })],
    ['markup in an occupancy key', snap({ occupancy: { ts: 1, shops: { [hostile]: 1 }, sectors: {}, passersBy: 0 } })],
    ['a fractional count', snap({ occupancy: { ts: 1, shops: { main: 1.5 }, sectors: {}, passersBy: 0 } })],
    ['an unknown field', snap({ html: '<b>' })],
    ['markup in the footfall date', snap({ footfall: { date: hostile, wifiDevices: 1, wifiAddresses: 1, bleDevices: 1 } })]
  ]
  for (const [name, body] of cases) {
    const r = await api<{ error: string }>(`${url}/v1/stores/s1/live`, gw.s1, 'POST', body)
    assert.deepEqual([r.status, r.body?.error], [400, 'INSTORE_BAD_SNAPSHOT'], name)
  }
  const inf = await postRaw('/v1/stores/s1/live', JSON.stringify(snap()).replace('"x":1', '"x":1e999'))
  assert.deepEqual([inf.status, inf.body.error], [400, 'INSTORE_BAD_SNAPSHOT'])
  assert.equal(await ctx.live.latest('s1'), undefined, 'nothing reached the dashboards')
  assert.equal((await api(`${url}/v1/stores/s1/live`, gw.s1, 'POST', snap())).status, 204)
  assert.equal((await api(`${url}/v1/stores/s1/live`, gw.s1, 'POST', snap({ occupancy: null, footfall: undefined }))).status, 204, 'before the first occupancy')
  assert.match(await (await fetch(`${url}/metrics`)).text(), /instore_server_live_refused_total\{reason="INSTORE_BAD_SNAPSHOT"\} 9/)
})

test("one bad event costs only itself: the rest of the batch is stored, and a gateway's outbox drains past it", async () => {
  const bad = { ...good(), subject: `app:${hostile}` }
  const ok = good()
  const r = await post([bad, ok])
  assert.equal(r.status, 400)
  assert.equal(r.body.error, 'INSTORE_BAD_EVENT')
  assert.deepEqual([r.body.accepted, r.body.refused?.map(x => [x.index, x.error])], [1, [[0, 'INSTORE_BAD_EVENT']]])
  assert.equal(r.body.refused?.[0].id, bad.id, 'a well-formed id is named')
  assert.ok(await stored(ok.id))
  assert.equal(await stored(bad.id), undefined)
  assert.equal((await postRaw('/v1/stores/s1/events', '{"events": "nope"}')).status, 400, 'a bad envelope is refused whole')
  // Refusals name each event by its place in the posted batch, whatever the reason.
  const mixed = await post([good(), { ...good(), shop: hostile }, trigger('nope')])
  assert.deepEqual(
    [mixed.status, mixed.body.refused?.map(x => [x.index, x.error])],
    [
      400,
      [
        [1, 'INSTORE_BAD_EVENT'],
        [2, 'INSTORE_NO_CAMPAIGN']
      ]
    ]
  )

  // A real gateway outbox holding a hostile advert's event, a forged trigger and a good event.
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'trust-gw-')))
  const rows = [{ ...good(), subject: 'name:<b>hi</b>' }, trigger('nope'), good()]
  for (const e of rows) store.addEvent(e.id, e.type, e.ts, JSON.stringify(e))
  const uplink = new Uplink({ central: url, token: gw.s1, storeId: 's1', batch: 500, minBackoffMs: 50, maxBackoffMs: 200, configEveryMs: 60_000 }, store, silentLogger, () => {})
  uplink.start()
  try {
    await waitFor(() => store.backlog() === 0, 10_000, 'the outbox to drain')
    assert.ok(await stored(rows[2].id))
    assert.equal(await stored(rows[0].id), undefined)
    assert.equal(await stored(rows[1].id), undefined)
  } finally {
    await uplink.stop(0)
    store.close()
  }
})

test('a trigger.fired about a device without marketing consent (or no device) is refused, never stored, not in the funnel', async () => {
  const r = await api<{ deviceId: string; subject: string }>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: false } })
  assert.equal(r.status, 201)
  const events = [trigger('live', { subject: r.body.subject }), trigger('live', { subject: 'h:00112233aabbccdd' })]
  const res = await post(events)
  assert.equal(res.status, 422)
  assert.deepEqual(
    res.body.refused?.map(x => x.error),
    ['INSTORE_NO_MARKETING_CONSENT', 'INSTORE_NO_MARKETING_CONSENT']
  )
  for (const e of events) assert.equal(await stored(e.id), undefined)
  const a = await api<{ funnel: Array<{ k: string | null; fired: number }> }>(`${url}/v1/analytics/stores/s1`, ADMIN)
  const before = a.body.funnel.find(f => f.k === 'live')?.fired ?? 0
  assert.equal((await post([trigger('live', { subject: r.body.subject, visitId: 'V-nm' })])).status, 422)
  assert.equal(
    (await api<{ funnel: Array<{ k: string | null; fired: number }> }>(`${url}/v1/analytics/stores/s1`, ADMIN)).body.funnel.find(f => f.k === 'live')?.fired ?? 0,
    before,
    'not counted as fired'
  )
})

test('presence consent withdrawn: the live dashboard no longer shows the device (an outside tester saw it stay)', async () => {
  const r = await api<{ deviceId: string; subject: string; token: string }>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: false } })
  assert.equal(r.status, 201)
  const pos = { subject: r.body.subject, ts: 1, x: 1, y: 2, floor: 0, accuracyM: 1, shop: 'main', sector: null, source: 'ble' }
  assert.equal((await api(`${url}/v1/stores/s1/live`, gw.s1, 'POST', { ts: 1, positions: [pos], occupancy: null })).status, 204)
  assert.ok(JSON.stringify(await ctx.live.latest('s1')).includes(r.body.subject), 'shown while consenting')
  const c = await api(`${url}/v1/devices/${r.body.deviceId}/consent`, r.body.token, 'PUT', { presence: false, marketing: false })
  assert.equal(c.status, 200)
  assert.ok(!JSON.stringify((await ctx.live.latest('s1')) ?? null).includes(r.body.subject), 'gone once withdrawn')
})
