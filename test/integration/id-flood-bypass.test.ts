// Outside tester G (s9, reports 1 and 2): the bound on new stable ids (gateway/presence/stable-ids.ts)
// had two ways round it. A reading naming its ids `irk:<anything>` was exempt (only ESPresense names a
// phone `irk:`, and only for a key its operator configured, but any sender can write the prefix), and
// phone-scan device ids never met the bound at all. One sender inventing an id a second made a visit
// per id. The whole gateway, over its real broker, with its real SQLite outbox.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'

const T = 1764000000000
const ROOT = join(import.meta.dirname, '..', '..')
const SENSORS: Record<string, [number, number]> = { b9: [10, 6], b8: [14.5, 6], b7: [5.5, 6], b6: [19, 11], b5: [10, 11], b4: [1, 11], b3: [19, 1], b2: [10, 1], b1: [1, 1] }
const rssi = (x: number, y: number, s: [number, number]) => Math.round(-59 - 22 * Math.log10(Math.max(1, Math.hypot(x - s[0], y - s[1], 1.5))))
const irk = (n: number) => `irk:${n.toString(16).padStart(32, '0')}`
/** The key the store configured (people.knownIrks): a staff phone, which walks in while the flood runs. */
const KNOWN = `irk:${'5a'.repeat(16)}`
const SECS = 120
const LIFE = 30

function shopEnters(dataDir: string, like: string): string[] {
  const db = new Database(join(dataDir, 'gateway.sqlite'), { readonly: true })
  const rows = db.prepare("SELECT json_extract(body, '$.subject') AS s FROM outbox WHERE type = 'shop.enter' AND json_extract(body, '$.subject') LIKE ?").all(like) as Array<{
    s: string
  }>
  db.close()
  return rows.map(r => r.s)
}

test('a transmitter naming its invented ids irk: is limited like any stable id; an irk: key the site lists keeps its visit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'irk-flood-'))
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  site.people = { ...(site.people ?? {}), knownIrks: [KNOWN] }
  writeFileSync(join(dir, 'site.json'), JSON.stringify(site))
  const g = await startGateway({}, join(dir, 'site.json'))
  const c = await mqtt.connectAsync(g.mqttUrl)
  let health = { status: '', problems: [] as string[] }
  let flooded = 0
  try {
    for (let s = 0; s < SECS + 5; s++) {
      const ts = T + s * 1000
      const alive: number[] = []
      for (let k = Math.max(0, s - LIFE + 1); k <= Math.min(s, SECS - 1); k++) alive.push(k)
      for (const [sensor, at] of Object.entries(SENSORS)) {
        const readings = alive.map(k => ({ t: 'ble', id: irk(k), rssi: rssi(2 + ((k * 7) % 16), 2 + ((k * 3) % 8), at), ts }))
        if (s >= 60 && s < 100) readings.push({ t: 'ble', id: KNOWN, rssi: rssi(4, 8.5, at), ts })
        await c.publishAsync(`instore/boutique-1/sensors/${sensor}/readings`, JSON.stringify({ ts, readings }), { qos: 1 })
      }
    }
    await waitFor(() => g.pipeline !== null && g.pipeline.backlog === 0, 30_000, 'readings worked through')
    const h = g.health()
    health = { status: h.status, problems: h.problems }
    flooded = metricValue(g.metrics, 'instore_people_flooded', '{source="ble_id",place="b9"}')
  } finally {
    await c.endAsync()
    await g.stop()
  }
  const enters = shopEnters(g.o.dataDir, 'irk:%')
  const fakes = enters.filter(s => s !== KNOWN)
  // At most what one sensor may give in the minute before it is flooded (newBleDevicesPerSectorMin, 30).
  assert.ok(fakes.length <= 31, `visits of invented irk: ids: ${fakes.length}`)
  assert.ok(enters.includes(KNOWN), 'the configured key walked in during the flood: its visit stands')
  assert.equal(flooded, 1)
  assert.equal(health.status, 'degraded')
  assert.ok(
    health.problems.some(p => /new stable BLE ids/.test(p)),
    health.problems.join('; ')
  )
})

test('one client naming a new phone-scan device each second is flagged flooded and makes a minute of visits at most', async () => {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique-scan.site.json'), 'utf8'))
  const beacons = (site.features as Array<{ properties: { kind: string; id: string }; geometry: { coordinates: [number, number] } }>)
    .filter(f => f.properties.kind === 'beacon')
    .map(f => ({ id: f.properties.id, at: f.geometry.coordinates }))
  const g = await startGateway({}, join(ROOT, 'sites/boutique-scan.site.json'))
  const c = await mqtt.connectAsync(g.mqttUrl)
  let health = { status: '', problems: [] as string[] }
  let flooded = 0
  let refused = 0
  try {
    for (let s = 0; s < SECS + 5; s++) {
      const ts = T + s * 1000
      for (let k = Math.max(0, s - LIFE + 1); k <= Math.min(s, SECS - 1); k++) {
        const scan = beacons.map(b => ({ id: b.id, rssi: rssi(2 + ((k * 7) % 16), 2 + ((k * 3) % 8), b.at) }))
        await c.publishAsync(`instore/boutique-scan/devices/shopper${k}/scans`, JSON.stringify({ ts, beacons: scan }), { qos: 1 })
      }
    }
    await waitFor(() => g.pipeline !== null && g.pipeline.backlog === 0, 30_000, 'scans worked through')
    const h = g.health()
    health = { status: h.status, problems: h.problems }
    flooded = metricValue(g.metrics, 'instore_people_flooded', '{source="scan_id",place="phone-scans"}')
    refused = metricValue(g.metrics, 'instore_people_suspicious_addresses', '{source="scan_id"}')
  } finally {
    await c.endAsync()
    await g.stop()
  }
  const fakes = shopEnters(g.o.dataDir, 'shopper%')
  assert.ok(fakes.length <= 31, `visits of invented devices: ${fakes.length}`)
  assert.equal(flooded, 1)
  assert.ok(refused >= 60, `device ids taken for the sender's: ${refused}`)
  assert.equal(health.status, 'degraded')
  assert.ok(
    health.problems.some(p => /phone scans name more new device ids/.test(p)),
    health.problems.join('; ')
  )
})
