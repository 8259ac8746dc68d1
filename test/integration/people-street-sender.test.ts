// A sender on the street copying the shoppers' probe fingerprint (a stranger's check of issue 32, s12,
// /work/prompts/s12/B32-repro/03-seq-chains-swallow-shoppers.mts): 20 phones stay in the boutique,
// each burst from a new randomized address with a fresh counter; an ESP32 at y = -4 (the street,
// outside the front wall) runs 16 address chains, a new address every 40 s each (24 a minute, under
// the flood limit), with the shoppers' fingerprint, stepping its counter by 64 or drawing it at
// random. Before: the shop read 24-27 people (carried counters) and up to 37 (random ones) where
// 16-17 without the sender; the street addresses took the shoppers' chains across the wall, and
// a chain holding street bursts was counted as several phones inside by its rate.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { People, peopleOptions, wifiModels } from '../../gateway/presence/people.ts'

const site = parseSite(loadSiteFile('sites/boutique.site.json').file)
const T0 = Date.UTC(2026, 10, 2, 9)
const MIN = 60_000

/** The shop's count every 5 min over 40 min, with `chains` street chains (counters carried on, or drawn). */
function shopCounts(chains: number, carry: boolean): number[] {
  let rnd = 12345
  const rand = () => (rnd = (rnd * 1103515245 + 12345) % 2147483648) / 2147483648
  let macN = 0
  const p = new People(site, wifiModels(site), peopleOptions(site, { coldQuietMs: 0 }), mac => `h:${mac}`)
  const burst = (x: number, y: number, ts: number, seq: number) => {
    const mac = `0a:00:00:00:${((++macN >> 8) & 255).toString(16).padStart(2, '0')}:${(macN & 255).toString(16).padStart(2, '0')}`
    for (let k = 0; k < 3; k++)
      for (const s of site.sensors.values()) {
        const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(x - s.x, y - s.y, 1.6)))
        if (rssi >= -95) p.observeWifi({ subject: mac, randomized: true, sensor: s.id, rssi, ts: ts + 20 * k, fp: 'ieA', seq: (seq + k) % 4096 })
      }
  }
  const end = T0 + 40 * MIN
  const events: Array<[number, () => void]> = []
  for (let i = 0; i < 20; i++) {
    const [x, y] = [2 + (i % 5) * 4, 2 + Math.floor(i / 5) * 2.5]
    for (let t = T0 + rand() * 100_000; t < end; t += 90_000 + rand() * 30_000) {
      const ts = t
      events.push([ts, () => burst(x, y, ts, Math.floor(rand() * 4096))])
    }
  }
  for (let i = 0; i < chains; i++) {
    let seq = i * 256
    for (let t = T0 + i * 2500; t < end; t += 40_000) {
      const ts = t
      events.push([
        ts,
        () => {
          burst(3 + i, -4, ts, carry ? seq : Math.floor(rand() * 4096))
          seq = (seq + 64) % 4096
        }
      ])
    }
  }
  events.sort((a, b) => a[0] - b[0])
  const out: number[] = []
  let t = T0
  for (const [ts, send] of events) {
    for (; t + 10_000 <= ts; ) {
      t += 10_000
      const n = p.now(t, [], [], 0).shops.boutique ?? 0
      if ((t - T0) % (5 * MIN) === 0) out.push(n)
    }
    send()
  }
  return out
}

test('a sender on the street with the shoppers’ fingerprint does not inflate the shop’s count (counters carried on or drawn)', () => {
  const alone = shopCounts(0, true)
  for (const carry of [true, false]) {
    const withSender = shopCounts(16, carry)
    // From 10 min (every shopper heard twice inside) to the end, including past the 30 min after
    // which a stay was "settled": at most 2 over the 20 phones inside (or over the count without
    // the sender, where that is higher; a chain holding phones in turn is counted by its rate).
    for (let i = 1; i < alone.length; i++) {
      assert.ok(
        withSender[i] <= Math.max(20, alone[i]) + 2,
        `carry ${carry}: at ${5 * (i + 1)} min ${withSender[i]} people with the sender, ${alone[i]} without (${withSender.join(' ')} / ${alone.join(' ')})`
      )
    }
  }
})
