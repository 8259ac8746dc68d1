// The embedded broker keeps no retained reading (the outside tester's repro: 2,000 retained
// 100 KiB OpenMQTTGateway readings under fresh MAC topics were all kept, never freed), with or
// without logins; what legitimately retains (status, will) stays, small and capped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type MqttClient } from 'mqtt'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import {
  retainGuard,
  RETAIN_MAX_BYTES,
  RETAIN_MAX_TOPICS,
  RETAIN_MAX_TOTAL_BYTES,
  RETAIN_MAX_TOPICS_PER_CLIENT,
  RETAIN_MAX_BYTES_PER_CLIENT,
  type RetainRefusal
} from '../../gateway/io/retain-guard.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import type { Gateway } from '../../gateway/gateway.ts'

const refused = async (g: Gateway, why: RetainRefusal) =>
  Number(new RegExp(`instore_broker_retain_refused_total\\{reason="${why}"\\} (\\d+)`).exec(await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text())?.[1] ?? 0)

/** The retained messages a fresh subscriber to `filter` is given (and their bytes, topic and payload, to `bytes`). */
async function retainedUnder(g: Gateway, filter: string, quietMs = 300, bytes?: (topic: string, n: number) => void): Promise<string[]> {
  const c = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
  const got: string[] = []
  c.on('message', (t, p, packet) => {
    if (!packet.retain) return
    got.push(t)
    bytes?.(t, Buffer.byteLength(t) + p.length)
  })
  await c.subscribeAsync(filter, { qos: 1 })
  // Retained messages are sent right after SUBACK; a round trip on a probe topic follows them.
  const probe = new Promise<void>(resolve => c.on('message', t => t === 'probe/x' && resolve()))
  await c.subscribeAsync('probe/x')
  await c.publishAsync('probe/x', 'p', { qos: 1 })
  await Promise.race([probe, new Promise(resolve => setTimeout(resolve, quietMs * 10))])
  await c.endAsync()
  return got
}

const publishAll = async (c: MqttClient, msgs: Array<[string, string | Buffer]>) => {
  for (const [t, p] of msgs) await c.publishAsync(t, p, { qos: 1, retain: true })
}

test('without --auth: readings, scans and foreign readings are not retained; a status is', async () => {
  const g = await startGateway()
  try {
    const c = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
    const big = Buffer.alloc(100 * 1024, 'x')
    await publishAll(c, [
      ['home/OMG_b2/BTtoMQTT/A00000000001', big],
      ['espresense/devices/tile:x/front-left', big],
      ['instore/boutique-1/sensors/b1/readings', big],
      ['instore/boutique-1/devices/dev1/scans', big],
      ['instore/boutique-1/sensors/b1/status', 'online'],
      ['home/OMG_b2/LWT', 'online'],
      ['home/OMG_b2/SYStoMQTT', Buffer.alloc(RETAIN_MAX_BYTES + 1, 'x')]
    ])
    await c.endAsync()
    assert.deepEqual((await retainedUnder(g, '#')).sort(), ['home/OMG_b2/LWT', 'instore/boutique-1/sensors/b1/status'])
    assert.equal(await refused(g, 'reading'), 4)
    assert.equal(await refused(g, 'too_large'), 1)
  } finally {
    await g.stop()
  }
})

test('with --auth: a sensor retaining its own readings is refused the retain, counted, and stays connected', async () => {
  const h = hashPassword('pw')
  const g = await startGateway({ auth: { sensors: { b2: h }, firmware: { b2: 'openmqttgateway' } } })
  try {
    const c = await mqtt.connectAsync(g.mqttUrl, { username: 'b2', password: 'pw', reconnectPeriod: 0 })
    await publishAll(c, [
      ['home/b2/BTtoMQTT/B00000000001', JSON.stringify({ id: 'B0:00:00:00:00:01', rssi: -70 })],
      ['instore/boutique-1/sensors/b2/readings', JSON.stringify({ readings: [] })]
    ])
    await waitFor(async () => (await refused(g, 'reading')) === 2, 5000, 'both retains refused')
    assert.equal(c.connected, true)
    await c.endAsync()
  } finally {
    await g.stop()
  }
})

test('the retain guard, table-driven: what keeps its retain flag, and the cap on topics', () => {
  const why: RetainRefusal[] = []
  const guard = retainGuard(['instore/+/sensors/#', 'home/+/BTtoMQTT/+'], w => why.push(w))
  const run = (topic: string, size: number): boolean => {
    const packet = { cmd: 'publish', topic, payload: Buffer.alloc(size), qos: 0, retain: true, dup: false } as Parameters<typeof guard>[1]
    // Each topic its own client here: the per-client share is the next test's.
    guard({ id: topic } as Parameters<typeof guard>[0], packet, () => {})
    return packet.retain
  }
  const table: Array<[string, number, boolean]> = [
    ['instore/s/sensors/b1/readings', 10, false],
    ['instore/s/sensors/b1/status', 6, true],
    ['home/x/BTtoMQTT/AABBCCDDEEFF', 10, false],
    ['home/x/LWT', 6, true],
    ['home/x/LWT', RETAIN_MAX_BYTES + 1, false],
    // The topic counts: a long one with a one-byte payload is as large as a long payload.
    [`home/${'a'.repeat(RETAIN_MAX_BYTES)}/LWT`, 1, false]
  ]
  for (const [topic, size, kept] of table) assert.equal(run(topic, size), kept, topic)
  // Two topics are held already (a status and an LWT).
  for (let i = 2; i < RETAIN_MAX_TOPICS; i++) assert.equal(run(`home/n${i}/LWT`, 6), true)
  assert.equal(run('home/one-too-many/LWT', 6), false)
  assert.equal(run('home/x/LWT', 0), true, 'an empty payload clears a topic')
  assert.equal(run('home/one-too-many/LWT', 6), true, 'room again once one was cleared')
  assert.deepEqual(why, ['reading', 'reading', 'too_large', 'too_large', 'too_many'])
})

