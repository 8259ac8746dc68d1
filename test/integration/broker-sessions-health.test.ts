// Outside tester G (s10, report 1), the whole gateway: sessions left behind (clean: false, '#' at
// QoS 1) and a flood to a topic nothing reads. What the broker's bounds drop or end is counted in
// /metrics by reason and makes /healthz degraded (it said ok while memory grew).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'

test('the broker bounds sessions left behind and their queues; /metrics counts each drop by reason and /healthz is degraded', async () => {
  const g = await startGateway({ listeners: { sessions: { maxStoredSessions: 2, maxQueuedPerSession: 10 } } })
  const m = (name: string, labels = '') => metricValue(g.metrics, name, labels)
  const health = async () => (await (await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)).json()) as { status: string; problems: string[] }
  try {
    assert.equal((await health()).status, 'ok')
    for (let i = 0; i < 3; i++) {
      const c = await mqtt.connectAsync(g.mqttUrl, { clientId: `lurker-${i}`, clean: false, reconnectPeriod: 0 })
      await c.subscribeAsync('#', { qos: 1 })
      await c.endAsync()
    }
    await waitFor(() => m('instore_broker_sessions_ended_total', '{reason="sessions"}') === 1, 5000, 'the oldest of three sessions ended')
    assert.equal(m('instore_broker_stored_sessions'), 2)
    const pub = await mqtt.connectAsync(g.mqttUrl, { clientId: 'stranger', reconnectPeriod: 0 })
    for (let i = 0; i < 50; i++) await pub.publishAsync('x/junk', Buffer.alloc(16, 120), { qos: 1 })
    await pub.endAsync()
    assert.equal(m('instore_broker_queued_messages'), 2 * 10)
    assert.equal(m('instore_broker_queue_dropped_total', '{reason="queue_full"}'), 2 * 40)
    const h = await health()
    assert.equal(h.status, 'degraded')
    assert.ok(
      h.problems.some(p => p.includes('dropped 80 message(s) queued for MQTT sessions and ended 1 stored session(s)')),
      h.problems.join('; ')
    )
  } finally {
    await g.stop()
  }
})
