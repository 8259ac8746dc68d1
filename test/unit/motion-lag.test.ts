// The steady walk the motion-lag bench (bench/motion-lag.ts) measures the estimator's own lag on:
// if its readings were late, or its truth moved at another speed, the lag it reports would not be
// the estimator's.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { expectedRssi, sensorModels } from '../../gateway/estimation/radio-model.ts'
import { isReading, isTruth, type TraceLine } from '../../shared/trace.ts'
import { flatSite, steadyWalk } from '../../bench/motion-lag.ts'

const site = flatSite()
const models = sensorModels(site)

function truthOf(lines: TraceLine[]): Array<{ ts: number; x: number; y: number }> {
  return lines.flatMap(l => (isTruth(l) ? [{ ts: l.ts, x: l.truth.x, y: l.truth.y }] : []))
}

test('the walk goes back and forth between x = 1 and x = 8 at the speed asked', () => {
  for (const speed of [0.2, 0.5, 1]) {
    const truth = truthOf(steadyWalk(site, speed, 0, 60_000))
    let moved = 0
    for (let i = 1; i < truth.length; i++) moved += Math.hypot(truth[i].x - truth[i - 1].x, truth[i].y - truth[i - 1].y)
    const span = (truth[truth.length - 1].ts - truth[0].ts) / 1000
    assert.ok(Math.abs(moved / span - speed) < 0.01 * speed, `${speed} m/s: ${moved / span}`)
    assert.ok(truth.every(p => p.x >= 1 - 1e-9 && p.x <= 8 + 1e-9 && p.y === 3.5))
  }
})

test('without noise each reading is the model at the truth of its own time (none late); with noise it spreads by the noise asked', () => {
  for (const noise of [0, 4]) {
    const lines = steadyWalk(site, 0.5, noise, 120_000)
    const truth = new Map(truthOf(lines).map(p => [p.ts, p]))
    const residuals: number[] = []
    for (const l of lines) {
      if (!isReading(l) || l.t !== 'ble') continue
      const m = models.get(l.sensor)
      const p = truth.get(l.ts)
      assert.ok(m !== undefined && p !== undefined, `a reading at ${l.ts} without its truth`)
      residuals.push(l.rssi - expectedRssi(m, Math.hypot(p.x - m.x, p.y - m.y, site.radio.tagHeightM - m.z)))
    }
    const mean = residuals.reduce((a, r) => a + r, 0) / residuals.length
    const sd = Math.sqrt(residuals.reduce((a, r) => a + (r - mean) ** 2, 0) / residuals.length)
    assert.ok(Math.abs(mean) < 0.1 + noise * 0.05 && Math.abs(sd - noise) < 0.05 * noise + 1e-9, `noise ${noise}: mean ${mean}, sd ${sd}`)
  }
})

test('every receiver is heard three times a second, and a heartbeat each second', () => {
  const lines = steadyWalk(site, 0.2, 4, 30_000)
  for (const id of models.keys()) {
    const heard = lines.filter(l => isReading(l) && l.t === 'ble' && l.sensor === id).length
    assert.ok(Math.abs(heard - 91) <= 1, `${id}: ${heard}`)
    assert.equal(lines.filter(l => 'heartbeat' in l && l.sensor === id).length, 31)
  }
})
