import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import Database from 'better-sqlite3'
import { Rng } from '../shared/rng.ts'
import { startGateway, waitFor } from './helpers/gateway.ts'
import { ROOT } from './helpers/run.ts'

const T = 1764000000000
const SENSORS = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9']

function mutate (r: Rng, v: unknown, depth = 0): unknown {
  if (depth > 3 || r.chance(0.3)) {
    return r.pick<unknown>([null, true, -1e308, 1e308, NaN, '', 'x'.repeat(r.int(0, 300)), -200, 12, '-60', [], {}, 1764000000, 'da:a1:19:00:11:22', '\u0000', '../../etc', '#', 'app:+/#'])
  }
  if (Array.isArray(v)) return r.chance(0.2) ? Array.from({ length: r.int(0, 3000) }, () => v[0]) : v.map(x => mutate(r, x, depth + 1))
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (!r.chance(0.15)) o[r.chance(0.05) ? k + '_' : k] = r.chance(0.5) ? mutate(r, x, depth + 1) : x
    return o
  }
  return v
}

test('fuzz: random and mutated payloads on every ingest topic, oversized ones, a flood; no crash, honest sensors still served, every rejection counted', { timeout: 120_000 }, async () => {
  const g = await startGateway()
  const r = new Rng(77)
  const fuzzer = await mqtt.connectAsync(g.mqttUrl)
  const honest = await mqtt.connectAsync(g.mqttUrl)
  const positions: number[] = []
  honest.on('message', () => positions.push(Date.now()))
  await honest.subscribeAsync('instore/boutique-1/positions/tag:honest01')
  const valid = { ts: T, readings: [{ t: 'ble', id: 'tag:x1', rssi: -60, ts: T }, { t: 'wifi', mac: 'da:a1:19:00:11:22', rssi: -70, seq: 5, ch: 6 }] }
  const topics = [
    ...SENSORS.map(s => `instore/boutique-1/sensors/${s}/readings`), 'instore/boutique-1/sensors/b1/status', 'instore/boutique-1/sensors/zz/readings',
    'instore/other/sensors/b1/readings', 'instore/boutique-1/devices/p1/scans', 'espresense/devices/x/b1',
    'home/b2/BTtoMQTT/AABBCCDDEEFF', 'instore/boutique-1/sensors/b1/readings/extra', 'instore/boutique-1/sensors'
  ]
  let tried = 0
  // A protocol violation (publishing to a wildcard) closes that client's connection, nobody else's.
  const rude = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
  const closed = new Promise<void>(resolve => rude.once('close', () => resolve()))
  rude.publish('instore/boutique-1/devices/+/scans', '{}')
  await closed
  await rude.endAsync(true)
  try {
    for (let s = 0; s < 60; s++) {
      // The honest sensors: a shopper standing still, heard every second.
      for (const sn of SENSORS) {
        await honest.publishAsync(`instore/boutique-1/sensors/${sn}/readings`, JSON.stringify({ ts: T + s * 1000 + 500, readings: [{ t: 'ble', id: 'tag:honest01', rssi: -65 - SENSORS.indexOf(sn), ts: T + s * 1000 + 100 }] }))
      }
      for (let k = 0; k < 60; k++) {
        const topic = r.pick(topics)
        const kind = r.int(0, 5)
        const payload = kind === 0 ? Buffer.from(Array.from({ length: r.int(0, 400) }, () => r.int(0, 256)))
          : kind === 1 ? Buffer.alloc(r.int(256 * 1024, 400 * 1024), 'a')
            : kind === 2 ? JSON.stringify(mutate(r, valid))
              : kind === 3 ? JSON.stringify(mutate(r, { ts: T, beacons: [{ id: 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:1', rssi: -70 }] }))
                : JSON.stringify(mutate(r, { id: 'iBeacon:x', rssi: -60, txpower: -59, uuid: 'u', major: 1, minor: 2 }))
        fuzzer.publish(topic, payload, { qos: 0 })
        tried++
      }
      // A flood from one client between seconds.
      if (s % 20 === 10) for (let k = 0; k < 2000; k++) { fuzzer.publish('instore/boutique-1/sensors/b1/readings', '{"readings": [', { qos: 0 }); tried++ }
    }
    await fuzzer.publishAsync('instore/boutique-1/sensors/b1/readings', JSON.stringify({ ts: T + 70_000, readings: [] }), { qos: 1 })
    const metrics = async () => await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    await waitFor(async () => /instore_readings_total\{source="ble"\} [1-9]/.test(await metrics()), 10_000, 'honest readings')
    await waitFor(() => positions.length >= 50, 20_000, 'positions for the honest shopper')
    const m = await metrics()
    assert.doesNotMatch(m, /instore_internal_errors_total [1-9]/)
    const rejected = Object.fromEntries([...m.matchAll(/instore_rejected_total\{reason="(\w+)"\} (\d+)/g)].map(x => [x[1], Number(x[2])]))
    const total = Object.values(rejected).reduce((a, b) => a + b, 0)
    assert.ok(total > tried * 0.5, `only ${total} rejections counted for ${tried} hostile messages`)
    mkdirSync(join(ROOT, 'out'), { recursive: true })
    writeFileSync(join(ROOT, 'out/fuzz.json'), JSON.stringify({ tried, counted: total, rejected, crashes: 0, honestPositions: positions.length }, null, 2))
  } finally {
    await fuzzer.endAsync(true); await honest.endAsync(true)
    await g.stop()
  }
  const db = new Database(join(g.o.dataDir, 'gateway.sqlite'), { readonly: true })
  assert.equal((db.pragma('integrity_check') as Array<{ integrity_check: string }>)[0].integrity_check, 'ok')
  db.close()
})
