// Online self-calibration of sensor biases, and the /healthz problem for a sensor that is far off.
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { SelfCalibrator, offSensorsProblem, defaultSelfCalibrationOptions } from '../../gateway/estimation/self-calibration.ts'
import type { Fix } from '../../gateway/estimation/solver.ts'
import { RssiWindow, defaultWindowOptions } from '../../gateway/estimation/rssi-window.ts'

const TAG_HEIGHT = 1.2
const SENSORS: Array<[string, number, number]> = [
  ['s1', 0, 0],
  ['s2', 10, 0],
  ['s3', 20, 0],
  ['s4', 0, 12],
  ['s5', 10, 12],
  ['s6', 20, 12]
]
const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  radio: { pathLossExponent: 2.2, rssiAt1m: -59 },
  features: [
    {
      type: 'Feature',
      properties: { kind: 'shop', id: 'm' },
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [20, 0],
            [20, 12],
            [0, 12],
            [0, 0]
          ]
        ]
      }
    },
    ...SENSORS.map(([id, x, y]) => ({
      type: 'Feature' as const,
      properties: { kind: 'sensor' as const, id },
      geometry: { type: 'Point' as const, coordinates: [x, y] as [number, number] }
    }))
  ]
})

/** A deterministic standard normal draw (Box-Muller on a fixed LCG), so the test needs no seed luck. */
function normals(): () => number {
  let state = 12345
  const u = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return (state + 1) / (2 ** 31 + 1)
  }
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())
}

/**
 * Fixes at known positions across the shop, each sensor reading the model plus its own bias (dB)
 * and noise of its own spread (dB, 0 where not given).
 */
function learn(bias: Record<string, number>, noise: Record<string, number> = {}): SelfCalibrator {
  const draw = normals()
  const base = sensorModels(site)
  const cal = new SelfCalibrator(base, { ...defaultSelfCalibrationOptions, learnSpread: true })
  for (let k = 0; k < 3000; k++) {
    const x = 1 + ((k * 7.3) % 18)
    const y = 1 + ((k * 3.7) % 10)
    const models = cal.models()
    const obs = [...models.values()].map(s => {
      const truth = base.get(s.id)
      if (truth === undefined) throw new Error(s.id)
      const d = Math.hypot(x - s.x, y - s.y, TAG_HEIGHT - s.z)
      return { sensor: s, rssi: expectedRssi(truth, d) + (bias[s.id] ?? 0) + (noise[s.id] ?? 0) * draw(), sigma: 3 * (s.spreadScale ?? 1) }
    })
    const fix: Fix = { x, y, cxx: 1, cyy: 1, cxy: 0, accuracyM: 1, method: 'lm', cost: 1, offsetDb: 0 }
    cal.observeFix(obs, fix, TAG_HEIGHT)
  }
  return cal
}

test("a sensor mounted 11 dB hot is learned, and does not drag the other sensors' corrections with it", () => {
  const c = learn({ s3: 11 }).corrections()
  assert.ok(c.s3 > 9, JSON.stringify(c))
  // Centred on the mean, every other sensor would take about -11/6 dB.
  for (const id of ['s1', 's2', 's4', 's5', 's6']) assert.ok(Math.abs(c[id]) < 0.5, JSON.stringify(c))
})

test('/healthz names sensors whose learned correction is 10 dB or more either way, and only those', () => {
  const cases: Array<{ corrections: Record<string, number>; problem: RegExp | null }> = [
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

test("with learnSpread, a receiver whose readings spread twice as much as the others' is learned as such, and counts for less", () => {
  const noise = { s1: 3, s2: 3, s3: 3, s4: 6, s5: 3, s6: 3 }
  const cal = learn({}, noise)
  const scales = cal.spreadScales()
  assert.ok(scales.s4 > 1.5, JSON.stringify(scales))
  for (const id of ['s1', 's2', 's3', 's5', 's6']) assert.ok(Math.abs(scales[id] - 1) < 0.15, JSON.stringify(scales))
  // The RSSI window gives its readings a sigma that much wider: the solver weighs them less.
  const models = cal.models()
  const w = new RssiWindow(defaultWindowOptions)
  w.add(0, -70)
  const sigma = (id: string) => {
    const m = models.get(id)
    return m === undefined ? NaN : (w.observation(0, m)?.sigma ?? NaN)
  }
  assert.ok(sigma('s4') > 1.3 * sigma('s1'), `${sigma('s4')} against ${sigma('s1')}`)
  // What was learned survives a restart, and a snapshot from before spreads were learned still loads.
  const again = new SelfCalibrator(sensorModels(site), { ...defaultSelfCalibrationOptions, learnSpread: true })
  again.restore(cal.snapshot())
  assert.deepEqual(again.spreadScales(), scales)
  const older = new SelfCalibrator(sensorModels(site))
  older.restore({ samples: 3, sensors: { s1: { sum: 30, weight: 10 } } })
  assert.deepEqual(Object.values(older.spreadScales()), [1, 1, 1, 1, 1, 1])
})
