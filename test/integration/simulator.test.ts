import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { createHash } from 'node:crypto'
import { Rng } from '../../shared/rng.ts'
import { RadioModel } from '../../simulators/radio.ts'
import { defaultRadioParams, loadScenario } from '../../simulators/scenario.ts'
import type { SensorInfo } from '../../shared/site.ts'
import { isReading, isTruth, type TraceLine } from '../../shared/trace.ts'
import { makeTrace } from '../helpers/sim.ts'
import { runBin, ROOT } from '../helpers/run.ts'

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')
const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as TraceLine)

test('same scenario and seed give the same bytes; another seed does not', async () => {
  const a = await makeTrace('boutique', { durationS: 60 })
  const b = await makeTrace('boutique', { durationS: 60 })
  const c = await makeTrace('boutique', { durationS: 60, seed: 99 })
  assert.equal(sha(a.trace), sha(b.trace))
  assert.equal(sha(a.truth), sha(b.truth))
  assert.notEqual(sha(a.trace), sha(c.trace))
})

test('the simulator command writes a trace ordered by ts, with truth and a truth side file', async () => {
  const { dir } = await makeTrace('boutique', { durationS: 5 })
  const out = `${dir}/cli.jsonl`
  const r = await runBin('instore-sim', ['--scenario', 'simulators/scenarios/boutique.json', '--out', out, '--duration', '120'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const ls = lines(out)
  for (let i = 1; i < ls.length; i++) assert.ok(ls[i].ts >= ls[i - 1].ts, `line ${i} out of order`)
  assert.ok(ls.some(isTruth))
  assert.ok(ls.some(l => isReading(l) && l.t === 'ble'))
  assert.ok(ls.some(l => isReading(l) && l.t === 'wifi'))
  const truth = JSON.parse(readFileSync(`${dir}/cli.truth.json`, 'utf8'))
  assert.ok(truth.visits.length > 0 && truth.stays.length > 0)
  assert.match(r.stdout, /"msg":"done"/)
})

test('simulated RSSI against distance fits back to the path-loss exponent within ±0.1', () => {
  for (const n of [1.8, 2.2, 3.0]) {
    // Sensitivity far below the weakest signal, so no truncation biases the fit.
    const p = { ...defaultRadioParams, pathLossExponent: n, sensitivityDbm: -200, lossProb: 0 }
    const sensor: SensorInfo = { id: 's', x: 0, y: 0, z: 1.2, floor: 0, radios: ['ble'], offsetDb: 0, rssiAt1m: -59, pathLossExponent: n }
    const radio = new RadioModel(p, new Rng(5), [sensor])
    const rng = new Rng(6)
    let sx = 0
    let sy = 0
    let sxx = 0
    let sxy = 0
    let k = 0
    for (let i = 0; i < 20000; i++) {
      const d = rng.uniform(0.5, 40)
      // A new link per sample: independent fading draws, as from many phones.
      const rssi = radio.receive('link' + i, sensor, d, 0, i * 1000, -59, 0) as number
      const x = -10 * Math.log10(d)
      sx += x
      sy += rssi
      sxx += x * x
      sxy += x * rssi
      k++
    }
    const slope = (k * sxy - sx * sy) / (k * sxx - sx * sx)
    assert.ok(Math.abs(slope - n) <= 0.1, `fitted ${slope.toFixed(3)} for n=${n}`)
  }
})

test('raw per-reading spread is in the 6-10 dB range real data shows', () => {
  const p = { ...defaultRadioParams, sensitivityDbm: -200, lossProb: 0 }
  const sensor: SensorInfo = { id: 's', x: 0, y: 0, z: 1.2, floor: 0, radios: ['ble'], offsetDb: 0, rssiAt1m: -59, pathLossExponent: 2.2 }
  const radio = new RadioModel(p, new Rng(1), [sensor])
  const xs = Array.from({ length: 5000 }, (_, i) => (radio.receive('l' + i, sensor, 5, 0, 0, -59, 0) as number) - radio.meanRssi(-59, 5))
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length)
  assert.ok(sd >= 6 && sd <= 10, `sd ${sd}`)
})

test('randomized Wi-Fi MACs rotate between bursts; stable MACs do not', async () => {
  const { trace } = await makeTrace('boutique', { durationS: 1800 })
  const spans = new Map<string, { first: number; last: number; n: number }>()
  for (const l of lines(trace)) {
    if (!isReading(l) || l.t !== 'wifi') continue
    const mac = l.mac as string
    const s = spans.get(mac) ?? { first: l.ts, last: l.ts, n: 0 }
    s.last = l.ts
    s.n++
    spans.set(mac, s)
  }
  const local = [...spans].filter(([mac]) => (parseInt(mac.slice(0, 2), 16) & 0x02) !== 0)
  const global = [...spans].filter(([mac]) => (parseInt(mac.slice(0, 2), 16) & 0x02) === 0)
  assert.ok(local.length >= 15, `only ${local.length} randomized MACs`)
  assert.ok(local.length > 2 * global.length, 'most phones randomize')
  // A randomized address lives for one burst (a few frames within ~100 ms), then rotates.
  for (const [mac, s] of local) assert.ok(s.last - s.first < 200, `${mac} lived ${s.last - s.first} ms`)
  assert.ok(
    global.some(([, s]) => s.last - s.first > 30_000),
    'a stable MAC is seen across bursts'
  )
})

test("a two-floor store: shoppers take the stairs, truth names the floor, and a slab stands between the floors' radios", async () => {
  const { trace, truth: truthPath, loaded } = await makeTrace('department', { durationS: 600 })
  const floors = new Map<number, number>()
  const up: number[] = []
  const down: number[] = []
  const upstairs = new Set<string>()
  for (const l of readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map(s => JSON.parse(s) as TraceLine)) {
    if (isTruth(l)) {
      floors.set(l.truth.floor, (floors.get(l.truth.floor) ?? 0) + 1)
      if (l.truth.floor === 1) upstairs.add(l.truth.subject)
      else upstairs.delete(l.truth.subject)
    } else if (isReading(l) && l.t === 'ble' && l.id !== undefined && upstairs.has(l.id)) {
      // Readings of someone upstairs: by the upper floor's sensors, or through the slab below.
      ;(loaded.site.sensors.get(l.sensor)?.floor === 1 ? up : down).push(l.rssi)
    }
  }
  assert.ok((floors.get(0) ?? 0) > 0 && (floors.get(1) ?? 0) > 0, JSON.stringify([...floors]))
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length
  assert.ok(up.length > down.length && mean(up) > mean(down) + 8, `upstairs heard ${mean(up)} dBm above, ${mean(down)} dBm below`)
  const truth = JSON.parse(readFileSync(truthPath, 'utf8')) as { visits: Array<{ shop: string }> }
  assert.ok(truth.visits.some(v => v.shop === 'upper') && truth.visits.some(v => v.shop === 'ground'))
})

test('a scenario that extends another takes its members, its own winning (radio member by member); one that extends itself is refused', async () => {
  const tx = loadScenario(join(ROOT, 'simulators/scenarios/department-tx.json'))
  const base = loadScenario(join(ROOT, 'simulators/scenarios/department.json'))
  assert.equal(tx.scenario.name, 'department-tx')
  assert.equal(tx.sitePath, base.sitePath, 'the inherited site stays relative to the file that named it')
  assert.equal(tx.radio.txReportSdDb, 2)
  assert.equal(tx.radio.advHz, base.radio.advHz)
  assert.deepEqual({ ...tx.scenario, name: '', site: '', radio: {} }, { ...base.scenario, name: '', site: '', radio: {} })
  // The adverts then carry a measured power.
  const { trace } = await makeTrace('department-tx', { durationS: 30, seed: 3 })
  const ble = lines(trace).filter(l => isReading(l) && l.t === 'ble')
  assert.ok(ble.length > 0 && ble.every(l => isReading(l) && typeof l.tx === 'number'))
  const dir = mkdtempSync(join(tmpdir(), 'sc-'))
  writeFileSync(join(dir, 'loop.json'), JSON.stringify({ extends: 'loop.json', name: 'loop' }))
  assert.throws(() => loadScenario(join(dir, 'loop.json')), /extends itself/)
})
