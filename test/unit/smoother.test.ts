import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MotionFilter, defaultKalmanOptions } from '../../gateway/estimation/kalman.ts'
import { Rng } from '../../shared/rng.ts'

// A position is published for 2 s before its tick (tracker option reportLagMs): the smoother says
// where the device was then, from the fixes up to the tick.
const LAG_MS = 2000

/** Fixes of a device at `speed` m/s along x, one a second, noisy by `noise` m; the error of what is published for each moment. */
function publishedError(smoothSteps: number, speed: number, noise: number, seed: number): number {
  const r = new Rng(seed)
  const f = new MotionFilter({ ...defaultKalmanOptions, smoothSteps })
  let err = 0
  let n = 0
  for (let k = 0; k <= 40; k++) {
    const t = k * 1000
    f.update(t, speed * k + r.normal(0, noise), r.normal(0, noise), noise * noise + 0.01, noise * noise + 0.01, 0)
    if (k < 10) continue
    const at = f.smoothed(t - LAG_MS)
    err += Math.hypot(at.x - speed * (k - LAG_MS / 1000), at.y)
    n++
  }
  return err / n
}

test('a walking device: what is published for a moment before the tick is where it was then, not where it is now', () => {
  for (const [speed, noise, bound] of [
    [1.2, 0.1, 0.4],
    [1.2, 1, 1],
    [0.5, 1, 0.9]
  ]) {
    const smoothed = publishedError(defaultKalmanOptions.smoothSteps, speed, noise, 5)
    const filtered = publishedError(0, speed, noise, 5)
    assert.ok(smoothed < bound, `${speed} m/s, ${noise} m noise: error ${smoothed.toFixed(2)} m`)
    assert.ok(smoothed < filtered, `${speed} m/s: smoothed ${smoothed.toFixed(2)} m, newest filtered state ${filtered.toFixed(2)} m`)
  }
})

test('a standing device: smoothing keeps it where it stands, and averages at least as well as the filter', () => {
  const smoothed = publishedError(defaultKalmanOptions.smoothSteps, 0, 1.5, 3)
  const filtered = publishedError(0, 0, 1.5, 3)
  assert.ok(smoothed < 0.9, `error ${smoothed.toFixed(2)} m`)
  assert.ok(smoothed <= filtered * 1.05, `smoothed ${smoothed.toFixed(2)} m, filtered ${filtered.toFixed(2)} m`)
})

test('without kept steps, or before the second fix, the smoothed position is the filtered one', () => {
  const plain = new MotionFilter({ ...defaultKalmanOptions, smoothSteps: 0 })
  const kept = new MotionFilter()
  for (const f of [plain, kept]) f.update(0, 3, 4, 1, 1, 0)
  assert.deepEqual(kept.smoothed(-LAG_MS), { x: 3, y: 4, accuracy: kept.accuracy() })
  for (const f of [plain, kept]) for (let k = 1; k < 10; k++) f.update(k * 1000, 3 + k, 4, 1, 1, 0)
  assert.deepEqual(plain.smoothed(9000 - LAG_MS), { x: plain.x, y: plain.y, accuracy: plain.accuracy() })
  const at = kept.smoothed(9000 - LAG_MS)
  assert.ok(Math.abs(at.x - 10) < 0.5, `x ${at.x}`)
})

test('a re-initialised track forgets the steps before the jump', () => {
  const f = new MotionFilter()
  for (let k = 0; k < 10; k++) f.update(k * 1000, 0, 0, 0.25, 0.25, 0)
  // Three wild fixes in a row: the filter restarts on the third, and smooths nothing from before it.
  for (let k = 10; k < 13; k++) f.update(k * 1000, 40, 0, 0.25, 0.25, 0)
  const at = f.smoothed(12_000 - LAG_MS)
  assert.ok(Math.abs(at.x - 40) < 0.5, `x ${at.x}`)
  assert.ok(Number.isFinite(at.accuracy) && at.accuracy > 0)
})
