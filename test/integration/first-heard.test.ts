// Nothing before a device was first heard (issue 27; an outside tester's repro, s6): on the event
// clock, a device first heard at T0 got positions stamped T0-3000 and T0-2000 and its shop.enter and
// sector.enter T0-2000. A real gateway (embedded broker) fed one reading per sensor per second.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { loadSiteFile } from '../../shared/site.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'

const site = loadSiteFile('sites/boutique.site.json')
const T0 = 1_765_094_400_000

test('no position and no event is stamped before the device was first heard', async () => {
  const g = await startGateway()
  const c = await mqtt.connectAsync(g.mqttUrl)
  const got: Array<{ topic: string; ts: number; subject?: string }> = []
  try {
    c.on('message', (topic, payload) => {
      const m = JSON.parse(payload.toString()) as { ts?: number; subject?: string; at?: number }
      got.push({ topic, ts: m.ts ?? Number.NaN, ...(m.subject !== undefined ? { subject: m.subject } : {}) })
    })
    await c.subscribeAsync([`instore/${site.storeId}/positions/#`, `instore/${site.storeId}/events/#`], { qos: 1 })
    const id = 'eddystone:0102030405060708090a:0b0c0d0e0f10'
    // Standing at (8, 4), as the repro's `x/ble.mjs PORT T0 40 ID 8 4`: every sensor hears it each second.
    for (let k = 0; k < 40; k++) {
      const ts = T0 + k * 1000
      for (const s of site.sensors.values()) {
        const rssi = Math.round(-59 - 22 * Math.log10(Math.max(1, Math.hypot(8 - s.x, 4 - s.y, 2.8)))) + (((k * 7 + s.id.charCodeAt(1)) % 5) - 2)
        await c.publishAsync(`instore/${site.storeId}/sensors/${s.id}/readings`, JSON.stringify({ ts, readings: [{ t: 'ble', id, rssi, ts }] }), { qos: 1 })
      }
    }
    await waitFor(() => got.some(m => m.topic.endsWith('/events/shop.enter')), 15_000, 'the shop entered')
    const positions = got.filter(m => m.topic.includes('/positions/'))
    assert.ok(positions.length > 0)
    const early = got.filter(m => !(m.ts >= T0))
    assert.deepEqual(early, [], 'stamped before it was first heard')
  } finally {
    await c.endAsync()
    await g.stop()
  }
})
