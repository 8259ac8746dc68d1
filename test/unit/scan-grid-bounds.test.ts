// Issue 31: the scan grid on by default, so its cost per scan and per second is bounded whatever
// the site (work counted, not wall time), and hostile phones (0 dBm, NaN, +40 dBm, 500-beacon
// scans, hot readings) neither poison the others nor themselves.
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite, type Site } from '../../shared/site.ts'
import { ScanGrid, defaultScanGridOptions } from '../../gateway/estimation/scan-grid.ts'
import { beaconModels, expectedRssi, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import { Tracker, trackerOptions } from '../../gateway/estimation/tracker.ts'
import { rect } from '../helpers/geo.ts'

/** A square floor `side` m across with a beacon every `spacing` m (ids b0, b1, ...), site radio defaults. */
function lattice(side: number, spacing: number): Site {
  const beacons: Array<[number, number]> = []
  for (let y = spacing / 2; y < side; y += spacing) for (let x = spacing / 2; x < side; x += spacing) beacons.push([x, y])
  return parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, tagHeightM: 1.2 },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'floor' }, geometry: rect(0, 0, side, side) },
      ...beacons.map(([x, y], i) => ({
        type: 'Feature' as const,
        properties: { kind: 'beacon' as const, id: `b${i}`, z: 2.5 },
        geometry: { type: 'Point' as const, coordinates: [x, y] as [number, number] }
      }))
    ]
  })
}

