// The outside tester's s13 item 3: acknowledgements of triggers that do not exist (answered 404)
// were counted in the caller address's write budget, the one real acks and consent grants spend:
// one client behind a shop's Wi-Fi sending them refused every other shopper there (429) for the
// rest of the window. Now they cost a budget of their own; real acks another; grants theirs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startChain, registerDevice } from '../helpers/replicas.ts'
import { fire, makeCampaign, metric } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

async function send(url: string, token: string, method: string, body: unknown): Promise<number> {
  const res = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  await res.arrayBuffer()
  return res.status
}

test(`acks of unknown triggers spend neither real acks' nor consent grants' budget of a shared address (${TEST_ENGINE})`, async () => {
  const chain = await startChain('ack-budgets', 2, undefined, { deviceWritesPerToken: 100, deviceWritesPerAddress: 6 })
  try {
    const urls = chain.replicas.map(r => r.url)
    await makeCampaign(chain, 'welcome')
    const shopper = await registerDevice(urls[0])
    await fire(chain, shopper.subject, 'T1', 'welcome')
    const other = await registerDevice(urls[1])
    await send(`${urls[1]}/v1/devices/${other.deviceId}/consent`, other.token, 'PUT', { presence: true, marketing: false })
    // The stranger: three tokens, acks of ids nobody was sent, past their own budget.
    const strangers = [await registerDevice(urls[0]), await registerDevice(urls[1]), await registerDevice(urls[0])]
    const bogus: number[] = []
    for (let i = 0; i < 9; i++) bogus.push(await send(`${urls[i % urls.length]}/v1/triggers/nope${i}/ack`, strangers[i % 3].token, 'POST', { status: 'converted' }))
    assert.deepEqual(bogus, [404, 404, 404, 404, 404, 404, 429, 429, 429])
    // Behind the same address, the shopper's real ack and the other shopper's grant are answered.
    assert.equal(await send(`${urls[1]}/v1/triggers/T1/ack`, shopper.token, 'POST', { status: 'delivered', storeId: 's1' }), 200)
    assert.equal(await send(`${urls[0]}/v1/devices/${other.deviceId}/consent`, other.token, 'PUT', { presence: true, marketing: true }), 200)
    const refused = await Promise.all(chain.replicas.map(r => metric(r.url, 'instore_server_refused_total{reason="INSTORE_RATE_LIMITED"}')))
    assert.equal(TEST_ENGINE === 'postgres' ? refused[0] + refused[1] : refused[0], 3)
  } finally {
    await chain.close()
  }
})

test(`real acks have a per-address budget of their own, which consent grants do not share (${TEST_ENGINE})`, async () => {
  const chain = await startChain('ack-budgets-real', 2, undefined, { deviceWritesPerToken: 100, deviceWritesPerAddress: 2 })
  try {
    const urls = chain.replicas.map(r => r.url)
    await makeCampaign(chain, 'welcome')
    const shopper = await registerDevice(urls[0])
    const statuses: number[] = []
    for (const s of ['delivered', 'opened', 'converted'] as const) {
      await fire(chain, shopper.subject, `R${s}`, 'welcome')
      statuses.push(await send(`${urls[0]}/v1/triggers/R${s}/ack`, shopper.token, 'POST', { status: s, storeId: 's1' }))
    }
    assert.deepEqual(statuses, [200, 200, 429])
    const other = await registerDevice(urls[1])
    assert.equal(await send(`${urls[1]}/v1/devices/${other.deviceId}/consent`, other.token, 'PUT', { presence: true, marketing: false }), 200)
    assert.equal(await send(`${urls[1]}/v1/devices/${other.deviceId}/consent`, other.token, 'PUT', { presence: true, marketing: true }), 200)
  } finally {
    await chain.close()
  }
})
