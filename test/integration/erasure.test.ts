// Issue 25 end to end, through a real gateway (embedded broker, SQLite in a temp folder) and a
// real central server: app phones advertise the EIDs of the keys the server issued; erasure leaves
// no row in any table of either database and nothing in the gateway's memory; presence consent
// withdrawn at the app is honoured by the gateway within 30 s with its default pull period.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import Database from 'better-sqlite3'
import { buildServer } from '../../server/app.ts'
import { onTestDb, readServer } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { eidReadingId } from '../../shared/eid.ts'
import { Rng } from '../../shared/rng.ts'
import { randomPointIn } from '../../shared/geometry.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { InstoreClient } from '../../sdk/client.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { api } from '../helpers/procs.ts'

const ADMIN = 'adm_erasure_test'

interface Reg {
  deviceId: string
  token: string
  subject: string
  eid: { key: string; k: number }
}

/** Publishes `seconds` of one-second batches: each phone standing at its spot, heard by every sensor. */
async function walk(c: MqttClient, g: Gateway, phones: Array<{ reg: Reg; at: [number, number] }>, t0: number, seconds: number, rng: Rng): Promise<void> {
  const site = g.o.site
  for (let s = 0; s < seconds; s++) {
    const ts = t0 + s * 1000
    for (const sensor of site.sensors.values()) {
      const readings = phones.flatMap(({ reg, at: [x, y] }) =>
        [0, 500].map(dt => ({
          t: 'ble',
          id: eidReadingId(Buffer.from(reg.eid.key, 'hex'), reg.eid.k, ts + dt),
          ts: ts + dt,
          rssi: Math.round(-59 - 22 * Math.log10(Math.hypot(x - sensor.x, y - sensor.y, 1.2 - sensor.z)) + rng.normal(0, 2))
        }))
      )
      await c.publishAsync(`instore/${site.storeId}/sensors/${sensor.id}/readings`, JSON.stringify({ ts: ts + 999, readings }), { qos: 1 })
    }
  }
}

/** Every row of every table that mentions one of `needles`. */
/** rowsAbout for the server's database, on this process's engine. */
async function serverRowsAbout(dataDir: string, needles: string[], except: string[] = []): Promise<Record<string, number>> {
  const db = await readServer(dataDir)
  const out: Record<string, number> = {}
  try {
    for (const name of await db.tables()) {
      if (except.includes(name)) continue
      const hits = (await db.all(`SELECT * FROM "${name}"`)).filter(r => needles.some(n => JSON.stringify(r).includes(n))).length
      if (hits > 0) out[name] = hits
    }
  } finally {
    await db.close()
  }
  return out
}

function rowsAbout(file: string, needles: string[], except: string[] = []): Record<string, number> {
  const db = new Database(file, { readonly: true })
  const out: Record<string, number> = {}
  for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>) {
    if (except.includes(name)) continue
    const hits = (db.prepare(`SELECT * FROM "${name}"`).all() as unknown[]).filter(r => needles.some(n => JSON.stringify(r).includes(n))).length
    if (hits > 0) out[name] = hits
  }
  db.close()
  return out
}

/** `early` devices register (with presence consent) before the gateway starts: its first pull has them. */
async function setup(configEveryMs: number, early = 0) {
  const serverDir = mkdtempSync(join(tmpdir(), 'erase-s-'))
  const { app } = await buildServer(await onTestDb({ dataDir: serverDir, log: silentLogger, adminToken: ADMIN }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const g0 = await startGateway({ campaigns: [] })
  const site = g0.o.site
  await g0.stop()
  const store = await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: site.file })
  await api(`${url}/v1/campaigns`, ADMIN, 'POST', {
    id: 'women-hello',
    stores: [site.storeId],
    when: { event: 'sector.enter', sector: 'women' },
    cap: { perVisit: 1 },
    content: { title: 'Hello', ttlMin: 600 }
  })
  const register = async (presence: boolean) => (await api<Reg>(`${url}/v1/devices`, null, 'POST', { consent: { presence, marketing: true } })).body
  const registered: Reg[] = []
  for (let i = 0; i < early; i++) registered.push(await register(true))
  const g = await startGateway({ clock: 'event', central: { url, token: store.body.gatewayToken, configEveryMs } })
  const c = await mqtt.connectAsync(g.mqttUrl)
  const women = site.sectors.find(s => s.id === 'women')
  if (!women) throw new Error('no women sector')
  const spot = (r: Rng) => randomPointIn(women, () => r.next(), 1)
  return {
    app,
    url,
    serverDir,
    g,
    c,
    site,
    register,
    registered,
    spot,
    close: async () => {
      await c.endAsync()
      await g.stop()
      await app.close()
    }
  }
}

