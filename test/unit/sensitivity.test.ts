import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SensitivityFloors } from '../../gateway/estimation/sensitivity.ts'
import { Rng } from '../../shared/rng.ts'

// Readings of many devices at many distances: roughly normal in dBm, here N(-80, 8²).
function readings(n: number, seed: number): number[] {
  const r = new Rng(seed)
  return Array.from({ length: n }, () => Math.round(r.normal(-80, 8)))
}

test('sensitivity floor: a receiver that cuts off weak packets has one, at the cut', () => {
  const f = new SensitivityFloors()
  for (const v of readings(20_000, 1)) if (v >= -92) f.add('cut', v)
  assert.equal(f.floor('cut'), -92)
})

test('sensitivity floor: a natural tail is not a cut-off', () => {
  const f = new SensitivityFloors()
  for (const v of readings(20_000, 2)) f.add('tail', v)
  assert.equal(f.floor('tail'), -Infinity)
})

test('sensitivity floor: a few stray glitches far below do not hide the cut', () => {
  const f = new SensitivityFloors()
  for (const v of readings(20_000, 3)) if (v >= -92) f.add('glitchy', v)
  for (let i = 0; i < 5; i++) f.add('glitchy', -120)
  assert.equal(f.floor('glitchy'), -92)
})

test('sensitivity floor: unknown until the receiver has reported enough', () => {
  const f = new SensitivityFloors()
  for (const v of readings(200, 4)) if (v >= -92) f.add('new', v)
  assert.equal(f.floor('new'), -Infinity)
  assert.equal(f.floor('never-heard'), -Infinity)
})
