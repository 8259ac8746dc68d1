// Issue 25 repros 6 (limits) and 9: rate limits with Retry-After, body size and depth limits,
// authentication before validation, strict query values, a case-insensitive Bearer scheme,
// 404 for unknown stores, no admin token in the log, database files readable by their owner only.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer, BOOTSTRAP_TOKEN_FILE } from '../../server/app.ts'
import { onTestDb, TEST_ENGINE } from '../helpers/postgres.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { silentLogger } from '../../shared/log.ts'
import { startProc } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_limits_test'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
let app: FastifyInstance
let url = ''

before(async () => {
  // The cases post live snapshots back to back, bad ones too (each takes the store's turn before its body is read): the pause off.
  app = (
    await buildServer(
      await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'limits-')), log: silentLogger, adminToken: ADMIN, limits: { bodyLimitBytes: 64 * 1024, liveMinIntervalMs: 0 } })
    )
  ).app
  url = await app.listen({ port: 0, host: '127.0.0.1' })
  const r = await fetch(`${url}/v1/stores`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ site }) })
  assert.equal(r.status, 201)
})
after(async () => {
  await app.close()
})

interface Case {
  name: string
  method?: string
  path: string
  auth?: string
  body?: string
  status: number
  error?: string
}
const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)
const cases: Case[] = [
  { name: 'a body nested 5,000 deep', method: 'POST', path: `/v1/stores/${site.storeId}/live`, auth: `Bearer ${ADMIN}`, body: deep, status: 400, error: 'INSTORE_TOO_DEEP' },
  {
    name: 'a body nested 5,000 deep, in an array',
    method: 'POST',
    path: '/v1/campaigns',
    auth: `Bearer ${ADMIN}`,
    body: '['.repeat(5000) + ']'.repeat(5000),
    status: 400,
    error: 'INSTORE_TOO_DEEP'
  },
  {
    name: 'brackets inside strings do not count as depth (the body gets past the depth check to the snapshot schema)',
    method: 'POST',
    path: `/v1/stores/${site.storeId}/live`,
    auth: `Bearer ${ADMIN}`,
    body: JSON.stringify({ s: '{['.repeat(5000) }),
    status: 400,
    error: 'INSTORE_BAD_SNAPSHOT'
  },
  {
    name: 'a body over the size limit',
    method: 'POST',
    path: '/v1/campaigns',
    auth: `Bearer ${ADMIN}`,
    body: JSON.stringify({ id: 'x', pad: 'x'.repeat(70 * 1024) }),
    status: 413,
    error: 'INSTORE_TOO_LARGE'
  },
  { name: 'an invalid body without a token: 401 before any schema detail', method: 'POST', path: '/v1/campaigns', body: '{"nope": 1}', status: 401, error: 'INSTORE_NO_TOKEN' },
  {
    name: 'an invalid body with a wrong token: 401',
    method: 'POST',
    path: '/v1/campaigns',
    auth: 'Bearer adm_wrong',
    body: '{"nope": 1}',
    status: 401,
    error: 'INSTORE_BAD_TOKEN'
  },
  { name: 'since=abc', path: `/v1/analytics/stores/${site.storeId}?since=abc`, auth: `Bearer ${ADMIN}`, status: 400, error: 'INSTORE_BAD_REQUEST' },
  { name: 'since=-5', path: `/v1/analytics/stores/${site.storeId}?since=-5`, auth: `Bearer ${ADMIN}`, status: 400, error: 'INSTORE_BAD_REQUEST' },
  { name: 'an unknown query parameter', path: `/v1/analytics/stores/${site.storeId}?sinse=5`, auth: `Bearer ${ADMIN}`, status: 400, error: 'INSTORE_BAD_REQUEST' },
  { name: 'since in ms', path: `/v1/analytics/stores/${site.storeId}?since=1764000000000`, auth: `Bearer ${ADMIN}`, status: 200 },
  { name: 'a lowercase bearer scheme', path: '/v1/campaigns', auth: `bearer ${ADMIN}`, status: 200 },
  { name: 'an uppercase BEARER scheme', path: '/v1/campaigns', auth: `BEARER ${ADMIN}`, status: 200 },
  { name: 'another scheme', path: '/v1/campaigns', auth: `Basic ${ADMIN}`, status: 401, error: 'INSTORE_NO_TOKEN' },
  { name: 'analytics of an unknown store', path: '/v1/analytics/stores/no-such-store', auth: `Bearer ${ADMIN}`, status: 404, error: 'INSTORE_NO_STORE' }
]

