// People now and visitors (gateway/presence/people.ts, wifi-devices.ts): Wi-Fi phones counted in
// occupancy, rotating addresses counted once, fixtures left out, and a short simulated store.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Value } from '@sinclair/typebox/value'
import { dwellSummary } from '../../gateway/presence/people.ts'
import { OccupancyMessage, FootfallMessage, type OccupancyMessageT } from '../../shared/messages.ts'
import { peopleRun } from '../../bench/people.ts'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../helpers/run.ts'
import { run, siteFile, T0, randomMac, restarted, counter, type Phone } from '../helpers/people-run.ts'

test('Wi-Fi phones count in occupancy (repro: shops stayed 0 for everyone without the app)', () => {
  const phones: Phone[] = [
    { x: 4, y: 3, macs: () => '00:11:22:33:44:01' },
    { x: 15, y: 8, macs: () => '00:11:22:33:44:02' },
    { x: 10, y: 9, macs: () => '00:11:22:33:44:03' }
  ]
  const { occ } = run(phones, 6)
  const last = occ[occ.length - 1]
  assert.ok(Value.Check(OccupancyMessage, last), JSON.stringify(last))
  assert.equal(last.shops.boutique, 3, JSON.stringify(last))
  assert.equal(last.bySource?.wifi.shops.boutique, 3)
  assert.equal(last.bySource?.app.shops.boutique, 0)
  assert.ok((last.low?.shops.boutique ?? -1) <= 3 && (last.high?.shops.boutique ?? -1) >= 3, JSON.stringify(last))
})

test('a phone rotating its address every burst is one person, by sequence continuity or by fingerprint', () => {
  const cases: Array<{ name: string; phone: () => Phone[] }> = [
    { name: 'counter carried', phone: () => [{ x: 6, y: 4, macs: randomMac, seq: counter(100) }] },
    { name: 'counter restarted, fingerprint kept', phone: () => [{ x: 6, y: 4, macs: randomMac, seq: restarted(), fp: 'ie0007' }] },
    {
      name: 'two phones, two models',
      phone: () => [
        { x: 6, y: 4, macs: randomMac, fp: 'ie0001' },
        { x: 14, y: 8, macs: randomMac, fp: 'ie0002' }
      ]
    }
  ]
  for (const c of cases) {
    const phones = c.phone()
    const { occ, foot } = run(phones, 12)
    const last = occ[occ.length - 1]
    assert.equal(last.shops.boutique, phones.length, `${c.name}: ${JSON.stringify(last.shops)}`)
    const f = foot[foot.length - 1]
    assert.ok(Value.Check(FootfallMessage, f), JSON.stringify(f))
    assert.ok(f.wifiAddresses >= 10 * phones.length, `${c.name}: ${f.wifiAddresses} addresses`)
    assert.equal(f.visitors, phones.length, `${c.name}: ${JSON.stringify(f)}`)
  }
})

test('an always-on device is learned as a fixture, listed in /metrics and left out; the site file can name one at once', () => {
  const fixture: Phone = { x: 18, y: 2, macs: () => '00:aa:bb:cc:dd:01' }
  const file = { ...siteFile, people: { coldStartQuietS: 0, fixtureAfterS: 1800 } }
  const learned = run([fixture], 50, 120, file)
  const early = learned.occ.find(o => o.ts > T0 + 10 * 60_000) as OccupancyMessageT
  assert.equal(early.shops.boutique, 1, 'not yet learned: counted')
  const last = learned.occ[learned.occ.length - 1]
  assert.equal(last.shops.boutique, 0, JSON.stringify(last))
  assert.equal(last.fixtures, 1)
  assert.match(learned.metrics, /instore_people_fixtures\{subject="h:[0-9a-f]{16}"\} 1/)
  assert.equal(learned.foot[learned.foot.length - 1].visitors, 0, 'a fixture is no visitor')
  const named = run([fixture], 5, 60, { ...siteFile, people: { coldStartQuietS: 0, fixtures: ['00:AA:BB:CC:DD:01'] } })
  assert.ok(
    named.occ.every(o => o.shops.boutique === 0),
    'named in the site file: never counted'
  )
})

test('learned fixtures are kept in the gateway state: after a restart on the same state file they are still left out', () => {
  const fixture: Phone = { x: 18, y: 2, macs: () => '00:aa:bb:cc:dd:02' }
  const file = { ...siteFile, people: { coldStartQuietS: 0, fixtureAfterS: 1800 } }
  const dir = mkdtempSync(join(tmpdir(), 'people-state-'))
  const first = run([fixture], 40, 120, file, dir)
  assert.equal(first.occ[first.occ.length - 1].fixtures, 1, 'learned in the first run')
  // Restarted on the same state: known from its first burst, never counted, listed in /metrics.
  const again = run([fixture], 5, 60, file, dir)
  assert.ok(
    again.occ.every(o => o.shops.boutique === 0 && o.high?.shops.boutique === 0),
    JSON.stringify(again.occ.find(o => o.shops.boutique !== 0))
  )
  assert.match(again.metrics, /instore_people_fixtures\{subject="h:[0-9a-f]{16}"\} 1/)
  assert.equal(again.foot[again.foot.length - 1].visitors, 0)
  // A fresh state knows nothing: counted until learned.
  const fresh = run([fixture], 5, 60, file)
  assert.equal(fresh.occ[fresh.occ.length - 1].shops.boutique, 1)
})

