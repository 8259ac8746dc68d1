import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { TraceScan, TraceTruth, isScan, isTruth, type TraceLine } from '../../shared/trace.ts'
import { convertScans, convertSite, freshOnly, readBeacons, readScans, splitPath, stops, type OpenHpsScan } from '../../simulators/openhps.ts'
import { chooseK, knn, meanHeard, MISSING_DBM, nearestBeacon, vector, type Fingerprint } from '../../bench/openhps-baselines.ts'
import { knnScore, scoreGateway } from '../../bench/openhps.ts'
import { runBin, ROOT } from '../helpers/run.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import mqtt from 'mqtt'

// The real files (Apache-2.0, ../shared/data/openhps-2021-ble/README.md), not payloads we wrote.
const DATA = join(ROOT, '../shared/data/openhps-2021-ble/2021-02')

test('the OpenHPS beacons become a phone-scan site: eleven beacons at their CSV positions, ids their MAC addresses, the floor as one shop', () => {
  const file = convertSite(DATA)
  const site = parseSite(file)
  assert.equal(site.sensors.size, 0)
  assert.equal(site.beacons.size, 11)
  const b1 = site.beacons.get('ff:ff:c3:12:cb:a9')
  assert.deepEqual([b1?.x, b1?.y], [12.59, 31.16])
  assert.equal(file.features.find(f => f.properties.id === 'ff:ff:c3:12:cb:a9')?.properties.name, 'BEACON_01')
  // The floor outline covers every beacon and every reference point of both splits.
  assert.deepEqual(site.shops[0].bbox, [1, 1, 41, 36])
  assert.deepEqual(site.radio.rssiAt1m, -59)
})

test('the OpenHPS splits read as scan reports: "100" (not heard) dropped, every scan with truth, the counts the README gives', () => {
  const beacons = readBeacons(DATA)
  const cases = [
    { split: 'test' as const, scans: 479, readings: 1416, points: 28 },
    { split: 'train' as const, scans: 6073, readings: 16878, points: 104 }
  ]
  for (const c of cases) {
    const scans = readScans(splitPath(DATA, c.split), beacons)
    assert.equal(scans.length, c.scans, c.split)
    const values = scans.flatMap(s => [...s.rssi.values()])
    assert.equal(values.length, c.readings, c.split)
    assert.ok(
      values.every(v => v >= -127 && v <= 0),
      c.split
    )
    assert.ok(
      scans.every(s => s.rssi.size >= 1 && s.rssi.size <= 11),
      c.split
    )
    assert.equal(stops(scans).length, c.points, c.split)
    assert.ok(
      scans.every((s, i) => i === 0 || s.ts >= scans[i - 1].ts),
      `${c.split} in time order`
    )
  }
})

test('scan reports convert to contract §2 scans and truth lines that pass the trace schemas', () => {
  const beacons = readBeacons(DATA)
  const scans = readScans(splitPath(DATA, 'test'), beacons)
  const lines = convertScans(scans)
  assert.equal(lines.filter(isScan).length, 479)
  assert.equal(lines.filter(isTruth).length, 479)
  for (const l of lines) assert.ok(isScan(l) ? Value.Check(TraceScan, l) : Value.Check(TraceTruth, l), JSON.stringify(l))
  const first = lines[0]
  assert.ok(isScan(first))
  assert.deepEqual(first.beacons, [{ id: 'ff:ff:c2:1c:da:8d', rssi: -71 }])
})

test('instore-import-openhps writes a site the gateway loads, the test trace and the train trace; a folder without beacons.csv is refused', async () => {
  const out = mkdtempSync(join(tmpdir(), 'openhps-'))
  const r = await runBin('instore-import-openhps', ['--data', DATA, '--out', out])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.equal(loadSiteFile(join(out, 'floor.site.json')).beacons.size, 11)
  const read = (f: string) =>
    readFileSync(join(out, f), 'utf8')
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as TraceLine)
  assert.equal(read('test.jsonl').filter(isScan).length, 479)
  assert.equal(read('train.jsonl').filter(isTruth).length, 6073)
  const bad = await runBin('instore-import-openhps', ['--data', out, '--out', join(out, 'again')])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /no beacons\.csv/)
})

