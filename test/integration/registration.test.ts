// Issue 25 at the central server: server-issued identities (no takeover), consent enforced
// (presence gates stored events; marketing gates the trigger stream), erasure that survives, and
// the gateway config: resolution material for consenting devices only, fetched as deltas.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import Database from 'better-sqlite3'
import { buildServer } from '../../server/app.ts'
import { onTestDb, readServer, TEST_ENGINE } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import type { GatewayConfigT } from '../../shared/gateway-config.ts'
import { InstoreClient } from '../../sdk/client.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'
import { waitFor } from '../helpers/gateway.ts'

const ADMIN = 'adm_reg_test'
let app: FastifyInstance
let url = ''
let gw = ''
let dataDir = ''
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))

interface Reg {
  deviceId: string
  token: string
  subject: string
  eid: { key: string; k: number }
}
const register = async (presence: boolean, marketing: boolean) => (await api<Reg>(`${url}/v1/devices`, null, 'POST', { consent: { presence, marketing } })).body
let n = 0
const event = (subject: string, type: InstoreEvent['type'] = 'shop.enter'): InstoreEvent => ({
  id: `ev-${n++}`,
  type,
  storeId: 'boutique-1',
  subject,
  seq: n,
  ts: Date.now(),
  shop: 'boutique'
})
const post = async (events: InstoreEvent[]) => await api<{ accepted: number; duplicates: number }>(`${url}/v1/stores/boutique-1/events`, gw, 'POST', { events })
const config = async (since?: string) => await api<GatewayConfigT>(`${url}/v1/stores/boutique-1/config${since !== undefined ? `?since=${encodeURIComponent(since)}` : ''}`, gw)

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'reg-'))
  app = (await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: ADMIN }))).app
  url = await app.listen({ port: 0, host: '127.0.0.1' })
  gw = (await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site })).body.gatewayToken
})
after(async () => {
  await app.close()
})

test('registration issues the identity: a new device id, subject and 16-byte EID key each time', async () => {
  const a = await register(true, true)
  const b = await register(true, true)
  assert.match(a.subject, /^app:[0-9a-f]{16}$/)
  assert.match(a.eid.key, /^[0-9a-f]{32}$/)
  assert.equal(a.eid.k, 10)
  assert.notEqual(a.subject, b.subject)
  assert.notEqual(a.eid.key, b.eid.key)
  assert.notEqual(a.deviceId, b.deviceId)
})

// Repro (issue 25, 1): POST /v1/devices {"bleId":"app:<victim>"} with no token deleted the victim's
// registration and token and handed the caller a token receiving the victim's triggers.
test("no request can name, reclaim or replace another device's registration", async () => {
  const victim = await register(true, true)
  const claim = await api<{ error: string }>(`${url}/v1/devices`, null, 'POST', { bleId: victim.subject, consent: { presence: true, marketing: true } })
  assert.equal(claim.status, 400, 'a caller-chosen id is refused')
  for (const body of [
    { subject: victim.subject, consent: { presence: true, marketing: true } },
    { deviceId: victim.deviceId, consent: { presence: true, marketing: true } },
    { consent: { presence: true, marketing: true, subject: victim.subject } }
  ]) {
    assert.equal((await api(`${url}/v1/devices`, null, 'POST', body)).status, 400, JSON.stringify(body))
  }
  // The victim is untouched: its token still works, its registration is still the one gateways resolve.
  assert.equal((await api(`${url}/v1/devices/${victim.deviceId}/consent`, victim.token, 'PUT', { presence: true, marketing: true })).status, 200)
  assert.equal((await api(`${url}/v1/devices/${victim.deviceId}`, null, 'DELETE')).status, 401)
  const other = await register(true, true)
  assert.equal((await api(`${url}/v1/devices/${victim.deviceId}`, other.token, 'DELETE')).status, 403)
  assert.equal((await api(`${url}/v1/devices/${victim.deviceId}/consent`, other.token, 'PUT', { presence: false, marketing: false })).status, 403)
  assert.ok((await config()).body.devices.some(d => d.subject === victim.subject))
})

