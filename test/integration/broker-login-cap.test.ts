// Re-tester (s9, gateway 1): with the new connection caps, one phone login used from ten addresses
// held 999 of the broker's 1,000 connections, and a sensor reconnecting with its own password was
// refused. Now a login holds at most --max-connections-per-login connections (its next one closes
// its oldest), and at the total bound with nothing idle the login holding the most loses its
// oldest, never a single-connection sensor (shared/connection-cap.ts). The whole gateway over real
// TCP with logins; the stranger comes from other loopback addresses.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import mqtt from 'mqtt'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'

const auth = {
  sensors: { b1: hashPassword('sensor-b1-secret'), b2: hashPassword('sensor-b2-secret'), b9: hashPassword('sensor-b9-secret') },
  phones: { 'phone:app1': hashPassword('phone-app1-secret') },
  readers: {}
}

test('one login spread over many addresses cannot fill the broker: its own oldest goes, and a reconnecting sensor gets in', async () => {
  const g = await startGateway({ auth, listeners: { limits: { maxConnections: 6, maxConnectionsPerAddress: 5, maxConnectionsPerLogin: 4 } } })
  const port = Number(new URL(g.mqttUrl).port)
  const m = (name: string, labels = '') => metricValue(g.metrics, name, labels)
  const clients: mqtt.MqttClient[] = []
  const login = async (clientId: string, username: string, password: string, from: string) => {
    const c = new mqtt.MqttClient(() => connect({ port, host: '127.0.0.1', localAddress: from }), { clientId, username, password, reconnectPeriod: 0, keepalive: 0 })
    c.on('error', () => {})
    clients.push(c)
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve())
      c.once('error', reject)
      c.once('close', () => reject(new Error(`${clientId} closed before CONNACK`)))
    })
    return c
  }
  try {
    const b1 = await login('b1', 'b1', 'sensor-b1-secret', '127.0.0.1')
    // The stranger: five connections under one phone login, each from its own address.
    const stranger: mqtt.MqttClient[] = []
    for (let i = 0; i < 5; i++) stranger.push(await login(`x${i}`, 'phone:app1', 'phone-app1-secret', `127.0.0.${i + 2}`))
    await waitFor(() => !stranger[0].connected, 5_000, "the login's oldest connection closed")
    assert.equal(m('instore_broker_connections_refused_total', '{reason="per_login"}'), 1)
    assert.equal(stranger.filter(c => c.connected).length, 4)
    // Another sensor fills the broker (six, nothing idle): a sensor reconnecting still gets in, at
    // the cost of the stranger's oldest (the login holding the most), never of b1 or b2.
    const b2 = await login('b2', 'b2', 'sensor-b2-secret', '127.0.0.1')
    assert.equal(m('instore_broker_connections'), 6)
    const b9 = await login('b9', 'b9', 'sensor-b9-secret', '127.0.0.20')
    assert.equal(b9.connected, true)
    await waitFor(() => stranger.filter(c => c.connected).length === 3, 5_000, "the stranger's oldest made room")
    assert.equal(b1.connected && b2.connected, true, 'a sensor with one connection is never the one to go')
    assert.ok(m('instore_broker_connections') <= 6)
  } finally {
    for (const c of clients) c.end(true)
    await g.stop()
  }
})
