import { test } from 'node:test'
import assert from 'node:assert/strict'
import { solve, type Observation } from '../../gateway/estimation/solver.ts'
import { expectedRssi, sensorModels, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import { parseSite } from '../../shared/site.ts'

const sensor = (id: string, x: number, y: number, z = 2.5): SensorModel => ({ id, x, y, z, floor: 0, a: -59, n: 2.2 })
const opts = { tagHeight: 1.2, bounds: [-5, -5, 35, 25] as [number, number, number, number], huberK: 2, offsetPrior: { mean: 0, sd: 0 } }

/** Exact RSSI a device at (x, y) would produce at each sensor. */
function exact(sensors: SensorModel[], x: number, y: number, offset = 0): Observation[] {
  return sensors.map(s => ({ sensor: s, rssi: expectedRssi(s, Math.hypot(x - s.x, y - s.y, 1.2 - s.z)) + offset, sigma: 3 }))
}

const square = [sensor('a', 0, 0), sensor('b', 20, 0), sensor('c', 20, 15), sensor('d', 0, 15)]
const line = [sensor('a', 0, 5), sensor('b', 10, 5), sensor('c', 20, 5)]

const cases: Array<[string, SensorModel[], number, number]> = [
  ['centre of a square', square, 10, 7.5],
  ['near one corner', square, 2, 1.5],
  ['off-centre', square, 14.2, 9.7],
  ["outside the sensors' hull", square, 25, 7],
  ['right under a sensor', square, 0.01, 0.01],
  ['collinear sensors, device off the line', line, 8, 9],
  ['five sensors', [...square, sensor('e', 10, 7.5, 3)], 6.6, 4.4]
]

for (const [name, sensors, x, y] of cases) {
  test(`exact ranges give the exact point: ${name}`, () => {
    const f = solve(exact(sensors, x, y), { ...opts, prior: { x, y: y + (name.startsWith('collinear') ? 0.5 : 0) } })
    assert.ok(f)
    assert.ok(Math.hypot(f.x - x, f.y - y) < 0.05, `got (${f.x.toFixed(3)}, ${f.y.toFixed(3)}) for (${x}, ${y})`)
  })
}

test('collinear sensors: the mirror image is as good, and the accuracy says so', () => {
  // Without a prior the solver may pick either side of the line; both are exact.
  const f = solve(exact(line, 8, 9), opts)
  assert.ok(f)
  assert.ok(Math.hypot(f.x - 8, Math.abs(f.y - 5) - 4) < 0.05, `got (${f.x}, ${f.y})`)
})

test('silent sensors pick the side: a working sensor that did not hear the device rules out its side of the line', () => {
  // The line's three sensors hear (8, 9) and its mirror (8, 1) alike; a sensor at (8, -2) that
  // reports down to -95 dBm would have heard the mirror at about -70 dBm, and heard nothing. A
  // new device (no track yet) is searched from every start, and silence decides between them.
  const quiet = { sensor: sensor('q', 8, -2), floorDbm: -95 }
  for (const prior of [undefined, { x: 8, y: 9 }]) {
    const f = solve(exact(line, 8, 9), { ...opts, ...(prior ? { prior } : {}), silent: [quiet] })
    assert.ok(f)
    assert.ok(Math.hypot(f.x - 8, f.y - 9) < 0.1, `prior ${JSON.stringify(prior)}: got (${f.x.toFixed(2)}, ${f.y.toFixed(2)})`)
  }
  // Silent where the device is too far to be heard anyway: no pull at all.
  const far = solve(exact(square, 14.2, 9.7), { ...opts, prior: { x: 14, y: 9 }, silent: [{ sensor: sensor('f', 300, 300), floorDbm: -95 }] })
  assert.ok(far)
  assert.ok(Math.hypot(far.x - 14.2, far.y - 9.7) < 0.05, `got (${far.x}, ${far.y})`)
})

test('a transmit offset common to all sensors is profiled out with three or more sensors', () => {
  const f = solve(exact(square, 13, 6, -6), { ...opts, offsetPrior: { mean: 0, sd: 6 } })
  assert.ok(f)
  assert.ok(Math.hypot(f.x - 13, f.y - 6) < 0.3, `got (${f.x}, ${f.y})`)
  assert.ok(Math.abs(f.offsetDb + 6) < 1, `offset ${f.offsetDb}`)
})

test('one sensor: proximity at the sensor, with an accuracy as wide as the range', () => {
  const f = solve(exact([square[0]], 6, 0), opts)
  assert.ok(f)
  assert.equal(f.method, 'proximity')
  assert.deepEqual([f.x, f.y], [0, 0])
  assert.ok(f.accuracyM >= 4, `accuracy ${f.accuracyM}`)
})

test('two sensors: a pair estimate between them, never claiming better than a third of their gap', () => {
  const f = solve(exact([square[0], square[1]], 6, 0), opts)
  assert.ok(f)
  assert.equal(f.method, 'pair')
  assert.ok(f.x > 0 && f.x < 20)
  assert.ok(f.accuracyM >= (20 / 3) * Math.SQRT2 - 1e-9)
})

test('no observation, no fix', () => {
  assert.equal(solve([], opts), null)
})

test('one blocked sensor (a body in the way) drags the robust fix less than a least-squares one', () => {
  const sensors = [...square, sensor('e', 10, 0), sensor('f', 10, 15)]
  const obs = exact(sensors, 12, 8)
  obs[0] = { ...obs[0], rssi: obs[0].rssi - 12 }
  const robust = solve(obs, opts)
  const plain = solve(obs, { ...opts, huberK: 1e9 })
  assert.ok(robust && plain)
  const er = Math.hypot(robust.x - 12, robust.y - 8)
  const ep = Math.hypot(plain.x - 12, plain.y - 8)
  assert.ok(er < 0.8 * ep, `robust ${er.toFixed(2)} m vs least squares ${ep.toFixed(2)} m`)
})

test('accuracy grows with noise: sigmas twice as large give a wider fix', () => {
  const a = solve(exact(square, 10, 7), opts)
  const b = solve(
    exact(square, 10, 7).map(o => ({ ...o, sigma: 6 })),
    opts
  )
  assert.ok(a && b)
  assert.ok(b.accuracyM > 1.8 * a.accuracyM)
})

test("a sensor's offsetDb is added to what it reports: one that reads 6 dB low with offsetDb 6 gives the exact point", () => {
  const point = (id: string, x: number, y: number, offsetDb = 0) => ({
    type: 'Feature',
    properties: { kind: 'sensor', id, z: 2.5, offsetDb },
    geometry: { type: 'Point', coordinates: [x, y] }
  })
  const site = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      {
        type: 'Feature',
        properties: { kind: 'shop', id: 'shop' },
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [20, 0],
              [20, 15],
              [0, 15],
              [0, 0]
            ]
          ]
        }
      },
      point('a', 0, 0),
      point('b', 20, 0),
      point('c', 20, 15, 6),
      point('d', 0, 15)
    ]
  })
  const models = sensorModels(site)
  // `square` is the same layout with nominal radios: what the signals really do.
  const obs: Observation[] = square.map(s => ({
    sensor: models.get(s.id) as SensorModel,
    // Sensor c under-reports by 6 dB.
    rssi: expectedRssi(s, Math.hypot(7 - s.x, 4 - s.y, 1.2 - s.z)) - (s.id === 'c' ? 6 : 0),
    sigma: 1
  }))
  const f = solve(obs, opts)
  assert.ok(f !== null && Math.hypot(f.x - 7, f.y - 4) < 0.05, `fix ${f?.x}, ${f?.y}`)
})
