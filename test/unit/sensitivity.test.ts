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
  for (const [i, v] of readings(20_000, 1).entries()) if (v >= -92) f.add('cut', v, i % 500)
  assert.equal(f.floor('cut'), -92)
})

test('sensitivity floor: a natural tail is not a cut-off', () => {
  const f = new SensitivityFloors()
  for (const [i, v] of readings(20_000, 2).entries()) f.add('tail', v, i % 500)
  assert.equal(f.floor('tail'), -Infinity)
})

test('sensitivity floor: a few stray glitches far below do not hide the cut', () => {
  const f = new SensitivityFloors()
  for (const [i, v] of readings(20_000, 3).entries()) if (v >= -92) f.add('glitchy', v, i % 500)
  for (let i = 0; i < 5; i++) f.add('glitchy', -120, 999)
  assert.equal(f.floor('glitchy'), -92)
})

test('sensitivity floor: unknown until the receiver has reported enough', () => {
  const f = new SensitivityFloors()
  for (const [i, v] of readings(200, 4).entries()) if (v >= -92) f.add('new', v, i % 50)
  assert.equal(f.floor('new'), -Infinity)
  assert.equal(f.floor('never-heard'), -Infinity)
})

// Outside tester G's repro (test/integration/stable-id-flood.test.ts): a crowd of 29 tags at one spot
// reads -80 ± 2 at a far receiver, one shopper beside it -83 ± 2, one reading each a second. The
// shopper's readings are the weakest level and more than a hundredth of them: taken for the
// receiver's cut-off, they were read as louder than the shopper's place and moved it out of the shop.
test("sensitivity floor: one device's readings at the bottom of a crowd's are no cut-off", () => {
  const f = new SensitivityFloors()
  for (let s = 0; s < 60; s++) {
    for (let n = 0; n < 29; n++) f.add('far', -80 + ((n + s) % 5) - 2, n)
    f.add('far', -83 + (s % 5) - 2, 29)
  }
  assert.equal(f.floor('far'), -Infinity)
})

test("sensitivity floor: a crowd's readings at one level are no cut-off", () => {
  const f = new SensitivityFloors()
  for (let s = 0; s < 60; s++) for (let n = 0; n < 10; n++) f.add('far', -80 + ((n + s) % 5) - 2, n)
  assert.equal(f.floor('far'), -Infinity)
})

test('sensitivity floor: saved and taken up again, with the devices of the pile', () => {
  const f = new SensitivityFloors()
  for (const [i, v] of readings(20_000, 1).entries()) if (v >= -92) f.add('cut', v, i % 500)
  const g = new SensitivityFloors()
  g.restore(JSON.parse(JSON.stringify(f.snapshot())), new Set(['cut']))
  assert.equal(g.floor('cut'), -92)
  // A lone device's pile stays one device's after a restart.
  const lone = new SensitivityFloors()
  for (let s = 0; s < 60; s++) {
    for (let n = 0; n < 29; n++) lone.add('far', -80 + ((n + s) % 5) - 2, n)
    lone.add('far', -83 + (s % 5) - 2, 29)
  }
  const h = new SensitivityFloors()
  h.restore(JSON.parse(JSON.stringify(lone.snapshot())), new Set(['far']))
  assert.equal(h.floor('far'), -Infinity)
  // What an earlier gateway saved has no devices: its piles are taken as before.
  const old = new SensitivityFloors()
  old.restore({ cut: f.snapshot().cut.map(([i, c]) => [i, c] as [number, number]) }, new Set(['cut']))
  assert.equal(old.floor('cut'), -92)
})