test('limits and request rules, case by case', async () => {
  for (const c of cases) {
    const res = await fetch(url + c.path, {
      method: c.method ?? 'GET',
      headers: { ...(c.auth ? { authorization: c.auth } : {}), ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(c.body !== undefined ? { body: c.body } : {})
    })
    const text = await res.text()
    assert.equal(res.status, c.status, `${c.name}: ${res.status} ${text.slice(0, 200)}`)
    if (c.error) assert.equal((JSON.parse(text) as { error: string }).error, c.error, c.name)
    if (c.status === 401) assert.doesNotMatch(text, /must have|property|schema/, `${c.name}: no schema details for anonymous callers`)
  }
})

test('anonymous registration is rate-limited per address: 429 with Retry-After', async () => {
  const s = (
    await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'limits-reg-')), log: silentLogger, adminToken: ADMIN, limits: { registrationsPerWindow: 5 } }))
  ).app
  const u = await s.listen({ port: 0, host: '127.0.0.1' })
  try {
    const statuses: number[] = []
    let retryAfter: string | null = null
    for (let i = 0; i < 8; i++) {
      // Valid or not (the body changes with server-issued identities), every try counts.
      const r = await fetch(`${u}/v1/devices`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ consent: { presence: true, marketing: true } })
      })
      statuses.push(r.status)
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after')
        assert.equal(((await r.json()) as { error: string }).error, 'INSTORE_RATE_LIMITED')
      } else await r.arrayBuffer()
    }
    assert.ok(
      statuses.slice(0, 5).every(x => x !== 429),
      statuses.join(',')
    )
    assert.deepEqual(statuses.slice(5), [429, 429, 429])
    assert.match(retryAfter ?? '', /^[1-9][0-9]*$/)
    assert.match(await (await fetch(`${u}/metrics`)).text(), /instore_server_refused_total\{reason="INSTORE_RATE_LIMITED"\} 3\n/)
  } finally {
    await s.close()
  }
})

test('a caller that keeps presenting bad tokens gets 429 with Retry-After; a valid token still works', async () => {
  const s = (
    await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'limits-auth-')), log: silentLogger, adminToken: ADMIN, limits: { authFailuresPerWindow: 4 } }))
  ).app
  const u = await s.listen({ port: 0, host: '127.0.0.1' })
  try {
    const statuses: number[] = []
    let retryAfter: string | null = null
    for (let i = 0; i < 7; i++) {
      const r = await fetch(`${u}/v1/campaigns`, { headers: { authorization: `Bearer adm_guess${i}` } })
      statuses.push(r.status)
      if (r.status === 429) retryAfter = r.headers.get('retry-after')
      await r.arrayBuffer()
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429, 429])
    assert.match(retryAfter ?? '', /^[1-9][0-9]*$/)
    assert.equal((await fetch(`${u}/v1/campaigns`, { headers: { authorization: `Bearer ${ADMIN}` } })).status, 200)
    const m = await (await fetch(`${u}/metrics`)).text()
    assert.match(m, /instore_server_refused_total\{reason="INSTORE_BAD_TOKEN"\} 4\n/)
    assert.match(m, /instore_server_refused_total\{reason="INSTORE_RATE_LIMITED"\} 3\n/)
  } finally {
    await s.close()
  }
})

