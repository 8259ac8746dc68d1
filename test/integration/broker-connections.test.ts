// Outside tester G (s9, report 4): the embedded broker took any number of TCP connections, no login
// needed; 2,000 idle ones exhausted the process's file descriptors (sensors refused, /healthz dead).
// Now bounded in all and per remote address, idle connections that send no CONNECT are closed
// (shared/connection-cap.ts, shared/broker.ts), each counted in /metrics. The whole gateway, over
// real TCP; strangers come from other loopback addresses (127.0.0.0/8 is all local on Linux).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import mqtt from 'mqtt'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'

/** An idle TCP connection from `from` (no MQTT at all), and whether the broker has closed it. */
async function idle(port: number, from: string): Promise<{ s: Socket; closed: () => boolean }> {
  const s = connect({ port, host: '127.0.0.1', localAddress: from })
  let closed = false
  s.on('error', () => {})
  s.on('close', () => {
    closed = true
  })
  await new Promise<void>(resolve => s.once('connect', resolve))
  return { s, closed: () => closed }
}

test('the embedded broker bounds connections per address and in all, idle ones make room for clients, and those that send no CONNECT are closed', async () => {
  const g = await startGateway({ listeners: { limits: { maxConnections: 12, maxConnectionsPerAddress: 5 } } })
  const port = Number(new URL(g.mqttUrl).port)
  const all: Array<{ s: Socket; closed: () => boolean }> = []
  const m = (name: string, labels = '') => metricValue(g.metrics, name, labels)
  /** A sensor's MQTT client from `from` (mqtt.js takes no local address: its stream is built here). */
  const sensor = async (id: string, from: string) => {
    const c = new mqtt.MqttClient(() => connect({ port, host: '127.0.0.1', localAddress: from }), { clientId: id, reconnectPeriod: 0 })
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve())
      c.once('error', reject)
    })
    await c.publishAsync(`instore/boutique-1/sensors/${id}/status`, JSON.stringify({ online: true }), { qos: 1 })
    return c
  }
  try {
    // One stranger: five idle connections are held; the sixth closes the oldest of them.
    for (let i = 0; i < 6; i++) all.push(await idle(port, '127.0.0.2'))
    await waitFor(() => all[0].closed(), 5_000, 'the oldest idle one from that address closed')
    assert.equal(all.filter(c => c.closed()).length, 1)
    assert.equal(m('instore_broker_connections_refused_total', '{reason="per_address"}'), 1)
    // A sensor at the same address still gets in (an idle one makes room) and publishes.
    const b1 = await sensor('b1', '127.0.0.2')
    assert.equal(m('instore_broker_connections_refused_total', '{reason="per_address"}'), 2, 'it came from the full address')
    // More strangers fill the total (12, the sensor included): each past it closes the oldest idle one.
    for (const from of ['127.0.0.3', '127.0.0.4']) for (let i = 0; i < 5; i++) all.push(await idle(port, from))
    assert.equal(m('instore_broker_connections'), 12)
    assert.ok(
      m('instore_broker_connections_refused_total', '{reason="total"}') >= 3,
      g.metrics
        .text()
        .match(/^instore_broker_conn.*$/gm)
        ?.join('\n')
    )
    // The sensor that sent CONNECT is never closed to make room, and another still gets in.
    const b2 = await sensor('b2', '127.0.0.5')
    assert.equal(b1.connected, true)
    await b2.endAsync()
    // None of the strangers sent CONNECT: the broker closes them all after its connect timeout.
    await waitFor(() => all.every(c => c.closed()), 15_000, 'idle connections closed')
    await waitFor(() => m('instore_broker_connect_timeouts_total') >= 5, 5_000, 'connect timeouts counted')
    assert.equal(m('instore_broker_connections'), 1, 'the sensor')
    await b1.endAsync()
  } finally {
    for (const c of all) c.s.destroy()
    await g.stop()
  }
})
