// With a late source on (Meraki), readings wait in the reorder buffer; their time is judged once,
// on arrival, and kept (issue 26, hostile test): released ~90 s later they must not be taken as
// clock skew and moved to the release instant.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { defaultClockOptions } from '../../gateway/ingest/clock.ts'
import type { PositionMessageT } from '../../shared/messages.ts'

const site = loadSiteFile('sites/boutique.site.json')
const LATE = 90_000

test('held native readings keep their own time when released: no skew, positions only while the device was heard', () => {
  const t0 = 1_764_000_000_000
  let now = t0
  const positions: PositionMessageT[] = []
  const metrics = new Metrics()
  const p = new Pipeline(
    site,
    {
      prefix: 'instore',
      secret: 's',
      clock: { ...defaultClockOptions, mode: 'wall', latenessMs: LATE, maxSkewMs: LATE, wall: () => now },
      tickMs: 1000,
      presenceMs: { ble: 10_000, wifi: 120_000 },
      maxMessageBytes: 1 << 16,
      selfCalibration: false,
      reorder: { aheadMs: defaultClockOptions.latenessMs }
    },
    { position: pos => positions.push(pos), occupancy() {}, events() {}, footfall() {} },
    metrics,
    silentLogger
  )
  // Heard for 20 s, then silent; time runs on past the late window.
  for (let i = 0; i < 80; i++) {
    now += 250
    for (const s of site.sensors.values()) {
      const d = Math.hypot(s.x - 10, s.y - 6, s.z - 1.2)
      const rssi = Math.round(site.radio.rssiAt1m - 10 * site.radio.pathLossExponent * Math.log10(d))
      p.handle(`instore/${site.storeId}/sensors/${s.id}/readings`, Buffer.from(JSON.stringify({ ts: now, readings: [{ t: 'ble', id: 'tag:held', rssi }] })))
    }
    p.advance()
  }
  for (let i = 0; i < 600; i++) {
    now += 250
    p.advance()
  }
  const text = metrics.text()
  assert.doesNotMatch(text, /instore_clock_skew_total(\{\})? [1-9]/, text)
  const mine = positions.filter(x => x.subject === 'tag:held')
  assert.ok(mine.length >= 5, `${mine.length} positions`)
  const last = Math.max(...mine.map(x => Date.parse(String(x.ts)) || Number(x.ts)))
  // Shown at most presence (10 s) past the last reading, never until the release instant.
  assert.ok(last <= t0 + 20_000 + 10_000 + 2_000, `last position ${last - t0} ms after start`)
})

const OUT_OF_WINDOW: Array<{ name: string; offsetMs: number; reason: string }> = [
  { name: 'older than the late window is dropped as late', offsetMs: -(LATE + 60_000), reason: 'late' },
  { name: 'far in the future is refused', offsetMs: 10 * 60_000, reason: 'bad_ts' }
]
for (const c of OUT_OF_WINDOW) {
  test(`an access point's record ${c.name}, never placed at its arrival`, () => {
    const now = 1_764_000_000_000
    const metrics = new Metrics()
    const s = loadSiteFile('sites/boutique.site.json')
    const ap = [...s.sensors.values()][0]
    ap.mac = 'e0:55:3d:00:00:01'
    const p = new Pipeline(
      s,
      {
        prefix: 'instore',
        secret: 's',
        clock: { ...defaultClockOptions, mode: 'wall', latenessMs: LATE, maxSkewMs: LATE, wall: () => now },
        tickMs: 1000,
        presenceMs: { ble: 10_000, wifi: 120_000 },
        maxMessageBytes: 1 << 16,
        selfCalibration: false,
        reorder: { aheadMs: defaultClockOptions.latenessMs }
      },
      { position() {}, occupancy() {}, events() {}, footfall() {} },
      metrics,
      silentLogger
    )
    p.handle(
      `instore/${s.storeId}/sensors/${ap.id}/readings`,
      Buffer.from(JSON.stringify({ readings: [{ t: 'wifi', mac: 'a4:83:e7:00:00:01', rssi: -60, ts: now + c.offsetMs }] }))
    )
    const text = metrics.text()
    assert.match(text, new RegExp(`instore_rejected_total\\{reason="${c.reason}"\\} 1`), text)
    assert.doesNotMatch(text, /instore_clock_skew_total(\{\})? [1-9]/, text)
  })
}
