// Re-tester (s9, issue 2): 1,000 raw sockets each to the TLS and WebSocket listeners from one
// address, never a handshake or an HTTP request, stayed open (TLS gives a handshake 120 s, HTTP a
// request minutes) and, past the listeners' plain maxConnections, every TLS and WS client was
// refused. Now every listener's raw sockets count in the same per-address and total bounds from
// the moment they are accepted, and a handshake or upgrade gets the CONNECT timeout. A real broker
// over real TCP, TLS and WebSockets; the stranger comes from another loopback address.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import mqtt from 'mqtt'
import { startBroker } from '../../shared/broker.ts'
import { waitFor } from '../helpers/gateway.ts'

function idle(port: number, from: string): Socket {
  const s = connect({ port, host: '127.0.0.1', localAddress: from })
  s.on('error', () => {})
  return s
}

test('idle sockets on the TLS and WebSocket listeners count in the per-address bound, make room for clients and are closed after the CONNECT timeout', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-cap-'))
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'],
    { stdio: 'ignore' }
  )
  const b = await startBroker({ tls: { port: 0, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }, wsPort: 0, limits: { maxConnections: 20, maxConnectionsPerAddress: 5 } })
  const socks: Socket[] = []
  const clients: mqtt.MqttClient[] = []
  try {
    // Past the total on each listener, from one address: only five of them stay open at a time.
    for (let i = 0; i < 25; i++) for (const port of [b.tlsPort, b.wsPort]) socks.push(idle(port, '127.0.0.2'))
    await waitFor(() => socks.filter(s => s.readyState === 'open').length === 5 && b.connections.open === 5, 5_000, 'five left open from that address')
    assert.equal(b.connections.refused.per_address, 45)
    // Clients elsewhere get in over both, and stay past the handshake timeouts.
    clients.push(await mqtt.connectAsync(`mqtts://127.0.0.1:${b.tlsPort}`, { clientId: 'b1', rejectUnauthorized: false, reconnectPeriod: 0 }))
    clients.push(await mqtt.connectAsync(`ws://127.0.0.1:${b.wsPort}`, { clientId: 'p1', reconnectPeriod: 0 }))
    await waitFor(() => socks.every(s => s.destroyed || s.readyState === 'closed'), 10_000, 'the idle ones closed after the CONNECT timeout')
    assert.equal(b.connections.connectTimeouts, 5)
    await new Promise(resolve => setTimeout(resolve, 500))
    for (const c of clients) {
      assert.equal(c.connected, true)
      await c.publishAsync('t/x', 'still here', { qos: 1 })
    }
    assert.equal(b.connections.open, 2)
  } finally {
    for (const s of socks) s.destroy()
    for (const c of clients) c.end(true)
    await b.close()
  }
})
