// Meraki's own location estimates (a client none of whose APs the site places) name their device
// by the post's clientMac or iBeacon. That id must pass every check a sensor's reading does: an
// outside tester (s13 G) placed `app:` shoppers, `h:` subjects and ungrammatical ids through this
// path, corrupted every subscriber with a 70,000-character one, escaped the new-id flood bound and
// made the site's own beacon a shopper. Real gateway: its HTTP endpoint and its embedded broker.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { externalPlace } from '../../gateway/ingest/external-fixes.ts'

const STORE = 'instore/boutique-1'
const T = 1793610000000
const SITE_BEACON = 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:1'

interface Watch {
  positions: Set<string>
  events: Array<{ topic: string; body: string }>
  closes: number
  errors: string[]
  end: () => Promise<void>
}

/** A subscriber of every position and event, counting how often the broker drops it. */
async function watch(g: Gateway): Promise<Watch> {
  const c = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 200 })
  const w: Watch = { positions: new Set(), events: [], closes: 0, errors: [], end: async () => await c.endAsync(true) }
  c.on('message', (t, p) => {
    if (t.startsWith(`${STORE}/positions/`)) w.positions.add(t.slice(`${STORE}/positions/`.length))
    else w.events.push({ topic: t, body: p.toString() })
  })
  c.on('close', () => w.closes++)
  c.on('error', e => w.errors.push(e.message))
  await c.subscribeAsync([`${STORE}/positions/#`, `${STORE}/events/#`], { qos: 1 })
  return w
}

/**
 * One Meraki post per time of `times` (ms offsets from T), in time order as Meraki sends them (the
 * event clock follows the records' times): each observation `obs(t)` gives, or none.
 */
async function post(g: Gateway, type: string, times: number[], obs: (t: number) => unknown[]): Promise<void> {
  for (const t of times) {
    const r = await fetch(`http://127.0.0.1:${g.httpPort}/meraki`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: '3.0', secret: 's', type, data: { observations: obs(t) } })
    })
    assert.equal(r.status, 202)
    await g.merakiWork
  }
}

/** Moves the event clock to `ts` (every sensor reports, hearing nothing) and waits for the ticks up to it. */
async function advance(g: Gateway, ts: number): Promise<void> {
  const c = await mqtt.connectAsync(g.mqttUrl)
  for (const id of g.o.site.sensors.keys()) await c.publishAsync(`${STORE}/sensors/${id}/readings`, JSON.stringify({ ts, readings: [] }), { qos: 1 })
  await c.endAsync()
}

/** A Meraki location record at `t` (ms from T) at x, y, with no AP record the site places: Meraki's estimate is all there is. */
const at = (t: number, x: number, y: number) => [{ time: new Date(T + t).toISOString(), x, y, variance: 1 }]
const every = (n: number, stepMs: number) => Array.from({ length: n }, (_, k) => k * stepMs)

async function metric(g: Gateway, re: RegExp): Promise<number> {
  const m = re.exec(await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text())
  return m ? Number(m[1]) : 0
}

test('Meraki estimates: `app:`, `h:`, ungrammatical and 70,000-character ids are refused as MQTT readings are, counted, and no subscriber is disturbed', {
  timeout: 60_000
}, async () => {
  const g = await startGateway({ meraki: { validator: 'v', secret: 's', lateMs: 5000 } })
  const w = await watch(g)
  try {
    const refused = ['app:3f9c0e21a4b5c6d7', 'h:0123456789abcdef', 'a4,c1,38,9f,0e,01', 'L'.repeat(70_000)]
    for (const t of every(12, 5000)) {
      await post(g, 'BluetoothDevicesSeen', [t], () => [
        ...refused.map((clientMac, i) => ({ clientMac, locations: at(t, 4 + 3 * i, 5) })),
        { clientMac: 'tag-ok-1', locations: at(t, 10, 6) }
      ])
      // Wi-Fi clients are MACs (as a sniffer's Wi-Fi reading must be): anything else is refused.
      await post(g, 'WiFi', [t], () => [
        { clientMac: 'app:3f9c0e21a4b5c6d7', locations: at(t, 6, 6) },
        { clientMac: '3c:22:fb:00:11:44', locations: at(t, 8, 6) }
      ])
    }
    await advance(g, T + 90_000)
    await waitFor(() => w.positions.has('tag-ok-1') && [...w.positions].some(s => s.startsWith('h:')), 15_000, 'positions of the valid ids')
    for (const id of refused) {
      assert.ok(!w.positions.has(id), `no position for ${id.slice(0, 20)}`)
      assert.ok(!w.events.some(e => e.body.includes(`"subject":"${id.slice(0, 200)}`)), `no event about ${id.slice(0, 20)}`)
    }
    assert.equal([...w.positions].filter(s => s.startsWith('h:')).length, 1, 'only the Wi-Fi MAC, hashed')
    assert.equal(await metric(g, /instore_rejected_total\{reason="reserved_id"\} (\d+)/), 2 * 12, 'app: and h:, counted per estimate')
    assert.equal(await metric(g, /instore_rejected_total\{reason="bad_id"\} (\d+)/), 2 * 12)
    assert.equal(await metric(g, /instore_rejected_total\{reason="bad_mac"\} (\d+)/), 12)
    assert.equal(w.closes, 0, `subscriber dropped; errors ${JSON.stringify(w.errors)}`)
  } finally {
    await w.end()
    await g.stop()
  }
})

