// A retailer's engineer followed docs/deployment.md literally (s8 report item 1): the example config
// listened on 0.0.0.0 without --auth, and anonymous LAN clients read every position and published
// forged events into the gateway's own topics, with no warning. Now: the gateway warns at start and
// /healthz names the open broker; without --auth, clients may still send readings but never publish
// into the output topics (positions, events, occupancy, footfall).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { ROOT } from '../helpers/run.ts'
import { openBroker } from '../../gateway/gateway-options.ts'
import type { Logger } from '../../shared/log.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { isLoopbackHost } from '../../gateway/io/output-guard.ts'
import type { Gateway } from '../../gateway/gateway.ts'

const health = async (g: Gateway) => (await (await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)).json()) as { status: string; problems: string[] }
const denied = async (g: Gateway) =>
  Number(/instore_broker_auth_total\{result="deniedPublish"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text())?.[1] ?? NaN)

function capture(): { log: Logger; warnings: string[] } {
  const warnings: string[] = []
  const nop = () => {}
  return { warnings, log: { debug: nop, info: nop, error: nop, warn: msg => warnings.push(msg) } }
}

test('an embedded broker on a network address without --auth is warned of at start and reported by /healthz', async () => {
  const { log, warnings } = capture()
  const g = await startGateway({ host: '0.0.0.0', log })
  try {
    assert.equal(warnings.filter(w => w.includes('open to the network')).length, 1, warnings.join('\n'))
    const h = await health(g)
    assert.equal(h.status, 'degraded')
    assert.ok(
      h.problems.some(p => p.includes('open to the network') && p.includes('0.0.0.0') && p.includes('--auth')),
      h.problems.join('\n')
    )
  } finally {
    await g.stop()
  }
})

test('on loopback, or with --auth, no such warning', async () => {
  for (const over of [{}, { host: '0.0.0.0', auth: { sensors: {} } }]) {
    const { log, warnings } = capture()
    const g = await startGateway({ ...over, log })
    try {
      assert.deepEqual(
        warnings.filter(w => w.includes('open to the network')),
        []
      )
      assert.ok(!(await health(g)).problems.some(p => p.includes('open to the network')))
    } finally {
      await g.stop()
    }
  }
  assert.deepEqual(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '0.0.0.0', '::', '192.168.1.10', '127.0.0.1.example'].map(isLoopbackHost), [
    true,
    true,
    true,
    true,
    false,
    false,
    false,
    false
  ])
})

test('without --auth an anonymous client cannot publish into the output topics; readings still go in', async () => {
  const g = await startGateway()
  const reader = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
  const seen: string[] = []
  reader.on('message', t => seen.push(t))
  await reader.subscribeAsync('instore/#', { qos: 1 })
  try {
    const forged: Array<[string, string]> = [
      ['instore/boutique-1/events/shop.enter', '{"id":"forged-1","type":"shop.enter","storeId":"boutique-1","subject":"app:0000000000000001","ts":1}'],
      ['instore/boutique-1/positions/app:0000000000000001', '{"subject":"app:0000000000000001","ts":1,"x":1,"y":1,"floor":0,"accuracyM":1}'],
      ['instore/boutique-1/occupancy', '{"ts":1,"shops":{},"sectors":{},"passersBy":0}'],
      ['instore/other-store/footfall', '{}']
    ]
    for (const [topic, payload] of forged) {
      const c = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
      const closed = new Promise<void>(resolve => c.once('close', () => resolve()))
      c.publish(topic, payload, { qos: 1 }, () => {})
      await closed
      c.end(true)
    }
    assert.equal(await denied(g), forged.length)
    // A sensor's own topics are still open without --auth: its status reaches subscribers.
    const s = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
    await s.publishAsync('instore/boutique-1/sensors/b1/status', 'online', { qos: 1 })
    await waitFor(() => seen.includes('instore/boutique-1/sensors/b1/status'), 5000, 'status delivered')
    await s.endAsync()
    assert.deepEqual(
      seen.filter(t => forged.some(([f]) => f === t)),
      []
    )
    assert.equal(await denied(g), forged.length)
  } finally {
    await reader.endAsync()
    await g.stop()
  }
})

test('the shipped example config (docs/deployment.md copies it) does not leave its broker open', () => {
  const example = JSON.parse(readFileSync(join(ROOT, 'deploy/gateway.example.json'), 'utf8')) as { host?: string; auth?: string; broker?: string }
  assert.equal(openBroker({ host: example.host ?? '127.0.0.1', ...(example.auth ? { auth: {} } : {}), ...(example.broker ? { broker: example.broker } : {}) }), null)
})
