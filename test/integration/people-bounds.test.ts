// People counting against one sender inventing addresses, and its state bounded
// (gateway/presence/newcomers.ts, wifi-devices.ts, ble-chains.ts, people.ts): a stream of new
// Wi-Fi addresses (each with a new capability fingerprint) or of anonymous BLE ids from one spot
// counts as one device, honest crowds keep their count, and Wi-Fi devices the linker drops leave
// people counting's own sets.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { silentLogger } from '../../shared/log.ts'
import { eventPipelineOptions } from '../helpers/gateway.ts'
import { capacities } from '../../gateway/presence/people-capacity.ts'
import { People, peopleOptions, wifiModels, type PeopleOptions, type Placed } from '../../gateway/presence/people.ts'

const site = parseSite(loadSiteFile('sites/boutique.site.json').file)
const T0 = Date.UTC(2026, 10, 2, 9)

function people(over: Partial<PeopleOptions> = {}): People {
  return new People(site, wifiModels(site), peopleOptions(site, { coldQuietMs: 0, ...over }), mac => `h:${mac}`)
}

/** One probe burst from (x, y), heard by every sensor in reach (the same path loss as the people tests). */
function burst(p: People, mac: string, x: number, y: number, ts: number, fp?: string, randomized = true): void {
  for (const s of site.sensors.values()) {
    const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(x - s.x, y - s.y, 1.6)))
    if (rssi >= -95) p.observeWifi({ subject: mac, randomized, sensor: s.id, rssi, ts, ...(fp !== undefined ? { fp } : {}) })
  }
}

const total = (c: { shops: Record<string, number> }) => Object.values(c.shops).reduce((a, b) => a + b, 0)
const mac = (i: number) => `0a:${[i >> 24, i >> 16, i >> 8, i].map(b => (b & 255).toString(16).padStart(2, '0')).join(':')}:00`

test('new Wi-Fi addresses from one spot, each with a new fingerprint, count as one device; an honest crowd arriving at one sensor keeps its count', () => {
  interface Case {
    name: string
    /** The bursts sent in the second starting at s: address, place, fingerprint, ms into the second. */
    bursts: (s: number) => Array<{ mac: string; x: number; y: number; fp: string; ms: number }>
    seconds: number
    range: [number, number]
    refused: (n: number) => boolean
  }
  const crowd = Array.from({ length: 25 }, (_, i) => [0, 1, 2].map(k => ({ i, at: i * 2400 + k * 60_000 }))).flat()
  const cases: Case[] = [
    // Repro (outside tester, 2026-12-06): 20 new addresses a second read as 1,800 people after 90 s.
    {
      name: 'address factory, 20 a second',
      bursts: s => Array.from({ length: 20 }, (_, k) => ({ mac: mac(20 * s + k), x: 10, y: 6.5, fp: `ie${(20 * s + k).toString(16)}`, ms: 50 * k })),
      seconds: 90,
      range: [1, 2],
      refused: n => n > 1000
    },
    // As many phones as the limit lets one sensor give in a minute, walking in beside it one every
    // 2.4 s, each probing every minute from a new address (its model's fingerprint kept).
    {
      name: 'crowd of 25 arriving beside one sensor',
      bursts: s =>
        crowd
          .filter(b => Math.floor(b.at / 1000) === s)
          .map(b => ({ mac: mac(100_000 + b.at), x: 8.8 + (b.i % 5) * 0.6, y: 5 + Math.floor(b.i / 5) * 0.5, fp: `ie${b.i.toString(16)}`, ms: b.at % 1000 })),
      seconds: 150,
      range: [25, 25],
      refused: n => n === 0
    }
  ]
  for (const c of cases) {
    const p = people()
    for (let s = 0; s <= c.seconds; s++) {
      for (const b of c.bursts(s)) burst(p, b.mac, b.x, b.y, T0 + s * 1000 + b.ms, b.fp)
      p.now(T0 + s * 1000 + 999, [], [], 0)
    }
    const t = T0 + c.seconds * 1000 + 3000
    const last = p.now(t, [], [], 0)
    const n = total(last)
    assert.ok(n >= c.range[0] && n <= c.range[1], `${c.name}: ${n} people now (${JSON.stringify(last.shops)})`)
    const v = p.visitors(t).wifiVisitors
    assert.ok(v >= c.range[0] && v <= c.range[1], `${c.name}: ${v} visitors`)
    assert.ok(c.refused(p.wifi.newcomers.refused), `${c.name}: ${p.wifi.newcomers.refused} new addresses taken for a sender`)
  }
})

