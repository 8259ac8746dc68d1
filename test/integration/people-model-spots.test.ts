// Fixtures learned by their spot across chains (gateway/presence/model-spots.ts): an always-on
// device of a common model whose chain keeps breaking (no piece lasts the 4 h that learn a fixture)
// is known by its model being heard at its spot day and night, and a phone of that model beside it
// still counts; shoppers of a common model filling a spot through the open hours teach no spot.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { People, peopleOptions, wifiModels } from '../../gateway/presence/people.ts'
import { siteFile, T0 } from '../helpers/people-run.ts'

const site = parseSite(siteFile)

function people(): People {
  return new People(site, wifiModels(site), peopleOptions(site), mac => `h:${mac}`)
}

let macs = 0
function burst(p: People, x: number, y: number, ts: number, fp: string, seq: number): void {
  const mac = `0a:00:00:${(macs >> 16) % 256}:${(macs >> 8) % 256}:${macs++ % 256}`
  for (const s of site.sensors.values()) {
    const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(x - s.x, y - s.y, 1.6)))
    if (rssi >= -95) p.observeWifi({ subject: mac, randomized: true, sensor: s.id, rssi, ts, fp, seq })
  }
}

let s = 7
/** A counter restarting with each new address. */
const restarting = () => (s = (s * 1103 + 12345) % 4096)

/**
 * An always-on device at (12, 4.5) probing every 2 minutes from a new address and counter, quiet
 * for 12 minutes every 50 (asleep, its bursts lost): its chain and its stay break each time, so no
 * piece lasts an hour. Counts asked a minute after each burst, from `from` to `to` (ms after T0).
 */
function alwaysOn(p: People, from: number, to: number, beside?: (ts: number) => void): number[] {
  const counts: number[] = []
  for (let ts = T0 + from; ts < T0 + to; ts += 120_000) {
    if ((ts - T0) % 3_000_000 < 720_000) continue
    burst(p, 12, 4.5, ts, 'ie0001', restarting())
    beside?.(ts)
    counts.push(p.now(ts + 60_000, [], [], 0).shops.boutique)
  }
  return counts
}

test('an always-on device whose chain keeps breaking is learned by its spot within a day, and its later pieces count no one (repro: each piece a person for up to 30 min, a visitor each)', () => {
  const p = people()
  const day1 = alwaysOn(p, 0, 86_400_000)
  assert.equal(p.wifi.fixtures().length, 0, 'no piece lasted the hours that learn a fixture by its chain')
  assert.ok(Math.max(...day1) >= 1, 'its pieces counted before its spot was learned')
  const visitors = p.visitors(T0 + 86_400_000).wifiVisitors
  const day2 = alwaysOn(p, 86_400_000, 86_400_000 + 6 * 3_600_000)
  assert.deepEqual(new Set(day2), new Set([0]), `its pieces on the next morning: ${day2.join(',')}`)
  assert.equal(p.wifi.modelSpots.learned().length, 1, 'its spot learned')
  assert.equal(p.visitors(T0 + 86_400_000 + 6 * 3_600_000).wifiVisitors, visitors, 'no visitor among them')
})

test('a phone of its model beside a fixture known by its spot counts, from how often the model is heard there', () => {
  const p = people()
  alwaysOn(p, 0, 86_400_000)
  let seqB = 100
  // From an hour into the next day, between two of its quiet spells: a phone of the same model 2 m
  // from it, probing every 2 minutes for 25 minutes (a new address each time, its counter carried on).
  const from = 86_400_000 + 3_600_000 + 720_000
  const phone = (ts: number) => {
    burst(p, 13.5, 6, ts + 50_000, 'ie0001', (seqB += 2))
  }
  const before = alwaysOn(p, from - 1_800_000, from)
  const counts = alwaysOn(p, from, from + 1_500_000, phone)
  assert.deepEqual(new Set(before), new Set([0]), `the fixture alone: ${before.join(',')}`)
  assert.ok(
    counts.slice(-5).every(n => n === 1),
    `the phone, once its bursts have come for a while: ${counts.join(',')}`
  )
})

test('shoppers of a common model at one spot through the open hours teach no spot', () => {
  const p = people()
  // 12 hours a day, two days: a phone of the most common model at (8-10, 5) at every moment (a new
  // address every 100 s), none through the night.
  for (let day = 0; day < 2; day++) {
    for (let ts = T0 + day * 86_400_000; ts < T0 + day * 86_400_000 + 12 * 3_600_000; ts += 100_000) {
      burst(p, 8 + ((ts / 100_000) % 3), 5, ts, 'ie0001', restarting())
      p.now(ts + 50_000, [], [], 0)
    }
    p.now(T0 + day * 86_400_000 + 23 * 3_600_000, [], [], 0)
  }
  assert.equal(p.wifi.modelSpots.learned().length, 0, 'no spot')
})
