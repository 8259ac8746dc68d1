// Outside tester's defects 4 and 8, what /healthz says of a sender's clock: a phone running ahead
// is named as a phone, never by its raw MQTT client id (which may carry a MAC: ESP32-AABBCCDDEEFF;
// /metrics already said `phones`); and a sensor whose clock lags the others, all of its readings
// refused as late, is named instead of the gateway saying ok.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile, parseSite, type Site } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { eventPipelineOptions, metricValue } from '../helpers/gateway.ts'
import { gatewayHealth } from '../../gateway/health.ts'

const T0 = Date.UTC(2026, 10, 1, 10)
const HOUR = 3_600_000

function health(site: Site, p: Pipeline) {
  return gatewayHealth({
    site,
    dataDir: mkdtempSync(join(tmpdir(), 'health-senders-')),
    clock: 'event',
    sensorSilenceMs: 600_000,
    bus: null,
    uplink: null,
    siteOutdated: false,
    store: null,
    pipeline: p,
    presence: null,
    lastWorkAt: Date.now(),
    startedAt: Date.now()
  })
}

function pipelineOn(site: Site, metrics = new Metrics()): Pipeline {
  return new Pipeline(
    site,
    eventPipelineOptions(() => T0 + 400 * 24 * HOUR),
    { position() {}, occupancy() {}, events() {}, footfall() {} },
    metrics,
    silentLogger
  )
}

test('a phone whose clock runs ahead is named as a phone in /healthz, not by its MQTT client id', () => {
  const json = JSON.parse(readFileSync('sites/boutique.site.json', 'utf8')) as { features: Array<{ properties: { kind?: string } }> }
  json.features = json.features.filter(f => f.properties.kind !== 'sensor')
  const site = parseSite(json, 'no-sensors')
  const beacon = [...site.beacons.keys()][0]
  const p = pipelineOn(site)
  const scan = (device: string, ts: number, client: string) =>
    p.take(`instore/${site.storeId}/devices/${device}/scans`, Buffer.from(JSON.stringify({ ts, beacons: [{ id: beacon, rssi: -70 }] })), { client })
  for (let s = 0; s < 20; s++) {
    for (let i = 0; i < 5; i++) scan(`phone-${i}`, T0 + s * 1000 + i * 10, `c${i}`)
    scan('esp', T0 + s * 1000 + 299_000, 'ESP32-AABBCCDDEEFF')
    p.advance()
  }
  const h = health(site, p)
  assert.ok(
    h.problems.some(x => /^a phone's clock runs 29\d s ahead/.test(x)),
    h.problems.join('; ')
  )
  assert.ok(!h.problems.some(x => /ESP32|AABBCC|client:/i.test(x)), h.problems.join('; '))
})

test('event mode: a sensor an hour behind the others is named by /healthz (its readings all refused as late)', () => {
  const site = loadSiteFile('sites/boutique.site.json')
  const metrics = new Metrics()
  const p = pipelineOn(site, metrics)
  const sensors = [...site.sensors.keys()]
  const lagging = sensors[sensors.length - 1]
  for (let s = 0; s < 60; s++) {
    for (const id of sensors) {
      const ts = T0 + s * 1000 - (id === lagging ? HOUR : 0)
      p.handle(`instore/${site.storeId}/sensors/${id}/readings`, Buffer.from(JSON.stringify({ ts, readings: [{ t: 'ble', id: 'tag:1', rssi: -65, ts }] })))
    }
  }
  assert.ok(metricValue(metrics, 'instore_rejected_total', '{reason="late"}') >= 50)
  const h = health(site, p)
  assert.ok(h.problems.includes(`sensor ${lagging} sends 3600 s behind the event clock: its readings are refused as late (its clock lags?)`), h.problems.join('; '))
  // Every other sensor is in time: only the lagging one is named.
  assert.equal(h.problems.filter(x => x.includes('behind the event clock')).length, 1)
  assert.equal(metricValue(metrics, 'instore_clock_behind_seconds', `{sender="${lagging}"}`), 3600)
})
