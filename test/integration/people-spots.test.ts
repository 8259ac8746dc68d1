// Learned rotating fixtures and single bursts (gateway/presence/wifi-device-spots.ts,
// people-singles.ts): an always-on device that rotates its address and restarts its counter,
// once learned, is known again after its chain breaks, while a phone of its model beside it
// counts; and one burst inside weighs what the recent ones turned out to be.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { People, peopleOptions, wifiModels } from '../../gateway/presence/people.ts'
import { siteFile, T0 } from '../helpers/people-run.ts'

const site = parseSite({ ...siteFile, people: { coldStartQuietS: 0, fixtureAfterS: 1800 } })

function people(): People {
  return new People(site, wifiModels(site), peopleOptions(site), mac => `h:${mac}`)
}

let macs = 0
function burst(p: People, x: number, y: number, ts: number, fp: string, seq: number, mac = `0a:00:00:00:${(macs >> 8) % 256}:${macs++ % 256}`): void {
  for (const s of site.sensors.values()) {
    const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(x - s.x, y - s.y, 1.6)))
    if (rssi >= -95) p.observeWifi({ subject: mac, randomized: true, sensor: s.id, rssi, ts, fp, seq })
  }
}

/** A counter restarting with each new address. */
function restarting(): () => number {
  let s = 7
  return () => {
    s = (s * 1103 + 12345) % 4096
    return s
  }
}

test('a rotating fixture restarting its counter, learned, is known again after its chain breaks; a phone of its model beside it counts (repro: each piece counted a person for 30 min)', () => {
  const p = people()
  const seq = restarting()
  let ts = T0
  // An hour at (12, 4.5), a new address and counter every 2 minutes: learned a fixture.
  for (; ts < T0 + 60 * 60_000; ts += 120_000) {
    burst(p, 12, 4.5, ts, 'ie0001', seq())
    p.now(ts + 2000, [], [], 0)
  }
  assert.equal(p.wifi.fixtures().length, 1, 'learned')
  // Quiet for 15 minutes (asleep, or its bursts lost): too long for its chain or its stay to continue.
  ts += 15 * 60_000
  const resumed = ts
  const seen: number[] = []
  for (; ts < resumed + 40 * 60_000; ts += 120_000) {
    burst(p, 12, 4.5, ts, 'ie0001', seq())
    seen.push(p.now(ts + 2000, [], [], 0).shops.boutique, p.now(ts + 60_000, [], [], 0).shops.boutique)
  }
  assert.deepEqual(new Set(seen), new Set([0]), `the fixture's later pieces: ${seen.join(',')}`)
  // A phone of its model 2 m from it, carrying its counter, its first burst 10 s after one of the fixture's.
  let seqB = 900
  const counts: number[] = []
  for (let i = 0; i < 5; i++, ts += 120_000, seqB += 3) {
    burst(p, 12, 4.5, ts, 'ie0001', seq())
    burst(p, 14, 5, ts + 10_000, 'ie0001', seqB)
    counts.push(p.now(ts + 60_000, [], [], 0).shops.boutique)
  }
  assert.deepEqual(counts.slice(1), [1, 1, 1, 1], `the phone beside it, from its second burst: ${counts.join(',')}`)
})

test('one burst inside weighs what the recent ones turned out to be: a front heard by passers-by only, or by shoppers coming in', () => {
  const cases: Array<{ name: string; second: boolean; n: number }> = [
    { name: 'passers-by placed inside, none heard again', second: false, n: 0 },
    { name: 'shoppers, each heard again inside', second: true, n: 1 }
  ]
  for (const c of cases) {
    const p = people()
    let ts = T0
    for (let i = 0; i < 60; i++, ts += 240_000) {
      const mac = `0b:00:00:00:01:${i}`
      // Each its own model: no one continues another.
      burst(p, 10, 1.5, ts, `ie1${String(i).padStart(3, '0')}`, 100, mac)
      p.now(ts + 2000, [], [], 0)
      if (c.second) burst(p, 10, 3, ts + 60_000, `ie1${String(i).padStart(3, '0')}`, 103, mac)
      p.now(ts + 62_000, [], [], 0)
    }
    ts += 240_000
    burst(p, 10, 1.5, ts, 'ie0fff', 5)
    const now = p.now(ts + 2000, [], [], 0)
    const d = [...p.wifi.devices].find(d => d.fp === 'ie0fff')
    assert.ok(d !== undefined && d.last.maxRssi >= -50 && d.last.depth >= 1, `${c.name}: a strong burst inside`)
    assert.equal(now.shops.boutique, c.n, `${c.name}: ${JSON.stringify(now.shops)}`)
    assert.equal(now.high.shops.boutique, 1, c.name)
  }
})

test("a phone of a learned fixture's model beside it whose new addresses join the fixture's chain still counts, by the chain's rate beyond the fixture's", () => {
  const p = people()
  const seq = restarting()
  let ts = T0
  for (; ts < T0 + 60 * 60_000; ts += 120_000) {
    burst(p, 12, 4.5, ts, 'ie0001', seq())
    p.now(ts + 2000, [], [], 0)
  }
  // Its chain breaks (15 minutes quiet); then a phone of its model (its counter restarting too) 1.5 m
  // from it probes between its bursts, each a minute from the fixture's: one chain for both.
  ts += 15 * 60_000
  const from = ts
  const counts: number[] = []
  for (; ts < from + 20 * 60_000; ts += 120_000) {
    burst(p, 12, 4.5, ts, 'ie0001', seq())
    burst(p, 13.5, 4.5, ts + 60_000, 'ie0001', seq())
    counts.push(p.now(ts + 62_000, [], [], 0).shops.boutique)
  }
  assert.ok(
    [...p.wifi.spotRadios(ts)].some(d => d.bursts >= 10),
    'one chain taken for the fixture'
  )
  assert.deepEqual(counts.slice(-4), [1, 1, 1, 1], counts.join(','))
})
