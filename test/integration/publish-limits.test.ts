// The gateway never publishes what MQTT cannot carry (gateway/io/publish-limits.ts). aedes writes a
// topic past 65,535 bytes with its length wrapped: every subscriber of it read a corrupt frame and
// was disconnected, once a second while the device that made it was placed (tester s13 G, a
// 70,000-character Meraki clientMac). Whatever makes such a topic, it is now dropped, counted and
// logged once. Real gateway, real broker, a real subscriber over TCP.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { createLogger } from '../../shared/log.ts'
import { unpublishable } from '../../gateway/io/publish-limits.ts'

const STORE = 'instore/boutique-1'

test('what MQTT can carry: topic bytes (UTF-8, not characters), no wildcard or NUL (the packet-size bound is not built here: 256 MiB)', () => {
  const cases: Array<[string, string, ReturnType<typeof unpublishable>]> = [
    ['instore/s/positions/h:0123', '{}', null],
    ['a'.repeat(65_535), '', null],
    ['a'.repeat(65_536), '', 'topic_too_long'],
    // 32,768 two-byte characters: 65,536 bytes.
    ['é'.repeat(32_768), '', 'topic_too_long'],
    ['', '{}', 'bad_topic'],
    ['instore/s/positions/a+b', '{}', 'bad_topic'],
    ['instore/s/positions/#', '{}', 'bad_topic'],
    ['instore/s/positions/a\u0000b', '{}', 'bad_topic']
  ]
  for (const [topic, payload, want] of cases) assert.equal(unpublishable(topic, payload), want, `${topic.slice(0, 30)} (${topic.length})`)
})

test('a position topic past 65,535 bytes is not published: subscribers stay connected, it is counted and logged once', { timeout: 30_000 }, async () => {
  const lines: string[] = []
  const g = await startGateway({ log: createLogger({ level: 'warn', write: l => lines.push(l) }) })
  const c = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
  let closes = 0
  const errors: string[] = []
  const got: string[] = []
  c.on('close', () => closes++)
  c.on('error', e => errors.push(e.message))
  c.on('message', t => got.push(t))
  try {
    await c.subscribeAsync(`${STORE}/positions/#`, { qos: 1 })
    const bus = g.bus
    assert.ok(bus)
    const long = `${STORE}/positions/${'L'.repeat(70_000)}`
    for (let i = 0; i < 3; i++) await bus.publish(long, '{"x":1}', { qos: 0 })
    await bus.publish(`${STORE}/positions/after`, '{"x":1}', { qos: 1 })
    await waitFor(() => got.includes(`${STORE}/positions/after`), 5000, 'the next position')
    assert.equal(closes, 0, `subscriber dropped: ${JSON.stringify(errors)}`)
    assert.ok(!got.some(t => t.length > 1000), 'the long topic never reached the subscriber')
    const metrics = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.match(metrics, /instore_publish_refused_total\{reason="topic_too_long"\} 3\b/)
    const logged = lines.filter(l => l.includes('MQTT cannot carry'))
    assert.equal(logged.length, 1, 'logged once')
    assert.ok(logged[0].length < 1000, 'the log line does not carry the topic whole')
  } finally {
    await c.endAsync(true)
    await g.stop()
  }
})
