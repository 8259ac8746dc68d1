// Re-tester G (s10, defect 1): 30 clients with stored sessions (clean: false) each sent 1,000 QoS 2
// messages of 20 KB and never sent PUBREL, then left: aedes-persistence held every one (its
// `incoming` map, cleaned only when the session ends), +770 MiB, with /healthz ok and every session
// metric 0. Now those messages are bounded per session and in all (shared/session-store.ts); past a
// bound the message is refused, counted, and the client's connection closed. A real broker over
// TCP; the half-finished exchanges come from a raw socket, since mqtt.js always sends PUBREL.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { startBroker } from '../../shared/broker.ts'
import { ENTRY_COST } from '../../shared/session-store.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'

/** Connects `id` with a stored session and sends `n` QoS 2 messages of `bytes` bytes, never a PUBREL; resolves when the broker closes it or `n` are out. */
async function halfFinished(url: string, id: string, n: number, bytes: number): Promise<{ closed: boolean }> {
  const { hostname, port } = new URL(url)
  const s: Socket = connect(Number(port), hostname)
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject))
  let closed = false
  s.on('close', () => {
    closed = true
  })
  s.on('error', () => {})
  const acks: number[] = []
  const parser = mqttPacket.parser()
  parser.on('packet', p => {
    if (p.cmd === 'connack' || p.cmd === 'pubrec') acks.push(1)
  })
  s.on('data', d => parser.parse(d))
  s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: id, keepalive: 0 }))
  await waitFor(() => acks.length >= 1 || closed, 5000, `${id}: CONNACK`)
  const payload = Buffer.alloc(bytes, 120)
  for (let i = 1; i <= n && !closed; i++) {
    s.write(mqttPacket.generate({ cmd: 'publish', topic: 'x/junk', payload, qos: 2, messageId: i, dup: false, retain: false }))
    // One at a time, so that the refusal's close is seen before the next is written.
    await waitFor(() => acks.length >= i + 1 || closed, 5000, `${id}: PUBREC ${i}`)
  }
  const wasClosed = closed
  s.destroy()
  return { closed: wasClosed }
}

test('a client that never sends PUBREL holds at most its bound of QoS 2 messages; past it it is refused and closed, counted', async () => {
  const b = await startBroker({ sessions: { maxQueuedPerSession: 20 } })
  try {
    const r = await halfFinished(b.url, 'half', 50, 100)
    assert.ok(r.closed, 'the client past the bound is closed')
    assert.equal(b.sessions.incomingMessages, 20)
    assert.equal(b.sessions.dropped.incoming_full, 1)
    assert.ok(b.sessions.lastDropAt > 0)
  } finally {
    await b.close()
  }
})

test('QoS 2 messages awaiting PUBREL stay within the byte budget over all sessions', async () => {
  const b = await startBroker({ sessions: { maxQueuedBytes: 64 * 1024 } })
  try {
    let closed = 0
    for (let i = 0; i < 5; i++) if ((await halfFinished(b.url, `half-${i}`, 10, 4000)).closed) closed++
    assert.ok(b.sessions.incomingCost <= 64 * 1024, `${b.sessions.incomingCost} bytes held`)
    assert.ok(b.sessions.incomingMessages >= 10, `${b.sessions.incomingMessages} held`)
    assert.ok(b.sessions.dropped.incoming_bytes >= 1)
    assert.ok(closed >= 1)
  } finally {
    await b.close()
  }
})

test('QoS 2 exchanges completed with PUBREL leave nothing held, and sessions ended leave nothing held', async () => {
  const b = await startBroker({ sessions: { maxQueuedPerSession: 20, maxStoredSessions: 1 } })
  try {
    const c = await mqtt.connectAsync(b.url, { clientId: 'good', clean: false, reconnectPeriod: 0 })
    for (let i = 0; i < 100; i++) await c.publishAsync('x/ok', 'fine', { qos: 2 })
    await c.endAsync()
    assert.equal(b.sessions.incomingMessages, 0)
    assert.equal(b.sessions.dropped.incoming_full, 0)
    await halfFinished(b.url, 'half-a', 10, 100)
    await waitFor(() => b.sessions.incomingMessages === 10, 5000, 'ten held for half-a')
    // Another stored session pushes half-a's out (the bound is one): what it held goes with it.
    await halfFinished(b.url, 'half-b', 5, 100)
    await waitFor(() => b.sessions.storedSessions <= 1 && b.sessions.incomingMessages === 5, 5000, 'half-a ended, half-b holds five')
    assert.equal(b.sessions.incomingCost, 5 * (100 + 'x/junk'.length + ENTRY_COST))
  } finally {
    await b.close()
  }
})

test('the gateway: QoS 2 messages past the byte budget turn /healthz degraded and are counted by reason in /metrics', async () => {
  const g = await startGateway()
  try {
    // The default budget is 8 MiB: 20 KB messages never released pass it within 420.
    const r = await halfFinished(g.mqttUrl, 'half-gw', 600, 20_000)
    assert.ok(r.closed, 'the client past the budget is closed')
    const h = (await (await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)).json()) as { status: string; problems: string[] }
    assert.equal(h.status, 'degraded')
    assert.ok(
      h.problems.some(x => /QoS 2 exchanges unfinished/.test(x)),
      JSON.stringify(h)
    )
    assert.match(await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text(), /instore_broker_queue_dropped_total\{reason="incoming_bytes"\} 1/)
  } finally {
    await g.stop()
  }
})
