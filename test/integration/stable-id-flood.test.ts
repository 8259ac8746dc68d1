// Outside tester G (s8, report 1+2): one stranger's transmitter advertising 5 new iBeacon ids a
// second (each for 60 s) made hundreds of fake visits, nothing flagged, and a real shopper standing
// in a sector got no event at all. Stable ids had no new-device bound (gateway/presence/stable-ids.ts
// now bounds them per sensor). The whole gateway, over its real broker, with its real SQLite outbox.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'

const T = 1764000000000
const STORE = 'instore/boutique-1'
/** The boutique's sensors (sites/boutique.site.json), as the tester's scripts place them. */
const SENSORS: Record<string, [number, number]> = { b9: [10, 6], b8: [14.5, 6], b7: [5.5, 6], b6: [19, 11], b5: [10, 11], b4: [1, 11], b3: [19, 1], b2: [10, 1], b1: [1, 1] }
const rssi = (x: number, y: number, s: [number, number], k: number) => Math.round(-59 - 20 * Math.log10(Math.hypot(x - s[0], y - s[1]) + 1) + ((k * 7) % 5) - 2)
const flood = (n: number) => `iBeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4-1-${n}`

interface Run {
  shopper: string[]
  fakes: number
  flooded: number
  health: { status: string; problems: string[]; devices: number }
  refused: number
}

/**
 * `perS` new flood ids a second (0: none), each heard `LIFE` s, and `steady` ids heard throughout,
 * all at (10, 6); shopper-1 stands in the women sector from 1 s to 91 s.
 */
async function run(perS: number, steady = 0): Promise<Run> {
  const g = await startGateway()
  const c = await mqtt.connectAsync(g.mqttUrl)
  const LIFE = 60
  let flooded = 0
  let refused = 0
  let health = { status: '', problems: [] as string[], devices: 0 }
  try {
    for (let s = 0; s < 120; s++) {
      const ts = T + s * 1000
      const alive: number[] = []
      for (let n = Math.max(0, (s - LIFE + 1) * perS); n < (s + 1) * perS && s < 95; n++) alive.push(n)
      for (let n = 0; n < steady && s < 95; n++) alive.push(1_000_000 + n)
      for (const [sensor, at] of Object.entries(SENSORS)) {
        const readings = alive.map(n => ({ t: 'ble', id: flood(n), rssi: rssi(10, 6, at, n + s) }))
        if (s >= 1 && s < 91) readings.push({ t: 'ble', id: 'shopper-1', rssi: rssi(4, 8.5, at, s) })
        await c.publishAsync(`${STORE}/sensors/${sensor}/readings`, JSON.stringify({ ts, readings }), { qos: 1 })
      }
      if (s === 60) {
        // The tick of this second has run once the next second's readings came: wait for it.
        await waitFor(() => g.pipeline !== null && g.pipeline.backlog === 0, 20_000, 'readings worked through')
        flooded = metricValue(g.metrics, 'instore_people_flooded', '{source="ble_id",place="b9"}')
        const h = g.health()
        health = { status: h.status, problems: h.problems, devices: Number(h.devices) }
      }
    }
    await waitFor(() => g.pipeline !== null && g.pipeline.backlog === 0, 20_000, 'readings worked through')
    refused = metricValue(g.metrics, 'instore_people_suspicious_addresses', '{source="ble_id"}')
  } finally {
    await c.endAsync()
    await g.stop()
  }
  const db = new Database(join(g.o.dataDir, 'gateway.sqlite'), { readonly: true })
  const shopper = db.prepare("SELECT type FROM outbox WHERE json_extract(body, '$.subject') = 'shopper-1' ORDER BY seq").all() as Array<{ type: string }>
  const fakes = db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE type = 'shop.enter' AND json_extract(body, '$.subject') LIKE 'ibeacon:%'").get() as { n: number }
  db.close()
  return { shopper: shopper.map(e => e.type), fakes: fakes.n, flooded, health, refused }
}

test("a transmitter inventing iBeacon ids is reported flooded and makes at most a minute's worth of visits", async () => {
  const r = await run(5)
  assert.equal(r.flooded, 1)
  assert.equal(r.health.status, 'degraded')
  assert.ok(
    r.health.problems.some(p => /new stable BLE ids/.test(p)),
    r.health.problems.join('; ')
  )
  assert.ok(r.refused > 100, `ids taken for the transmitter's: ${r.refused}`)
  // The ids refused are one device, the sender: those admitted before, the shopper and it (300 ids were alive).
  assert.ok(r.health.devices <= 32, `devices tracked: ${r.health.devices}`)
  // At most what one sensor may give in the minute before it is flooded (people.newBleDevicesPerSectorMin, 30).
  assert.ok(r.fakes <= 31, `fake visits: ${r.fakes}`)
})

// The ~30 ids admitted before the flood was seen stand at the transmitter: every receiver's readings
// were that spot's narrow lump plus the shopper's, and the shopper's (the weakest at the far
// receivers) were taken for the receivers' cut-off (gateway/estimation/sensitivity.ts), which moved
// its fixes out of the shop; with 10 ids, the lump's own lower edge dropped its held visit.
test("a real shopper's visit opens during the flood as it does alone", async () => {
  const control = await run(0)
  assert.ok(control.shopper.includes('shop.enter'), `control: ${JSON.stringify(control)}`)
  assert.equal(control.health.status, 'ok', control.health.problems.join('; '))
  const r = await run(5)
  assert.ok(r.shopper.includes('shop.enter'), JSON.stringify(r))
})

test("a real shopper's visit opens beside a crowd of steady stable ids", async () => {
  for (const crowd of [29, 10]) {
    const r = await run(0, crowd)
    assert.ok(r.shopper.includes('shop.enter'), `${crowd} ids: ${JSON.stringify(r)}`)
  }
})
