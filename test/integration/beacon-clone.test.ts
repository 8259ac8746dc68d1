// s11 tester G, defect 1, through a whole gateway (real broker over TCP, real SQLite): a clone of
// the site beacon beside b1 is refused and counted, b1's learned correction stays near zero (also
// after a restart on the same data), and /healthz names a possible clone rather than b1's mounting.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { loadSiteFile } from '../../shared/site.ts'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'

const site = loadSiteFile('sites/boutique.site.json')
const beacon = [...site.beacons.values()][0]
const T = 1_764_000_000_000
const model = (x: number, y: number, z: number, at1m: number) =>
  Math.round(at1m - 10 * site.radio.pathLossExponent * Math.log10(Math.max(0.5, Math.hypot(x - beacon.x, y - beacon.y, z - beacon.z))))

test('a cloned site beacon beside one sensor teaches self-calibration nothing, and /healthz says so', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'beacon-clone-'))
  const g = await startGateway({ dataDir })
  const c = await mqtt.connectAsync(g.mqttUrl)
  const quarters = 4 * 60
  try {
    for (let k = 0; k < quarters; k++) {
      const ts = T + k * 250
      for (const s of site.sensors.values()) {
        const readings = [
          { t: 'ble', id: 'tag-still', rssi: Math.round(site.radio.rssiAt1m - 22 * Math.log10(Math.hypot(5 - s.x, 6 - s.y, 1.6))), ts },
          { t: 'ble', id: beacon.id, rssi: model(s.x, s.y, s.z, beacon.rssiAt1m), ts }
        ]
        // The clone, at -40 dBm beside b1 from the 10th second on.
        if (s.id === 'b1' && k >= 40) readings.push({ t: 'ble', id: beacon.id, rssi: -40, ts })
        await c.publishAsync(`instore/${site.storeId}/sensors/${s.id}/readings`, JSON.stringify({ ts, readings }), { qos: 1 })
      }
    }
    await waitFor(() => metricValue(g.metrics, 'instore_selfcal_refused_total', '{reason="implausible"}') >= quarters - 40, 30_000, 'the clone refused')
    assert.ok(Math.abs(metricValue(g.metrics, 'instore_selfcal_correction_db', '{sensor="b1"}')) < 1, 'b1 correction')
    const health = (await (await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)).json()) as { problems: string[] }
    assert.ok(
      health.problems.some(p => /clone/.test(p) && p.includes('by b1')),
      JSON.stringify(health)
    )
    assert.ok(!health.problems.some(p => /mounted badly/.test(p)), JSON.stringify(health))
  } finally {
    await c.endAsync()
    await g.stop()
  }
  const again = await startGateway({ dataDir })
  try {
    const b1 = again.pipeline?.corrections.b1
    assert.ok(b1 !== undefined && Math.abs(b1) < 1, `b1 correction after a restart: ${b1}`)
  } finally {
    await again.stop()
  }
})
