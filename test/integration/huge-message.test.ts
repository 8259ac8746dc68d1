// Outside tester's defect 1: one huge message on a foreign sensor's topic was parsed whole (no size
// check before JSON.parse) and the embedded broker buffered a packet of any announced size. Both
// are refused now: a foreign message over the native limit is `oversized` (counted) unparsed, and
// a packet announcing more than the limit closes its sender's connection at the broker.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { once } from 'node:events'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'
import { oversizedPacket } from '../../shared/packet-guard.ts'
import { startBroker } from '../../shared/broker.ts'
import WebSocket from 'ws'

const T = 1764000000000

test('a foreign message over the native size limit is refused as oversized before it is parsed', async () => {
  const g = await startGateway()
  const c = await mqtt.connectAsync(g.mqttUrl)
  try {
    await c.publishAsync('instore/boutique-1/sensors/b1/readings', JSON.stringify({ ts: T, readings: [] }), { qos: 1 })
    // Valid ESPresense JSON, only too large: the code this fixes parsed and took it.
    const big = JSON.stringify({ id: 'iBeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4-1-7', rssi: -60, name: 'x'.repeat(300 * 1024) })
    await c.publishAsync('espresense/devices/tag/b1', big, { qos: 1 })
    await waitFor(() => metricValue(g.metrics, 'instore_rejected_total', '{reason="oversized"}') === 1, 10_000, 'oversized counted')
    assert.equal(metricValue(g.metrics, 'instore_messages_total', '{kind="foreign"}'), 0)
    // A foreign message within the limit still goes through.
    await c.publishAsync('espresense/devices/tag/b1', JSON.stringify({ id: 'iBeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4-1-7', rssi: -60 }), { qos: 1 })
    await waitFor(() => metricValue(g.metrics, 'instore_messages_total', '{kind="foreign"}') === 1, 10_000, 'foreign message taken')
  } finally {
    await c.endAsync()
    await g.stop()
  }
})

test('the embedded broker closes a connection whose packet announces more than the limit, before reading it', async () => {
  const g = await startGateway()
  try {
    const u = new URL(g.mqttUrl)
    const s = connect(Number(u.port), u.hostname)
    // The broker resets the connection with data unread: an error on this side, expected.
    s.on('error', () => {})
    let closed = false
    s.on('close', () => {
      closed = true
    })
    await once(s, 'connect')
    s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'huge', keepalive: 60 }))
    // A PUBLISH header announcing 200 MB (remaining length as 4 varint bytes), then a little of it.
    const len = 200 * 1024 * 1024
    const header = [0x30, (len & 0x7f) | 0x80, ((len >> 7) & 0x7f) | 0x80, ((len >> 14) & 0x7f) | 0x80, (len >> 21) & 0x7f]
    s.write(Buffer.concat([Buffer.from(header), Buffer.from([0, 3]), Buffer.from('a/b'), Buffer.alloc(64 * 1024, 0x20)]))
    await waitFor(() => closed, 10_000, 'the connection to be closed')
    assert.equal(metricValue(g.metrics, 'instore_rejected_total', '{reason="oversized"}'), 1)
    // The broker still serves everyone else.
    const c = await mqtt.connectAsync(g.mqttUrl)
    await c.publishAsync('instore/boutique-1/sensors/b1/readings', JSON.stringify({ ts: T, readings: [] }), { qos: 1 })
    await c.endAsync()
  } finally {
    await g.stop()
  }
})

test('packet boundaries are followed across chunks, whatever the split', () => {
  const pub = (body: number) => {
    const h: number[] = [0x30]
    let n = body
    do {
      let b = n % 128
      n = Math.floor(n / 128)
      if (n > 0) b |= 0x80
      h.push(b)
    } while (n > 0)
    return Buffer.concat([Buffer.from(h), Buffer.alloc(body, 1)])
  }
  const cases: Array<{ name: string; stream: Buffer; max: number; want: number | null }> = [
    { name: 'small packets under the limit', stream: Buffer.concat([pub(10), pub(0), pub(300)]), max: 300, want: null },
    { name: 'a packet one byte over', stream: Buffer.concat([pub(10), pub(301)]), max: 300, want: 301 },
    { name: 'a header announcing 200 MiB after a fitting packet', stream: Buffer.concat([pub(200), Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64])]), max: 1000, want: 100 * 2 ** 21 }
  ]
  for (const k of cases) {
    for (const size of [1, 2, 3, 7, k.stream.length]) {
      const state = { skip: 0, header: [] as number[] }
      let got: number | null = null
      for (let i = 0; i < k.stream.length && got === null; i += size) got = oversizedPacket(state, k.stream.subarray(i, i + size), k.max)
      assert.equal(got, k.want, `${k.name}, chunks of ${size}`)
    }
  }
})

test('over WebSocket too, a message over the packet limit closes its connection before it is held whole', async () => {
  // The second outside tester: the WebSocket library held a frame of up to 100 MiB (its default)
  // before the packet guard saw a byte, before any login.
  const oversized: number[] = []
  const b = await startBroker({ port: 0, wsPort: 0, maxPacketBytes: 64 * 1024, onOversized: n => oversized.push(n) })
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}`, 'mqtt')
    await once(ws, 'open')
    ws.on('error', () => {})
    ws.send(Buffer.alloc(1024 * 1024, 0x61))
    const [code] = (await once(ws, 'close')) as [number]
    assert.equal(code, 1009, 'closed as too big')
    await waitFor(() => oversized.length === 1, 10_000, 'counted')
    // A message within the limit goes through: a client connects and publishes over WebSocket.
    const c = await mqtt.connectAsync(`ws://127.0.0.1:${b.wsPort}`)
    await c.publishAsync('t/x', Buffer.alloc(32 * 1024, 0x62), { qos: 1 })
    await c.endAsync()
  } finally {
    await b.close()
  }
})