test("erasure: no row in any table of server and gateway, nothing in the gateway's memory, the stream closed", async () => {
  const env = await setup(200)
  try {
    const { url, g, c, register, spot } = env
    const rng = new Rng(25)
    const victim = await register(true)
    const other = await register(true)
    // Repro (issue 25, 4) at the gateway: a phone registered without presence consent is anonymous.
    const shy = await register(false)
    await waitFor(() => g.identity.size === 2 && (g.campaigns?.list.length ?? 0) === 1, 10_000, 'the config with both devices and the campaign')
    const phone = new InstoreClient({ baseUrl: url, deviceId: victim.deviceId, token: victim.token })
    const got: string[] = []
    const errors: Error[] = []
    const sub = phone.triggers(
      t => {
        got.push(t.triggerId)
        void phone.ack(t.triggerId, 'delivered')
      },
      { onError: e => errors.push(e), retryMs: 50 }
    )
    const phones = [
      { reg: victim, at: spot(rng) },
      { reg: other, at: spot(rng) },
      { reg: shy, at: spot(rng) }
    ]
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 120_000
    await walk(c, g, phones, t0, 60, rng)
    const serverDb = env.serverDir
    const gatewayDb = join(g.o.dataDir, 'gateway.sqlite')
    await waitFor(() => got.length > 0, 20_000, "the trigger on the victim's phone")
    await waitFor(async () => ((await serverRowsAbout(serverDb, [victim.subject])).acks ?? 0) > 0 || ((await serverRowsAbout(serverDb, [got[0]])).acks ?? 0) > 0, 10_000, 'the ack')
    const ids = [victim.subject, victim.deviceId, victim.eid.key, got[0]]
    assert.ok(((await serverRowsAbout(serverDb, ids)).events ?? 0) > 0, 'events about the victim reached the server')
    assert.ok(g.heldInMemory(victim.subject).length > 0, 'the gateway tracks the victim')
    assert.ok(Object.keys(rowsAbout(gatewayDb, ids)).length > 0, 'the gateway stored rows about the victim')

    assert.equal((await api(`${url}/v1/devices/${victim.deviceId}`, victim.token, 'DELETE')).status, 204)
    await waitFor(() => g.heldInMemory(victim.subject).length === 0, 10_000, 'the gateway to apply the erasure')
    // The phone keeps advertising: its EIDs are now anonymous, and make no row about it anywhere.
    await walk(c, g, phones, t0 + 60_000, 20, rng)
    await g.flushOutbox()
    await waitFor(() => (g.store?.backlog() ?? 1) === 0, 10_000, 'the outbox to drain')
    assert.deepEqual(g.heldInMemory(victim.subject), [])
    assert.deepEqual(rowsAbout(gatewayDb, ids), {}, 'gateway tables')
    assert.deepEqual(await serverRowsAbout(serverDb, ids, ['erasures']), {}, 'server tables')
    assert.deepEqual(await serverRowsAbout(serverDb, [victim.subject]), { erasures: 1 }, 'only the erasure record, kept for late gateways')
    await waitFor(() => errors.length > 0, 5000, 'the stream to be closed')
    sub.close()
    // The shopper without presence consent was never resolved: no event, no row, nothing held.
    assert.deepEqual(rowsAbout(gatewayDb, [shy.subject]), {})
    assert.deepEqual(await serverRowsAbout(serverDb, [shy.subject], ['devices']), {})
    assert.deepEqual(g.heldInMemory(shy.subject), [])
    // The other shopper is untouched.
    assert.ok(g.heldInMemory(other.subject).length > 0)
    assert.ok(((await serverRowsAbout(serverDb, [other.subject])).events ?? 0) > 0)
  } finally {
    await env.close()
  }
})

