// The outside tester's s12 item 1: a stranger behind the same address (shop Wi-Fi, carrier NAT)
// spent the per-address device-write budget with throw-away registrations and restated consent,
// and a shopper there then got 429 on withdrawing consent and on erasure. Now withdrawals and
// erasures are never counted against the shared budgets, and a restated consent only against its
// own token's. Real HTTP, two replicas on PostgreSQL (one count across them). Counts, not timings.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startChain, registerDevice } from '../helpers/replicas.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

async function send(url: string, token: string, method: string, body?: unknown): Promise<{ status: number; error?: string }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const text = await res.text()
  return { status: res.status, error: text ? (JSON.parse(text) as { error?: string }).error : undefined }
}

const consent = (url: string, d: { deviceId: string; token: string }, presence: boolean, marketing: boolean) =>
  send(`${url}/v1/devices/${d.deviceId}/consent`, d.token, 'PUT', { presence, marketing })

test(`a neighbour's writes never stop a shopper's consent withdrawal or erasure (${TEST_ENGINE})`, async () => {
  const chain = await startChain('withdraw-budget', 2, undefined, { deviceWritesPerToken: 3, deviceWritesPerAddress: 6 })
  try {
    const [attackerUrl, shopperUrl] = chain.replicas.map(r => r.url)
    const shopper = await registerDevice(shopperUrl)
    const other = await registerDevice(shopperUrl)
    // The address's budget spent by acknowledgements (still counted per address), then more.
    const strangers = [await registerDevice(attackerUrl), await registerDevice(attackerUrl), await registerDevice(attackerUrl)]
    const acks: number[] = []
    for (let i = 0; i < 9; i++) acks.push((await send(`${attackerUrl}/v1/triggers/nope/ack`, strangers[i % 3].token, 'POST', { status: 'opened' })).status)
    assert.deepEqual(acks, [404, 404, 404, 404, 404, 404, 429, 429, 429])
    // A grant is still refused past the address's budget ...
    assert.equal((await consent(shopperUrl, other, false, true)).status, 200)
    assert.deepEqual(await consent(shopperUrl, other, true, true), { status: 429, error: 'INSTORE_RATE_LIMITED' })
    // ... a withdrawal never is, step by step or at once, and neither is an erasure.
    assert.equal((await consent(shopperUrl, shopper, true, false)).status, 200)
    assert.equal((await consent(shopperUrl, shopper, false, false)).status, 200)
    const tokens = await fetch(`${attackerUrl}/v1/tokens?deviceId=${shopper.deviceId}`, { headers: { authorization: `Bearer ${chain.admin}` } })
    assert.equal(((await tokens.json()) as unknown[]).length, 1)
    assert.equal((await send(`${shopperUrl}/v1/devices/${shopper.deviceId}`, shopper.token, 'DELETE')).status, 204)
    const after = await fetch(`${attackerUrl}/v1/tokens?deviceId=${shopper.deviceId}`, { headers: { authorization: `Bearer ${chain.admin}` } })
    assert.equal(((await after.json()) as unknown[]).length, 0)
  } finally {
    await chain.close()
  }
})

test(`restated consent spends its own token's budget, never the address's (${TEST_ENGINE})`, async () => {
  const chain = await startChain('restated-budget', 2, undefined, { deviceWritesPerToken: 3, deviceWritesPerAddress: 6 })
  try {
    const urls = chain.replicas.map(r => r.url)
    const strangers = [await registerDevice(urls[0]), await registerDevice(urls[1]), await registerDevice(urls[0])]
    // Nine restatements, three per token (the tester's loop): none spends the address's budget.
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) statuses.push((await consent(urls[i % 2], strangers[i % 3], true, true)).status)
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 429, 429])
    // So a phone there may still change its consent, grants included.
    const shopper = await registerDevice(urls[1])
    assert.equal((await consent(urls[1], shopper, false, true)).status, 200)
    assert.equal((await consent(urls[0], shopper, true, true)).status, 200)
  } finally {
    await chain.close()
  }
})