test('a device here longer than the longest plausible visit is left out of n before it is learned a fixture, and kept in the range', () => {
  // Default fixture learning (4 h); the longest plausible visit is 30 min until stays are learned.
  const fixture: Phone = { x: 18, y: 2, macs: () => '00:aa:bb:cc:dd:03' }
  const { occ } = run([fixture], 40, 120)
  const early = occ.find(o => o.ts > T0 + 10 * 60_000) as OccupancyMessageT
  assert.equal(early.shops.boutique, 1, 'a stay of 10 minutes: a shopper')
  const last = occ[occ.length - 1]
  assert.equal(last.shops.boutique, 0, JSON.stringify(last))
  assert.equal(last.fixtures, 0, 'not yet a fixture')
  assert.equal(last.high?.shops.boutique, 1, 'still in the range')
})

test('every source counts, each person once: app phones, anonymous BLE devices, Wi-Fi phones, and a phone with the app under the app only', () => {
  const cases: Array<{ name: string; phones: Phone[]; total: number; app: number; ble: number; wifi: number }> = [
    { name: 'app phone alone', phones: [{ x: 5, y: 3, ble: 'tag:0000beef' }], total: 1, app: 1, ble: 0, wifi: 0 },
    { name: 'anonymous BLE device (randomized MAC)', phones: [{ x: 15, y: 8, ble: '5a:11:22:33:44:55' }], total: 1, app: 0, ble: 1, wifi: 0 },
    { name: 'app and Wi-Fi of one phone', phones: [{ x: 5, y: 3, ble: 'tag:0000beef', macs: () => '00:11:22:33:44:09' }], total: 1, app: 1, ble: 0, wifi: 0 },
    {
      name: "app phone and another person's Wi-Fi phone",
      phones: [
        { x: 4, y: 3, ble: 'tag:0000beef' },
        { x: 16, y: 9, macs: () => '00:11:22:33:44:0a' }
      ],
      total: 2,
      app: 1,
      ble: 0,
      wifi: 1
    }
  ]
  for (const c of cases) {
    const { occ } = run(c.phones, 4, 60, { ...siteFile, zones: { ...siteFile.zones, shopHoldS: 0, shopEnterOdds: 0 } })
    const last = occ[occ.length - 1]
    const by = last.bySource
    assert.deepEqual(
      [last.shops.boutique, by?.app.shops.boutique, by?.ble.shops.boutique, by?.wifi.shops.boutique],
      [c.total, c.app, c.ble, c.wifi],
      `${c.name}: ${JSON.stringify(last)}`
    )
  }
})

test("two phones of one model side by side, rotating addresses with no counter, linked into one chain in turn, count as two by their bursts' rate", () => {
  // Each probes every 100 s, 28 s apart (phones 0 and 4 of the list; the others send nothing): each new address continues the other phone's chain.
  const quiet: Phone = { x: 0, y: 0 }
  const phones: Phone[] = [{ x: 8, y: 5, macs: randomMac, fp: 'ie0001' }, quiet, quiet, quiet, { x: 9, y: 5, macs: randomMac, fp: 'ie0001' }]
  const { occ, p } = run(phones, 20, 100)
  assert.equal(p.people.wifi.devices.size, 1, 'one chain')
  const last = occ[occ.length - 1]
  assert.deepEqual([last.shops.boutique, last.bySource?.wifi.shops.boutique], [2, 2], JSON.stringify(last))
})

