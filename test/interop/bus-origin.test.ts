// What the broker says of a message reaches the pipeline (issue 27): the embedded broker names the
// MQTT client that published it (phones vote per client on a site without sensors), and an
// external broker's retained message, replayed on subscribe, is marked so the event clock never
// takes it for a vote.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import mqtt from 'mqtt'
import { EmbeddedBus, ClientBus, type MessageOrigin } from '../../gateway/io/bus.ts'
import { waitFor } from '../helpers/gateway.ts'
import { partTest, MOSQUITTO } from '../helpers/parts.ts'
import { freePort } from '../helpers/run.ts'

type Seen = Array<{ topic: string; from: MessageOrigin | undefined }>

test('the embedded broker names the client that published each message', async () => {
  const bus = new EmbeddedBus(0, '127.0.0.1')
  const seen: Seen = []
  await bus.start(['t/#'], (topic, _payload, done, from) => {
    seen.push({ topic, from })
    done()
  })
  const c = await mqtt.connectAsync(bus.url, { clientId: 'phone-client-1' })
  try {
    await c.publishAsync('t/a', 'x', { qos: 1 })
    await c.publishAsync('t/b', 'y', { qos: 1 })
    await waitFor(async () => seen.length === 2, 5000, 'both messages')
    assert.deepEqual(
      seen.map(s => s.from?.client),
      ['phone-client-1', 'phone-client-1']
    )
  } finally {
    await c.endAsync()
    await bus.stop()
  }
})

partTest('mosquitto', 'an external broker: a retained message replayed on subscribe is marked retained, a live one is not', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mosq-origin-'))
  const port = await freePort()
  writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`)
  const broker = spawn(MOSQUITTO, ['-c', join(dir, 'm.conf')], { stdio: 'ignore' })
  const url = `mqtt://127.0.0.1:${port}`
  let pub: mqtt.MqttClient | null = null
  const bus = new ClientBus(url, 'gw-origin-test')
  try {
    await waitFor(
      async () => {
        try {
          pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
          return true
        } catch {
          return false
        }
      },
      10_000,
      'mosquitto'
    )
    const p = pub as unknown as mqtt.MqttClient
    await p.publishAsync('t/old', 'stored', { qos: 1, retain: true })
    const seen: Seen = []
    await bus.start(['t/#'], (topic, _payload, done, from) => {
      seen.push({ topic, from })
      done()
    })
    await waitFor(async () => seen.length === 1, 5000, 'the retained message')
    await p.publishAsync('t/new', 'live', { qos: 1, retain: true })
    await waitFor(async () => seen.length === 2, 5000, 'the live message')
    assert.deepEqual(
      seen.map(s => [s.topic, s.from?.retained]),
      [
        ['t/old', true],
        ['t/new', false]
      ]
    )
  } finally {
    await (pub as mqtt.MqttClient | null)?.endAsync()
    await bus.stop()
    broker.kill()
  }
})
