// Tester s12 G, issue 1: a MAC written with doubled separators inside a BLE id
// (`tag-a4::c1::38::9f::0e::5a`) was the subject as-is: published on positions, stored in
// gateway.sqlite (visits, outbox) and left in the log. Real gateway, real broker over TCP, real
// SQLite file: no spelling of an address reaches any of them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { createLogger } from '../../shared/log.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'

const IDS = [
  'tag-a4::c1::38::9f::0e::5a',
  'tag_a4__c1__38__9f__0e__5b',
  'tag-a4%3Ac1%3A38%3A9f%3A0e%3A5c',
  'tag-a4\u2013c1\u201338\u20139f\u20130e\u20135d',
  'tag-A4 : C1 : 38 : 9F : 0E : 5E'
]
const RAW = /a4[^0-9a-f]{1,9}c1/i
const RSSI: Record<string, number> = { b1: -60, b2: -62, b3: -64, b4: -66, b5: -63, b6: -65, b7: -67, b8: -69, b9: -70 }

test('a MAC spelled with runs of separators, escapes or Unicode dashes inside an id is hashed: no raw address on MQTT, in SQLite or in the log', async () => {
  const lines: string[] = []
  const g = await startGateway({ log: createLogger({ level: 'debug', write: l => void lines.push(l) }) })
  const c = await mqtt.connectAsync(g.mqttUrl)
  const out: string[] = []
  try {
    // What the gateway publishes, not the readings sent to it.
    c.on('message', (t, p) => void (/\/(sensors|devices)\//.test(t) ? null : out.push(`${t} ${p}`)))
    await c.subscribeAsync('instore/#', { qos: 1 })
    const t0 = Date.now() - 120_000
    for (let k = 0; k < 90; k++) {
      for (const [s, rssi] of Object.entries(RSSI)) {
        const readings = IDS.map(id => ({ t: 'ble', id, rssi }))
        await c.publishAsync(`instore/boutique-1/sensors/${s}/readings`, JSON.stringify({ ts: t0 + k * 1000, readings }), { qos: 1 })
      }
    }
    await c.publishAsync('home/nosuch/BTtoMQTT/a4::c1::38::9f::0e::5f', '{}', { qos: 1 })
    await c.publishAsync('instore/boutique-1/devices/a4::c1::38::9f::0e::60/scans', 'not json', { qos: 1 })
    await waitFor(() => new Set(out.filter(o => o.includes('/positions/h:')).map(o => o.split(' ')[0])).size >= IDS.length, 20_000, 'positions of every id, hashed')
  } finally {
    await c.endAsync()
    await g.stop()
  }
  assert.deepEqual(
    out.filter(o => RAW.test(o)),
    []
  )
  assert.deepEqual(
    lines.filter(l => RAW.test(l)),
    []
  )
  const db = new Database(join(g.o.dataDir, 'gateway.sqlite'), { readonly: true })
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>
    for (const { name } of tables) {
      const rows = JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all())
      assert.equal(RAW.test(rows), false, `${name}: ${rows.match(RAW)?.[0]}`)
    }
  } finally {
    db.close()
  }
})