test('anonymous BLE devices count as visitors once each, their rotating addresses chained (repro: they counted now but not as visitors)', () => {
  const zones = { ...siteFile, zones: { ...siteFile.zones, shopHoldS: 0, shopEnterOdds: 0 } }
  // Two devices in the shop, each rotating its address every 5 minutes (at different moments), and one that comes later.
  const rotating = (dev: number, offsetS: number) => (s: number) => `5a:00:00:00:${String(dev).padStart(2, '0')}:${String(Math.floor((s + offsetS) / 300)).padStart(2, '0')}`
  const late = (s: number) => (s < 600 ? '5a:00:00:00:09:00' : '5a:00:00:00:09:01')
  const phones: Phone[] = [
    { x: 5, y: 3, ble: rotating(1, 0) },
    { x: 15, y: 8, ble: rotating(2, 170) }
  ]
  const { foot, occ } = run(phones, 16, 60, zones)
  const f = foot[foot.length - 1]
  assert.equal(occ[occ.length - 1].bySource?.ble.shops.boutique, 2)
  assert.deepEqual([f.visitors, f.bleVisitors, f.wifiVisitors, f.appVisitors], [2, 2, 0, 0], JSON.stringify(f))
  assert.equal(
    Object.values(f.visitorsByHour ?? {}).reduce((a, b) => a + b, 0),
    2
  )
  // A third that arrives while the others are there is a visitor of its own.
  const more = run([...phones, { x: 10, y: 6, ble: (s: number) => (s < 400 ? '' : late(s)) }], 16, 60, zones)
  assert.equal(more.foot[more.foot.length - 1].bleVisitors, 3, JSON.stringify(more.foot[more.foot.length - 1]))
})

test('dwell summary: median, 90th percentile and minute buckets', () => {
  const table: Array<{ s: number[]; median: number | null; buckets: Record<string, number> }> = [
    { s: [], median: null, buckets: { '0-5': 0, '5-15': 0, '15-30': 0, '30-60': 0, '60-120': 0, '120+': 0 } },
    { s: [60, 600, 1200, 4000, 9000], median: 1200, buckets: { '0-5': 1, '5-15': 1, '15-30': 1, '30-60': 0, '60-120': 1, '120+': 1 } }
  ]
  for (const c of table) {
    const d = dwellSummary(c.s)
    assert.equal(d.medianS, c.median)
    assert.deepEqual(d.buckets, c.buckets)
    assert.equal(d.n, c.s.length)
  }
})

test('simulated Wi-Fi-only store, three hours: people now follows the truth and visitors are near it (loose bounds)', async () => {
  const [day] = await peopleRun('wifi-store-short', {}, { fixtureSpanMs: 1_800_000 }, ROOT)
  const s = day.open ?? day.day
  assert.ok(s.pearsonR >= 0.7, `r ${s.pearsonR}`)
  assert.ok(s.maeShare <= 0.4, `MAE ${s.mae} of ${s.meanTruth} people`)
  assert.ok(Math.abs(day.visitors.error) <= 0.3, JSON.stringify(day.visitors))
  assert.ok(day.dwell.n > 0)
})

test('simulator: Wi-Fi probes carry fingerprints, fixtures probe all window and have no truth, some shoppers carry two devices', async () => {
  const { loadScenario } = await import('../../simulators/scenario.ts')
  const { Simulator } = await import('../../simulators/engine.ts')
  const { isReading, isTruth } = await import('../../shared/trace.ts')
  const loaded = loadScenario(join(ROOT, 'simulators/scenarios/wifi-store-short.json'), { durationS: 3600 })
  const sim = new Simulator(loaded)
  const [w0] = [Date.parse(loaded.scenario.start)]
  const w1 = w0 + 3_600_000
  const globalFirst = new Map<string, number>()
  const globalLast = new Map<string, number>()
  let wifi = 0
  let withFp = 0
  let fixtureTruth = 0
  for (const l of sim.lines()) {
    if (isTruth(l) && l.truth.person?.startsWith('fixture')) fixtureTruth++
    if (!isReading(l) || l.t !== 'wifi' || l.mac === undefined) continue
    wifi++
    if (l.fp !== undefined && /^ie[0-9a-f]{4}$/.test(l.fp)) withFp++
    if ((parseInt(l.mac.slice(0, 2), 16) & 2) === 0) {
      if (!globalFirst.has(l.mac)) globalFirst.set(l.mac, l.ts)
      globalLast.set(l.mac, l.ts)
    }
  }
  assert.ok(wifi > 0 && withFp === wifi, `${withFp} of ${wifi} Wi-Fi readings carry a fingerprint`)
  assert.equal(fixtureTruth, 0)
  const allWindow = [...globalFirst].filter(([m, t]) => t - w0 < 600_000 && w1 - (globalLast.get(m) ?? 0) < 600_000)
  assert.ok(allWindow.length >= 4, `${allWindow.length} stable addresses heard from start to end (the scenario's 4 fixtures)`)
  const truthVisits = sim.truth.visits.length
  assert.ok(truthVisits > 20, `${truthVisits} visits`)
  const { makePerson } = await import('../../simulators/people.ts')
  const { Rng } = await import('../../shared/rng.ts')
  const rng = new Rng(1)
  const two = Array.from({ length: 400 }, (_, i) => makePerson(rng, `p${i}`, 'oneTime', loaded.scenario, loaded.site)).filter(p => p.extraWifi !== undefined).length
  assert.ok(two > 400 * 0.05 && two < 400 * 0.2, `${two} of 400 shoppers with a second device (scenario: 10%)`)
})