// Repro (issue 25, 4): a device registered with presence: false still had shop.enter and
// sector.enter stored centrally; the presence column was never read.
test('events about a device without presence consent are refused, counted, never stored', async () => {
  const no = await register(false, true)
  const yes = await register(true, false)
  const r = await api<{ accepted: number; refused: Array<{ index: number; error: string }> }>(`${url}/v1/stores/boutique-1/events`, gw, 'POST', {
    events: [event(no.subject), event(no.subject, 'sector.enter'), event(yes.subject), event('app:ffffffffffffffff'), event('h:0011223344556677')]
  })
  assert.equal(r.status, 422, 'well formed, but not allowed: each refusal is listed by its place in the batch')
  assert.equal(r.body.accepted, 2, 'the consenting app and the anonymous h: subject, nothing about the others')
  assert.deepEqual(
    r.body.refused.map(x => [x.index, x.error]),
    [
      [0, 'INSTORE_NO_PRESENCE_CONSENT'],
      [1, 'INSTORE_NO_PRESENCE_CONSENT'],
      [3, 'INSTORE_NO_PRESENCE_CONSENT']
    ]
  )
  const db = await readServer(dataDir)
  const stored = await db.all('SELECT subject FROM events WHERE subject IN (?, ?)', no.subject, 'app:ffffffffffffffff')
  await db.close()
  assert.deepEqual(stored, [])
  const metrics = await (await fetch(`${url}/metrics`)).text()
  assert.match(metrics, /instore_server_events_total\{result="refused",reason="no_presence_consent"\} [3-9]/)
})

// Repro (issue 25, 3 and 6, the config part): every gateway's config listed every registered id.
test('the config holds temporary keys of consenting devices only: no identity key, no EID, no one without presence consent', async () => {
  const no = await register(false, true)
  const yes = await register(true, true)
  const c = await config()
  assert.equal(c.status, 200)
  const text = JSON.stringify(c.body)
  assert.ok(!text.includes(no.subject), 'a device without presence consent is not named')
  assert.ok(!text.includes(yes.eid.key) && !text.includes(no.eid.key), 'identity keys never leave the server')
  const mine = c.body.devices.find(d => d.subject === yes.subject)
  assert.ok(mine?.tks !== undefined && Object.keys(mine.tks).length === 2, "the current and the next epoch's temporary keys")
  assert.equal(mine.key, undefined)
  assert.equal(mine.marketing, true)
})

test('config deltas: ?since gives only what changed; a bad since is a 400; the ETag still answers 304', async () => {
  const first = await config()
  assert.equal(first.body.full, true)
  const v = first.body.version
  const same = await config(v)
  assert.equal(same.body.full, false)
  assert.deepEqual([same.body.devices, same.body.removed, same.body.erasures, same.body.campaigns], [[], [], [], undefined])
  const etag = (await fetch(`${url}/v1/stores/boutique-1/config?since=${v}`, { headers: { authorization: `Bearer ${gw}` } })).headers.get('etag') ?? ''
  assert.equal((await fetch(`${url}/v1/stores/boutique-1/config?since=${v}`, { headers: { authorization: `Bearer ${gw}`, 'if-none-match': etag } })).status, 304)
  const d = await register(true, false)
  const delta = await config(v)
  assert.deepEqual(
    delta.body.devices.map(x => x.subject),
    [d.subject]
  )
  assert.equal((await api(`${url}/v1/devices/${d.deviceId}/consent`, d.token, 'PUT', { presence: false, marketing: false })).status, 200)
  const withdrawn = await config(delta.body.version)
  assert.deepEqual([withdrawn.body.devices, withdrawn.body.removed], [[], [d.subject]])
  for (const bad of ['abc', '1.2', '99999999.1.00000000', '1.2.zzzzzzzz', '']) {
    const r = await config(bad)
    assert.equal(r.status, 400, `since=${bad}`)
  }
})

