// People counting against a stranger's few cheap frames (the outside tester's s7 report, defects
// 1-3): the learned longest plausible visit cannot be driven down by two-burst strangers, has a
// floor and grows back; a flood's suspicion clears from phones heard again (Wi-Fi and anonymous
// BLE), and is never laid on a global Wi-Fi address or on a BLE chain heard across its link gap.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { People, peopleOptions, wifiModels, type Placed } from '../../gateway/presence/people.ts'

const site = parseSite(loadSiteFile('sites/boutique.site.json').file)
const T0 = Date.UTC(2026, 11, 7, 9)
const MIN = 60_000

const people = () => new People(site, wifiModels(site), peopleOptions(site, { coldQuietMs: 0 }), mac => `h:${mac}`)
const total = (c: { shops: Record<string, number> }) => Object.values(c.shops).reduce((a, b) => a + b, 0)

/** One probe burst from (x, y), heard by every sensor in reach (the path loss of the other people tests). */
function burst(p: People, mac: string, x: number, y: number, ts: number, fp: string, randomized: boolean): void {
  for (const s of site.sensors.values()) {
    const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(x - s.x, y - s.y, 1.6)))
    if (rssi >= -95) p.observeWifi({ subject: mac, randomized, sensor: s.id, rssi, ts, fp })
  }
}

interface Send {
  mac: string
  x: number
  y: number
  fp: string
  randomized: boolean
}

/** Runs second by second to `endS`, `at(s)` giving the bursts sent in second s; `look(s, p)` sees each second's count. */
function run(endS: number, at: (s: number) => Send[], look: (s: number, p: People, n: number) => void = () => {}): People {
  const p = people()
  for (let s = 0; s <= endS; s++) {
    for (const b of at(s)) burst(p, b.mac, b.x, b.y, T0 + s * 1000, b.fp, b.randomized)
    look(s, p, total(p.now(T0 + s * 1000 + 999, [], [], 0)))
  }
  return p
}

const hex = (i: number) => i.toString(16).padStart(2, '0')

test("two-burst strangers do not teach the longest plausible visit: slow-probing shoppers stay counted (the tester's repro)", () => {
  const real = Array.from({ length: 8 }, (_, i) => ({ mac: `00:1b:63:00:00:${hex(0x10 + i)}`, x: 3 + (i % 4) * 4.5, y: 3 + Math.floor(i / 4) * 6, off: i * 17 }))
  // From +10 min, 60 new randomized addresses, one every 3 s, each with its own fingerprint: two bursts 2 s apart, then quiet.
  const fakes = Array.from({ length: 60 }, (_, i) => ({ mac: `da:00:00:00:01:${hex(i)}`, at: 600 + 3 * i, x: 4 + (i % 6) * 2.5, y: 3 + (i % 3) * 3, fp: `atk${i}` }))
  const seen: number[] = []
  const p = run(
    26 * 60,
    s => [
      ...real.filter(r => s >= r.off && (s - r.off) % 150 === 0).map(r => ({ ...r, fp: 'realphone', randomized: false })),
      ...fakes.filter(f => s === f.at || s === f.at + 2).map(f => ({ ...f, randomized: true }))
    ],
    (s, _p, n) => {
      if (s >= 18 * 60 && s % 60 === 0) seen.push(n)
    }
  )
  assert.deepEqual(seen, Array(seen.length).fill(8), 'counted from +18 to +26 min')
  assert.ok(p.longStay() >= peopleOptions(site).longStayFloorMs, `longest plausible visit ${p.longStay()} ms`)
})

