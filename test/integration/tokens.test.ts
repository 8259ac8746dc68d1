// Issue 25 repro 6 (revocation): tokens have public ids, operators list them (managers only their
// own stores' gateway and manager tokens), DELETE revokes at once, and re-provisioning a store
// revokes its earlier gateway token.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { hashToken } from '../../server/auth.ts'
import { silentLogger } from '../../shared/log.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'
import { waitFor } from '../helpers/gateway.ts'

const ADMIN = 'adm_tokens_test'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as Record<string, unknown>
interface TokenInfo {
  id: string
  role: string
  stores: string[]
  deviceId: string | null
  created: number
  lastUsed: number | null
}
let app: FastifyInstance
let url = ''
const provision = async (storeId: string) =>
  (await api<{ gatewayToken: string; gatewayTokenId: string; revokedTokens: number }>(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId } })).body
const operator = async (role: string, stores: string[]) => (await api<{ id: string; token: string }>(`${url}/v1/operators`, ADMIN, 'POST', { role, stores })).body

before(async () => {
  app = (await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'tokens-')), log: silentLogger, adminToken: ADMIN }))).app
  url = await app.listen({ port: 0, host: '127.0.0.1' })
})
after(async () => {
  await app.close()
})

test('re-provisioning a store revokes its earlier gateway token at once', async () => {
  const first = await provision('r1')
  assert.equal((await api(`${url}/v1/stores/r1/config`, first.gatewayToken)).status, 200)
  const second = await provision('r1')
  assert.equal(second.revokedTokens, 1)
  assert.equal((await api(`${url}/v1/stores/r1/config`, first.gatewayToken)).status, 401, 'the old gateway token is dead')
  assert.equal((await api(`${url}/v1/stores/r1/config`, second.gatewayToken)).status, 200)
})

test("tokens are listed by public id, never by secret or hash; managers see only their stores' gateway and manager tokens", async () => {
  const gw1 = await provision('l1')
  const gw2 = await provision('l2')
  const mgr1 = await operator('manager', ['l1'])
  const mgr12 = await operator('manager', ['l1', 'l2'])
  const all = await api<TokenInfo[]>(`${url}/v1/tokens`, ADMIN)
  assert.equal(all.status, 200)
  const text = JSON.stringify(all.body)
  for (const secret of [gw1.gatewayToken, mgr1.token, ADMIN]) {
    assert.ok(!text.includes(secret) && !text.includes(hashToken(secret)), 'no secret and no hash in the listing')
  }
  const ids = new Set(all.body.map(t => t.id))
  for (const id of [gw1.gatewayTokenId, gw2.gatewayTokenId, mgr1.id, mgr12.id]) assert.ok(ids.has(id), id)
  assert.ok(all.body.some(t => t.role === 'admin'))
  const mine = await api<TokenInfo[]>(`${url}/v1/tokens`, mgr1.token)
  assert.deepEqual(mine.body.map(t => t.id).sort(), [gw1.gatewayTokenId, mgr1.id].sort(), "own store only; not l2's, not the two-store manager, not admins")
  const gateways = await api<TokenInfo[]>(`${url}/v1/tokens?role=gateway`, ADMIN)
  assert.ok(gateways.body.every(t => t.role === 'gateway') && gateways.body.length >= 2)
  assert.equal((await api(`${url}/v1/tokens`, gw1.gatewayToken)).status, 403, 'gateways are not operators')
  const used = (await api<TokenInfo[]>(`${url}/v1/tokens`, ADMIN)).body.find(t => t.id === mgr1.id)
  assert.equal(typeof used?.lastUsed, 'number', "lastUsed after the manager's request")
})

