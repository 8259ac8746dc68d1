// The estimation hot paths made allocation-free or packed must answer exactly as the plain versions did.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Rng } from '../../shared/rng.ts'
import { nearestSilent, nearestSilentInto, type Observation, type Silence } from '../../gateway/estimation/solver.ts'
import { WalkHistory, WALK_HISTORY_MS, WALK_SAMPLE_MS, WALK_SENSORS } from '../../gateway/estimation/street-walk.ts'
import type { SensorModel } from '../../gateway/estimation/radio-model.ts'
import { RadioMap } from '../../gateway/estimation/radio-map.ts'
import { Problem } from '../../gateway/estimation/likelihood.ts'
import { WalkCosts } from '../../gateway/estimation/walk-cost.ts'

/** The selection as first written (splice into a fresh list): what the reused scratch must reproduce. */
function reference(all: Silence[], x: number, y: number): Silence[] {
  if (all.length <= 3) return all
  const near: Silence[] = []
  const d2: number[] = []
  for (const q of all) {
    const d = (q.sensor.x - x) ** 2 + (q.sensor.y - y) ** 2
    let i = near.length
    if (i === 3 && d >= d2[i - 1]) continue
    if (i === 3) {
      near.pop()
      d2.pop()
      i--
    }
    while (i > 0 && d2[i - 1] > d) i--
    near.splice(i, 0, q)
    d2.splice(i, 0, d)
  }
  return near
}

const silence = (id: string, x: number, y: number): Silence => ({ sensor: { id, x, y, z: 2.5, floor: 0, a: -59, n: 2.2 } as SensorModel, floorDbm: -95 })

test('nearest silent sensors into reused scratch: the same sensors in the same order as a fresh list, ties included', () => {
  const grid = Array.from({ length: 25 }, (_, i) => silence(`g${i}`, 5 * (i % 5), 5 * Math.floor(i / 5)))
  const rng = new Rng(28)
  const random = Array.from({ length: 40 }, (_, i) => silence(`r${i}`, rng.uniform(-20, 60), rng.uniform(-20, 40)))
  const cases: Array<[string, Silence[]]> = [
    ['none', []],
    ['two', grid.slice(0, 2)],
    ['three', grid.slice(0, 3)],
    ['four', grid.slice(0, 4)],
    // A regular grid puts sensors at equal distances: the first of equals must stay first.
    ['a grid, ties everywhere', grid],
    ['scattered', random],
    ['scattered, reversed', [...random].reverse()]
  ]
  const out: Silence[] = []
  const d2 = new Float64Array(3)
  for (const [name, all] of cases) {
    for (let k = 0; k < 50; k++) {
      const x = rng.uniform(-25, 65)
      const y = k % 5 === 0 ? 10 : rng.uniform(-25, 45)
      const want = reference(all, x, y).map(q => q.sensor.id)
      assert.deepEqual(
        nearestSilentInto(all, x, y, out, d2).map(q => q.sensor.id),
        want,
        `${name} at (${x}, ${y})`
      )
      assert.deepEqual(
        nearestSilent(all, x, y).map(q => q.sensor.id),
        want,
        `${name} at (${x}, ${y}), fresh list`
      )
    }
  }
})