test('the longest plausible visit has a floor, and grows back once real stays end (no lock-in)', () => {
  const o = peopleOptions(site)
  // Phase 1, from 0: 60 plausible but short stays (three bursts a minute apart). Phase 2, from 12 min:
  // 60 stays of 25 min (a burst every 100 s). Global addresses: each phone is its own device.
  const short = Array.from({ length: 60 }, (_, i) => ({ mac: `00:1c:00:00:01:${hex(i)}`, from: 3 * i, every: 60, n: 3 }))
  const long = Array.from({ length: 60 }, (_, i) => ({ mac: `00:1c:00:00:02:${hex(i)}`, from: 720 + 3 * i, every: 100, n: 16 }))
  const place = (i: number) => ({ x: 2 + (i % 8) * 2.2, y: 2 + Math.floor(i / 8) * 1.1 })
  const sends = (s: number) =>
    [...short, ...long].flatMap((d, i) =>
      s >= d.from && (s - d.from) % d.every === 0 && (s - d.from) / d.every < d.n ? [{ mac: d.mac, ...place(i % 60), fp: `m${i % 60}`, randomized: false }] : []
    )
  let afterShort = 0
  const p = run(48 * 60, sends, (s, q) => {
    if (s === 12 * 60) afterShort = q.longStay()
  })
  assert.equal(afterShort, o.longStayFloorMs, 'short stays bring it down to the floor, no further')
  assert.ok(p.longStay() >= 25 * MIN, `grown back with the long stays: ${p.longStay() / MIN} min`)
})

test('Wi-Fi: a flood beside phones that just arrived does not uncount them for their visit (global addresses never suspect, randomized ones cleared when heard again)', () => {
  // A randomized phone probing every minute reads as more than one phone (people.ts `phones`): this one probes at about the mean rate.
  for (const [randomized, every] of [
    [false, 60],
    [true, 100]
  ] as const) {
    // 8 phones beside b9 arrive over 21 s and probe on; 30 s after the last, 31 new addresses beside b9 within 10 s, once.
    const phones = Array.from({ length: 8 }, (_, i) => ({
      mac: `${randomized ? '02' : '00'}:1b:63:00:02:${hex(i)}`,
      x: 9 + (i % 4) * 0.6,
      y: 5.5 + Math.floor(i / 4) * 0.8,
      at: 3 * i,
      fp: `ph${i}`
    }))
    const flood = Array.from({ length: 31 }, (_, i) => ({ mac: `da:00:00:00:02:${hex(i)}`, x: 10.5, y: 6.5, at: 51 + Math.floor(i / 3.2), fp: `fl${i}` }))
    const seen: number[] = []
    const p = run(
      15 * 60,
      s => [
        ...phones.filter(ph => s >= ph.at && (s - ph.at) % every === 0).map(ph => ({ ...ph, randomized })),
        ...flood.filter(f => s === f.at).map(f => ({ ...f, randomized: true }))
      ],
      (s, _p, n) => {
        if (s >= 5 * 60 && s % 60 === 0) seen.push(n)
      }
    )
    assert.ok(p.wifi.newcomers.refused > 0, 'the flood was taken for one')
    assert.deepEqual(seen, Array(seen.length).fill(8), `${randomized ? 'randomized' : 'global'}: counted from +5 min`)
    const v = p.visitors(T0 + 15 * MIN).wifiVisitors
    assert.ok(v >= 8 && v <= 9, `${randomized ? 'randomized' : 'global'}: ${v} visitors (the 8 phones, and the sender as one)`)
  }
})

test('anonymous BLE: chains made before a flood are cleared when heard past its minute, and one heard across its link gap is never suspect', () => {
  // 8 phones in "women", each keeping its address; 31 new addresses there from 90 s (three a second), each placed for 10 s.
  for (const from of [60, 85]) {
    const seen: number[] = []
    const p = people()
    for (let s = 0; s <= 600; s++) {
      const a: Placed[] = []
      for (let i = 0; i < 8; i++) if (s >= from + i) a.push({ subject: `real${i}`, shop: 'boutique', sector: 'women' })
      for (let i = 0; i < 31; i++) {
        const at = 90 + Math.floor(i / 3)
        if (s >= at && s < at + 10) a.push({ subject: `fake${i}`, shop: 'boutique', sector: 'women' })
      }
      const n = p.now(T0 + s * 1000, [], a, 0)
      if (s >= 240 && s % 60 === 0) seen.push(n.bySource.ble.sectors.women)
    }
    assert.ok(p.ble.newcomers.refused > 0, 'the flood was taken for one')
    assert.deepEqual(seen, Array(seen.length).fill(8), `phones from ${from} s: counted from +4 min`)
    const v = p.visitors(T0 + 600_000).bleVisitors
    assert.ok(v >= 8 && v <= 9, `phones from ${from} s: ${v} visitors`)
  }
})