/** A deterministic stream of numbers in [0, 1). */
function uniform(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

/** What a phone at (x, y) reads of the `n` nearest beacons by the site's own model (1.2 m high), with up to ±`noise` dB, rounded. */
function scanAt(models: Map<string, SensorModel>, x: number, y: number, n: number, rand: () => number, noise = 3): Array<[string, number]> {
  const near = [...models.values()].map(m => ({ m, d: Math.hypot(m.x - x, m.y - y, m.z - 1.2) })).sort((a, b) => a.d - b.d)
  return near.slice(0, n).map(({ m, d }) => [m.id, Math.round(expectedRssi(m, d) + noise * (2 * rand() - 1))])
}

test('issue 31: on a big site (441 beacons, 3,000 phones) a scan costs at most maxScanWork and a second at most workPerSecond, whatever the beacon count; scans past it are left to the solver, counted', () => {
  const site = lattice(300, 15)
  const models = beaconModels(site)
  const grid = new ScanGrid(site)
  const rand = uniform(31)
  const phones = Array.from({ length: 3000 }, (_, i) => ({ id: `p${i}`, x: 300 * rand(), y: 300 * rand() }))
  const scans = phones.map(p => scanAt(models, p.x, p.y, 6, rand))
  let flushed = 0
  for (let second = 1; second <= 3; second++) {
    const before = grid.work
    for (const [i, p] of phones.entries()) for (const [id, rssi] of scans[i]) grid.add(p.id, id, 1000 * second, rssi, models)
    // The tick after the scans folds them in.
    for (const p of phones) grid.fix(p.id, 1000 * second + 500, models)
    flushed += grid.size
    assert.ok(grid.work - before <= grid.o.workPerSecond, `second ${second}: ${grid.work - before} work`)
  }
  assert.ok(grid.maxWorkPerScan > 0 && grid.maxWorkPerScan <= grid.maxScanWork, `${grid.maxWorkPerScan} > ${grid.maxScanWork}`)
  // Phones past maxPhones went first (least recently heard), so each second's scans of the kept ones were flushed.
  assert.equal(grid.size, grid.o.maxPhones)
  assert.ok(grid.results.over_budget > 0 && grid.results.folded > 0, JSON.stringify(grid.results))
  assert.ok(grid.results.folded + grid.results.over_budget <= flushed + phones.length, JSON.stringify(grid.results))
  // The bound is the grid's, not the site's: ten times the beacons on the same floor, the same bound.
  assert.equal(new ScanGrid(lattice(300, 4.7)).maxScanWork, grid.maxScanWork)
  assert.ok(lattice(300, 4.7).beacons.size > 4000)
})

test('issue 31: readings no phone could give are refused with a reason and change nothing; a 500-beacon scan is cut to the strongest maxHeard', () => {
  const site = lattice(230, 10)
  const models = beaconModels(site)
  assert.ok(models.size >= 500)
  const cases: Array<{ name: string; beacon: string; rssi: number; reason: string }> = [
    { name: '0 dBm (59 dB over the 1 m reference)', beacon: 'b0', rssi: 0, reason: 'too_loud' },
    { name: '-10 dBm', beacon: 'b0', rssi: -10, reason: 'too_loud' },
    { name: 'NaN', beacon: 'b0', rssi: Number.NaN, reason: 'not_finite' },
    { name: 'Infinity', beacon: 'b0', rssi: Number.POSITIVE_INFINITY, reason: 'not_finite' },
    { name: '+40 dBm', beacon: 'b0', rssi: 40, reason: 'out_of_range' },
    { name: '-200 dBm', beacon: 'b0', rssi: -200, reason: 'out_of_range' },
    { name: 'a beacon the site does not hold', beacon: 'ibeacon:nobody', rssi: -70, reason: 'unknown_beacon' }
  ]
  const grid = new ScanGrid(site)
  for (const c of cases) {
    assert.equal(grid.add('bad', c.beacon, 1000, c.rssi, models), c.reason, c.name)
    assert.equal(grid.refused[c.reason as keyof typeof grid.refused], cases.filter(x => x.reason === c.reason).indexOf(c) + 1, c.name)
  }
  assert.equal(grid.size, 0, 'no phone kept for refused readings')
  assert.equal(grid.fix('bad', 2000, models), null)
  // One scan reporting every beacon of the floor: the strongest maxHeard kept, the rest counted, its work within the bound.
  const rand = uniform(5)
  const all = scanAt(models, 100, 100, models.size, rand)
  for (const [id, rssi] of all) grid.add('many', id, 3000, rssi, models)
  const fix = grid.fix('many', 4000, models)
  assert.equal(grid.refused.past_max_heard, all.length - defaultScanGridOptions.maxHeard)
  assert.ok(grid.maxWorkPerScan <= grid.maxScanWork)
  assert.ok(fix !== null && Math.hypot(fix.x - 100, fix.y - 100) < 10, JSON.stringify(fix))
})

test("issue 31, the tester's repro: four phones reporting 0 dBm (or hot but possible readings) move neither the phones' common offset nor the honest phones; a hot phone's own offset stays bounded", () => {
  const site = lattice(40, 10)
  const models = beaconModels(site)
  const rand = uniform(7)
  const honest = Array.from({ length: 20 }, (_, i) => ({ id: `h${i}`, x: 3 + 34 * rand(), y: 3 + 34 * rand() }))
  // Hostile phones read every beacon they report at `rssi` (null: no hostile phones).
  const run = (rssi: number | null) => {
    const grid = new ScanGrid(site)
    for (let s = 1; s <= 40; s++) {
      for (const p of honest) for (const [id, r] of scanAt(models, p.x, p.y, 3, rand)) grid.add(p.id, id, 1000 * s, r, models)
      if (rssi !== null) for (let h = 0; h < 4; h++) for (const [id] of scanAt(models, 5 + 10 * h, 20, 3, rand)) grid.add(`x${h}`, id, 1000 * s, rssi, models)
    }
    const errors = honest.map(p => {
      const f = grid.fix(p.id, 41_000, models)
      return f === null ? Number.POSITIVE_INFINITY : Math.hypot(f.x - p.x, f.y - p.y)
    })
    const hot = rssi === null ? null : grid.fix('x0', 41_000, models)
    return { mean: errors.reduce((a, b) => a + b, 0) / errors.length, offset: grid.offset, hot, refused: grid.refused.too_loud }
  }
  const clean = run(null)
  assert.ok(clean.mean < 3, `honest phones alone: ${clean.mean} m`)
  const cases = [
    { name: '0 dBm', rssi: 0, refused: true },
    { name: '-30 dBm: possible only a few centimetres from a beacon', rssi: -30, refused: false }
  ]
  for (const c of cases) {
    const r = run(c.rssi)
    assert.equal(r.refused > 0, c.refused, c.name)
    assert.ok(Math.abs(r.offset - clean.offset) <= 1, `${c.name}: common offset ${clean.offset} -> ${r.offset} dB`)
    assert.ok(r.mean - clean.mean < 0.5, `${c.name}: honest phones ${clean.mean} -> ${r.mean} m`)
    if (!c.refused) assert.ok(r.hot !== null && r.hot.offsetDb <= r.offset + defaultScanGridOptions.maxPhoneOffsetDb + 1e-9, `${c.name}: ${JSON.stringify(r.hot)}`)
  }
})

test('issue 31: the grid is the default (auto); a scan over the budget leaves its phone to the solver, and scans hearing many beacons cost the grid nothing', () => {
  const site = lattice(40, 10)
  const models = beaconModels(site)
  assert.equal(trackerOptions(site).scanGrid, 'auto')
  const rand = uniform(11)
  const cases: Array<{ name: string; workPerSecond: number; heard: number; method: (m: string | undefined) => boolean; check: (g: ScanGrid) => boolean }> = [
    { name: 'three beacons a scan: the grid', workPerSecond: defaultScanGridOptions.workPerSecond, heard: 3, method: m => m === 'grid', check: g => g.results.folded > 0 },
    { name: 'over the budget: the solver, counted', workPerSecond: 1, heard: 3, method: m => m !== 'grid', check: g => g.results.over_budget > 0 && g.work === 0 },
    {
      name: 'nine beacons a scan: the solver, no grid work past the first scans',
      workPerSecond: defaultScanGridOptions.workPerSecond,
      heard: 9,
      method: m => m !== 'grid',
      check: g => g.results.not_needed >= 7 && g.results.folded <= 3
    }
  ]
  for (const c of cases) {
    const tracker = new Tracker(site, beaconModels(site), trackerOptions(site))
    const grid = (tracker.scanGrid = new ScanGrid(site, { ...defaultScanGridOptions, workPerSecond: c.workPerSecond }))
    let method: string | undefined
    for (let s = 1; s <= 10; s++) {
      for (const [id, r] of scanAt(models, 12, 17, c.heard, rand)) tracker.addReading('phone', id, 1000 * s, r)
      method = tracker.estimate('phone', 1000 * s + 500)?.fix.method
    }
    assert.ok(c.method(method), `${c.name}: ${method}`)
    assert.ok(c.check(grid), `${c.name}: ${JSON.stringify(grid.results)} work ${grid.work}`)
  }
})