test('presence consent withdrawn at the app reaches the gateway within 30 s (default pull period); no event about it after', async () => {
  // Registered before the gateway starts: its first pull has the device; the withdrawal then waits a
  // default period, as in a store (the first config need not wait one too).
  const env = await setup(10_000, 1)
  try {
    const { url, g, c, registered, spot } = env
    const rng = new Rng(26)
    const d = registered[0]
    await waitFor(() => g.identity.size === 1, 15_000, 'the first config')
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 120_000
    const phones = [{ reg: d, at: spot(rng) }]
    await walk(c, g, phones, t0, 40, rng)
    await waitFor(() => g.presence?.has(d.subject) === true, 10_000, 'the device in the shop')
    const phone = new InstoreClient({ baseUrl: url, deviceId: d.deviceId, token: d.token })
    const withdrawn = Date.now()
    await phone.setConsent({ presence: false, marketing: false })
    await waitFor(() => !g.identity.has(d.subject), 30_000, 'the withdrawal at the gateway')
    assert.ok(Date.now() - withdrawn <= 30_000)
    assert.deepEqual(g.heldInMemory(d.subject), [], 'no open visit left to close with an event')
    const before = g.presence?.events ?? 0
    await walk(c, g, phones, t0 + 40_000, 30, rng)
    await g.flushOutbox()
    const outbox = new GatewayStore(g.o.dataDir)
    const about = outbox.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE json_extract(body, '$.subject') = ?").get(d.subject) as { n: number }
    outbox.close()
    assert.equal(about.n, 0)
    assert.equal(g.presence?.has(d.subject), false)
    assert.ok((g.presence?.events ?? 0) >= before)
  } finally {
    await env.close()
  }
})

test('gateway store erase removes unsent and unpublished outbox rows too', () => {
  const s = new GatewayStore(mkdtempSync(join(tmpdir(), 'erase-g-')))
  const body = (subject: string) => JSON.stringify({ subject })
  s.addEvent('a1', 'shop.enter', 1, body('app:aa'))
  s.addEvent('b1', 'shop.enter', 2, body('app:bb'))
  s.addEvent('a2', 'shop.exit', 3, body('app:aa'))
  s.markPublished(1)
  s.markSent(1)
  s.openVisit('v1', 'app:aa', 'main', 1)
  s.nextSeq('app:aa')
  s.setCap('c', 'app:aa', 1, 'v1', 1)
  assert.equal(s.erase('app:aa'), 5)
  assert.deepEqual(
    s.unsent().map(r => r.id),
    ['b1']
  )
  assert.deepEqual(
    s.unpublished().map(r => r.id),
    ['b1']
  )
  s.close()
})

test('gateway store: erased rows are overwritten in the file (secure_delete), not left in free pages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'erase-sd-'))
  const s = new GatewayStore(dir)
  const subject = 'app:5ecde1e7e5ecde1e'
  for (let i = 0; i < 50; i++) s.addEvent(`e${i}`, 'shop.enter', i, JSON.stringify({ subject, pad: 'x'.repeat(200) }))
  s.openVisit('sd1', subject, 'main', 1)
  s.erase(subject)
  s.close() // the last connection checkpoints the WAL into the file
  const raw =
    readFileSync(join(dir, 'gateway.sqlite')).toString('latin1') +
    (existsSync(join(dir, 'gateway.sqlite-wal')) ? readFileSync(join(dir, 'gateway.sqlite-wal')).toString('latin1') : '')
  assert.ok(!raw.includes(subject), 'no byte of the erased subject is left')
})

test('a gateway restarted while the central server is away still resolves consenting apps: the config it last applied is kept', async () => {
  const env = await setup(200)
  const { g, c, register } = env
  const phone = await register(true)
  await waitFor(() => g.identity.has(phone.subject), 10_000, "the device's material at the gateway")
  const central = g.o.central
  await c.endAsync()
  await g.stop()
  await env.app.close()
  // The server is gone: the restarted gateway's first pull fails, its kept config still holds the phone.
  const again = await startGateway({ clock: 'event', dataDir: g.o.dataDir, ...(central ? { central } : {}) })
  try {
    assert.ok(again.identity.has(phone.subject), 'resolution material kept across the restart')
  } finally {
    await again.stop()
  }
})