test('anonymous BLE ids invented at one spot count as one device and one visitor; rotating honest devices keep theirs', () => {
  const at = (subject: string): Placed => ({ subject, shop: 'boutique', sector: 'new' })
  const cases: Array<{ name: string; ids: (s: number) => string[]; visitors: [number, number]; now: [number, number] }> = [
    // Repro (outside tester, 2026-12-06): one transmitter switching ids added about 220 visitors every 90 s.
    // Here: 3 new ids a second, each heard for 40 s (past the 30 s a new id waits to be a visitor).
    {
      name: 'id factory',
      ids: s =>
        Array.from({ length: 120 }, (_, k) => 3 * s - k)
          .filter(i => i >= 0 && i >= 3 * (s - 40))
          .map(i => `5a:ff:${i}`),
      visitors: [1, 2],
      now: [1, 2]
    },
    // Ten devices, each rotating its id every 5 minutes.
    { name: 'ten rotating devices', ids: s => Array.from({ length: 10 }, (_, d) => `5a:${d}:${Math.floor((s + 29 * d) / 300)}`), visitors: [10, 10], now: [10, 10] }
  ]
  for (const c of cases) {
    const p = people()
    let last = p.now(T0, [], [], 0)
    for (let s = 0; s <= 180; s++) last = p.now(T0 + s * 1000, [], c.ids(s).map(at), 0)
    const v = p.visitors(T0 + 180_000)
    assert.ok(v.bleVisitors >= c.visitors[0] && v.bleVisitors <= c.visitors[1], `${c.name}: ${v.bleVisitors} BLE visitors`)
    const n = last.bySource.ble.shops.boutique
    assert.ok(n >= c.now[0] && n <= c.now[1], `${c.name}: ${n} BLE people now`)
  }
})

test('Wi-Fi devices evicted at the linker bound leave people counting sets: churning addresses past it keeps them bounded', () => {
  const maxDevices = 300
  // Ten new devices a second (global addresses: no linking), each under a sensor inside, strong enough to count at once.
  const spots = ['b9', 'b8', 'b7', 'b5', 'b2'].map(id => site.sensors.get(id) as { x: number; y: number })
  const p = people({ maxDevices, newDevicesPerSensorMin: 100_000 })
  let peak = { inside: 0, staying: 0 }
  for (let i = 0; i < 3000; i++) {
    const ts = T0 + i * 100
    const at = spots[i % spots.length]
    burst(p, `00:11:${mac(i).slice(3, 14)}`, at.x, at.y, ts, undefined, false)
    if (i % 100 === 99) {
      p.now(ts + 2000, [], [], 0)
      const h = p.held()
      peak = { inside: Math.max(peak.inside, h.inside), staying: Math.max(peak.staying, h.staying) }
    }
  }
  assert.ok(p.wifi.evicted > 2000, `${p.wifi.evicted} evicted`)
  assert.ok(p.wifi.devices.size <= maxDevices)
  assert.ok(peak.inside <= maxDevices && peak.staying <= maxDevices, JSON.stringify(peak))
})

test('a flooded sensor and the addresses taken for the sender are listed in /metrics', () => {
  const metrics = new Metrics()
  const pipeline = new Pipeline(site, eventPipelineOptions(), { position() {}, occupancy() {}, events() {}, footfall() {} }, metrics, silentLogger)
  const p = pipeline.people
  for (let s = 0; s <= 10; s++) {
    for (let k = 0; k < 20; k++) burst(p, mac(20 * s + k), 10, 6.5, T0 + s * 1000 + 50 * k, `ie${(20 * s + k).toString(16)}`)
    p.now(T0 + s * 1000 + 999, [], [], 0)
  }
  const text = metrics.text()
  assert.match(text, /instore_people_flooded\{source="wifi",place="b9"\} 1/)
  const refused = Number(/instore_people_suspicious_addresses\{source="wifi"\} (\d+)/.exec(text)?.[1])
  assert.ok(refused > 100, text)
})

// Repro (outside tester, 2026-12-07): a source's share was not bounded per zone, so a snapshot could
// claim more people in one source than the floor holds (and the server now refuses such snapshots).
test("no source's share of a place exceeds what its floor holds", () => {
  const cap = capacities(site, peopleOptions(site, {}).maxPeoplePerM2)
  const sector = 'new'
  const many = (prefix: string, n: number): Placed[] => Array.from({ length: n }, (_, i) => ({ subject: `${prefix}${i}`, shop: 'boutique', sector }))
  const p = people()
  const crowd = (cap.sectors.get(sector) ?? 0) + 50
  const last = p.now(T0, many('app:', crowd), many('5a:ee:', crowd), 0)
  for (const s of ['app', 'ble', 'wifi'] as const) {
    assert.ok(last.bySource[s].sectors[sector] <= (cap.sectors.get(sector) ?? 0), `${s}: ${last.bySource[s].sectors[sector]} in ${sector}`)
    assert.ok(last.bySource[s].shops.boutique <= (cap.shops.get('boutique') ?? 0), `${s}: ${last.bySource[s].shops.boutique} in the boutique`)
  }
  assert.equal(last.bySource.app.sectors[sector], cap.sectors.get(sector))
})