test('Meraki estimates: the site’s own iBeacon (upper-case uuid, as Meraki sends it) is never a shopper; counted', { timeout: 60_000 }, async () => {
  const g = await startGateway({ meraki: { validator: 'v', secret: 's', lateMs: 5000 } })
  const w = await watch(g)
  try {
    const beacon = [{ bleType: 'iBeacon', uuid: 'F7826DA6-4FA2-4E98-8024-BC5B71E0893E', major: 1, minor: 1 }]
    await post(g, 'BluetoothDevicesSeen', every(24, 2500), t => [
      { clientMac: 'f0:12:34:56:78:9a', bleBeacons: beacon, locations: at(t, 10, 6) },
      { clientMac: 'tag-ok-2', locations: at(t, 10, 6) }
    ])
    await advance(g, T + 90_000)
    await waitFor(() => w.positions.has('tag-ok-2'), 15_000, 'the shopper tag placed')
    assert.ok(!w.positions.has(SITE_BEACON), 'no position for the site beacon')
    assert.ok(!w.events.some(e => e.body.includes(SITE_BEACON)), 'no event about the site beacon')
    assert.equal(await metric(g, /instore_meraki_posts_total\{result="site_beacon_estimates"\} (\d+)/), 24)
  } finally {
    await w.end()
    await g.stop()
  }
})

test('Meraki estimates: new stable ids count against the flood bound per place (200 in a minute: each place past it flooded, the rest one anonymous sender)', {
  timeout: 90_000
}, async () => {
  const g = await startGateway({ meraki: { validator: 'v', secret: 's', lateMs: 5000 } })
  const w = await watch(g)
  try {
    // A post a second with 100 made-up tags, a new set every 30 s: 200 new ids in 60 s (the tester's case).
    const xy = (i: number) => [2 + (i % 16), 3 + (i % 7)] as const
    await post(g, 'BluetoothDevicesSeen', every(60, 1000), t =>
      Array.from({ length: 100 }, (_, i) => ({ clientMac: `tag-${Math.floor(t / 30_000)}-${i}`, locations: at(t, ...xy(i)) }))
    )
    // While the minute of both sets is the last (the sector given the most of them, 52, is past the bound).
    const flooded = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.match(flooded, /instore_people_flooded\{source="ble_id",place="meraki-estimates:women"\} 1/)
    await advance(g, T + 70_000)
    await waitFor(async () => (await metric(g, /instore_people_suspicious_addresses\{source="ble_id"\} (\d+)/)) > 0, 15_000, 'ids taken for a flood')
    const perPlace = new Map<string, number>()
    for (const s of w.positions) {
      const m = /^tag-\d+-(\d+)$/.exec(s)
      if (!m) continue
      const place = externalPlace(g.o.site, ...xy(Number(m[1])), 0)
      perPlace.set(place, (perPlace.get(place) ?? 0) + 1)
    }
    for (const [place, n] of perPlace) assert.ok(n <= 31, `at most the bound of new ids a minute placed as themselves at ${place}, got ${n}`)
    const tags = [...perPlace.values()].reduce((a, b) => a + b, 0)
    assert.ok(tags < 200 - 40, `the flooded places' excess refused, placed ${tags}`)
  } finally {
    await w.end()
    await g.stop()
  }
})