// Repro (issue 25, 5): triggers and acks of an earlier install survived; re-registering removed the
// erasures row, so gateways never deleted their copy; the SSE stream stayed open.
test('erasure removes every row about the device, closes its stream, and survives any later registration', async () => {
  const d = await register(true, true)
  // A trigger the server accepts: an active campaign of this store (part B refuses any other).
  assert.equal((await api(`${url}/v1/campaigns`, ADMIN, 'POST', { id: 'erase-test', stores: ['boutique-1'], when: { event: 'shop.enter' }, content: { title: 'x' } })).status, 201)
  // The visit is opened first, in the same batch: the server pushes only inside a visit it saw begin.
  const visit = [
    { ...event(d.subject), visitId: 'V-erase' },
    { ...event(d.subject, 'trigger.fired'), campaignId: 'erase-test', visitId: 'V-erase', content: { title: 'x' } }
  ]
  assert.equal((await post([...visit, event(d.subject)])).status, 200)
  const phone = new InstoreClient({ baseUrl: url, deviceId: d.deviceId, token: d.token })
  const errors: Error[] = []
  const sub = phone.triggers(() => {}, { onError: e => errors.push(e), retryMs: 50 })
  await waitFor(async () => ((await (await fetch(`${url}/healthz`)).json()) as { sseConnections: number }).sseConnections > 0, 5000, 'the stream')
  const before = (await config()).body.version
  assert.equal((await api(`${url}/v1/devices/${d.deviceId}`, d.token, 'DELETE')).status, 204)
  // The stream is ended by the server; the reconnect is refused (the token is gone).
  await waitFor(() => errors.some(e => /401|403|404/.test(e.message)), 5000, 'the stream to be closed and refused')
  sub.close()
  for (let i = 0; i < 3; i++) await register(true, true)
  const db = await readServer(dataDir)
  for (const t of await db.tables()) {
    const rows = await db.all(`SELECT * FROM "${t}"`)
    const hits = rows.filter(r => {
      const s = JSON.stringify(r)
      return s.includes(d.subject) || s.includes(d.deviceId) || s.includes(d.eid.key)
    })
    if (t === 'erasures') assert.equal(hits.length, 1, 'the erasure record stays, for gateways')
    else assert.deepEqual(hits, [], `table ${t} still holds the erased device`)
  }
  await db.close()
  const delta = await config(before)
  assert.deepEqual(delta.body.erasures, [d.subject])
  assert.ok((await config()).body.erasures.includes(d.subject), 'still in a whole config after later registrations')
})

test('withdrawing marketing consent ends the trigger stream; reconnecting gets nothing', async () => {
  const d = await register(true, true)
  const phone = new InstoreClient({ baseUrl: url, deviceId: d.deviceId, token: d.token })
  const errors: Error[] = []
  const got: string[] = []
  const sub = phone.triggers(t => got.push(t.triggerId), { onError: e => errors.push(e), retryMs: 50 })
  await waitFor(async () => ((await (await fetch(`${url}/healthz`)).json()) as { sseConnections: number }).sseConnections > 0, 5000, 'the stream')
  await phone.setConsent({ presence: true, marketing: false })
  await waitFor(() => errors.some(e => /403/.test(e.message)), 5000, 'the stream to end and stay refused')
  await post([{ ...event(d.subject, 'trigger.fired'), campaignId: 'c', content: { title: 'late' } }])
  sub.close()
  assert.deepEqual(got, [])
})