test('fresh-only scans drop the values a row repeats from the row before at the same point and heading', () => {
  const scan = (heading: number, x: number, heard: Array<[string, number]>): OpenHpsScan => ({ ts: 0, x, y: 0, heading, rssi: new Map(heard) })
  const cases: Array<{ name: string; rows: OpenHpsScan[]; want: Array<Array<[string, number]>> }> = [
    {
      name: 'a repeated value goes, a changed one stays',
      rows: [
        scan(0, 1, [['a', -70]]),
        scan(0, 1, [
          ['a', -70],
          ['b', -80]
        ]),
        scan(0, 1, [
          ['a', -72],
          ['b', -80]
        ])
      ],
      want: [[['a', -70]], [['b', -80]], [['a', -72]]]
    },
    { name: 'a new heading starts afresh', rows: [scan(0, 1, [['a', -70]]), scan(90, 1, [['a', -70]])], want: [[['a', -70]], [['a', -70]]] },
    { name: 'a new point starts afresh', rows: [scan(0, 1, [['a', -70]]), scan(0, 2, [['a', -70]])], want: [[['a', -70]], [['a', -70]]] }
  ]
  for (const c of cases)
    assert.deepEqual(
      freshOnly(c.rows).map(s => [...s.rssi]),
      c.want,
      c.name
    )
  // On the real test split, most readings repeat the row before: the recording app's cache.
  const test = readScans(splitPath(DATA, 'test'), readBeacons(DATA))
  assert.equal(
    freshOnly(test).reduce((n, s) => n + s.rssi.size, 0),
    1416 - 957
  )
})

const BEACONS = new Map([
  ['a', { x: 0, y: 0 }],
  ['b', { x: 10, y: 0 }]
])

test('nearest beacon: the strongest known beacon heard, or nothing', () => {
  const cases: Array<{ heard: Array<[string, number]>; want: [number, number] | null }> = [
    { heard: [], want: null },
    {
      heard: [
        ['a', -80],
        ['b', -70]
      ],
      want: [10, 0]
    },
    {
      heard: [
        ['a', -60],
        ['b', -70]
      ],
      want: [0, 0]
    },
    // A beacon the site does not hold is passed over, however loud.
    {
      heard: [
        ['zz', -40],
        ['a', -90]
      ],
      want: [0, 0]
    },
    { heard: [['zz', -40]], want: null }
  ]
  for (const c of cases) assert.deepEqual(nearestBeacon(new Map(c.heard), BEACONS), c.want, JSON.stringify(c.heard))
})

test('fingerprints: a window is the mean of the readings that heard each beacon; a beacon not heard reads MISSING_DBM', () => {
  const heard = meanHeard([
    new Map([['a', -70]]),
    new Map([
      ['a', -80],
      ['b', -90]
    ])
  ])
  assert.deepEqual(
    [...heard],
    [
      ['a', -75],
      ['b', -90]
    ]
  )
  assert.deepEqual([...vector(new Map([['b', -60]]), ['a', 'b', 'c'])], [MISSING_DBM, -60, MISSING_DBM])
})

test('k-NN: the mean position of the k fingerprints nearest in signal space', () => {
  const fp = (x: number, v: number[]): Fingerprint => ({ x, y: 0, point: String(x), v: Float64Array.from(v) })
  const db = [fp(0, [-50, -90]), fp(10, [-70, -70]), fp(20, [-90, -50])]
  const cases: Array<{ v: number[]; k: number; want: [number, number] | null }> = [
    { v: [-52, -88], k: 1, want: [0, 0] },
    { v: [-72, -70], k: 1, want: [10, 0] },
    { v: [-88, -52], k: 2, want: [15, 0] },
    { v: [-70, -70], k: 3, want: [10, 0] }
  ]
  for (const c of cases) assert.deepEqual(knn(db, Float64Array.from(c.v), c.k), c.want, JSON.stringify(c))
  assert.equal(knn([], Float64Array.from([-60, -60]), 3), null)
})