test('Meraki estimates: a stranger inventing a new id each second outside does not take a shopper inside for the flood (s13 re-tester)', { timeout: 90_000 }, async () => {
  const g = await startGateway({ meraki: { validator: 'v', secret: 's', lateMs: 5000 } })
  const w = await watch(g)
  const shopper = 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:7:42'
  try {
    // The stranger outside the shop (60 new public addresses a minute, twice the bound) from t=0; the
    // shopper's tag in the shop from 35 s, when the place outside has long been flooded.
    await post(g, 'BluetoothDevicesSeen', every(90, 1000), t => [
      { clientMac: `00:1b:44:00:${(t / 1000).toString(16).padStart(2, '0')}:99`, locations: at(t, 12, -4) },
      ...(t >= 35_000
        ? [{ clientMac: 'c4:7c:8d:6a:11:22', bleBeacons: [{ bleType: 'iBeacon', uuid: 'f7826da6-4fa2-4e98-8024-bc5b71e0893e', major: 7, minor: 42 }], locations: at(t, 8, 6) }]
        : [])
    ])
    await advance(g, T + 100_000)
    await waitFor(() => w.events.some(e => e.topic.endsWith('/shop.enter') && e.body.includes(`"subject":"${shopper}"`)), 15_000, "the shopper's shop.enter")
    assert.ok(w.positions.has(shopper), 'her positions under her own id')
    const flooded = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.match(flooded, /instore_people_flooded\{source="ble_id",place="meraki-estimates:outside"\} 1/, 'the stranger still flagged')
  } finally {
    await w.end()
    await g.stop()
  }
})

test('Meraki estimates: a tag first heard beside the flooding stranger, refused, is looked at again and gets its visit when it walks in', { timeout: 90_000 }, async () => {
  const g = await startGateway({ meraki: { validator: 'v', secret: 's', lateMs: 5000 } })
  const w = await watch(g)
  const shopper = 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:7:43'
  try {
    // Outside beside the stranger from 35 s (refused: that place is flooded), in the shop from 50 s.
    await post(g, 'BluetoothDevicesSeen', every(90, 1000), t => [
      { clientMac: `00:1b:44:00:${(t / 1000).toString(16).padStart(2, '0')}:98`, locations: at(t, 12, -4) },
      ...(t >= 35_000
        ? [
            {
              clientMac: 'c4:7c:8d:6a:11:23',
              bleBeacons: [{ bleType: 'iBeacon', uuid: 'f7826da6-4fa2-4e98-8024-bc5b71e0893e', major: 7, minor: 43 }],
              locations: t < 50_000 ? at(t, 12, -3) : at(t, 10, 6)
            }
          ]
        : [])
    ])
    await advance(g, T + 100_000)
    await waitFor(() => w.events.some(e => e.topic.endsWith('/shop.enter') && e.body.includes(`"subject":"${shopper}"`)), 15_000, "the shopper's shop.enter")
  } finally {
    await w.end()
    await g.stop()
  }
})

test("Meraki AP records: a client id no reading may carry is left out and counted, not the whole batch of the AP's clients refused", { timeout: 60_000 }, async () => {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  let n = 0
  for (const f of site.features) if (f.properties.kind === 'sensor') f.properties.mac = `e0:55:3d:00:00:${(++n).toString(16).padStart(2, '0')}`
  const path = join(mkdtempSync(join(tmpdir(), 'meraki-ids-')), 'site.json')
  writeFileSync(path, JSON.stringify(site))
  const g = await startGateway({ meraki: { validator: 'v', secret: 's', lateMs: 5000 } }, path)
  try {
    const records = (t: number) => [{ time: new Date(T + t).toISOString(), rssiRecords: [{ apMac: 'e0:55:3d:00:00:01', rssi: -60 }] }]
    await post(g, 'BluetoothDevicesSeen', [0], t => [
      { clientMac: 'L'.repeat(70_000), locations: records(t) },
      { clientMac: 'tag-ok-3', locations: records(t) }
    ])
    await post(g, 'WiFi', [1000], t => [
      { clientMac: 'not-a-mac-but-far-too-long-for-one', locations: records(t) },
      { clientMac: '3c:22:fb:00:11:55', locations: records(t) }
    ])
    await advance(g, T + 30_000)
    await waitFor(async () => (await metric(g, /instore_readings_total\{source="wifi"\} (\d+)/)) === 1, 10_000, 'the Wi-Fi reading')
    assert.equal(await metric(g, /instore_readings_total\{source="ble"\} (\d+)/), 1, "the valid tag's reading taken")
    assert.equal(await metric(g, /instore_rejected_total\{reason="bad_schema"\} (\d+)/), 0)
    assert.equal(await metric(g, /instore_meraki_posts_total\{result="bad_client_id_records"\} (\d+)/), 2)
  } finally {
    await g.stop()
  }
})
