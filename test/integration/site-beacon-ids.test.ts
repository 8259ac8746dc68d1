// Tester s12 G, issue 2: site beacons whose ids are not written the way readings name them (a MAC,
// as bin/instore-import-openhps writes them; an id holding a MAC; an upper-case iBeacon uuid) were
// never recognised: each became a tracked shopper, with positions. Real gateway, real broker over
// TCP: they are fixed beacons (no positions), and a beacon no reading can name is warned about.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { createLogger } from '../../shared/log.ts'
import { parseSite } from '../../shared/site.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'

const MACB = 'c3:00:11:22:33:44'
const SHELF = 'shelf-1-2-3-4-5-6'
const UPPER = 'ibeacon:F7826DA6-4FA2-4E98-8024-BC5B71E0AAAA:1:2'
/** How the sensors name each beacon: ESPresense spellings, not the site file's. */
const HEARD: Record<string, string> = { [MACB]: 'C3-00-11-22-33-44', [SHELF]: SHELF, [UPPER]: 'iBeacon:f7826da6-4fa2-4e98-8024-bc5b71e0aaaa-1-2' }
const AT: Record<string, [number, number]> = { [MACB]: [15, 3], [SHELF]: [5, 9], [UPPER]: [15, 9] }

test('site beacons named by a MAC, an id holding one or an upper-case uuid are recognised as fixed beacons, never taken for shoppers', async () => {
  const file = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as {
    features: Array<{ geometry: { coordinates: unknown }; properties: Record<string, unknown> }>
  }
  for (const [id, xy] of Object.entries(AT))
    file.features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: xy }, properties: { kind: 'beacon', id, rssiAt1m: -62 } } as never)
  file.features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [2, 2] }, properties: { kind: 'beacon', id: 'apple:1005:9-26', rssiAt1m: -62 } } as never)
  const site = parseSite(file)
  const sensors = [...site.sensors.values()]
  const lines: string[] = []
  const g = await startGateway({ site, log: createLogger({ write: l => void lines.push(l) }) })
  const c = await mqtt.connectAsync(g.mqttUrl)
  const positions: string[] = []
  try {
    c.on('message', t => void (t.includes('/positions/') ? positions.push(t) : null))
    await c.subscribeAsync('instore/boutique-1/positions/#', { qos: 1 })
    const t0 = Date.now() - 60_000
    // A shopper among them, so the test knows positions are being published at all.
    const heard = [...Object.entries(HEARD), ['shopper', 'app-shopper-1'] as const]
    for (let k = 0; k < 40; k++) {
      for (const s of sensors) {
        const readings = heard.map(([b, id]) => {
          const [x, y] = AT[b] ?? [10, 6]
          return { t: 'ble', id, rssi: Math.round(-62 - 22 * Math.log10(Math.max(1, Math.hypot(x - s.x, y - s.y, 1.6)))) }
        })
        await c.publishAsync(`instore/boutique-1/sensors/${s.id}/readings`, JSON.stringify({ ts: t0 + k * 1000, readings }), { qos: 1 })
      }
    }
    await waitFor(() => positions.some(t => t.endsWith('/app-shopper-1')), 20_000, "the shopper's positions")
  } finally {
    await c.endAsync()
    await g.stop()
  }
  assert.deepEqual(new Set(positions.map(t => t.split('/positions/')[1])), new Set(['app-shopper-1']))
  assert.ok(
    lines.some(l => l.includes('site beacon ignored: its id names a kind of device') && l.includes('apple:1005:9-26')),
    lines.join('')
  )
  assert.equal(
    lines.some(l => /c3.00.11/i.test(l)),
    false
  )
})
