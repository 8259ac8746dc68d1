// The solver pool's sensor table (issue 28): each model a round names gets one place, by identity,
// in first-named order; a model whose radio map the workers do not know gets none; a worker's copy
// of the table holds the very numbers, and a question packed by place unpacks to the question
// packed in place.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { sensorModels, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import { RadioMap } from '../../gateway/estimation/radio-map.ts'
import { buildMaps, packQuestion, questionSize, unpackQuestion } from '../../gateway/estimation/pool-codec.ts'
import { SensorTable, unpackTable } from '../../gateway/estimation/pool-sensor-table.ts'
import type { Observation, SolverOptions } from '../../gateway/estimation/solver.ts'

const site = loadSiteFile('sites/hypermarket.site.json')
const models = [...sensorModels(site).values()]
const map = new RadioMap({ x0: 0, y0: 0, cell: 5, nx: 3, ny: 2, values: [1, 2, 3, 4, 5, 6], support: [1, 1, 1, 1, 1, 1] })
const MAPS = { ids: [models[2].id], data: [map.d] }

test('places go by identity in first-named order; an unknown radio map gets none', () => {
  const t = new SensorTable(MAPS)
  assert.equal(t.ref(models[5]), 0)
  assert.equal(t.ref(models[1]), 1)
  assert.equal(t.ref(models[5]), 0)
  // The same numbers in another object: a place of its own (it may differ by the next round).
  assert.equal(t.ref({ ...models[5] }), 2)
  assert.equal(t.ref({ ...models[2], map }), 3)
  assert.equal(t.ref({ ...models[3], map }), -1, 'a map the workers were not given')
  assert.equal(t.ref({ ...models[2], map: new RadioMap(map.d) }), 3 + 1, 'the known map data in a new RadioMap is the same data')
  assert.equal(t.size, 5)
  t.clear()
  assert.equal(t.size, 0)
  assert.equal(t.ref(models[1]), 0)
})

test('a question packed by place unpacks to the question packed in place, number for number', () => {
  const withMap: SensorModel = { ...models[2], map }
  const obs: Observation[] = [
    { sensor: models[0], rssi: -71, sigma: 4.5, ageMs: 300 },
    { sensor: withMap, rssi: -80.25, sigma: 5, floorDbm: -96, rawSigmaDb: 2.5 },
    { sensor: { ...models[7], spreadScale: 1.5 }, rssi: -66, sigma: 3 }
  ]
  const o: SolverOptions = {
    tagHeight: 1.2,
    bounds: site.bbox,
    huberK: 1.5,
    silent: [
      { sensor: models[9], floorDbm: -97 },
      { sensor: models[0], floorDbm: -95 }
    ],
    gridTemperature: 2,
    prior: { x: 10.5, y: 3 },
    offsetPrior: { mean: -1, sd: 3 }
  }
  const inPlace = new Float64Array(questionSize(3, 2))
  assert.ok(packQuestion(inPlace, 0, obs, o, MAPS))
  const t = new SensorTable(MAPS)
  const byPlace = new Float64Array(questionSize(3, 2, 1))
  assert.ok(packQuestion(byPlace, 0, obs, o, MAPS, t))
  assert.equal(t.size, 4, 'models[0] heard and silent: one place')
  const packed = new Float64Array(t.floats())
  t.pack(packed)
  const maps = buildMaps(MAPS)
  const table = unpackTable(packed, maps)
  const a = unpackQuestion(inPlace, 0, maps)
  const b = unpackQuestion(byPlace, 0, maps, table)
  assert.deepEqual(b, a)
  assert.equal(b.obs[1].sensor.map, maps[0].map, "the worker's own copy of the map")
  // A place outside the table (a question read from a round already over): NaNs, never a throw.
  byPlace[16] = 99
  assert.ok(Number.isNaN(unpackQuestion(byPlace, 0, maps, table).obs[0].sensor.x))
  assert.equal(packQuestion(byPlace, 0, [{ sensor: { ...models[3], map }, rssi: -70, sigma: 4 }], o, MAPS, t), false)
})
