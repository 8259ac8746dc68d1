import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import type { Gateway } from '../../gateway/gateway.ts'

let g: Gateway
const T = 1764000000000
const metrics = async () => await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
const metric = async (re: RegExp) => Number(re.exec(await metrics())?.[1] ?? NaN)

before(async () => {
  g = await startGateway({
    auth: {
      sensors: { b1: hashPassword('sensor-b1-secret'), b2: hashPassword('sensor-b2-secret') },
      phones: { 'phone:dev1': hashPassword('phone-dev1-secret') },
      readers: { dashboard: hashPassword('reader-secret') }
    }
  })
})
after(async () => {
  await g.stop()
})

test('an unauthenticated client and a wrong password are refused, and counted', async () => {
  await assert.rejects(mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 }), /Bad username or password|Not authorized/)
  await assert.rejects(mqtt.connectAsync(g.mqttUrl, { username: 'b1', password: 'guess', reconnectPeriod: 0 }), /Bad username or password/)
  assert.ok((await metric(/instore_broker_auth_total\{result="failedLogins"\} (\d+)/)) >= 2)
})

test("a sensor publishes its own readings; under another sensor's topic it is refused", async () => {
  const c = await mqtt.connectAsync(g.mqttUrl, { username: 'b1', password: 'sensor-b1-secret', reconnectPeriod: 0 })
  await c.publishAsync('instore/boutique-1/sensors/b1/readings', JSON.stringify({ ts: T, readings: [{ t: 'ble', id: 'tag:acl00001', rssi: -60 }] }), { qos: 1 })
  await waitFor(async () => /instore_readings_total\{source="ble"\} 1\b/.test(await metrics()), 5000, 'own reading')
  const closed = new Promise<void>(resolve => c.once('close', () => resolve()))
  c.publish('instore/boutique-1/sensors/b2/readings', JSON.stringify({ ts: T, readings: [{ t: 'ble', id: 'tag:acl00002', rssi: -60 }] }), { qos: 1 })
  await closed // aedes closes a client that publishes where it may not
  assert.equal(await metric(/instore_broker_auth_total\{result="deniedPublish"\} (\d+)/), 1)
  assert.match(await metrics(), /instore_readings_total\{source="ble"\} 1\b/)
  await c.endAsync(true)
})

test('a phone publishes only its own scans, never positions or events', async () => {
  for (const topic of ['instore/boutique-1/positions/app:x', 'instore/boutique-1/events/trigger.fired', 'instore/boutique-1/devices/dev2/scans']) {
    const c = await mqtt.connectAsync(g.mqttUrl, { username: 'phone:dev1', password: 'phone-dev1-secret', reconnectPeriod: 0 })
    const closed = new Promise<void>(resolve => c.once('close', () => resolve()))
    c.publish(topic, '{}', { qos: 1 })
    await closed
    await c.endAsync(true)
  }
  assert.equal(await metric(/instore_broker_auth_total\{result="deniedPublish"\} (\d+)/), 4)
  const ok = await mqtt.connectAsync(g.mqttUrl, { username: 'phone:dev1', password: 'phone-dev1-secret', reconnectPeriod: 0 })
  await ok.publishAsync('instore/boutique-1/devices/dev1/scans', JSON.stringify({ ts: T, beacons: [{ id: 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:1', rssi: -70 }] }), {
    qos: 1
  })
  await waitFor(async () => /instore_readings_total\{source="scan"\} 1\b/.test(await metrics()), 5000, "the phone's scan")
  await ok.endAsync()
})

test('readers may subscribe to output, not to sensor traffic', async () => {
  const r = await mqtt.connectAsync(g.mqttUrl, { username: 'dashboard', password: 'reader-secret', reconnectPeriod: 0 })
  const granted = await r.subscribeAsync('instore/boutique-1/positions/#')
  assert.deepEqual(
    granted.map(s => s.qos),
    [0]
  )
  await assert.rejects(r.subscribeAsync('instore/boutique-1/sensors/#'), /Subscribe error/)
  assert.equal(await metric(/instore_broker_auth_total\{result="deniedSubscribe"\} (\d+)/), 1)
  await r.endAsync()
})

test('repeated failed logins are slowed down, and the right password still gets in', async () => {
  for (let i = 0; i < 3; i++) await mqtt.connectAsync(g.mqttUrl, { username: 'b2', password: 'nope', reconnectPeriod: 0 }).catch(() => {})
  const ok = await mqtt.connectAsync(g.mqttUrl, { username: 'b2', password: 'sensor-b2-secret', reconnectPeriod: 0 })
  await ok.endAsync()
  assert.ok((await metric(/instore_broker_auth_total\{result="rateLimited"\} (\d+)/)) >= 1)
})
