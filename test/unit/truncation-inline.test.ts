// The truncation correction near a receiver's reporting floor is written out inline in the
// solver's cost (likelihood.ts) and the street-walk test's (walk-cost.ts), for speed (issue 28:
// as a call per sensor per evaluation its numbers came back through the heap). Both must give what
// `truncatedMean` (sensitivity.ts, the definition) gives, to the bit: one reading at a time, its
// offset pinned, so the cost and gradient can be worked out here from truncatedMean directly.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Problem, type Gradient } from '../../gateway/estimation/likelihood.ts'
import { WalkCosts } from '../../gateway/estimation/walk-cost.ts'
import { RadioMap } from '../../gateway/estimation/radio-map.ts'
import { truncatedMean } from '../../gateway/estimation/sensitivity.ts'
import { MIN_DISTANCE_M, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import type { Observation } from '../../gateway/estimation/solver.ts'
import { Rng } from '../../shared/rng.ts'

const LN10 = Math.LN10

test('the inlined truncation gives the cost and gradient truncatedMean gives, to the bit, near the floor and far from it', () => {
  const rng = new Rng(2807)
  const map = new RadioMap({ x0: -5, y0: -5, cell: 2, nx: 20, ny: 15, values: Array.from({ length: 300 }, () => Math.round(rng.normal(0, 3) * 10) / 10) })
  const o = { tagHeight: 1.2, huberK: 2, bounds: [-10, -10, 40, 30] as [number, number, number, number] }
  let nearFloor = 0
  let clamped = 0
  for (let trial = 0; trial < 2000; trial++) {
    const s: SensorModel = {
      id: 's',
      x: rng.uniform(0, 30),
      y: rng.uniform(0, 20),
      z: 2.8,
      floor: 0,
      a: -59 + rng.normal(0, 2),
      n: 2 + rng.uniform(0, 1),
      map: trial % 3 === 0 ? map : undefined
    }
    const ob: Observation = {
      sensor: s,
      rssi: -60 - rng.uniform(0, 40),
      sigma: 1 + rng.uniform(0, 3),
      floorDbm: -110 + rng.uniform(0, 50),
      rawSigmaDb: trial % 5 === 0 ? undefined : 3 + rng.uniform(0, 5)
    }
    const x = rng.uniform(-8, 38)
    const y = rng.uniform(-8, 28)
    const b = rng.normal(0, 6)
    // By the definition: the expected reading, truncated at the floor for offset b.
    const dx = x - s.x
    const dy = y - s.y
    const dz = o.tagHeight - s.z
    const d2 = Math.max(dx * dx + dy * dy + dz * dz, MIN_DISTANCE_M * MIN_DISTANCE_M)
    let expected = s.a - 5 * s.n * Math.log10(d2)
    const grad = { gx: 0, gy: 0 }
    if (s.map) expected += s.map.at(x, y, grad)
    const t = truncatedMean(expected + b, ob.rawSigmaDb ?? 6, ob.floorDbm as number)
    if (t.slope !== 1) nearFloor++
    if (t.slope === 0.02) clamped++
    const e = ob.rssi - (t.mean - b)
    const r = (e - b) / ob.sigma
    const ar = Math.abs(r)
    const cost = ar <= o.huberK ? r * r : 2 * o.huberK * ar - o.huberK * o.huberK
    const c = (t.slope * 10 * s.n) / (LN10 * d2)
    const jx = (c * dx - t.slope * grad.gx) / ob.sigma
    const w = ar <= o.huberK ? 1 : o.huberK / ar
    // The solver's cost with the offset pinned at b, and its gradient.
    const p = new Problem([ob], { ...o, offsetPrior: { mean: b, sd: 0 } })
    const g: Gradient = { gx: 0, gy: 0, hxx: 0, hyy: 0, hxy: 0 }
    assert.equal(p.evaluate(x, y, g), 0 + cost, `trial ${trial}: cost`)
    assert.equal(g.gx, 0 + w * r * jx, `trial ${trial}: gradient`)
    assert.equal(g.hxx, 0 + w * jx * jx, `trial ${trial}: curvature`)
    // The street-walk test's packed cost of the same reading.
    assert.equal(new WalkCosts([{ obs: [{ ...ob, floorDbm: ob.floorDbm }], silent: [] }], o.tagHeight, o.huberK).heard(0, x, y, b), 0 + cost, `trial ${trial}: walk cost`)
  }
  assert.ok(nearFloor > 200 && clamped > 20, `only ${nearFloor} readings near their floor, ${clamped} deep under it`)
})