test('a capitalised APP: subject is an app subject too: refused without consent, never stored', async () => {
  const no = await register(false, false)
  const variants = [no.subject.toUpperCase(), `APP:${no.subject.slice(4)}`, `App:${no.subject.slice(4)}`]
  const r = await api<{ accepted: number; refused: Array<{ index: number; error: string }> }>(`${url}/v1/stores/boutique-1/events`, gw, 'POST', {
    events: variants.map(s => event(s))
  })
  assert.equal(r.body.accepted, 0)
  assert.deepEqual(
    r.body.refused.map(x => x.error),
    variants.map(() => 'INSTORE_NO_PRESENCE_CONSENT')
  )
  const db = await readServer(dataDir)
  const stored = await db.all<{ n: number }>('SELECT COUNT(*) AS n FROM events WHERE lower(subject) = ?', no.subject)
  await db.close()
  assert.equal(Number(stored[0].n), 0)
})

test('live snapshots keep only positions the server may show: no non-consenting, erased or capitalised app subject', async () => {
  const yes = await register(true, false)
  const no = await register(false, false)
  const erased = await register(true, false)
  assert.equal((await api(`${url}/v1/devices/${erased.deviceId}`, erased.token, 'DELETE')).status, 204)
  const at = (subject: string) => ({ subject, ts: Date.now(), x: 1, y: 1, floor: 0, accuracyM: 2, shop: null, sector: null, source: 'ble' as const })
  const subjects = [yes.subject, no.subject, erased.subject, `APP:${no.subject.slice(4)}`, 'h:0011223344556677', 'app:ffffffffffffffff']
  const res = await fetch(`${url}/v1/stores/boutique-1/live`, { headers: { authorization: `Bearer ${ADMIN}` } })
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  await reader.read() // ": connected" (and maybe an earlier snapshot)
  assert.equal((await api(`${url}/v1/stores/boutique-1/live`, gw, 'POST', { ts: Date.now(), positions: subjects.map(at), occupancy: null })).status, 204)
  let text = ''
  const dec = new TextDecoder()
  while (!text.includes(yes.subject)) text += dec.decode((await reader.read()).value)
  await reader.cancel()
  const sent = text
    .split('\n')
    .filter(l => l.startsWith('data: ') && l.includes(yes.subject))
    .map(l => JSON.parse(l.slice(6)) as { positions: Array<{ subject: string }> })[0]
  assert.deepEqual(
    sent.positions.map(p => p.subject),
    [yes.subject, 'h:0011223344556677'],
    'relayed'
  )
  const last = app.inject({ method: 'GET', url: '/metrics' })
  assert.match((await last).body, /instore_server_live_refused_total\{reason="INSTORE_NO_PRESENCE_CONSENT"\} 4\n/)
})

// SQLite's own file and WAL: PostgreSQL's dead tuples go at the table's vacuum, which its operators run.
if (TEST_ENGINE === 'sqlite')
  test('an erased subject leaves no bytes in the database file nor its WAL', async () => {
    const dev = await register(true, false)
    assert.equal((await post([event(dev.subject), event(dev.subject, 'sector.enter')])).status, 200)
    const raw = () =>
      ['server.sqlite', 'server.sqlite-wal']
        .map(f => {
          try {
            return readFileSync(join(dataDir, f)).toString('latin1')
          } catch {
            return ''
          }
        })
        .join('')
    assert.ok(raw().includes(dev.subject), 'stored before')
    assert.equal((await api(`${url}/v1/devices/${dev.deviceId}`, dev.token, 'DELETE')).status, 204)
    // The erasures table keeps the subject on purpose (gateways apply it later): look for what only events held.
    const leftovers = raw().split(dev.subject).length - 1
    const db = new Database(join(dataDir, 'server.sqlite'), { readonly: true })
    const kept = (db.prepare('SELECT COUNT(*) AS n FROM erasures WHERE subject = ?').get(dev.subject) as { n: number }).n
    db.close()
    assert.equal(kept, 1)
    assert.ok(leftovers <= 2, `the subject appears ${leftovers} times: only the erasures row and its index may hold it`)
  })
