// Wi-Fi devices linked by their 802.11 counter (gateway/presence/wifi-devices.ts, issue 32): a radio
// that carries its counter across address changes is one radio, on either side of a wall, and a
// new address that does not carry it on is another radio, not that one's next address.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { People, peopleOptions, wifiModels } from '../../gateway/presence/people.ts'

const site = parseSite(loadSiteFile('sites/boutique.site.json').file)
const T0 = Date.UTC(2026, 10, 2, 9)
let macN = 0

/** One burst from a new randomized address at (x, y), three frames with the counter from seq. */
function burst(p: People, x: number, y: number, ts: number, fp: string, seq: number): void {
  const mac = `0a:00:00:00:${((++macN >> 8) & 255).toString(16).padStart(2, '0')}:${(macN & 255).toString(16).padStart(2, '0')}`
  for (let k = 0; k < 3; k++)
    for (const s of site.sensors.values()) {
      const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(x - s.x, y - s.y, 1.6)))
      if (rssi >= -95) p.observeWifi({ subject: mac, randomized: true, sensor: s.id, rssi, ts: ts + 20 * k, fp, seq: (seq + k) % 4096 })
    }
}

const people = () => new People(site, wifiModels(site), peopleOptions(site, { coldQuietMs: 0 }), mac => `h:${mac}`)

test('a phone carrying its counter, a new address every burst, probing every 20-30 s is one person (repro: up to three)', () => {
  for (const everyS of [20, 30]) {
    const p = people()
    let seq = 100
    let now = p.now(T0, [], [], 0)
    let t = T0
    for (let ts = T0; ts < T0 + 15 * 60_000; ts += everyS * 1000, seq += 3) {
      burst(p, 6, 4, ts, 'ie0001', seq)
      t = ts + 2000
      now = p.now(t, [], [], 0)
    }
    assert.equal(now.shops.boutique, 1, `every ${everyS} s: ${JSON.stringify(now)}`)
    assert.equal(p.visitors(t).wifiVisitors, 1)
  }
})

test('a new phone of the same model beside one carrying its counter is another person at once (repro: taken for its next address)', () => {
  const p = people()
  let seqA = 100
  let seqB = 7
  let now = p.now(T0, [], [], 0)
  // Phone A alone for 15 minutes, a burst every 100 s; phone B (its counter restarting with each
  // address) comes at 15 minutes, 4 m from A, its bursts 50 s after A's.
  for (let ts = T0; ts < T0 + 20 * 60_000; ts += 100_000, seqA += 3) {
    burst(p, 6, 4, ts, 'ie0001', seqA)
    now = p.now(ts + 2000, [], [], 0)
    if (ts >= T0 + 15 * 60_000) {
      seqB = (seqB * 1103 + 2345) % 4096
      burst(p, 10, 4, ts + 50_000, 'ie0001', seqB)
      now = p.now(ts + 52_000, [], [], 0)
    }
  }
  assert.equal(now.shops.boutique, 2, JSON.stringify(now))
})

test('an always-on device carrying its counter at the front wall, its bursts placed on both sides, stays one device', () => {
  const p = people()
  let seq = 10
  const sides = new Set<string | null>()
  for (let i = 0, ts = T0; ts < T0 + 40 * 60_000; i++, ts += 100_000, seq += 3) {
    burst(p, 10, i % 2 === 0 ? 0.8 : -1.5, ts, 'ie0002', seq)
    p.now(ts + 2000, [], [], 0)
    const d = [...p.wifi.devices].find(d => d.lastTs === ts)
    if (d) sides.add(d.last.shop)
  }
  assert.deepEqual(sides, new Set(['boutique', null]), 'placed on both sides of the wall')
  assert.equal(p.wifi.devices.size, 1, 'one device')
})

test('an always-on device carrying its counter stays one device across a burst placed far off and a lost one (repro: it broke into pieces)', () => {
  const p = people()
  let seq = 10
  for (let i = 0, ts = T0; ts < T0 + 60 * 60_000; i++, ts += 150_000, seq += 3) {
    // Every sixth burst is lost (the next comes 300 s after the last heard); every seventh is placed 18 m off.
    if (i % 6 === 5) continue
    const far = i % 7 === 6
    burst(p, far ? 10 : 12, far ? 22 : 4, ts, 'ie0003', seq)
    p.now(ts + 2000, [], [], 0)
  }
  assert.equal(p.wifi.devices.size, 1, [...p.wifi.devices].map(d => `${d.bursts} bursts at ${d.last.x.toFixed(1)},${d.last.y.toFixed(1)}`).join('; '))
})

test('a new phone beside one of its model still here does not take over that one stay (repro: counted in the range only)', () => {
  const p = people()
  let s = 1
  const restarted = () => {
    s = (s * 1103 + 12345) % 4096
    return s
  }
  let now = p.now(T0, [], [], 0)
  let seqA = 50
  // Phone A (carrying its counter) stays 45 minutes, a burst every 120 s; phone B of its model
  // (its counter restarting with each address: not A's next address) comes at 40 minutes, 3 m
  // from it, its first burst 50 s after one of A's.
  for (let ts = T0; ts < T0 + 46 * 60_000; ts += 120_000, seqA += 3) {
    burst(p, 6, 4, ts, 'ie0004', seqA)
    now = p.now(ts + 2000, [], [], 0)
    if (ts >= T0 + 40 * 60_000) {
      burst(p, 9, 4, ts + 50_000, 'ie0004', restarted())
      now = p.now(ts + 52_000, [], [], 0)
    }
  }
  // 100 s after B's third burst (its bursts no faster than one phone's), A still present: A has
  // stayed longer than visits last (the range only); B is a shopper just in: counted.
  now = p.now(T0 + 44 * 60_000 + 150_000, [], [], 0)
  assert.equal(now.shops.boutique, 1, JSON.stringify(now))
  assert.equal(now.high.shops.boutique, 2, JSON.stringify(now))
})
