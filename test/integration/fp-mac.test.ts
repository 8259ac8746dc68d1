// Defect left open last round: a Wi-Fi reading's probe fingerprint `fp` (contract §2 extension,
// free text from the sniffer) that looks like a MAC address, or holds one, was kept as sent: people
// counting learns places per fingerprint and keeps them in the gateway's SQLite state, so the
// address reached the disk raw. Now every fp is hashed at ingest (counted) before anything keeps it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { startGateway, metricValue, waitFor } from '../helpers/gateway.ts'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { ROOT } from '../helpers/run.ts'
import { createLogger } from '../../shared/log.ts'
import { GatewayStore } from '../../gateway/io/store.ts'

const T = Date.UTC(2026, 10, 2, 9)
// Every spelling of one address family, and one inside a longer fingerprint.
// The last four are spellings no recogniser found (s10 re-tester G): padded to 64 bits, an EUI-64,
// a counter after the address, a hex word run into it.
const FPS = [
  'DE:AD:BE:EF:00:31',
  'DEADBEEF0032',
  'dead.beef.0033',
  'de-ad-be-ef-00-34',
  'ie_de:ad:be:ef:00:35_v2',
  '0000deadbeef0036',
  'deadbefffeef0037',
  'deadbeef00380001',
  'ie0deadbeef0039'
]
const LEAK = /de.?ad.?be.?(ff.?fe.?)?ef/i
const site = parseSite(loadSiteFile(join(ROOT, 'sites/boutique.site.json')).file)

test('a MAC-shaped probe fingerprint is hashed before people counting keeps it: no form of it in the SQLite files, the log or on MQTT', async () => {
  const lines: string[] = []
  const dataDir = mkdtempSync(join(tmpdir(), 'fp-mac-'))
  const g = await startGateway({ dataDir, log: createLogger({ level: 'debug', write: l => lines.push(l) }) })
  const spy = await mqtt.connectAsync(g.mqttUrl)
  const seen: string[] = []
  spy.on('message', (t, p) => {
    if (!/\/(sensors|devices)\//.test(t)) seen.push(`${t} ${p.toString()}`)
  })
  await spy.subscribeAsync('instore/#', { qos: 1 })
  const c = await mqtt.connectAsync(g.mqttUrl)
  let n = 0
  try {
    // 80 minutes of always-on devices at (12, 4.5), one per fingerprint, a new random address every
    // 2 minutes: heard in more than six 10-minute slots, a place people counting keeps per fingerprint.
    for (let ts = T; ts < T + 80 * 60_000; ts += 120_000) {
      for (const [i, fp] of FPS.entries()) {
        n++
        const mac = `0a:00:02:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`
        for (const s of site.sensors.values()) {
          const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(12 - s.x, 4.5 - s.y, 1.6)))
          if (rssi < -95) continue
          const reading = { t: 'wifi', mac, rssi, ts: ts + i * 100, seq: (n * 7) % 4096, fp }
          await c.publishAsync(`instore/${site.storeId}/sensors/${s.id}/readings`, JSON.stringify({ ts: ts + i * 100, readings: [reading] }), { qos: 1 })
        }
      }
    }
    await waitFor(() => metricValue(g.metrics, 'instore_fields_hashed_total', '{field="fp"}') >= n, 30_000, 'every MAC-shaped fp counted')
    await waitFor(() => (g.pipeline?.backlog ?? 0) === 0, 30_000, 'the readings worked through')
  } finally {
    await c.endAsync()
    await spy.endAsync()
    await g.stop()
  }
  // The places were kept (else the check below proves nothing), under hashed fingerprints.
  const store = new GatewayStore(dataDir)
  const kept = store.loadLearned('people-learned')?.state ?? ''
  store.close()
  const places = (JSON.parse(kept) as { places: Array<{ fp: string }> }).places
  assert.ok(places.length >= FPS.length, `places kept: ${kept.slice(0, 300)}`)
  for (const p of places) assert.match(p.fp, /^h:[0-9a-f]{16}$/)
  assert.deepEqual(seen.filter(l => LEAK.test(l)).slice(0, 3), [], 'topics and payloads')
  assert.deepEqual(lines.filter(l => LEAK.test(l)).slice(0, 3), [], 'log lines')
  for (const f of readdirSync(dataDir)) assert.ok(!LEAK.test(readFileSync(join(dataDir, f)).toString('latin1')), `${f} holds a raw MAC`)
})
