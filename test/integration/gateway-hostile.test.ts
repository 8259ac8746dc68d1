// Issue 25 part B, what a hostile tester found after it landed: reserved ids (`__proto__`) reaching
// object keys, caps dodged with back-dated timestamps and made-up visits, places the store does not
// have, a gateway's own reason pushed to phones, rules dodged by omitting the place, campaigns out of
// their dates, links outside an allowlist, router errors without headers, event times far off,
// event ids squatted across stores, open envelopes, and campaigns without bounds. One test each.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import { buildServer, type Context } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { openData } from '../../server/db/db.ts'
import { MAX_PER_CAMPAIGN_HOUR, type PushedTrigger } from '../../server/hubs/push.ts'
import { silentLogger } from '../../shared/log.ts'
import type { Campaign } from '../../shared/campaigns.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'
import { openingVisits } from '../helpers/visit.ts'

const ADMIN = 'adm_hostile_gw'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string; features: Array<{ properties: Record<string, unknown> }> }
let app: FastifyInstance
let ctx: Context
let url = ''
const gw: Record<string, string> = {}
const RESERVED = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__']

const campaign = (id: string, extra: Partial<Campaign> = {}): Campaign => ({
  id,
  stores: ['s1'],
  when: { event: 'sector.enter', sector: 'women' },
  content: { title: `Server ${id}`, ttlMin: 180 },
  ...extra
})
let n = 0
const ev = (over: Partial<InstoreEvent> = {}): InstoreEvent => ({
  id: `H${++n}`,
  type: 'sector.enter',
  storeId: 's1',
  subject: 'h:0000000000000001',
  visitId: `V${n}`,
  seq: n,
  ts: Date.now(),
  shop: 'boutique',
  sector: 'women',
  ...over
})
const trig = (campaignId: string, subject: string, over: Partial<InstoreEvent> = {}): InstoreEvent =>
  ev({ type: 'trigger.fired', subject, campaignId, content: { title: 'gateway title' }, reason: 'gateway says so', ...over })
type Reply = { accepted: number; duplicates: number; error: string; message: string; refused?: Array<{ error: string }> }
// Each trigger's visit is opened first: these tests are about caps, places, dates and content.
const post = openingVisits(async (events: unknown[], store: string = 's1') => await api<Reply>(`${url}/v1/stores/${store}/events`, gw[store], 'POST', { events }))
/** What a stream opened now from the start would be sent (nothing to a device that may not receive). */
const pushedTo = async (deviceId: string): Promise<PushedTrigger[]> => ((await ctx.hub.mayReceive(deviceId)) ? (await ctx.hub.triggersAfter(deviceId, 0)).map(x => x.trigger) : [])
async function register(): Promise<{ deviceId: string; subject: string }> {
  const consent = { presence: true, marketing: true }
  let r = await api<{ deviceId: string; subject?: string }>(`${url}/v1/devices`, null, 'POST', { consent })
  const name = `app:${(++n).toString(16).padStart(8, '0')}ee`
  if (r.status === 400) r = await api(`${url}/v1/devices`, null, 'POST', { bleId: name, consent })
  assert.equal(r.status, 201)
  return { deviceId: r.body.deviceId, subject: r.body.subject ?? name }
}

before(async () => {
  // Snapshots back to back below: the live gate's interval (live-gate.ts) is not what these test.
  const built = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'hostile-gw-')), log: silentLogger, adminToken: ADMIN, limits: { liveMinIntervalMs: 0 } }))
  app = built.app
  ctx = built.ctx
  url = await app.listen({ port: 0, host: '127.0.0.1' })
  for (const s of ['s1', 's2']) gw[s] = (await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: s } })).body.gatewayToken
  for (const c of [
    campaign('cool', { cap: { cooldownS: 3600 } }),
    campaign('visit', { cap: { perVisit: 1 } }),
    campaign('anywhere', { when: { event: 'sector.enter' } }),
    campaign('ended', { schedule: { to: '2020-01-01' } }),
    campaign('future', { schedule: { from: '2999-01-01' } }),
    campaign('shop-rule', { when: { event: 'shop.enter', shop: 'boutique' } })
  ])
    assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', c)).status, 201, c.id)
})
after(async () => {
  await app.close()
})

