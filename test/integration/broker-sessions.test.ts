// Outside tester G (s10, report 1): 90 clients left stored sessions (clean: false) subscribed to '#'
// at QoS 1; 15,000 messages of 16 bytes to a topic nothing reads grew the gateway by ~190 MiB, never
// freed: aedes queued each message for every session in an unbounded array. Now the sessions of
// clients that are away are bounded in number and lifetime, each queue in messages and all queues in
// bytes (shared/session-store.ts), each drop counted. The repro's shape at test size: a real broker
// over TCP, real clients; asserted on what the store holds, not on memory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type MqttClient } from 'mqtt'
import { startBroker } from '../../shared/broker.ts'
import { waitFor } from '../helpers/gateway.ts'

/** Opens a stored session subscribed to '#' at QoS 1 under `id`, and leaves it. */
async function lurk(url: string, id: string): Promise<void> {
  const c = await mqtt.connectAsync(url, { clientId: id, clean: false, reconnectPeriod: 0 })
  await c.subscribeAsync('#', { qos: 1 })
  await c.endAsync()
}

async function flood(c: MqttClient, n: number, bytes: number): Promise<void> {
  const body = Buffer.alloc(bytes, 120)
  for (let i = 0; i < n; i++) await c.publishAsync('x/junk', body, { qos: 1 })
}

test('sessions left behind hold at most their bound of messages each, and the fewest stored sessions; the oldest go first, counted', async () => {
  const b = await startBroker({ sessions: { maxStoredSessions: 4, maxQueuedPerSession: 50 } })
  try {
    for (let i = 0; i < 6; i++) await lurk(b.url, `lurker-${i}`)
    await waitFor(() => b.sessions.storedSessions === 4, 5000, 'six sessions left, four kept')
    assert.deepEqual(b.sessions.ended, { sessions: 2, expired: 0 })
    const pub = await mqtt.connectAsync(b.url, { clientId: 'stranger', reconnectPeriod: 0 })
    await flood(pub, 300, 16)
    await pub.endAsync()
    assert.equal(b.sessions.queuedMessages, 4 * 50, 'fifty queued for each of the four sessions kept')
    assert.equal(b.sessions.dropped.queue_full, 4 * 250)
    // The oldest sessions were ended: lurker-0 comes back to nothing; lurker-5 gets its newest fifty.
    for (const [id, want] of [
      ['lurker-0', 0],
      ['lurker-5', 50]
    ] as const) {
      const got: number[] = []
      const c = mqtt.connect(b.url, { clientId: id, clean: false, reconnectPeriod: 0 })
      c.on('message', () => got.push(1))
      const present = await new Promise<boolean>(resolve => c.once('connect', ack => resolve(ack.sessionPresent)))
      assert.equal(present, want > 0, `${id}: session present`)
      await waitFor(() => got.length >= want, 5000, `${id}: its queued messages`)
      await c.endAsync()
      assert.equal(got.length, want)
    }
  } finally {
    await b.close()
  }
})

test('all queues together stay within the byte budget: the longest queue loses its oldest', async () => {
  const b = await startBroker({ sessions: { maxQueuedBytes: 64 * 1024 } })
  try {
    for (let i = 0; i < 10; i++) await lurk(b.url, `lurker-${i}`)
    const pub = await mqtt.connectAsync(b.url, { clientId: 'stranger', reconnectPeriod: 0 })
    await flood(pub, 200, 1000)
    await pub.endAsync()
    assert.ok(b.sessions.queuedCost <= 64 * 1024, `${b.sessions.queuedCost} bytes charged`)
    assert.ok(b.sessions.dropped.queue_bytes > 0)
    assert.ok(b.sessions.queuedMessages > 0)
  } finally {
    await b.close()
  }
})

