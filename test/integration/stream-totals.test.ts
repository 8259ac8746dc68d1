// Defect 2 of the s8 outside tester's server list: trigger streams were capped per device and per
// token only, and registration is anonymous: one address registered 104 apps and held 414 streams,
// until the process ran out of file descriptors and every other caller was refused. Now a replica
// holds at most `triggerStreamsPerReplica` (503 INSTORE_STREAMS_FULL with Retry-After beyond) and
// at most `triggerStreamsPerAddress` from one caller address (429 INSTORE_TOO_MANY_STREAMS beyond).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startChain, registerDevice } from '../helpers/replicas.ts'
import { metric, openSse } from '../helpers/streams.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'

test(`a replica holds at most triggerStreamsPerReplica trigger streams, then answers 503 with Retry-After (${TEST_ENGINE})`, async () => {
  const chain = await startChain('stream-total', 1, undefined, { triggerStreamsPerReplica: 3, triggerStreamsPerAddress: 100 })
  const { url } = chain.replicas[0]
  const open: Array<{ close: () => void }> = []
  try {
    for (let i = 0; i < 3; i++) {
      const d = await registerDevice(url)
      const s = await openSse(url, `/v1/devices/${d.deviceId}/triggers`, d.token)
      open.push(s)
      assert.equal(s.status, 200)
    }
    const d = await registerDevice(url)
    const full = await fetch(`${url}/v1/devices/${d.deviceId}/triggers`, { headers: { authorization: `Bearer ${d.token}` } })
    assert.equal(full.status, 503)
    assert.equal(full.headers.get('retry-after'), '30')
    assert.equal(((await full.json()) as { error: string }).error, 'INSTORE_STREAMS_FULL')
    assert.equal(await metric(url, 'instore_server_streams_refused_total{limit="replica"}'), 1)
    // A place given back is free again.
    open.shift()?.close()
    let again = await openSse(url, `/v1/devices/${d.deviceId}/triggers`, d.token)
    for (let i = 0; again.status !== 200 && i < 100; i++) {
      await new Promise(r => setTimeout(r, 50))
      again = await openSse(url, `/v1/devices/${d.deviceId}/triggers`, d.token)
    }
    open.push(again)
    assert.equal(again.status, 200)
  } finally {
    for (const s of open) s.close()
    await chain.close()
  }
})

test(`one caller address holds at most triggerStreamsPerAddress trigger streams on a replica (${TEST_ENGINE})`, async () => {
  const chain = await startChain('stream-address', 1, undefined, { triggerStreamsPerAddress: 2 })
  const { url } = chain.replicas[0]
  const open: Array<{ close: () => void }> = []
  try {
    const results: Array<number | string | null> = []
    for (let i = 0; i < 3; i++) {
      // A new app each time, as the tester's script registered: per device and per token caps never apply.
      const d = await registerDevice(url)
      const s = await openSse(url, `/v1/devices/${d.deviceId}/triggers`, d.token)
      open.push(s)
      results.push(s.status, s.error)
    }
    assert.deepEqual(results, [200, null, 200, null, 429, 'INSTORE_TOO_MANY_STREAMS'])
    assert.equal(await metric(url, 'instore_server_streams_refused_total{limit="address"}'), 1)
  } finally {
    for (const s of open) s.close()
    await chain.close()
  }
})

// The s11 outside tester: 50 registrations x 4 streams took a shop's Wi-Fi address's 200, and a
// new shopper's stream got 429 for as long as they were held. A device's first stream at a full
// address now ends the oldest stream of a device holding more than one there.
test(`a full address admits a new device's first stream by ending another device's extra one (${TEST_ENGINE})`, async () => {
  const chain = await startChain('stream-evict', 1, undefined, { triggerStreamsPerAddress: 4 })
  const { url } = chain.replicas[0]
  const open: Array<Awaited<ReturnType<typeof openSse>>> = []
  try {
    const greedy = await registerDevice(url)
    for (let i = 0; i < 4; i++) {
      const s = await openSse(url, `/v1/devices/${greedy.deviceId}/triggers`, greedy.token)
      assert.equal(s.status, 200)
      open.push(s)
    }
    const more = await openSse(url, `/v1/devices/${greedy.deviceId}/triggers`, greedy.token)
    assert.equal(more.status, 429, 'the greedy device gets no fifth stream')
    const shoppers = []
    for (let i = 0; i < 3; i++) {
      const d = await registerDevice(url)
      const s = await openSse(url, `/v1/devices/${d.deviceId}/triggers`, d.token)
      assert.equal(s.status, 200, `shopper ${i} gets a stream at the full address`)
      shoppers.push(d)
      open.push(s)
    }
    assert.equal(await metric(url, 'instore_server_streams_evicted_total'), 3)
    // Every device now holds one: a fourth new device is refused, and so is a second stream of a shopper.
    const late = await registerDevice(url)
    const refused = await openSse(url, `/v1/devices/${late.deviceId}/triggers`, late.token)
    assert.deepEqual([refused.status, refused.error], [429, 'INSTORE_TOO_MANY_STREAMS'])
    const second = await openSse(url, `/v1/devices/${shoppers[0].deviceId}/triggers`, shoppers[0].token)
    assert.equal(second.status, 429)
  } finally {
    for (const s of open) s.close()
    await chain.close()
  }
})
