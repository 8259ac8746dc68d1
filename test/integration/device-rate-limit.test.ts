// The outside tester's s11 item 4: anyone gets a device token, and 16 loops of consent PUTs (or of
// acknowledgements answered 404) were all answered, slowing /healthz and every gateway's uplink,
// each consent change taking a config version. Now a device token's writes are limited per token
// and per caller address, and consent grants per device, across replicas (the counts live in the
// database): refusals are 429 with Retry-After, counted in /metrics. Counts, not timings.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain, registerDevice } from '../helpers/replicas.ts'
import { metric } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

type Reply = { status: number; error?: string; retryAfter: string | null }

async function send(url: string, token: string, method: string, body?: unknown): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const text = await res.text()
  return { status: res.status, error: text ? (JSON.parse(text) as { error?: string }).error : undefined, retryAfter: res.headers.get('retry-after') }
}

// Alternates between the two replicas (PostgreSQL; on SQLite they are one server): the limit must hold across them.
const on = (urls: string[], i: number) => urls[i % urls.length]

test(`one device token's writes are limited across replicas: 429 INSTORE_RATE_LIMITED with Retry-After, counted (${TEST_ENGINE})`, async () => {
  const chain = await startChain('devrate-token', 2, undefined, { deviceWritesPerToken: 5 })
  try {
    const urls = chain.replicas.map(r => r.url)
    const dev = await registerDevice(urls[0])
    const replies: Reply[] = []
    // Acknowledgements of triggers that do not exist (the tester's 404 flood), then consent PUTs: one count.
    for (let i = 0; i < 4; i++) replies.push(await send(`${on(urls, i)}/v1/triggers/nope${i}/ack`, dev.token, 'POST', { status: 'opened' }))
    for (let i = 0; i < 4; i++) replies.push(await send(`${on(urls, i)}/v1/devices/${dev.deviceId}/consent`, dev.token, 'PUT', { presence: true, marketing: true }))
    assert.deepEqual(
      replies.map(r => r.status),
      [404, 404, 404, 404, 200, 429, 429, 429]
    )
    for (const r of replies.slice(5)) {
      assert.equal(r.error, 'INSTORE_RATE_LIMITED')
      assert.match(r.retryAfter ?? '', /^[1-9][0-9]*$/)
    }
    const refused = await Promise.all(chain.replicas.map(r => metric(r.url, 'instore_server_refused_total{reason="INSTORE_RATE_LIMITED"}')))
    assert.equal(TEST_ENGINE === 'postgres' ? refused[0] + refused[1] : refused[0], 3)
    // Another device's token and the admin's are not held back by it.
    const other = await registerDevice(urls[1])
    assert.equal((await send(`${urls[0]}/v1/devices/${other.deviceId}/consent`, other.token, 'PUT', { presence: true, marketing: false })).status, 200)
    assert.equal((await send(`${urls[1]}/v1/devices/${dev.deviceId}/consent`, chain.admin, 'PUT', { presence: true, marketing: false })).status, 200)
  } finally {
    await chain.close()
  }
})

test(`many device tokens behind one address share a limit (${TEST_ENGINE})`, async () => {
  const chain = await startChain('devrate-address', 2, undefined, { deviceWritesPerToken: 100, deviceWritesPerAddress: 6 })
  try {
    const urls = chain.replicas.map(r => r.url)
    const devs = [await registerDevice(urls[0]), await registerDevice(urls[1]), await registerDevice(urls[0])]
    const statuses: number[] = []
    for (let i = 0; i < 9; i++) statuses.push((await send(`${on(urls, i)}/v1/triggers/nope/ack`, devs[i % 3].token, 'POST', { status: 'opened' })).status)
    assert.deepEqual(statuses, [404, 404, 404, 404, 404, 404, 429, 429, 429])
  } finally {
    await chain.close()
  }
})

test(`consent grants per device are bounded, withdrawals never refused, so the config version moves a bounded number of times (${TEST_ENGINE})`, async () => {
  const chain = await startChain('devrate-grants', 2, undefined, { consentGrantsPerDevice: 3 })
  try {
    const urls = chain.replicas.map(r => r.url)
    const dev = await registerDevice(urls[0])
    const version = async () => (await api<{ version: string }>(`${urls[0]}/v1/stores/s1/config`, chain.gw.s1, 'GET')).body.version
    const v0 = await version()
    const replies: Reply[] = []
    for (let i = 0; i < 12; i++) replies.push(await send(`${on(urls, i)}/v1/devices/${dev.deviceId}/consent`, dev.token, 'PUT', { presence: i % 2 === 1, marketing: true }))
    // Withdraw, grant, withdraw, grant, withdraw, grant (3 grants), then only withdrawals change something.
    assert.deepEqual(
      replies.map(r => r.status),
      [200, 200, 200, 200, 200, 200, 200, 429, 200, 429, 200, 429]
    )
    for (const r of replies.filter(x => x.status === 429)) {
      assert.equal(r.error, 'INSTORE_TOO_MANY_CONSENT_CHANGES')
      assert.match(r.retryAfter ?? '', /^[1-9][0-9]*$/)
    }
    // Three grants and four withdrawals took a version each; the restated withdrawals none.
    const moved = Number((await version()).split('.')[0]) - Number(v0.split('.')[0])
    assert.ok(moved <= 7, `config version moved ${moved} times`)
  } finally {
    await chain.close()
  }
})