test('a stored session whose client stays away past the expiry is ended with what it queued', async () => {
  let now = 1_000_000
  const b = await startBroker({ sessions: { sessionExpiryMs: 60_000 }, now: () => now })
  try {
    await lurk(b.url, 'lurker')
    await waitFor(() => b.sessions.storedSessions === 1, 5000, 'the session stored')
    const pub = await mqtt.connectAsync(b.url, { clientId: 'stranger', reconnectPeriod: 0 })
    await flood(pub, 5, 16)
    assert.equal(b.sessions.queuedMessages, 5)
    now += 60_000
    await flood(pub, 1, 16)
    await pub.endAsync()
    assert.equal(b.sessions.storedSessions, 0)
    assert.deepEqual(b.sessions.ended, { sessions: 0, expired: 1 })
    assert.equal(b.sessions.queuedMessages, 0)
    assert.equal(b.sessions.dropped.session_ended, 6)
  } finally {
    await b.close()
  }
})

test('a stored session that expires with nothing queued is counted but is no drop for /healthz', async () => {
  let now = 1_000_000
  const b = await startBroker({ sessions: { sessionExpiryMs: 60_000 }, now: () => now })
  try {
    const quiet = await mqtt.connectAsync(b.url, { clientId: 'phone', clean: false, reconnectPeriod: 0 })
    await quiet.subscribeAsync('phone/own', { qos: 1 })
    await quiet.endAsync()
    await waitFor(() => b.sessions.storedSessions === 1, 5000, 'the session stored')
    now += 60_000
    // Another client leaving a session behind is what prunes the expired one.
    await (await mqtt.connectAsync(b.url, { clientId: 'sensor', clean: false, reconnectPeriod: 0 })).endAsync()
    await waitFor(() => b.sessions.ended.expired === 1, 5000, 'the session expired')
    assert.equal(b.sessions.lastDropAt, 0)
    assert.equal(b.sessions.dropped.session_ended, 0)
  } finally {
    await b.close()
  }
})

test('a connected session that reads but never acknowledges holds at most its bound of messages', async () => {
  const b = await startBroker({ sessions: { maxQueuedPerSession: 20 } })
  try {
    const lazy = await mqtt.connectAsync(b.url, { clientId: 'lazy', clean: false, reconnectPeriod: 0 })
    await lazy.subscribeAsync('#', { qos: 1 })
    let got = 0
    // mqtt.js acknowledges once handleMessage calls back: this one never does.
    lazy.handleMessage = (_packet, _callback) => {
      got++
    }
    const pub = await mqtt.connectAsync(b.url, { clientId: 'stranger', reconnectPeriod: 0 })
    await flood(pub, 100, 16)
    await waitFor(() => got >= 1, 5000, 'the lazy client read one')
    assert.ok(b.sessions.queuedMessages <= 20, `${b.sessions.queuedMessages} queued`)
    assert.ok(b.sessions.dropped.queue_full >= 80)
    await pub.endAsync()
    lazy.end(true)
  } finally {
    await b.close()
  }
})

test('a subscriber that never reads is closed once the broker holds 4 MiB of output for it; publishers go on', async () => {
  // The gateway's settings (gateway/io/bus.ts): no delivery limit, a slow subscriber cut after 5 s.
  const b = await startBroker({ aedes: { concurrency: 0, drainTimeout: 5000 } })
  try {
    const stuck = await mqtt.connectAsync(b.url, { clientId: 'stuck', reconnectPeriod: 0 })
    await stuck.subscribeAsync('#', { qos: 1 })
    // Reads nothing more: what the broker writes for it waits in the broker's socket.
    ;(stuck as unknown as { stream: { pause(): void } }).stream.pause()
    const pub = await mqtt.connectAsync(b.url, { clientId: 'stranger', reconnectPeriod: 0 })
    const body = Buffer.alloc(16 * 1024, 120)
    for (let i = 0; i < 2000 && b.slowReaders.cut === 0; i++) await pub.publishAsync('x/junk', body, { qos: 1 })
    assert.equal(b.slowReaders.cut, 1)
    await waitFor(() => !('stuck' in (b.broker as unknown as { clients: Record<string, unknown> }).clients), 5000, 'the stuck subscriber gone')
    await pub.publishAsync('x/junk', body, { qos: 1 })
    await pub.endAsync()
    stuck.end(true)
  } finally {
    await b.close()
  }
})
