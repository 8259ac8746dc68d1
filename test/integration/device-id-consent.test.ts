// Tester s13 G, repro 01: a phone in phone-scan mode publishes under the device id the central
// server issued. The gateway kept that id as its own subject (539052b), which consent and erasure
// never name: a phone without presence consent got visits and events on both sides, and an erased
// one kept all its rows and was still tracked. Real central server (this process's engine), real
// gateway with its embedded broker over TCP, real SQLite files: the device id is the device's
// `app:` subject when it has presence consent, anonymous otherwise, and never a subject anywhere.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import Database from 'better-sqlite3'
import { buildServer } from '../../server/app.ts'
import { onTestDb, readServer } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { api } from '../helpers/procs.ts'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_device_id_consent'
const SITE = join(ROOT, 'sites/boutique-scan.site.json')
// The site's beacons (sites/boutique-scan.site.json).
const BEACONS = [
  [1, 1],
  [10, 1],
  [19, 1],
  [1, 11],
  [10, 11],
  [19, 11],
  [5.5, 6],
  [14.5, 6],
  [10, 6]
]
const rssi = (p: number[], b: number[]) => Math.round(-59 - 22 * Math.log10(Math.max(1, Math.hypot(p[0] - b[0], p[1] - b[1]))))

interface Reg {
  deviceId: string
  token: string
  subject: string
}

/** Every row of every table of the gateway's SQLite file that mentions one of `needles`. */
function gatewayRowsAbout(file: string, needles: string[]): Record<string, number> {
  const db = new Database(file, { readonly: true })
  const out: Record<string, number> = {}
  for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>) {
    const hits = (db.prepare(`SELECT * FROM "${name}"`).all() as unknown[]).filter(r => needles.some(n => JSON.stringify(r).toLowerCase().includes(n.toLowerCase()))).length
    if (hits > 0) out[name] = hits
  }
  db.close()
  return out
}

/** The same for the server's database, on this process's engine; `except` tables left out. */
async function serverRowsAbout(dataDir: string, needles: string[], except: string[] = []): Promise<Record<string, number>> {
  const db = await readServer(dataDir)
  const out: Record<string, number> = {}
  try {
    for (const name of await db.tables()) {
      if (except.includes(name)) continue
      const hits = (await db.all(`SELECT * FROM "${name}"`)).filter(r => needles.some(n => JSON.stringify(r).toLowerCase().includes(n.toLowerCase()))).length
      if (hits > 0) out[name] = hits
    }
  } finally {
    await db.close()
  }
  return out
}

/** `seconds` of one scan a second from each phone, under the id it publishes as. */
async function walk(storeId: string, phones: Array<[MqttClient, string, number[]]>, t0: number, from: number, seconds: number): Promise<void> {
  for (let k = from; k < from + seconds; k++)
    for (const [c, id, p] of phones) {
      const beacons = BEACONS.map((b, i) => ({ id: `ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:2:${i + 1}`, rssi: rssi(p, b) }))
      await c.publishAsync(`instore/${storeId}/devices/${id}/scans`, JSON.stringify({ ts: t0 + k * 1000, beacons }), { qos: 1 })
    }
}

/** A real central server with the test site's store provisioned (its site as a gateway loads it). */
async function serverWithStore(prefix: string) {
  const serverDir = mkdtempSync(join(tmpdir(), prefix))
  const { app } = await buildServer(await onTestDb({ dataDir: serverDir, log: silentLogger, adminToken: ADMIN }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const g0 = await startGateway({ campaigns: [] }, SITE)
  const site = g0.o.site
  await g0.stop()
  const store = await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: site.file })
  return { serverDir, app, url, site, store }
}

