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
