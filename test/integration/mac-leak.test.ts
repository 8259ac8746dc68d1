// Outside tester's defect 2: MACs written with `_`, unpadded, or inside an id (BlueZ `dev_`,
// ESPresense `known:`), a phone-scan device id and an OpenMQTTGateway topic id went on as subjects:
// onto position and event topics, into SQLite and the log. Their run through a whole gateway: no
// form of the address may appear in any topic, payload, log line or file of its data folder.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'
import { createLogger } from '../../shared/log.ts'

const T = 1764000000000
const STORE = 'instore/boutique-1'
// s11 tester G: `@`, `=`, `+` and `/`, which the subject grammar lets through, between the octets.
const IDS = [
  'DE_AD_BE_EF_00_01',
  'dev_DE_AD_BE_EF_00_02',
  'de:ad:be:ef:0:3',
  'known:de_ad_be_ef_00_04',
  'device_de-ad-be-ef-00-07',
  'de=ad=be=ef=00=08',
  'DE@AD@BE@EF@00@09',
  'shelf@dead=beef=000a',
  'de+ad+be+ef+00+0b',
  'de/ad/be/ef/00/0c'
]
const LEAK = /de.?ad.?be.?ef/i

function sitePath(): string {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  for (const f of site.features) if (f.properties.kind === 'sensor') f.properties.aliases = [`OMG_${f.properties.id}`]
  const p = join(mkdtempSync(join(tmpdir(), 'mac-leak-')), 'site.json')
  writeFileSync(p, JSON.stringify(site))
  return p
}

test('no form of a MAC reaches a topic, a payload, the log or the SQLite files', async () => {
  const lines: string[] = []
  const dataDir = mkdtempSync(join(tmpdir(), 'mac-leak-data-'))
  const g = await startGateway({ dataDir, log: createLogger({ level: 'debug', write: l => lines.push(l) }) }, sitePath())
  const spy = await mqtt.connectAsync(g.mqttUrl)
  const seen: string[] = []
  // What the gateway publishes: everything under the store's tree but the sensors' and phones' own input.
  spy.on('message', (t, p) => {
    if (!/\/(sensors|devices)\//.test(t)) seen.push(`${t} ${p.toString()}`)
  })
  await spy.subscribeAsync('instore/#', { qos: 1 })
  const c = await mqtt.connectAsync(g.mqttUrl)
  const sensors = ['b1', 'b2', 'b3', 'b4', 'b5']
  try {
    for (let s = 0; s < 40; s++) {
      const ts = T + s * 1000
      for (const [k, sensor] of sensors.entries()) {
        const readings = IDS.map(id => ({ t: 'ble', id, rssi: -55 - 3 * k, ts }))
        await c.publishAsync(`${STORE}/sensors/${sensor}/readings`, JSON.stringify({ ts, readings }), { qos: 1 })
        await c.publishAsync(`home/OMG_${sensor}/BTtoMQTT/DE_AD_BE_EF_00_21`, JSON.stringify({ rssi: -60 - 2 * k }), { qos: 1 })
      }
      const beacons = [
        { id: 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:1', rssi: -60 },
        { id: 'de_ad_be_ef_00_06', rssi: -70 }
      ]
      await c.publishAsync(`${STORE}/devices/de_ad_be_ef_00_05/scans`, JSON.stringify({ ts, beacons }), { qos: 1 })
    }
    // Readings of every form were taken (not refused): the MACs became hashed subjects.
    await waitFor(() => seen.some(l => l.startsWith(`${STORE}/positions/h:`)), 20_000, 'positions of hashed subjects')
    await waitFor(() => metricValue(g.metrics, 'instore_rejected_total', '{reason="unknown_beacon"}') >= 40, 20_000, 'the unknown beacon refused')
  } finally {
    await c.endAsync()
    await spy.endAsync()
    await g.stop()
  }
  assert.deepEqual(seen.filter(l => LEAK.test(l)).slice(0, 3), [], 'topics and payloads')
  assert.ok(
    lines.some(l => l.includes('unknown_beacon')),
    'the refusal was logged'
  )
  assert.deepEqual(lines.filter(l => LEAK.test(l)).slice(0, 3), [], 'log lines')
  for (const f of readdirSync(dataDir)) {
    const bytes = readFileSync(join(dataDir, f)).toString('latin1')
    assert.ok(!LEAK.test(bytes), `${f} holds a raw MAC`)
  }
})