test('walk history: one buffer a device holds every kept fix exactly as packed alone, and stays bounded however long it runs', () => {
  const sensors = Array.from({ length: 30 }, (_, i) => ({ id: `s${i}`, x: i, y: 0, z: 2.5, floor: 0, a: -59, n: 2.2 }))
  const index = new Map(sensors.map((s, i) => [s.id, i]))
  const rng = new Rng(6)
  const h = new WalkHistory()
  const packed = new Map<number, number[]>()
  let most = 0
  for (let t = 0; t < 600_000; t += 1000) {
    // Each fix hears a different number of sensors (a fix larger than the last must still fit).
    const heard = 1 + rng.int(0, 20)
    const quiet = rng.int(0, 10)
    const obs: Observation[] = sensors
      .slice(0, heard)
      .map(s => ({ sensor: s, rssi: rng.uniform(-95, -40), sigma: rng.uniform(2, 6), floorDbm: rng.chance(0.5) ? -Infinity : -96, rawSigmaDb: 6 }))
    const silent: Silence[] = sensors.slice(heard, heard + quiet).map(s => ({ sensor: s, floorDbm: rng.uniform(-100, -90) }))
    const kept = [...obs].sort((a, b) => b.rssi - b.sensor.a - (a.rssi - a.sensor.a)).slice(0, WALK_SENSORS)
    packed.set(
      t,
      Array.from(
        new Float32Array([
          ...(obs.length <= WALK_SENSORS ? obs : kept).flatMap(o => [index.get(o.sensor.id) ?? -1, o.rssi, o.sigma, o.floorDbm ?? -Infinity, o.rawSigmaDb ?? 6]),
          ...silent.flatMap(q => [index.get(q.sensor.id) ?? -1, q.floorDbm])
        ])
      )
    )
    h.add(t, t / 1000, 0, obs, silent, index)
    if (t === 300_000) h.clear()
    for (const f of h.fixes) assert.deepEqual(Array.from(f.data.subarray(f.at, f.end)), packed.get(f.t), `fix at ${f.t}, added at ${t}`)
    assert.ok(h.fixes.length <= WALK_HISTORY_MS / WALK_SAMPLE_MS + 1)
    most = Math.max(most, h.bytes)
  }
  // At most 16 fixes of at most 16 heard and 9 silent sensors, and half as much again.
  assert.ok(most <= 4 * Math.ceil(1.5 * 17 * (5 * 16 + 2 * 9)), `buffer grew to ${most} bytes`)
})

test("street walk's packed costs: a fix's heard and silent costs to the bit as its pinned Problem's, with floors, maps and far sensors", () => {
  const rng = new Rng(280)
  const map = new RadioMap({ x0: -5, y0: -5, cell: 2, nx: 20, ny: 15, values: Array.from({ length: 300 }, () => Math.round(rng.normal(0, 3) * 10) / 10) })
  const sensors: SensorModel[] = Array.from({ length: 12 }, (_, i) => ({
    id: `s${i}`,
    // On a grid 10 m apart: places 5 m apart between them are as far from two or four of them.
    x: 10 * (i % 4),
    y: 10 * Math.floor(i / 4),
    z: 2.5 + (i % 3) * 0.5,
    floor: 0,
    a: -59 + rng.normal(0, 2),
    n: 2 + rng.uniform(0, 1),
    map: i % 4 === 0 ? map : undefined
  }))
  const o = { tagHeight: 1.2, huberK: 2, bounds: [-10, -10, 40, 30] as [number, number, number, number] }
  const fixes = Array.from({ length: 6 }, (_, j) => {
    const heard = sensors.filter((_, i) => (i + j) % 3 !== 0)
    const obs: Observation[] = heard.map((sensor, i) => ({
      sensor,
      rssi: -60 - rng.uniform(0, 35),
      sigma: 1 + rng.uniform(0, 3),
      floorDbm: i % 2 === 0 ? -Infinity : -95 + rng.uniform(0, 5),
      rawSigmaDb: 4 + rng.uniform(0, 4)
    }))
    // Four silent sensors (the nearest three count), two (both count), or none.
    const all = sensors.filter((_, i) => (i + j) % 3 === 0).map(sensor => ({ sensor, floorDbm: -97 + rng.uniform(0, 6) }))
    const silent: Silence[] = j === 5 ? [] : j === 4 ? all.slice(0, 2) : all
    return { obs, silent }
  })
  const costs = new WalkCosts(fixes, o.tagHeight, o.huberK)
  for (let j = 0; j < fixes.length; j++) {
    const p = new Problem(fixes[j].obs, { ...o, offsetPrior: { mean: 0, sd: 0 }, silent: fixes[j].silent })
    for (let trial = 0; trial < 200; trial++) {
      // Half the trials on a 5 m grid: ties in distance among the nearest silent sensors.
      const x = trial % 2 === 0 ? 5 * Math.floor(rng.uniform(-1, 8)) : rng.uniform(-15, 45)
      const y = trial % 2 === 0 ? 5 * Math.floor(rng.uniform(-1, 6)) : rng.uniform(-15, 35)
      const b = rng.normal(0, 6)
      p.pinOffset(b)
      assert.equal(costs.heard(j, x, y, b), p.evaluate(x, y), `fix ${j} at ${x}, ${y}, offset ${b}`)
      assert.equal(costs.hasSilent(j), fixes[j].silent.length > 0)
      if (costs.hasSilent(j)) assert.equal(costs.silent(j, x, y, b), p.silenceAt(nearestSilent(fixes[j].silent, x, y), x, y, b), `silent, fix ${j}`)
    }
  }
})
