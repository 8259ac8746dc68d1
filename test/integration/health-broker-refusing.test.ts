// Defect left open last round: the embedded broker refused connections at its bounds (counted in
// instore_broker_connections_refused_total) while /healthz said ok. Now a bound met within the last
// minute is a /healthz problem naming the bound, and it clears after a quiet minute. The whole
// gateway over real TCP (silent connections, a phone login) and real HTTP; the quiet minute on the
// cap's injected clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import mqtt from 'mqtt'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'
import { ConnectionCap, REFUSAL_QUIET_MS } from '../../shared/connection-cap.ts'

const auth = { sensors: { b1: hashPassword('sensor-b1-secret') }, phones: { 'phone:app1': hashPassword('phone-app1-secret') }, readers: {} }

function silent(port: number, localAddress: string): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress })
  socket.on('error', () => {})
  return new Promise(resolve => socket.once('connect', () => resolve(socket)))
}

async function health(port: number): Promise<{ status: string; problems: string[] }> {
  return (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { status: string; problems: string[] }
}

test('/healthz turns degraded and names the bound while the embedded broker refuses connections at it (repro: ok, the refusals only in /metrics)', async () => {
  const g = await startGateway({ auth, listeners: { limits: { maxConnections: 6, maxConnectionsPerAddress: 3, maxConnectionsPerLogin: 2 } } })
  const port = Number(new URL(g.mqttUrl).port)
  const m = (reason: string) => metricValue(g.metrics, 'instore_broker_connections_refused_total', `{reason="${reason}"}`)
  const sockets: Socket[] = []
  const clients: mqtt.MqttClient[] = []
  try {
    assert.equal((await health(g.httpPort)).status, 'ok')
    // A phone login used three times (its bound 2): its oldest goes.
    for (let i = 0; i < 3; i++) {
      const c = await mqtt.connectAsync(g.mqttUrl, { clientId: `p${i}`, username: 'phone:app1', password: 'phone-app1-secret', reconnectPeriod: 0 })
      clients.push(c)
    }
    await waitFor(() => m('per_login') >= 1, 5_000, 'the per-login refusal')
    let h = await health(g.httpPort)
    assert.equal(h.status, 'degraded')
    assert.ok(
      h.problems.some(p => /bound of 2 connections under one login \(--max-connections-per-login\)/.test(p)),
      h.problems.join('\n')
    )
    // Silent connections from one address past its bound of 3, then from others past the total of 6.
    for (let i = 0; i < 4; i++) sockets.push(await silent(port, '127.0.0.9'))
    for (let i = 0; i < 3; i++) sockets.push(await silent(port, `127.0.0.${10 + i}`))
    await waitFor(() => m('per_address') >= 1 && m('total') >= 1, 5_000, 'the per-address and total refusals')
    h = await health(g.httpPort)
    assert.ok(
      h.problems.some(p => /bound of 3 connections from one address/.test(p)),
      h.problems.join('\n')
    )
    assert.ok(
      h.problems.some(p => /bound of 6 connections in all/.test(p)),
      h.problems.join('\n')
    )
    // No address or login is named (a phone's are personal).
    assert.ok(!h.problems.some(p => /127\.0\.0\.|phone:app1/.test(p)), h.problems.join('\n'))
  } finally {
    for (const s of sockets) s.destroy()
    for (const c of clients) c.end(true)
    await g.stop()
  }
})

test('a spell of refusals at a bound ends after a quiet minute; the next refusal starts a new one', () => {
  let now = 1_000_000
  const cap = new ConnectionCap({ maxConnections: 10, maxConnectionsPerAddress: 1, maxConnectionsPerLogin: 5 }, () => now)
  const conn = () => ({ destroy() {} })
  assert.equal(cap.take(conn(), 'a'), true)
  assert.deepEqual(cap.refusing(), [])
  // A second connection from the address: the first, still silent, makes room (counted).
  cap.take(conn(), 'a')
  now += 10_000
  cap.take(conn(), 'a')
  assert.deepEqual(cap.refusing(), [{ reason: 'per_address', since: 1_000_000, at: 1_010_000, n: 2 }])
  now += REFUSAL_QUIET_MS - 1
  assert.equal(cap.refusing().length, 1, 'still within the minute')
  now += 1
  assert.deepEqual(cap.refusing(), [], 'cleared after a quiet minute')
  cap.take(conn(), 'a')
  assert.deepEqual(cap.refusing(), [{ reason: 'per_address', since: now, at: now, n: 1 }])
  assert.equal(cap.refused.per_address, 3, 'the counter keeps counting')
})
