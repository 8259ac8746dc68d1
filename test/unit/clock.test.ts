// Wall-clock mode: sensors whose clocks are off, ahead or behind, still place their devices.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { defaultClockOptions } from '../../gateway/ingest/clock.ts'
import type { PositionMessageT } from '../../shared/messages.ts'

const site = loadSiteFile('sites/boutique.site.json')

/** Ten seconds of one device heard by every sensor, each batch stamped `offsetMs` off the wall clock. */
function run(offsetMs: number): { positions: PositionMessageT[]; metrics: string } {
  let now = 1_764_000_000_000
  const positions: PositionMessageT[] = []
  const metrics = new Metrics()
  const p = new Pipeline(
    site,
    {
      prefix: 'instore',
      secret: 's',
      clock: { ...defaultClockOptions, mode: 'wall', wall: () => now },
      tickMs: 1000,
      presenceMs: { ble: 10_000, wifi: 120_000 },
      maxMessageBytes: 1 << 16,
      selfCalibration: false
    },
    { position: pos => positions.push(pos), occupancy() {}, events() {}, footfall() {} },
    metrics,
    silentLogger
  )
  for (let i = 0; i < 40; i++) {
    now += 250
    for (const s of site.sensors.values()) {
      const d = Math.hypot(s.x - 10, s.y - 6, s.z - 1.2)
      const rssi = Math.round(site.radio.rssiAt1m - 10 * site.radio.pathLossExponent * Math.log10(d))
      p.handle(`instore/${site.storeId}/sensors/${s.id}/readings`, Buffer.from(JSON.stringify({ ts: now + offsetMs, readings: [{ t: 'ble', id: 'tag:wall', rssi }] })))
    }
    p.advance()
  }
  return { positions, metrics: metrics.text() }
}

for (const offsetMs of [0, -1500, -4000, -60_000, 30_000]) {
  test(`wall clock: a sensor clock ${offsetMs} ms off still gives positions near the device`, () => {
    const { positions, metrics } = run(offsetMs)
    assert.ok(positions.length >= 5, `${positions.length} positions\n${metrics}`)
    const last = positions[positions.length - 1]
    assert.ok(Math.hypot(last.x - 10, last.y - 6) < 1.5, JSON.stringify(last))
    assert.doesNotMatch(metrics, /instore_rejected_total\{reason="late"\} [1-9]/)
    if (Math.abs(offsetMs) > defaultClockOptions.maxSkewMs) assert.match(metrics, /instore_clock_skew_total(\{\})? [1-9]/)
  })
}
