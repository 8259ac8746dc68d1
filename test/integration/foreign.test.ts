import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'
import { Rng } from '../../shared/rng.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'

const UUID = 'e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4'
const SUBJECT = `ibeacon:${UUID}:1:7`
const T = 1764000000000

type Format = 'native' | 'espresense' | 'openmqttgateway' | 'meraki'
const TAG_MAC = 'c3:11:22:33:44:55'

function message(f: Format, sensor: string, rssi: number, ts: number): [string, string] {
  if (f === 'native') return [`instore/boutique-1/sensors/${sensor}/readings`, JSON.stringify({ ts, readings: [{ t: 'ble', id: SUBJECT, rssi, ts }] })]
  if (f === 'espresense')
    return [
      `espresense/devices/iBeacon:${UUID}-1-7/esp-${sensor}`,
      JSON.stringify({ id: `iBeacon:${UUID}-1-7`, rssi, 'rssi@1m': -59, distance: 3.2, mac: 'c3:11:22:33:44:55', name: 'tag' })
    ]
  return [
    `home/omg-${sensor}/BTtoMQTT/C3112233445`,
    JSON.stringify({ id: 'C3:11:22:33:44:55', rssi: String(rssi), txpower: -59, model_id: 'IBEACON', uuid: UUID, major: 1, minor: 7 })
  ]
}

async function positionsVia(f: Format, sitePath: string): Promise<Array<{ ts: number; x: number; y: number }>> {
  const g = await startGateway(f === 'meraki' ? { meraki: { validator: 'v', secret: 's', lateMs: 0 } } : {}, sitePath)
  const c = await mqtt.connectAsync(g.mqttUrl)
  const got: Array<{ ts: number; x: number; y: number }> = []
  c.on('message', (_t, p) => got.push(JSON.parse(p.toString()) as { ts: number; x: number; y: number }))
  // Meraki reports the tag by its MAC, which the gateway hashes; the others by its iBeacon id.
  const subject = f === 'meraki' ? new SubjectHasher('test-secret').hash(TAG_MAC) : SUBJECT
  await c.subscribeAsync(`instore/boutique-1/positions/${subject}`, { qos: 1 })
  const rng = new Rng(2)
  const sensors = g.o.site.sensors
  try {
    for (let s = 0; s < 30; s++) {
      const ts = T + s * 1000
      // Native heartbeats keep event time moving; foreign formats carry no timestamps of their own.
      for (const id of sensors.keys()) await c.publishAsync(`instore/boutique-1/sensors/${id}/readings`, JSON.stringify({ ts, readings: [] }), { qos: 1 })
      const records: Array<{ apMac: string; rssi: number }> = []
      for (const sn of sensors.values()) {
        const rssi = Math.round(-59 - 22 * Math.log10(Math.hypot(14 - sn.x, 3 - sn.y, 1.2 - sn.z)) + rng.normal(0, 3))
        if (f === 'meraki') {
          records.push({ apMac: sn.mac as string, rssi })
          continue
        }
        const [topic, payload] = message(f, sn.id, rssi, ts)
        await c.publishAsync(topic, payload, { qos: 1 })
      }
      if (f === 'meraki') {
        const res = await fetch(`http://127.0.0.1:${g.httpPort}/meraki`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            version: '3.0',
            secret: 's',
            type: 'Bluetooth',
            data: { networkId: 'N', observations: [{ clientMac: TAG_MAC, locations: [{ time: new Date(ts).toISOString(), rssiRecords: records }] }] }
          })
        })
        assert.equal(res.status, 202)
      }
    }
    await c.publishAsync('instore/boutique-1/sensors/b1/readings', JSON.stringify({ ts: T + 32_000, readings: [] }), { qos: 1 })
    await waitFor(() => got.length >= 25, 10_000, `${f} positions`)
    return got
  } finally {
    await c.endAsync()
    await g.stop()
  }
}

test('the same shopper through ESPresense, OpenMQTTGateway, Meraki and the native format gives the same positions', async () => {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  let n = 0
  for (const f of site.features) {
    if (f.properties.kind !== 'sensor') continue
    f.properties.aliases = [`esp-${f.properties.id}`, `omg-${f.properties.id}`]
    f.properties.mac = `e0:55:3d:00:00:${(++n).toString(16).padStart(2, '0')}`
  }
  const sitePath = join(mkdtempSync(join(tmpdir(), 'foreign-')), 'site.json')
  writeFileSync(sitePath, JSON.stringify(site))
  const native = await positionsVia('native', sitePath)
  const last = native[native.length - 1]
  assert.ok(Math.hypot(last.x - 14, last.y - 3) < 2, `native ends at (${last.x}, ${last.y})`)
  for (const f of ['espresense', 'openmqttgateway', 'meraki'] as const) {
    const other = await positionsVia(f, sitePath)
    const o = other[other.length - 1]
    assert.ok(Math.hypot(o.x - last.x, o.y - last.y) < 0.5, `${f} ends at (${o.x}, ${o.y}), native at (${last.x}, ${last.y})`)
  }
})