test('a token in the URL (?token=) is refused on sight, never looked up: guessing there learns nothing', async () => {
  const s = (
    await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'limits-live-')), log: silentLogger, adminToken: ADMIN, limits: { authFailuresPerWindow: 3 } }))
  ).app
  const u = await s.listen({ port: 0, host: '127.0.0.1' })
  try {
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${u}/v1/stores/any/live?token=adm_guess${i}`)
      statuses.push(r.status)
      await r.arrayBuffer()
    }
    assert.deepEqual(statuses, [400, 400, 400, 400, 400])
    const r = await fetch(`${u}/v1/stores/any/live?token=${ADMIN}`)
    assert.equal(((await r.json()) as { error: string }).error, 'INSTORE_TOKEN_IN_URL')
  } finally {
    await s.close()
  }
})

test('a body on a route without one (DELETE) answers 415 or 413, and the OpenAPI document declares both', async () => {
  const s = (await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'limits-delete-')), log: silentLogger, adminToken: ADMIN, limits: { bodyLimitBytes: 1000 } })))
    .app
  try {
    const doc = (await s.inject({ url: '/docs' })).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }
    const deletes = Object.entries(doc.paths).flatMap(([path, ops]) => (ops.delete ? [[path, ops.delete] as const] : []))
    assert.ok(deletes.length >= 3)
    for (const [path, op] of deletes) assert.ok(op.responses['413'] && op.responses['415'], `DELETE ${path}: ${Object.keys(op.responses).join(',')}`)
    const headers = { authorization: `Bearer ${ADMIN}` }
    assert.equal((await s.inject({ method: 'DELETE', url: '/v1/tokens/abc', headers: { ...headers, 'content-type': 'text/xml' }, payload: '<x/>' })).statusCode, 415)
    assert.equal(
      (await s.inject({ method: 'DELETE', url: '/v1/tokens/abc', headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ a: 'x'.repeat(2000) }) }))
        .statusCode,
      413
    )
  } finally {
    await s.close()
  }
})

test('the bootstrap admin token is never logged: it is written once to a 0600 file in the data folder', async () => {
  const data = mkdtempSync(join(tmpdir(), 'limits-boot-'))
  const p = await startProc('instore-server', ['--port', '0', '--data', data], /"server started"/)
  try {
    const file = join(data, BOOTSTRAP_TOKEN_FILE)
    assert.ok(existsSync(file), p.out())
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const token = readFileSync(file, 'utf8').trim()
    assert.match(token, /^adm_/)
    assert.ok(!p.out().includes(token), 'the token is not in the log')
    assert.match(p.out(), new RegExp(BOOTSTRAP_TOKEN_FILE))
    const u = (/"url":"(http:\/\/[0-9.:]+)"/.exec(p.out()) as RegExpExecArray)[1]
    assert.equal((await fetch(`${u}/v1/campaigns`, { headers: { authorization: `Bearer ${token}` } })).status, 200)
  } finally {
    await p.stop()
  }
})

// The server's file exists on SQLite only; the gateway's always (it is checked on both passes).
test('database files of server and gateway are created readable by their owner only', async () => {
  const sdir = mkdtempSync(join(tmpdir(), 'limits-db-'))
  const s = (await buildServer(await onTestDb({ dataDir: sdir, log: silentLogger, adminToken: ADMIN }))).app
  const gdir = mkdtempSync(join(tmpdir(), 'limits-gdb-'))
  const g = new GatewayStore(gdir)
  try {
    for (const f of [join(sdir, 'server.sqlite'), join(sdir, 'server.sqlite-wal'), join(gdir, 'gateway.sqlite'), join(gdir, 'gateway.sqlite-wal')]) {
      if (!existsSync(f)) continue
      assert.equal((statSync(f).mode & 0o777).toString(8), '600', f)
    }
    assert.ok((TEST_ENGINE === 'postgres' || existsSync(join(sdir, 'server.sqlite'))) && existsSync(join(gdir, 'gateway.sqlite')))
  } finally {
    await s.close()
    g.db.close()
  }
})
