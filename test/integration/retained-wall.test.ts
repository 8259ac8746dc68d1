// Outside tester's defect 5: in wall-clock mode (live), readings an external broker kept as
// retained and replayed when the gateway subscribed were taken as present: an hour-old reading
// made positions stamped now. A retained reading is refused as `retained` in every clock mode
// (a status message, retained on purpose, is still taken).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { defaultClockOptions } from '../../gateway/ingest/clock.ts'
import { eventPipelineOptions, metricValue } from '../helpers/gateway.ts'
import type { PositionMessageT } from '../../shared/messages.ts'

const HOUR = 3_600_000

for (const mode of ['wall', 'event'] as const) {
  test(`${mode} clock: hour-old retained readings replayed on subscribe are refused, not placed now`, () => {
    const site = loadSiteFile('sites/boutique.site.json')
    const wall = 1_764_000_000_000
    const positions: PositionMessageT[] = []
    const metrics = new Metrics()
    const p = new Pipeline(
      site,
      { ...eventPipelineOptions(() => wall), clock: { ...defaultClockOptions, mode, wall: () => wall } },
      { position: q => positions.push(q), occupancy() {}, events() {}, footfall() {} },
      metrics,
      silentLogger
    )
    const ts = wall - HOUR
    for (const sensor of ['b1', 'b2'])
      p.take(`instore/${site.storeId}/sensors/${sensor}/readings`, Buffer.from(JSON.stringify({ ts, readings: [{ t: 'ble', id: 'ghost:1', rssi: -60, ts }] })), { retained: true })
    p.take(`instore/${site.storeId}/sensors/b1/status`, Buffer.from('online'), { retained: true })
    p.advance()
    assert.equal(metricValue(metrics, 'instore_rejected_total', '{reason="retained"}'), 2)
    assert.equal(metricValue(metrics, 'instore_sensor_online', '{sensor="b1"}'), 1)
    assert.deepEqual(
      positions.filter(q => q.subject === 'ghost:1'),
      []
    )
  })
}
