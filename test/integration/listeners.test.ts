import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import mqtt from 'mqtt'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { EmbeddedBus } from '../../gateway/io/bus.ts'

test('TLS and WebSocket listeners reach the same broker, behind the same credentials', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'))
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'],
    { stdio: 'ignore' }
  )
  const g = await startGateway({
    auth: { sensors: { b1: hashPassword('sensor-b1-secret') }, phones: { 'phone:dev1': hashPassword('phone-dev1-secret') } },
    listeners: { tls: { port: 0, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }, wsPort: 0 }
  })
  try {
    const b = (Reflect.get(g, 'bus') as EmbeddedBus).broker
    assert.ok(b && b.tlsPort > 0 && b.wsPort > 0)
    const T = 1764000000000
    const tls = await mqtt.connectAsync(`mqtts://127.0.0.1:${b.tlsPort}`, { username: 'b1', password: 'sensor-b1-secret', rejectUnauthorized: false, reconnectPeriod: 0 })
    await tls.publishAsync('instore/boutique-1/sensors/b1/readings', JSON.stringify({ ts: T, readings: [{ t: 'ble', id: 'tag:tls00001', rssi: -60 }] }), { qos: 1 })
    await tls.endAsync()
    const ws = await mqtt.connectAsync(`ws://127.0.0.1:${b.wsPort}`, { username: 'phone:dev1', password: 'phone-dev1-secret', reconnectPeriod: 0 })
    await ws.publishAsync('instore/boutique-1/devices/dev1/scans', JSON.stringify({ ts: T, beacons: [{ id: 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:1', rssi: -70 }] }), {
      qos: 1
    })
    await ws.endAsync()
    await assert.rejects(mqtt.connectAsync(`ws://127.0.0.1:${b.wsPort}`, { reconnectPeriod: 0 }), /Bad username or password|Not authorized/)
    const metrics = async () => await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    await waitFor(async () => /source="ble"\} 1\b/.test(await metrics()) && /source="scan"\} 1\b/.test(await metrics()), 5000, 'both readings')
  } finally {
    await g.stop()
  }
})
