// Re-tester s12 G, repro 05: the central server gives each app device a random uuid, and a phone
// in phone-scan mode publishes its scans under it. The gateway took 12 of the uuid's digits for a
// MAC: the phone became an `h:` subject, and one whose digits read as a private address got
// positions but no events. Then (tester s13 G) the device id kept as a subject escaped consent and
// erasure. Real gateway, real broker over TCP, no central server: no device has presence consent
// here, so every phone is anonymous (positioned and counted, never a visit), under a subject that
// is neither its device id nor its digits taken for a MAC; device-id-consent.test.ts has a consenting
// phone get its events under its app: subject.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'

// The site's beacons (sites/boutique-scan.site.json), and the phones: uuids whose groups 2-4 read
// as a private address (7e8c-4a35-b6c7..., top bits 01) and as a public one, upper case too.
const BEACONS = [
  [1, 1],
  [10, 1],
  [19, 1],
  [1, 11],
  [10, 11],
  [19, 11],
  [5.5, 6],
  [14.5, 6],
  [10, 6]
]
const PHONES: Record<string, [number, number]> = {
  '7928356c-7e8c-4a35-b6c7-b9c4a8fac01c': [6, 5],
  '3f1c5a20-1c8c-4a35-b6c7-b9c4a8fac01d': [14, 7],
  'C2A7E0B4-9D31-4F0E-8A55-0123456789AB': [10, 4]
}
const rssi = (p: [number, number], b: number[]) => Math.round(-59 - 22 * Math.log10(Math.max(1, Math.hypot(p[0] - b[0], p[1] - b[1]))))

test("a phone's uuid device id is never taken for a MAC nor kept as a subject: without consent material each phone is anonymous", async () => {
  const g = await startGateway({}, join(ROOT, 'sites/boutique-scan.site.json'))
  const c = await mqtt.connectAsync(g.mqttUrl)
  const enters = new Set<string>()
  const positioned = new Set<string>()
  let newest = 0
  try {
    c.on('message', (t, p) => {
      if (t.endsWith('/events/shop.enter')) enters.add((JSON.parse(String(p)) as { subject: string }).subject)
      const at = t.indexOf('/positions/')
      if (at >= 0) {
        positioned.add(t.slice(at + '/positions/'.length))
        newest = Math.max(newest, (JSON.parse(String(p)) as { ts: number }).ts)
      }
    })
    await c.subscribeAsync('instore/boutique-scan/#', { qos: 1 })
    const t0 = Date.now() - 120_000
    for (let k = 0; k < 60; k++) {
      for (const [id, p] of Object.entries(PHONES)) {
        const beacons = BEACONS.map((b, i) => ({ id: `ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:2:${i + 1}`, rssi: rssi(p, b) }))
        await c.publishAsync(`instore/boutique-scan/devices/${id}/scans`, JSON.stringify({ ts: t0 + k * 1000, beacons }), { qos: 1 })
      }
    }
    // Positions of the trace's last seconds: well past the 30 s a visit takes to open.
    await waitFor(() => positioned.size >= Object.keys(PHONES).length && newest >= t0 + 50_000, 20_000, 'positions of every phone to the end')
    await g.flushOutbox()
    assert.deepEqual([...enters], [])
    for (const s of positioned) assert.ok(s.startsWith('h:'), s)
  } finally {
    await c.endAsync()
    await g.stop()
  }
})