test('DELETE /v1/tokens/{id} revokes at once; managers revoke only what they may see; the last admin token stays', async () => {
  const gw = await provision('d1')
  const other = await provision('d2')
  const mgr = await operator('manager', ['d1'])
  assert.equal((await api(`${url}/v1/tokens/${other.gatewayTokenId}`, mgr.token, 'DELETE')).status, 404, "another store's token is unknown to this manager")
  assert.equal((await api(`${url}/v1/stores/d2/config`, other.gatewayToken)).status, 200)
  assert.equal((await api(`${url}/v1/tokens/${gw.gatewayTokenId}`, mgr.token, 'DELETE')).status, 204)
  assert.equal((await api(`${url}/v1/stores/d1/config`, gw.gatewayToken)).status, 401, 'revoked: refused on the next request')
  assert.equal((await api(`${url}/v1/tokens/${gw.gatewayTokenId}`, ADMIN, 'DELETE')).status, 404, 'already gone')
  const adminId = (await api<TokenInfo[]>(`${url}/v1/tokens?role=admin`, ADMIN)).body.map(t => t.id)
  assert.equal(adminId.length, 1)
  assert.equal((await api<{ error: string }>(`${url}/v1/tokens/${adminId[0]}`, ADMIN, 'DELETE')).status, 409)
  const second = await operator('admin', [])
  assert.equal((await api(`${url}/v1/tokens/${second.id}`, ADMIN, 'DELETE')).status, 204)
  assert.equal((await api(`${url}/v1/campaigns`, second.token)).status, 401)
  assert.equal((await api(`${url}/v1/tokens/${mgr.id}`, mgr.token, 'DELETE')).status, 204, 'a manager may revoke its own token')
  assert.equal((await api(`${url}/v1/campaigns`, mgr.token)).status, 401)
})

test('revoking a device token ends its open trigger stream at once', async () => {
  // The registration body changes with server-issued identities: whichever this server takes.
  let dev = await api<{ deviceId: string; token: string }>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: true } })
  if (dev.status !== 201)
    dev = await api<{ deviceId: string; token: string }>(`${url}/v1/devices`, null, 'POST', { bleId: 'app:revoke01', consent: { presence: true, marketing: true } })
  assert.equal(dev.status, 201)
  const res = await fetch(`${url}/v1/devices/${dev.body.deviceId}/triggers`, { headers: { authorization: `Bearer ${dev.body.token}` } })
  assert.equal(res.status, 200)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  await reader.read() // ": connected"
  const id = (await api<TokenInfo[]>(`${url}/v1/tokens?role=device`, ADMIN)).body.find(t => t.deviceId === dev.body.deviceId)?.id
  assert.ok(id)
  assert.equal((await api(`${url}/v1/tokens/${id}`, ADMIN, 'DELETE')).status, 204)
  for (;;) if ((await reader.read()).done) break // the server ended the stream
  await waitFor(async () => (await api<{ sseConnections: number }>(`${url}/healthz`, null)).body.sseConnections === 0, 5_000, 'the stream unsubscribed')
  assert.equal((await fetch(`${url}/v1/devices/${dev.body.deviceId}/triggers`, { headers: { authorization: `Bearer ${dev.body.token}` } })).status, 401)
})

test('revoking an operator token ends the dashboard live stream it opened', async () => {
  await provision('lv1')
  const mgr = await operator('manager', ['lv1'])
  const res = await fetch(`${url}/v1/stores/lv1/live`, { headers: { authorization: `bearer ${mgr.token}` } }) // lowercase scheme (RFC 7235)
  assert.equal(res.status, 200)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  await reader.read() // ": connected"
  assert.equal((await api(`${url}/v1/tokens/${mgr.id}`, ADMIN, 'DELETE')).status, 204)
  for (;;) if ((await reader.read()).done) break // the server ended the stream
  assert.equal((await fetch(`${url}/v1/stores/lv1/live`, { headers: { authorization: `Bearer ${mgr.token}` } })).status, 401, 'refused after revocation')
})

test('a revoked --admin-token stays revoked across restarts', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokens-restart-'))
  const GIVEN = 'adm_given_at_start'
  const start = async () => {
    const s = (await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: GIVEN }))).app
    return { s, u: await s.listen({ port: 0, host: '127.0.0.1' }) }
  }
  let { s, u } = await start()
  const other = (await api<{ id: string; token: string }>(`${u}/v1/operators`, GIVEN, 'POST', { role: 'admin', stores: [] })).body
  const givenId = (await api<TokenInfo[]>(`${u}/v1/tokens?role=admin`, other.token)).body.find(t => t.id !== other.id)?.id
  assert.ok(givenId)
  assert.equal((await api(`${u}/v1/tokens/${givenId}`, other.token, 'DELETE')).status, 204)
  assert.equal((await api(`${u}/v1/campaigns`, GIVEN)).status, 401)
  await s.close()
  ;({ s, u } = await start())
  try {
    assert.equal((await api(`${u}/v1/campaigns`, GIVEN)).status, 401, 'not issued again at start')
    assert.equal((await api(`${u}/v1/campaigns`, other.token)).status, 200)
  } finally {
    await s.close()
  }
})
