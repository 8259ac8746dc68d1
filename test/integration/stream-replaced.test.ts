// The outside tester's s12 item 3: a phone whose path died (Wi-Fi to cellular at a shop's door, a
// NAT mapping dropped) left its trigger streams open on the server, no FIN ever arriving; with four
// such, its new stream was 429 INSTORE_TOO_MANY_STREAMS for as long as the dead sockets lasted (TCP
// retries, up to ~15 min). Now a device's new stream with its own token ends its oldest one there
// at the cap (instore_server_streams_replaced_total). Dead paths are simulated by a relay that
// stops forwarding and never closes; real HTTP, real sockets.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { waitFor } from '../helpers/gateway.ts'
import { startChain, registerDevice } from '../helpers/replicas.ts'
import { closedWithin, fire, makeCampaign, metric, openTriggers, relay, type Opened } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { DEFAULT_STREAM_LIMITS } from '../../server/hubs/stream-slots.ts'

const connections = async (url: string) => ((await (await fetch(`${url}/healthz`)).json()) as { sseConnections: number }).sseConnections

test(`a device's new trigger stream ends its own oldest at the cap: dead streams never lock its phone out (${TEST_ENGINE})`, async () => {
  const chain = await startChain('streams-replaced', 1)
  const relays: Array<Awaited<ReturnType<typeof relay>>> = []
  const open: Opened[] = []
  try {
    const url = chain.replicas[0].url
    const port = Number(new URL(url).port)
    await makeCampaign(chain, 'hello')
    const dev = await registerDevice(url)
    for (let i = 0; i < DEFAULT_STREAM_LIMITS.streamsPerDevice; i++) {
      const r = await relay(port)
      relays.push(r)
      const s = await openTriggers(r.url, dev.deviceId, dev.token)
      assert.equal(s.status, 200)
      r.freeze()
    }
    await waitFor(async () => (await connections(url)) === DEFAULT_STREAM_LIMITS.streamsPerDevice, 10_000, 'the dead streams to be held')
    // The phone, on its new path: its stream is served, and the oldest dead one's socket is gone.
    const live = await openTriggers(url, dev.deviceId, dev.token)
    open.push(live)
    assert.equal(live.status, 200)
    await closedWithin(relays[0])
    assert.equal(await metric(url, 'instore_server_streams_replaced_total'), 1)
    await waitFor(async () => (await connections(url)) === DEFAULT_STREAM_LIMITS.streamsPerDevice, 10_000, 'the replaced stream to be let go')
    // Each new stream replaces the oldest one left, the dead ones first: never more than the cap.
    for (let i = 1; i < DEFAULT_STREAM_LIMITS.streamsPerDevice; i++) {
      const s = await openTriggers(url, dev.deviceId, dev.token)
      open.push(s)
      assert.equal(s.status, 200)
      await closedWithin(relays[i])
    }
    assert.equal(await metric(url, 'instore_server_streams_replaced_total'), DEFAULT_STREAM_LIMITS.streamsPerDevice)
    assert.equal(await metric(url, 'instore_server_streams_refused_total{limit="device"}'), 0)
    // The phone's streams get its trigger.
    await fire(chain, dev.subject, 't-replaced', 'hello')
    await waitFor(async () => open.every(o => o.triggers.includes('t-replaced')), 10_000, 'the trigger on every live stream')
  } finally {
    for (const o of open) o.close()
    for (const r of relays) r.close()
    await chain.close()
  }
})

// The reviewer's s12 case: behind a shop's full address share (the phone's 4 dead streams and 6
// other phones' streams), the phone's new stream was refused 'address' before its own replacement
// was reached. Its replacement frees its place there: served, the dead one ended, nobody evicted.
test(`a device's replacement stream is served at its full caller address (${TEST_ENGINE})`, async () => {
  const per = 10
  const chain = await startChain('streams-replaced-addr', 1, undefined, { triggerStreamsPerAddress: per })
  const relays: Array<Awaited<ReturnType<typeof relay>>> = []
  const open: Opened[] = []
  try {
    const url = chain.replicas[0].url
    const port = Number(new URL(url).port)
    await makeCampaign(chain, 'hello')
    const dev = await registerDevice(url)
    for (let i = 0; i < DEFAULT_STREAM_LIMITS.streamsPerDevice; i++) {
      const r = await relay(port)
      relays.push(r)
      assert.equal((await openTriggers(r.url, dev.deviceId, dev.token)).status, 200)
      r.freeze()
    }
    for (let i = DEFAULT_STREAM_LIMITS.streamsPerDevice; i < per; i++) {
      const other = await registerDevice(url)
      const s = await openTriggers(url, other.deviceId, other.token)
      open.push(s)
      assert.equal(s.status, 200)
    }
    const live = await openTriggers(url, dev.deviceId, dev.token)
    open.push(live)
    assert.equal(live.status, 200)
    await closedWithin(relays[0])
    assert.equal(await metric(url, 'instore_server_streams_replaced_total'), 1)
    assert.equal(await metric(url, 'instore_server_streams_evicted_total'), 0)
    assert.equal(await metric(url, 'instore_server_streams_refused_total{limit="address"}'), 0)
    // Still full: the replacement took the dead stream's place, not one more.
    await waitFor(async () => (await connections(url)) === per, 10_000, 'the replaced stream to be let go')
    await fire(chain, dev.subject, 't-addr', 'hello')
    await waitFor(async () => live.triggers.includes('t-addr'), 10_000, 'the trigger on the new stream')
  } finally {
    for (const o of open) o.close()
    for (const r of relays) r.close()
    await chain.close()
  }
})