test('choosing k leaves each reference point out whole: its own near-copies never vote for it', () => {
  const fp = (x: number): Fingerprint => ({ x, y: 0, point: String(x), v: Float64Array.from([-50 - x]) })
  // Two identical fingerprints at each of two points: kept in, k = 1 would score 0 m.
  const db = [fp(0), fp(0), fp(10), fp(10)]
  const c = chooseK(db, [1, 2, 3])
  assert.equal(c.meanErrorByK[1], 10)
  // Points in a row: k = 2 averages an inner point's two neighbours onto it.
  const line = [fp(0), fp(10), fp(20), fp(30), fp(40)]
  const d = chooseK(line, [1, 2])
  assert.equal(d.k, Number(Object.entries(d.meanErrorByK).sort((a, b) => a[1] - b[1])[0][0]))
  assert.ok(d.meanErrorByK[2] < d.meanErrorByK[1])
})

test('the gateway scores one position per scan and one per point on the first real test points', () => {
  const beacons = readBeacons(DATA)
  const scans = readScans(splitPath(DATA, 'test'), beacons)
  const first = stops(scans)
    .slice(0, 4)
    .flatMap(s => s.scans)
  const r = scoreGateway(parseSite(convertSite(DATA)), first)
  assert.equal(r.perScan.n, first.length)
  assert.equal(r.after5s.n, 4)
  // On a 40 m floor: any answer inside it, none wild.
  assert.ok(r.perScan.max < 60 && Number.isFinite(r.perScan.mean))
})

test("issue 31, done when: on the OpenHPS test points the gateway's phone-scan mean error is at most k-NN fingerprinting's (which has the train split's positions), per scan and after 5 s", () => {
  const beacons = readBeacons(DATA)
  const test = readScans(splitPath(DATA, 'test'), beacons)
  const fp = knnScore(
    readScans(splitPath(DATA, 'train'), beacons),
    test,
    beacons.map(b => b.id)
  )
  const gateway = scoreGateway(parseSite(convertSite(DATA)), test)
  const means = JSON.stringify({ gateway: [gateway.perScan.mean, gateway.after5s.mean], knn: [fp.perScan.mean, fp.after5s.mean] })
  assert.ok(gateway.perScan.mean <= fp.perScan.mean, means)
  assert.ok(gateway.after5s.mean <= fp.after5s.mean, means)
})

test('the whole gateway takes the imported site and positions the phone from the real scans replayed to it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'openhps-gw-'))
  const sitePath = join(dir, 'floor.site.json')
  writeFileSync(sitePath, JSON.stringify(convertSite(DATA)))
  // The first two test points: about a minute and a half of trace.
  const scans = stops(readScans(splitPath(DATA, 'test'), readBeacons(DATA)))
    .slice(0, 2)
    .flatMap(s => s.scans)
  const trace = join(dir, 'test.jsonl')
  writeFileSync(
    trace,
    convertScans(scans)
      .map(l => JSON.stringify(l))
      .join('\n') + '\n'
  )
  const g = await startGateway({}, sitePath)
  const c = await mqtt.connectAsync(g.mqttUrl)
  try {
    const positions: Array<{ subject: string; x: number; y: number }> = []
    c.on('message', (_t, p) => positions.push(JSON.parse(p.toString())))
    await c.subscribeAsync('instore/openhps-2021/positions/#', { qos: 1 })
    const r = await runBin('instore-replay', ['--trace', trace, '--broker', g.mqttUrl])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    await waitFor(() => positions.length >= 5, 10_000, 'positions of the phone')
    assert.ok(
      positions.every(p => p.subject === 'openhps-phone' && p.x >= 1 && p.x <= 41 && p.y >= 1 && p.y <= 36),
      JSON.stringify(positions.slice(0, 3))
    )
  } finally {
    await c.endAsync()
    await g.stop()
  }
})
