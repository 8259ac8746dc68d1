// A sender the gateway holds back is not dropped for it (issue 27: the 45-day nights replay lost
// its connection on a loaded machine). The gateway holds a sender's acknowledgement while its
// pipeline works, so aedes reads nothing more from that sender meanwhile, its PINGREQ included;
// aedes' keepalive timer, refreshed only by packets it reads, then closed a live sender once the
// work took longer than one and a half keepalives. The handler below holds `done` as the gateway's
// work pump does (gateway/work-pump.ts) over the real embedded bus and a real MQTT client.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { EmbeddedBus } from '../../gateway/io/bus.ts'
import { waitFor } from '../helpers/gateway.ts'

/** mqtt.js's keepalive timer, never ticked: the client never gives up on its side, so only the broker can close. */
const frozenTimer = { set: () => 1, clear: () => {} }

test('a sender held back longer than its keepalive stays connected, and its next message comes through', async () => {
  const bus = new EmbeddedBus(0, '127.0.0.1')
  const got: string[] = []
  const HOLD_MS = 3500
  const BURST = 30
  await bus.start(['s/#'], (_topic, payload, done) => {
    got.push(payload.toString())
    // The pipeline working through what this message brought, far past 1.5 keepalives (1.5 s).
    setTimeout(done, HOLD_MS)
  })
  const client = await mqtt.connectAsync(bus.url, { keepalive: 1, reconnectPeriod: 0, timerVariant: frozenTimer })
  let closes = 0
  client.on('close', () => closes++)
  try {
    // A burst, read in one go and held together (aedes reads a sender's next chunk once every
    // message of the last one is done; a lone message is not held against the next read).
    for (let i = 0; i < BURST; i++) client.publish('s/a', `first ${i}`, { qos: 0 })
    await waitFor(() => got.length === BURST, 5000, 'the burst')
    // Sent while the burst is held: it waits unread in the socket.
    await client.publishAsync('s/a', 'second', { qos: 0 })
    await waitFor(() => got.length === BURST + 1 || closes > 0, HOLD_MS + 5000, 'the second message or a close')
    assert.equal(closes, 0, 'the broker closed a sender it was itself holding back')
    assert.equal(got.at(-1), 'second')
    // Once nothing is held, the keepalive applies again: a client that falls silent is closed.
    await waitFor(() => closes > 0, 10_000, 'the silent client to be closed after its keepalive')
  } finally {
    client.end(true)
    await bus.stop()
  }
})