test("a phone-scan phone's device id is its app: subject for consent and erasure, at the gateway and at the server", async () => {
  const { serverDir, app, url, site, store } = await serverWithStore('devid-s-')
  const register = async (presence: boolean) => (await api<Reg>(`${url}/v1/devices`, null, 'POST', { consent: { presence, marketing: false } })).body
  const shy = await register(false)
  const fan = await register(true)
  // Each phone logs in as itself (only then is a device id its device); the consenting one spells its id in upper case.
  const secret = hashPassword('pw')
  const auth = { phones: { [`phone:${shy.deviceId}`]: secret, [`phone:${fan.deviceId.toUpperCase()}`]: secret }, readers: { watch: secret } }
  const g = await startGateway({ clock: 'event', auth, central: { url, token: store.body.gatewayToken, configEveryMs: 200 } }, SITE)
  const login = (username: string) => mqtt.connectAsync(g.mqttUrl, { username, password: 'pw', reconnectPeriod: 0 })
  const c = await login('watch')
  const shyPhone = await login(`phone:${shy.deviceId}`)
  const fanPhone = await login(`phone:${fan.deviceId.toUpperCase()}`)
  try {
    await waitFor(() => g.identity.size === 1, 10_000, 'the config with the consenting device')
    const enters: string[] = []
    const positioned = new Set<string>()
    c.on('message', (t, p) => {
      if (t.endsWith('/events/shop.enter')) enters.push((JSON.parse(String(p)) as { subject: string }).subject)
      const at = t.indexOf('/positions/')
      if (at >= 0) positioned.add(t.slice(at + '/positions/'.length))
    })
    await c.subscribeAsync([`instore/${site.storeId}/events/#`, `instore/${site.storeId}/positions/#`], { qos: 1 })
    // The consenting phone spells its id in upper case: still its device id.
    const phones: Array<[MqttClient, string, number[]]> = [
      [shyPhone, shy.deviceId, [6, 5]],
      [fanPhone, fan.deviceId.toUpperCase(), [14, 7]]
    ]
    const t0 = Date.now() - 300_000
    await walk(site.storeId, phones, t0, 0, 60)
    await waitFor(() => enters.includes(fan.subject), 20_000, "the consenting phone's shop.enter under its app: subject")
    await g.flushOutbox()
    await waitFor(() => (g.store?.backlog() ?? 1) === 0, 10_000, 'the outbox to drain')
    const gwDb = join(g.o.dataDir, 'gateway.sqlite')
    // No subject, topic or row is a device id; the phone without consent has nothing but positions under anonymous subjects.
    assert.deepEqual(
      enters.filter(s => s !== fan.subject),
      []
    )
    assert.deepEqual(
      [...positioned].filter(s => !s.startsWith('h:') && s !== fan.subject),
      []
    )
    assert.deepEqual(gatewayRowsAbout(gwDb, [shy.deviceId, shy.subject, fan.deviceId]), {})
    assert.deepEqual(await serverRowsAbout(serverDir, [shy.deviceId, shy.subject], ['devices', 'tokens']), {})
    assert.deepEqual(await serverRowsAbout(serverDir, [fan.deviceId], ['devices', 'tokens']), {})
    assert.ok(((await serverRowsAbout(serverDir, [fan.subject])).events ?? 0) > 0, "the consenting phone's events reached the server")
    assert.deepEqual(g.heldInMemory(shy.subject), [])
    assert.ok(g.heldInMemory(fan.subject).length > 0, 'the gateway tracks the consenting phone')

    // Erasure: the gateway forgets the device, and its scans, still sent, make nothing about it.
    assert.equal((await api(`${url}/v1/devices/${fan.deviceId}`, fan.token, 'DELETE')).status, 204)
    await waitFor(() => g.heldInMemory(fan.subject).length === 0 && g.identity.size === 0, 10_000, 'the gateway to apply the erasure')
    const before = enters.length
    await walk(site.storeId, phones, t0, 60, 30)
    await g.flushOutbox()
    await waitFor(() => (g.store?.backlog() ?? 1) === 0, 10_000, 'the outbox to drain')
    assert.equal(enters.length, before, 'no event after the erasure')
    assert.deepEqual(g.heldInMemory(fan.subject), [])
    assert.deepEqual(gatewayRowsAbout(gwDb, [fan.deviceId, fan.subject]), {})
    assert.deepEqual(await serverRowsAbout(serverDir, [fan.deviceId, fan.subject], ['erasures']), {})
    assert.ok(g.identity.devicesUnresolved > 0 && g.identity.devicesResolved > 0)
  } finally {
    for (const x of [c, shyPhone, fanPhone]) await x.endAsync()
    await g.stop()
    await app.close()
  }
})

