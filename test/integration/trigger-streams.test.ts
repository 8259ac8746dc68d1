// Defect 2 of the outside tester's server list: any number of trigger streams could be opened for
// one device (4,000 of one anonymous device's token made /healthz take seconds), and each wake-up
// read the database twice per open stream. Now a device, and a token, hold at most a few streams
// on a replica (a device's own newer stream replaces its oldest; 429 INSTORE_TOO_MANY_STREAMS
// otherwise, counted), and a wake-up reads once per device.
import { test } from 'node:test'
import { connect } from 'node:net'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { startChain, registerDevice } from '../helpers/replicas.ts'
import { fire, metric, openTriggers, type Opened } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { DEFAULT_STREAM_LIMITS } from '../../server/hubs/stream-slots.ts'

const connections = async (url: string) => ((await (await fetch(`${url}/healthz`)).json()) as { sseConnections: number }).sseConnections

test(`a device holds at most a few trigger streams; one more ends its oldest (replaced, counted); a closed one gives its place back (${TEST_ENGINE})`, async () => {
  const chain = await startChain('streams-device', 1)
  const open: Opened[] = []
  try {
    const url = chain.replicas[0].url
    const dev = await registerDevice(url)
    for (let i = 0; i < DEFAULT_STREAM_LIMITS.streamsPerDevice; i++) open.push(await openTriggers(url, dev.deviceId, dev.token))
    assert.deepEqual(
      open.map(o => o.status),
      open.map(() => 200)
    )
    await waitFor(async () => (await connections(url)) === DEFAULT_STREAM_LIMITS.streamsPerDevice, 10_000, 'the streams to be held')
    // One more with the device's own token takes the oldest one's place (tester s12: its dead
    // streams locked a phone out); the device never holds more than its cap.
    const more = await openTriggers(url, dev.deviceId, dev.token)
    assert.equal(more.status, 200)
    // Destroyed, not ended (a dead path would hold its unsent bytes): its reader sees an error.
    ;(open.shift() as Opened).close()
    open.push(more)
    assert.equal(await metric(url, 'instore_server_streams_replaced_total'), 1)
    assert.equal(await metric(url, 'instore_server_streams_refused_total{limit="device"}'), 0)
    await waitFor(async () => (await connections(url)) === DEFAULT_STREAM_LIMITS.streamsPerDevice, 10_000, 'the cap to hold')
    ;(open.shift() as Opened).close()
    await waitFor(async () => (await connections(url)) === DEFAULT_STREAM_LIMITS.streamsPerDevice - 1, 10_000, 'the closed stream to be let go')
    const again = await openTriggers(url, dev.deviceId, dev.token)
    open.push(again)
    assert.equal(again.status, 200, 'the place was given back')
    assert.equal(await metric(url, 'instore_server_streams_replaced_total'), 1)
  } finally {
    for (const o of open) o.close()
    await chain.close()
  }
})

// Re-tester's repro (2026-12-07): an admin token read a shopper's triggers (store, place, time) and,
// holding the device's streams, made the shopper's own phone get 429.
test(`only the device's own token opens its trigger stream: an admin's is refused (${TEST_ENGINE})`, async () => {
  const chain = await startChain('streams-token', 1)
  const open: Opened[] = []
  try {
    const url = chain.replicas[0].url
    const dev = await registerDevice(url)
    const admin = await openTriggers(url, dev.deviceId, chain.admin)
    assert.equal(admin.status, 403)
    for (let i = 0; i < DEFAULT_STREAM_LIMITS.streamsPerDevice; i++) open.push(await openTriggers(url, dev.deviceId, dev.token))
    assert.deepEqual(
      open.map(o => o.status),
      open.map(() => 200)
    )
  } finally {
    for (const o of open) o.close()
    await chain.close()
  }
})

test(`a wake-up reads the device's triggers once for all its streams, and each stream gets each trigger once (${TEST_ENGINE})`, async () => {
  const chain = await startChain('streams-wake', 1)
  const open: Opened[] = []
  try {
    const { url, ctx } = chain.replicas[0]
    const campaign = { id: 'streams', stores: ['s1'], when: { event: 'sector.enter', sector: 'women' }, content: { title: 'Hi', url: 'https://example.com/', ttlMin: 30 } }
    assert.equal((await api(`${url}/v1/campaigns`, chain.admin, 'POST', campaign)).status, 201)
    const dev = await registerDevice(url)
    for (let i = 0; i < DEFAULT_STREAM_LIMITS.streamsPerDevice; i++) open.push(await openTriggers(url, dev.deviceId, dev.token))
    await waitFor(async () => (await connections(url)) === open.length, 10_000, 'the streams to be held')
    const hub = ctx.hub
    let reads = 0
    const read = hub.triggersAfter.bind(hub)
    hub.triggersAfter = async (deviceId, after) => {
      reads++
      return await read(deviceId, after)
    }
    await fire(chain, dev.subject, 'T1', 'streams')
    await waitFor(() => open.every(o => o.triggers.length === 1), 10_000, 'every stream to get the trigger')
    // One read per wake-up (two when a stream's first read was still under way as it came).
    assert.ok(reads <= 2, `${reads} reads for ${open.length} streams`)
    const before = reads
    await fire(chain, dev.subject, 'T2', 'streams')
    await waitFor(() => open.every(o => o.triggers.length === 2), 10_000, 'every stream to get the second trigger')
    assert.deepEqual(
      open.map(o => o.triggers),
      open.map(() => ['T1', 'T2'])
    )
    assert.equal(reads - before, 1, `${reads - before} reads for ${open.length} streams`)
  } finally {
    for (const o of open) o.close()
    await chain.close()
  }
})

test(`streams whose client is gone before the reply give their place back, and the server stops (${TEST_ENGINE})`, async () => {
  // The outside tester's repro: on PostgreSQL a socket closed while the route awaited the token and
  // the consent fired 'close' before the stream listened for it; four such left the device 429 for good.
  const chain = await startChain('streams-gone', 1)
  const open: Opened[] = []
  try {
    const url = chain.replicas[0].url
    const port = Number(new URL(url).port)
    const dev = await registerDevice(url)
    for (let i = 0; i < 3 * DEFAULT_STREAM_LIMITS.streamsPerDevice; i++)
      await new Promise<void>(done => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(`GET /v1/devices/${dev.deviceId}/triggers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${dev.token}\r\n\r\n`)
          s.destroy()
          done()
        })
        s.on('error', () => done())
      })
    await waitFor(async () => (await connections(url)) === 0, 10_000, 'the streams of gone clients to be let go')
    // On PostgreSQL a stream's place is also a lease row, deleted as the stream ends (an async
    // write): the places come back within seconds, well before a lapsed lease would (30 s).
    await waitFor(
      async () => {
        const again = await openTriggers(url, dev.deviceId, dev.token)
        if (again.status === 200) {
          open.push(again)
          return true
        }
        again.close()
        return false
      },
      10_000,
      'the places to be given back'
    )
  } finally {
    for (const o of open) o.close()
    await chain.close()
  }
})
