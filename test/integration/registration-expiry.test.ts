// Defect 7 of the server review: every store's gateway config listed every registration of the
// chain for ever (anonymous registrations grew it by ~150 bytes each, nothing expired) and every
// erasure ever made. Now registrations no gateway reported and whose token went unused expire,
// and a whole config lists erasures only as far back as a gateway may still hold data. On SQLite
// and again on PostgreSQL (test/helpers/postgres.ts).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer, type Context } from '../../server/app.ts'
import { expireRegistrations } from '../../server/identity.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import type { GatewayConfigT } from '../../shared/gateway-config.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_registration_expiry'
const DAY = 86_400_000
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
let app: FastifyInstance
let ctx: Context
let url = ''
let gw = ''
type Reg = { deviceId: string; subject: string; token: string }
const register = async (): Promise<Reg> => (await api<Reg>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: true } })).body
const config = async (since?: string) =>
  (await api<GatewayConfigT>(`${url}/v1/stores/${site.storeId}/config${since !== undefined ? `?since=${encodeURIComponent(since)}` : ''}`, gw)).body
/** Makes a registration (and its token) look `days` old. */
async function age(d: Reg, days: number): Promise<void> {
  await ctx.db
    .updateTable('devices')
    .set({ created: Date.now() - days * DAY })
    .where('device_id', '=', d.deviceId)
    .execute()
  await ctx.db
    .updateTable('tokens')
    .set({ created: Date.now() - days * DAY, last_used: null })
    .where('device_id', '=', d.deviceId)
    .execute()
}

before(async () => {
  // Gateways here keep data 10 days: a whole config lists erasures of the last 10 days only.
  const built = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'reg-expiry-')), log: silentLogger, adminToken: ADMIN, gatewayRetentionMs: 10 * DAY }))
  app = built.app
  ctx = built.ctx
  url = await app.listen({ port: 0, host: '127.0.0.1' })
  gw = (await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site })).body.gatewayToken
})
after(async () => {
  await app.close()
})

test('7: registrations no gateway reported and unused for 30 days expire; a delta tells gateways once, a whole config no longer lists them', async () => {
  const baseline = (await config()).devices.length
  const spam = await Promise.all(Array.from({ length: 20 }, register))
  const seen = await register()
  const used = await register()
  const fresh = await register()
  for (const d of [...spam, seen, used]) await age(d, 31)
  // Seen by a gateway: an event about it is stored. Used: its token was used a day ago.
  const enter = { id: 'E-seen', type: 'shop.enter', storeId: site.storeId, subject: seen.subject, visitId: 'V-seen', seq: 1, ts: Date.now(), shop: 'boutique' }
  assert.equal((await api(`${url}/v1/stores/${site.storeId}/events`, gw, 'POST', { events: [enter] })).status, 200)
  await ctx.db
    .updateTable('tokens')
    .set({ last_used: Date.now() - DAY })
    .where('device_id', '=', used.deviceId)
    .execute()
  const grown = await config()
  assert.equal(grown.devices.length, baseline + 23, 'on the code this started from, nothing ever left the config')
  assert.equal(await expireRegistrations(ctx.db, Date.now(), 30 * DAY), 20)
  const whole = await config()
  assert.deepEqual(
    whole.devices.map(d => d.subject).filter(s => [seen, used, fresh].some(d => d.subject === s)),
    [seen, used, fresh].map(d => d.subject).sort()
  )
  assert.equal(whole.devices.length, baseline + 3)
  assert.deepEqual(whole.erasures, [], 'expired registrations are no erasures a whole config carries')
  const delta = await config(grown.version)
  assert.deepEqual(delta.erasures, spam.map(d => d.subject).sort(), 'a gateway holding their keys is told to drop them')
  // The expired device's token is gone with it.
  assert.equal((await fetch(`${url}/v1/devices/${spam[0].deviceId}/triggers`, { headers: { authorization: `Bearer ${spam[0].token}` } })).status, 401)
  assert.equal(await expireRegistrations(ctx.db, Date.now(), 30 * DAY), 0, 'a second run finds nothing')
})

test('7: a whole config lists erasures only as far back as a gateway keeps data; a delta lists every one since its version', async () => {
  const old = await register()
  const recent = await register()
  const since = (await config()).version
  for (const d of [old, recent]) assert.equal((await api(`${url}/v1/devices/${d.deviceId}`, d.token, 'DELETE')).status, 204)
  await ctx.db
    .updateTable('erasures')
    .set({ ts: Date.now() - 11 * DAY })
    .where('subject', '=', old.subject)
    .execute()
  const whole = await config()
  assert.ok(whole.erasures.includes(recent.subject))
  assert.ok(!whole.erasures.includes(old.subject), 'older than any gateway keeps data: not in a whole config')
  assert.deepEqual((await config(since)).erasures, [old.subject, recent.subject].sort())
})
