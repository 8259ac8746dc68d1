// Online self-calibration of sensor biases, and the /healthz problem for a sensor that is far off.
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { SelfCalibrator, offSensorsProblem } from '../../gateway/estimation/self-calibration.ts'
import type { Fix } from '../../gateway/estimation/solver.ts'

const TAG_HEIGHT = 1.2
const SENSORS: Array<[string, number, number]> = [['s1', 0, 0], ['s2', 10, 0], ['s3', 20, 0], ['s4', 0, 12], ['s5', 10, 12], ['s6', 20, 12]]
const site = parseSite({
  type: 'FeatureCollection', storeId: 's', radio: { pathLossExponent: 2.2, rssiAt1m: -59 },
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'm' }, geometry: { type: 'Polygon', coordinates: [[[0, 0], [20, 0], [20, 12], [0, 12], [0, 0]]] } },
    ...SENSORS.map(([id, x, y]) => ({ type: 'Feature' as const, properties: { kind: 'sensor' as const, id }, geometry: { type: 'Point' as const, coordinates: [x, y] as [number, number] } }))
  ]
})

/** Fixes at known positions across the shop, each sensor reading the model plus its own bias (dB). */
function learn (bias: Record<string, number>): SelfCalibrator {
  const base = sensorModels(site)
  const cal = new SelfCalibrator(base)
  for (let k = 0; k < 3000; k++) {
    const x = 1 + (k * 7.3) % 18; const y = 1 + (k * 3.7) % 10
    const models = cal.models()
    const obs = [...models.values()].map(s => {
      const truth = base.get(s.id)
      if (truth === undefined) throw new Error(s.id)
      const d = Math.hypot(x - s.x, y - s.y, TAG_HEIGHT - s.z)
      return { sensor: s, rssi: expectedRssi(truth, d) + (bias[s.id] ?? 0), sigma: 3 }
    })
    const fix: Fix = { x, y, cxx: 1, cyy: 1, cxy: 0, accuracyM: 1, method: 'lm', cost: 1, offsetDb: 0 }
    cal.observeFix(obs, fix, TAG_HEIGHT)
  }
  return cal
}

test('a sensor mounted 11 dB hot is learned, and does not drag the other sensors\' corrections with it', () => {
  const c = learn({ s3: 11 }).corrections()
  assert.ok(c.s3 > 9, JSON.stringify(c))
  // Centred on the mean, every other sensor would take about -11/6 dB.
  for (const id of ['s1', 's2', 's4', 's5', 's6']) assert.ok(Math.abs(c[id]) < 0.5, JSON.stringify(c))
})

test('/healthz names sensors whose learned correction is 10 dB or more either way, and only those', () => {
  const cases: Array<{ corrections: Record<string, number>, problem: RegExp | null }> = [
    { corrections: {}, problem: null },
    { corrections: { a: 3.2, b: -9.9 }, problem: null },
    { corrections: { a: 10, b: 0 }, problem: /a \+10\.0 dB/ },
    { corrections: { a: 1, b: -11.25, c: 12 }, problem: /b -11\.3 dB, c \+12\.0 dB$/ }
  ]
  for (const { corrections, problem } of cases) {
    const p = offSensorsProblem(corrections)
    if (problem === null) assert.equal(p, null, JSON.stringify(corrections))
    else assert.match(p ?? '', problem)
  }
  const learned = learn({ s5: -11 }).corrections()
  assert.match(offSensorsProblem(learned) ?? '', /^sensors reading 10 dB or more off .*: s5 -1\d\.\d dB$/)
})