test('1: reserved names (__proto__, constructor, toString…) are refused as ids in events, sites, campaigns and snapshots', async () => {
  for (const id of RESERVED) {
    for (const [what, e] of [
      ['sector', ev({ sector: id })],
      ['shop', ev({ shop: id })],
      ['visit', ev({ visitId: id })],
      ['summary sector', ev({ type: 'visit.summary', sector: undefined, sectors: [{ id, dwellMs: 1 }] })]
    ] as const) {
      const r = await post([e])
      assert.deepEqual([r.status, r.body.error], [400, 'INSTORE_BAD_EVENT'], `${id} as ${what}`)
    }
    const bad = { ...site, storeId: 's9', features: site.features.map(f => (f.properties.id === 'women' ? { ...f, properties: { ...f.properties, id } } : f)) }
    assert.equal((await api<Reply>(`${url}/v1/stores`, ADMIN, 'POST', { site: bad })).status, 400, `${id} as a site sector`)
    assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', campaign(`r-${n++}`, { when: { event: 'sector.enter', sector: id } }))).status, 400, `${id} in a campaign`)
    const snap = { ts: 1, positions: [], occupancy: JSON.parse(`{"ts":1,"shops":{},"sectors":{"${id}":1},"passersBy":0}`) as unknown }
    assert.equal((await api(`${url}/v1/stores/s1/live`, gw.s1, 'POST', snap)).status, 400, `${id} as an occupancy key`)
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
})

test("3: the cooldown counts on the server's clock: a back-dated trigger neither slips past it nor is pushed", async () => {
  const d = await register()
  await post([trig('cool', d.subject, { ts: Date.now() - 2 * 3_600_000 })])
  await post([trig('cool', d.subject)])
  await post([trig('cool', d.subject, { ts: Date.now() - 60_000 })])
  assert.equal((await pushedTo(d.deviceId)).length, 1, "one push within the hour's cooldown")
})

test('4: a trigger names its visit, and made-up visits still get a campaign only a few times an hour', async () => {
  const d = await register()
  const none = await post([trig('visit', d.subject, { visitId: undefined })])
  assert.deepEqual([none.status, none.body.error], [422, 'INSTORE_NO_VISIT'])
  for (let i = 0; i < MAX_PER_CAMPAIGN_HOUR + 5; i++) assert.equal((await post([trig('visit', d.subject, { visitId: `made-up-${i}` })])).status, 200)
  assert.equal((await pushedTo(d.deviceId)).length, MAX_PER_CAMPAIGN_HOUR)
})

test("6 and 12: shops and sectors must be the store's, times near the server's: each refusal coded and counted", async () => {
  const cases: Array<[string, InstoreEvent, string]> = [
    ['an unknown sector', ev({ sector: 'nowhere' }), 'INSTORE_UNKNOWN_ZONE'],
    ['an unknown shop', ev({ shop: 'nowhere' }), 'INSTORE_UNKNOWN_ZONE'],
    ['a shop id used as a sector', ev({ sector: 'boutique' }), 'INSTORE_UNKNOWN_ZONE'],
    [
      'an unknown sector in a summary',
      ev({
        type: 'visit.summary',
        sector: undefined,
        sectors: [
          { id: 'women', dwellMs: 1 },
          { id: 'nowhere', dwellMs: 1 }
        ]
      }),
      'INSTORE_UNKNOWN_ZONE'
    ],
    ['ten minutes ahead', ev({ ts: Date.now() + 10 * 60_000 }), 'INSTORE_TS_FUTURE'],
    ['older than 30 days', ev({ ts: Date.now() - 31 * 86_400_000 }), 'INSTORE_TS_TOO_OLD'],
    ['a campaign id on a sector event', ev({ campaignId: 'cool' }), 'INSTORE_FIELD_NOT_ALLOWED'],
    ['content on a shop event', ev({ type: 'shop.enter', sector: undefined, content: { title: 'x' } }), 'INSTORE_FIELD_NOT_ALLOWED'],
    ['a reason on a sector exit', ev({ type: 'sector.exit', reason: 'x' }), 'INSTORE_FIELD_NOT_ALLOWED']
  ]
  for (const [name, e, code] of cases) {
    const r = await post([e])
    assert.deepEqual([r.status, r.body.error], [422, code], name)
    assert.equal(await ctx.db.selectFrom('events').select('id').where('id', '=', e.id).executeTakeFirst(), undefined, name)
  }
  assert.match(await (await fetch(`${url}/metrics`)).text(), /instore_server_events_refused_total\{reason="INSTORE_UNKNOWN_ZONE"\} 4/)
  assert.equal((await post([ev({ ts: Date.now() + 60_000 })])).status, 200, 'a clock a minute ahead is fine')
})

test("7: what reaches the phone is what the server vouches for: the campaign's rule as reason, the store's places", async () => {
  const d = await register()
  assert.equal((await post([trig('anywhere', d.subject, { reason: 'Your bank asks you to log in at evil.example' })])).status, 200)
  const [t] = await pushedTo(d.deviceId)
  assert.equal(t.reason, 'sector.enter store')
  assert.deepEqual([t.shop, t.sector, t.content.title], ['boutique', 'women', 'Server anywhere'])
})

test('8 and 9: a rule that names a place needs the event to name it; a campaign out of its dates is refused', async () => {
  const d = await register()
  const cases: Array<[string, InstoreEvent, string]> = [
    ['no sector for a sector rule', trig('cool', d.subject, { sector: undefined }), 'INSTORE_CAMPAIGN_MISMATCH'],
    ['no shop for a shop rule', trig('shop-rule', d.subject, { shop: undefined, sector: undefined }), 'INSTORE_CAMPAIGN_MISMATCH'],
    ['ended', trig('ended', d.subject), 'INSTORE_CAMPAIGN_OUT_OF_DATES'],
    ['not begun', trig('future', d.subject), 'INSTORE_CAMPAIGN_OUT_OF_DATES']
  ]
  for (const [name, e, code] of cases) {
    const r = await post([e])
    assert.deepEqual([r.status, r.body.error], [422, code], name)
  }
  assert.deepEqual(await pushedTo(d.deviceId), [])
})

test('10 and 15: campaigns are closed and bounded, and their links are https:, http: or an allowed app scheme', async () => {
  const ok = campaign('shape-ok', { content: { title: 't', url: 'app://offers/1' } })
  const cases: Array<[string, unknown]> = [
    ['an ftp: link', { ...ok, content: { title: 't', url: 'ftp://files.example/x' } }],
    ['an app scheme not allowed', { ...ok, content: { title: 't', url: 'intent://x' } }],
    ['a bidi override in a link', { ...ok, content: { title: 't', url: 'https://bank.example/\u202egnp.exe' } }],
    ['a control character in a link', { ...ok, content: { title: 't', url: 'https://a.example/\u0007' } }],
    ['a blob: link', { ...ok, content: { title: 't', url: 'blob:https://a.example/1' } }],
    ['an unknown top-level key', { ...ok, html: '<b>' }],
    ['an unknown key in when', { ...ok, when: { event: 'sector.enter', sector: 'women', html: 1 } }],
    ['an unknown key in cap', { ...ok, cap: { perVisit: 1, x: 1 } }],
    ['markup in when.sector', { ...ok, when: { event: 'sector.enter', sector: '<img src=x>' } }],
    ['markup in when.shop', { ...ok, when: { event: 'shop.enter', shop: '"><b>' } }],
    ['markup in a store id', { ...ok, stores: ['<b>'] }],
    ['a control character in the name', { ...ok, name: 'a\u0000b' }],
    ['a bidi override in the title', { ...ok, content: { title: 'a\u202eb' } }],
    ['a cooldown of ages', { ...ok, cap: { cooldownS: 1e12 } }],
    ['a huge perVisit', { ...ok, cap: { perVisit: 1e9 } }],
    ['repeated stores', { ...ok, stores: ['s1', 's1'] }]
  ]
  for (const [name, body] of cases) assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', body)).status, 400, name)
  assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', ok)).status, 201)
  assert.equal((await api(`${url}/v1/campaigns/shape-ok`, ADMIN, 'PUT', { ...ok, content: { title: 't', url: 'ftp://x.example' } })).status, 400, 'nor by PUT')
  // Another deployment registers its own app scheme.
  const other = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'hostile-gw-schemes-')), log: silentLogger, adminToken: ADMIN, appSchemes: ['shopapp'] }))
  const otherUrl = await other.app.listen({ port: 0, host: '127.0.0.1' })
  try {
    // A campaign names stores the server knows.
    assert.equal((await api(`${otherUrl}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: 's1' } })).status, 201)
    assert.equal((await api(`${otherUrl}/v1/campaigns`, ADMIN, 'POST', { ...ok, content: { title: 't', url: 'shopapp://offers/1' } })).status, 201)
    assert.equal((await api(`${otherUrl}/v1/campaigns`, ADMIN, 'POST', { ...ok, id: 'o2' })).status, 400, 'app: is no longer allowed there')
  } finally {
    await other.app.close()
  }
})

test('11 and the frame header: a URL the router cannot parse gets the house error format and every security header, without echoing it', async () => {
  const raw = '/v1/campaigns/%E0%A4%A<script>'
  const res = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const u = new URL(url)
    const req = request({ host: u.hostname, port: u.port, path: raw, method: 'GET' }, r => {
      let body = ''
      r.on('data', (c: Buffer) => {
        body += c.toString()
      }).on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }))
    })
    req.on('error', reject).end()
  })
  assert.equal(res.status, 400)
  const body = JSON.parse(res.body) as { error: string; message: string }
  assert.deepEqual(Object.keys(body).sort(), ['error', 'message'])
  assert.equal(body.error, 'INSTORE_BAD_URL')
  assert.doesNotMatch(res.body, /script|%E0/i, 'the URL is not reflected')
  assert.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/)
  assert.equal(res.headers['x-content-type-options'], 'nosniff')
  for (const r of [res.headers['x-frame-options'], (await fetch(`${url}/`)).headers.get('x-frame-options')]) assert.equal(r, 'DENY', "agrees with frame-ancestors 'none'")
})

test("13: event ids are unique per store: one store can neither drop nor probe another's events", async () => {
  const id = 'SHARED-ID-1'
  assert.deepEqual((await post([ev({ id, storeId: 's2' })], 's2')).body, { accepted: 1, duplicates: 0 })
  assert.deepEqual((await post([ev({ id })], 's1')).body, { accepted: 1, duplicates: 0 }, "s1's event is stored though s2 used its id first")
  assert.deepEqual((await post([ev({ id })], 's1')).body, { accepted: 0, duplicates: 1 }, 'still idempotent within a store')
})

test('13: a database from before keeps every event when re-keyed per store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostile-gw-mig-'))
  const old = new Database(join(dir, 'server.sqlite'))
  old.exec(`CREATE TABLE events (id TEXT PRIMARY KEY, store_id TEXT NOT NULL, type TEXT NOT NULL, subject TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL, received INTEGER NOT NULL);
    CREATE INDEX events_subject ON events (subject);
    INSERT INTO events VALUES ('e1', 's1', 'shop.enter', 'app:1', 1, '{}', 1), ('e2', 's2', 'shop.exit', 'app:2', 2, '{}', 2);`)
  old.close()
  const data = await openData({ dataDir: dir })
  const db = data.sqlite as Database.Database
  assert.deepEqual(db.prepare('SELECT id, store_id FROM events ORDER BY id').all(), [
    { id: 'e1', store_id: 's1' },
    { id: 'e2', store_id: 's2' }
  ])
  assert.ok(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'events_subject'").get(), 'indexes kept')
  db.prepare("INSERT INTO events VALUES ('e1', 's2', 'shop.enter', 'app:1', 1, '{}', 1)").run()
  assert.throws(() => db.prepare("INSERT INTO events VALUES ('e1', 's2', 'shop.enter', 'app:1', 1, '{}', 1)").run(), /UNIQUE/)
  await data.close()
  const again = await openData({ dataDir: dir })
  assert.equal(
    Number(
      (
        await again.db
          .selectFrom('events')
          .select(eb => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n
    ),
    3,
    'a second start changes nothing'
  )
  await again.close()
})

test("14: the envelope and the snapshot's occupancy are closed", async () => {
  const r = await api<Reply>(`${url}/v1/stores/s1/events`, gw.s1, 'POST', { events: [], junk: 1 })
  assert.deepEqual([r.status, r.body.error], [400, 'INSTORE_BAD_EVENT'])
  const snap = (occ: Record<string, unknown>) => ({ ts: 1, positions: [], occupancy: { ts: 1, shops: {}, sectors: {}, passersBy: 0, ...occ } })
  for (const key of ['<img src=x>', 'a b']) {
    assert.equal((await api(`${url}/v1/stores/s1/live`, gw.s1, 'POST', snap({ [key]: 1 }))).status, 400, key)
  }
  const zones = { shops: { boutique: 1 }, sectors: { women: 1 } }
  assert.equal(
    (await api(`${url}/v1/stores/s1/live`, gw.s1, 'POST', snap({ low: zones, high: zones, bySource: { app: zones, ble: zones, wifi: zones }, fixtures: 2 }))).status,
    204,
    'the people-counting breakdown and range are still fine'
  )
  assert.equal(
    (await api(`${url}/v1/stores/s1/live`, gw.s1, 'POST', snap({ bySource: { app: { shops: { '<b>': 1 }, sectors: {} }, ble: zones, wifi: zones } }))).status,
    400,
    'with ids of the id charset only'
  )
})
