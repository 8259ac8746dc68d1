// Wi-Fi visitors' dwell (gateway/presence/people-dwell.ts, through People): one entry per visit of
// a counted visitor, none for always-on devices, taken back with a visitor learned for a fixture.
// The first test is a stranger's reproduction of issue 32 (always-on devices in an empty shop).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { People, peopleOptions, wifiModels } from '../../gateway/presence/people.ts'
import { VisitDwell } from '../../gateway/presence/people-dwell.ts'
import { PeopleDay } from '../../gateway/presence/people-day.ts'
import type { WifiDevice } from '../../gateway/presence/wifi-device-types.ts'

const site = parseSite(loadSiteFile(new URL('../../sites/boutique.site.json', import.meta.url).pathname).file)
const T0 = Date.UTC(2026, 10, 2, 9)
const STEP = 10_000

interface Phone {
  mac: string
  x: number
  y: number
  seq: number
  /** Probes every probeS seconds, offset by offsetS, while one of the spans [from, to) of ms since T0 holds. */
  probeS: number
  offsetS: number
  spans: Array<[number, number]>
}

function run(phones: Phone[], hours: number, each?: (p: People, t: number) => void): People {
  const p = new People(site, wifiModels(site), peopleOptions(site, { coldQuietMs: 0 }), mac => `h:${mac}`)
  for (let t = T0; t < T0 + hours * 3_600_000; t += STEP) {
    for (const d of phones) {
      const since = t - T0
      if (!d.spans.some(([a, b]) => since >= a && since < b) || (since + d.offsetS * 1000) % (d.probeS * 1000) >= STEP) continue
      for (let k = 0; k < 3; k++)
        for (const s of site.sensors.values()) {
          const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(d.x - s.x, d.y - s.y, 1.6)))
          if (rssi >= -95) p.observeWifi({ subject: d.mac, randomized: false, sensor: s.id, rssi, ts: t + 20 * k, fp: 'ieD', seq: (d.seq + k) % 4096 })
        }
      d.seq = (d.seq + 3) % 4096
    }
    p.now(t, [], [], 0)
    each?.(p, t)
  }
  return p
}

const MIN = 60_000

test('four always-on devices in an empty shop: no dwell while they stay, none once they are fixtures', () => {
  const phones = Array.from({ length: 4 }, (_, i) => ({
    mac: `00:1b:21:00:00:${(i + 16).toString(16)}`,
    x: 3 + i * 4,
    y: 6,
    seq: i * 500,
    probeS: 280,
    offsetS: 70 * i,
    spans: [[0, 10 * 60 * MIN]] as Array<[number, number]>
  }))
  const seen: number[] = []
  const p = run(phones, 5, (p, t) => {
    if ((t - T0) % (30 * MIN) === 0) seen.push(p.visitors(t).dwell.n)
  })
  // Each 280 s gap is longer than the presence time: the code before timed one visit per gap.
  assert.deepEqual(
    seen,
    seen.map(() => 0)
  )
  const v = p.visitors(T0 + 5 * 60 * MIN)
  assert.equal(v.visitors, 0, 'learned as fixtures within the five hours')
  assert.equal(v.dwell.n, 0)
})

test('one phone probing every 240 s for 30 min: one visit, timed from first to last burst', () => {
  const phone: Phone = { mac: '00:1b:21:00:00:31', x: 7, y: 6, seq: 0, probeS: 240, offsetS: 0, spans: [[0, 30 * MIN]] }
  const p = run([phone], 1)
  const v = p.visitors(T0 + 60 * MIN)
  assert.equal(v.visitors, 1)
  assert.equal(v.dwell.n, 1)
  // Bursts at 0, 4, ... 28 min: 28 min inside, plus one mean probe interval for before and after.
  assert.equal(v.dwell.medianS, 28 * 60 + 105)
})

test('a phone back after a quarter of an hour: two visits, the second timed from its return', () => {
  const phone: Phone = {
    mac: '00:1b:21:00:00:32',
    x: 7,
    y: 6,
    seq: 0,
    probeS: 120,
    offsetS: 0,
    spans: [
      [0, 20 * MIN],
      [35 * MIN, 45 * MIN]
    ]
  }
  const p = run([phone], 1.5)
  const v = p.visitors(T0 + 90 * MIN)
  assert.equal(v.visitors, 1, 'one visitor a day')
  assert.equal(v.dwell.n, 2)
  assert.equal(v.dwell.buckets['15-30'], 1, 'the first visit, 18 min')
  assert.equal(v.dwell.buckets['5-15'], 1, 'the second, 8 min: not timed from the first visit')
})

test('a visitor still heard outside after its visit ended: no further entry until it is placed inside again', () => {
  const day = new PeopleDay('Europe/Berlin')
  day.roll(T0)
  const d = { firstInShopTs: T0, lastInShop: { ts: T0 + 10 * MIN } } as unknown as WifiDevice
  const v = new VisitDwell(day, 8.5 * MIN, 105_000)
  // Asked every 10 s for an hour; the device is heard outside (its last burst inside stays at 10 min).
  for (let t = T0; t < T0 + 60 * MIN; t += STEP) {
    v.inShop(d, t)
    v.settle(t)
  }
  // Back inside at 70 min, gone after 72.
  for (let t = T0 + 70 * MIN; t < T0 + 90 * MIN; t += STEP) {
    if (t <= T0 + 72 * MIN) (d.lastInShop as { ts: number }).ts = t
    v.inShop(d, t)
    v.settle(t)
  }
  // The code before reopened it on the old burst and ended it again at every count (105 s each).
  assert.deepEqual(day.visitors(1).dwell.n, 2)
  assert.equal(day.visitors(1).dwell.buckets['5-15'], 1, '10 min + 105 s')
  assert.equal(day.visitors(1).dwell.buckets['0-5'], 1, 'the second visit: 2 min + 105 s, timed from its return')
})