test('the server refuses events whose subject is a device id (known with or without consent, or unknown), any case', async () => {
  const serverDir = mkdtempSync(join(tmpdir(), 'devid-s2-'))
  const { app } = await buildServer(await onTestDb({ dataDir: serverDir, log: silentLogger, adminToken: ADMIN }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const g0 = await startGateway({ campaigns: [] }, SITE)
    const site = g0.o.site
    await g0.stop()
    const store = await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: site.file })
    const register = async (presence: boolean) => (await api<Reg>(`${url}/v1/devices`, null, 'POST', { consent: { presence, marketing: false } })).body
    const shy = await register(false)
    const fan = await register(true)
    const ts = Date.now() - 60_000
    const subjects = [shy.deviceId, fan.deviceId, fan.deviceId.toUpperCase(), fan.deviceId.replaceAll('-', ''), '0f0e0d0c-0b0a-4908-8706-050403020100', fan.subject]
    const events = subjects.map((subject, i) => ({
      id: `01JD00000000000000000000${String(i).padStart(2, '0')}`,
      type: 'shop.enter',
      storeId: site.storeId,
      subject,
      visitId: `01JD0000000000000000000V${String(i).padStart(2, '0')}`,
      seq: 1,
      ts,
      shop: site.shops[0].id,
      frequency: { visits7d: 0, visits30d: 0, visits90d: 0, daysSinceLastVisit: null, segment: 'first' }
    }))
    const r = await api<{ accepted: number; refused?: Array<{ index: number; error: string }> }>(`${url}/v1/stores/${site.storeId}/events`, store.body.gatewayToken, 'POST', {
      events
    })
    assert.equal(r.body.accepted, 1, JSON.stringify(r.body))
    assert.deepEqual(
      (r.body.refused ?? []).map(x => [x.index, x.error]),
      subjects.slice(0, -1).map((_, i) => [i, 'INSTORE_NO_PRESENCE_CONSENT'])
    )
    assert.deepEqual(await serverRowsAbout(serverDir, [shy.deviceId, fan.deviceId, fan.deviceId.replaceAll('-', ''), '0f0e0d0c'], ['devices', 'tokens']), {})
    const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text()
    assert.match(metrics, /instore_server_events_total\{result="refused",reason="no_presence_consent"\} 5/)
  } finally {
    await app.close()
  }
})

test("a device id is no password: scans under a consenting phone's id from a client not logged in as that phone are anonymous", async () => {
  const { serverDir, app, url, site, store } = await serverWithStore('devid-s3-')
  const fan = (await api<Reg>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: false } })).body
  // An open broker (no logins): anyone who learnt the id may publish under it.
  const g = await startGateway({ clock: 'event', central: { url, token: store.body.gatewayToken, configEveryMs: 200 } }, SITE)
  const stranger = await mqtt.connectAsync(g.mqttUrl)
  try {
    await waitFor(() => g.identity.size === 1, 10_000, 'the config with the consenting device')
    const subjects = new Set<string>()
    stranger.on('message', (t, p) => {
      if (t.includes('/events/')) subjects.add((JSON.parse(String(p)) as { subject: string }).subject)
      const at = t.indexOf('/positions/')
      if (at >= 0) subjects.add(t.slice(at + '/positions/'.length))
    })
    await stranger.subscribeAsync(`instore/${site.storeId}/#`, { qos: 1 })
    await walk(site.storeId, [[stranger, fan.deviceId, [14, 7]]], Date.now() - 300_000, 0, 60)
    await waitFor(() => [...subjects].some(s => s.startsWith('h:')), 20_000, 'positions of the anonymous phone')
    await g.flushOutbox()
    assert.deepEqual(
      [...subjects].filter(s => s.startsWith('app:') || s.toLowerCase() === fan.deviceId),
      [],
      'no event or position under the app: subject'
    )
    assert.deepEqual(g.heldInMemory(fan.subject), ['identity'], 'its resolution material only: no track, visit or trigger state')
    assert.ok(((await serverRowsAbout(serverDir, [fan.subject], ['devices', 'tokens', 'consents'])).events ?? 0) === 0)
    assert.ok(g.identity.devicesUnproven > 0 && g.identity.devicesResolved === 0)
  } finally {
    await stranger.endAsync()
    await g.stop()
    await app.close()
  }
})