test('the retain guard counts bytes in all: a topic refilled larger is held at its new size, a cleared one frees its bytes', () => {
  const why: RetainRefusal[] = []
  const guard = retainGuard([], w => why.push(w))
  const run = (topic: string, size: number): boolean => {
    const packet = { cmd: 'publish', topic, payload: Buffer.alloc(size), qos: 0, retain: true, dup: false } as Parameters<typeof guard>[1]
    // Each topic its own client here: the per-client share is the next test's.
    guard({ id: topic } as Parameters<typeof guard>[0], packet, () => {})
    return packet.retain
  }
  const full = (i: number) => RETAIN_MAX_BYTES - topic(i).length
  const fit = RETAIN_MAX_TOTAL_BYTES / RETAIN_MAX_BYTES
  const topic = (i: number) => `t/${String(i).padStart(4, '0')}`
  for (let i = 0; i < fit; i++) assert.equal(run(topic(i), full(i)), true, `message ${i}`)
  assert.equal(run(topic(fit), 1), false, 'past the total')
  assert.equal(run(topic(0), 1), true, 'a held topic may shrink')
  assert.equal(run(topic(fit), 500), true, 'the bytes it freed are room again')
  assert.equal(run(topic(0), full(0)), false, 'nor grow past the total')
  assert.equal(run(topic(2), 0), true, 'an empty payload clears')
  assert.equal(run(topic(0), full(0)), true, 'room again once one was cleared')
  assert.deepEqual(why, ['total_bytes', 'total_bytes'])
})

test("one client's retained topics are its own share: a stranger (or one sensor's login) filling the broker leaves room for every other sensor's status (the re-tester's repro)", () => {
  const why: RetainRefusal[] = []
  const guard = retainGuard([], w => why.push(w))
  const run = (owner: string, topic: string, size: number): boolean => {
    const packet = { cmd: 'publish', topic, payload: Buffer.alloc(size), qos: 0, retain: true, dup: false } as Parameters<typeof guard>[1]
    guard({ id: owner } as Parameters<typeof guard>[0], packet, () => {})
    return packet.retain
  }
  let kept = 0
  for (let i = 0; i < 1000; i++) kept += run('stranger', `espresense/rooms/x${i}/status`, 1) ? 1 : 0
  assert.equal(kept, RETAIN_MAX_TOPICS_PER_CLIENT)
  assert.equal(run('espresense-b1', 'espresense/rooms/b1/status', 6), true, "another client's status still has room")
  assert.equal(run('stranger', 'espresense/rooms/x0/status', 3), true, 'a topic it holds may be rewritten')
  assert.equal(run('stranger', 'espresense/rooms/x0/status', 0), true, 'and cleared')
  assert.equal(run('stranger', 'espresense/rooms/y/status', 1), true, 'which frees its share')
  // Bytes too: a client filling its topics to the per-message cap reaches its byte share first.
  let bytes = 0
  for (let i = 0; i < RETAIN_MAX_TOPICS_PER_CLIENT; i++) {
    const t = `home/big${String(i).padStart(2, '0')}/LWT`
    if (run('big', t, RETAIN_MAX_BYTES - t.length)) bytes += RETAIN_MAX_BYTES
  }
  assert.ok(bytes <= RETAIN_MAX_BYTES_PER_CLIENT, `${bytes} bytes held`)
  assert.ok(why.every(w => w === 'client_quota'))
  assert.ok(why.length >= 1000 - RETAIN_MAX_TOPICS_PER_CLIENT)
})

test("over the real broker: retained bytes stay bounded whatever the topics' length (the outside tester's 60 KB topic names)", async () => {
  const g = await startGateway()
  try {
    const c = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
    const msgs: Array<[string, string]> = []
    for (let i = 0; i < 40; i++) msgs.push([`junk${i}/${'a'.repeat(60_000)}`, 'x'])
    // Then short topics, each within the per-message cap, until well past the total.
    for (let i = 0; i < (2 * RETAIN_MAX_TOTAL_BYTES) / RETAIN_MAX_BYTES; i++) msgs.push([`fill/${i}`, 'y'.repeat(RETAIN_MAX_BYTES - 50)])
    await publishAll(c, msgs)
    await c.endAsync()
    let bytes = 0
    const kept = await retainedUnder(g, '#', 300, (t, n) => {
      if (t.startsWith('junk') || t.startsWith('fill/')) bytes += n
    })
    assert.equal(kept.filter(t => t.startsWith('junk')).length, 0, 'no long topic kept')
    assert.ok(
      kept.some(t => t.startsWith('fill/')),
      'short ones kept up to the total'
    )
    assert.ok(bytes <= RETAIN_MAX_TOTAL_BYTES, `${bytes} bytes retained`)
    assert.equal(await refused(g, 'too_large'), 40)
    // One client here: its own share is reached before the broker's total.
    assert.ok((await refused(g, 'client_quota')) > 0)
  } finally {
    await g.stop()
  }
})
