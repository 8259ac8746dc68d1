// Meraki as it really behaves: one post a minute, each carrying the last minute of records at
// their own times. A simulated store's shoppers, heard by the APs, must still make visits whose
// enter and exit times are close to the truth; and a large post is parsed fast or refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { makeTrace } from '../helpers/sim.ts'
import { ROOT } from '../helpers/run.ts'
import { evaluateEvents, defaultEvalOptions, type EventMsg } from '../../simulators/evaluate.ts'
import { apMap, checkMerakiPost, merakiReadings } from '../../gateway/ingest/meraki.ts'
import { bleIdentity } from '../../gateway/ingest/sensor-ids.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'
import { loadSiteFile } from '../../shared/site.ts'

const UUID = 'e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4'
const STORE = 'instore/boutique-1'

function merakiSite(): string {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  let n = 0
  for (const f of site.features) if (f.properties.kind === 'sensor') f.properties.mac = `e0:55:3d:00:00:${(++n).toString(16).padStart(2, '0')}`
  const p = join(mkdtempSync(join(tmpdir(), 'meraki-stream-')), 'site.json')
  writeFileSync(p, JSON.stringify(site))
  return p
}

interface TraceRead {
  ts: number
  sensor: string
  t: string
  id?: string
  rssi: number
}

test('a Meraki stream at its real cadence (a post a minute, records up to 60 s old) makes visits within 15 s of the truth', { timeout: 300_000 }, async () => {
  const { trace, sim } = await makeTrace('boutique', { durationS: 1200, seed: 7 })
  const reads = readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as TraceRead)
    .filter(l => l.t === 'ble' && typeof l.id === 'string')
  // Each app shopper wears a tag Meraki reports by MAC and, in bleBeacons, as an iBeacon.
  const ids = [...new Set(reads.map(r => r.id as string))]
  const beaconOf = new Map(
    ids.map((id, i) => [
      id,
      { uuid: UUID, major: i + 1, minor: 0, mac: `c3:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` }
    ])
  )
  const subjectOf = new Map(ids.map((id, i) => [`ibeacon:${UUID}:${i + 1}:0`, id]))
  const g = await startGateway({ meraki: { validator: 'v', secret: 's' } }, merakiSite())
  const apMac = new Map([...g.o.site.sensors.values()].map(s => [s.id, s.mac as string]))
  const c = await mqtt.connectAsync(g.mqttUrl)
  const events: EventMsg[] = []
  c.on('message', (_t, p) => {
    const e = JSON.parse(p.toString()) as EventMsg
    events.push({ ...e, subject: subjectOf.get(e.subject) ?? e.subject })
  })
  await c.subscribeAsync(`${STORE}/events/#`, { qos: 1 })
  const [start, end] = sim.truth.windows[0]
  const heartbeat = async (ts: number) => {
    for (const id of g.o.site.sensors.keys()) await c.publishAsync(`${STORE}/sensors/${id}/readings`, JSON.stringify({ ts, readings: [] }), { qos: 1 })
  }
  try {
    let i = 0
    for (let post = start + 60_000; post <= end + 60_000; post += 60_000) {
      // The minute before the post, per client and per record time, as Meraki groups them.
      const per = new Map<string, Map<number, Array<{ apMac: string; rssi: number }>>>()
      for (; i < reads.length && reads[i].ts < post; i++) {
        const r = reads[i]
        const id = r.id as string
        let byTime = per.get(id)
        if (!byTime) per.set(id, (byTime = new Map()))
        let recs = byTime.get(r.ts)
        if (!recs) byTime.set(r.ts, (recs = []))
        recs.push({ apMac: apMac.get(r.sensor) as string, rssi: r.rssi })
      }
      const observations = [...per].map(([id, byTime]) => {
        const b = beaconOf.get(id) as { uuid: string; major: number; minor: number; mac: string }
        const locations = [...byTime].map(([ts, rssiRecords]) => ({ time: new Date(ts).toISOString(), x: 0, y: 0, variance: 5, nearestApTags: [], rssiRecords }))
        return {
          name: null,
          clientMac: b.mac,
          latestRecord: {
            time: locations[locations.length - 1].time,
            nearestApMac: locations[locations.length - 1].rssiRecords[0].apMac,
            nearestApRssi: locations[locations.length - 1].rssiRecords[0].rssi
          },
          locations,
          bleBeacons: [{ bleType: 'iBeacon', uuid: b.uuid, major: b.major, minor: b.minor }]
        }
      })
      const res = await fetch(`http://127.0.0.1:${g.httpPort}/meraki`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ version: '3.0', secret: 's', type: 'Bluetooth', data: { networkId: 'N_1', observations } })
      })
      assert.equal(res.status, 202)
      // Live, a minute passes before the next post: the gateway has long taken this one in.
      await g.merakiWork
      // The store's clock at the moment of the post (what wall time is live).
      await heartbeat(post)
    }
    await g.merakiWork
    // Time moves on: the last visits close.
    await heartbeat(end + 300_000)
    await waitFor(() => (g.pipeline?.clock.watermark() ?? 0) >= end + 200_000, 30_000, 'the gateway clock past the end')
    await g.flushOutbox()
    const outbox = (g.store?.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number } | undefined)?.n ?? 0
    await waitFor(() => events.length >= outbox, 10_000, `all ${outbox} events`)
  } finally {
    await c.endAsync()
    await g.stop()
  }
  const q = evaluateEvents(sim.truth, events, defaultEvalOptions)
  const v = q.visits
  assert.ok(v.truth >= 5, `enough visits to judge (${v.truth})`)
  assert.ok(v.recall >= 0.9, `visit recall ${v.recall}`)
  assert.equal(v.falseVisits, 0, 'no false visit')
  assert.ok(v.enterErrorS.max <= 15, `visit enter times within 15 s (max ${v.enterErrorS.max} s)`)
  assert.ok(v.exitErrorS.max <= 15, `visit exit times within 15 s (max ${v.exitErrorS.max} s)`)
  process.stdout.write(`# meraki stream: ${JSON.stringify(v)}\n`)
})

/** A Bluetooth post of `n` observations, each heard by three APs at three times. */
function bigPost(n: number, t0: number): string {
  const observations = []
  for (let i = 0; i < n; i++) {
    const mac = `c3:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`
    const locations = [0, 20, 40].map(s => ({
      time: new Date(t0 + s * 1000).toISOString(),
      x: 3.5,
      y: 4.25,
      lat: 51.5,
      lng: -0.12,
      variance: 4.5,
      floorPlan: { name: 'Ground', id: 'g_1' },
      nearestApTags: [],
      rssiRecords: [1, 2, 3].map(a => ({ apMac: `e0:55:3d:00:00:0${a}`, rssi: -60 - a }))
    }))
    observations.push({ name: null, clientMac: mac, latestRecord: { time: locations[2].time, nearestApMac: 'e0:55:3d:00:00:01', nearestApRssi: -61 }, locations, bleBeacons: [] })
  }
  return JSON.stringify({ version: '3.0', secret: 's', type: 'Bluetooth', data: { networkId: 'N_1', observations } })
}

test('a 10 MiB Meraki post is parsed and read in under 1 s of CPU, answered at once and taken in without stalling the broker; one over the limit is refused with 413', {
  timeout: 120_000
}, async () => {
  const g = await startGateway({ meraki: { validator: 'v', secret: 's', maxBytes: 12 * 2 ** 20 } }, merakiSite())
  const url = `http://127.0.0.1:${g.httpPort}/meraki`
  const c = await mqtt.connectAsync(g.mqttUrl)
  try {
    let body = bigPost(8000, 1793610000000)
    const per = body.length / 8000
    body = bigPost(Math.floor((10 * 2 ** 20) / per), 1793610000000)
    assert.ok(body.length >= 10 * 2 ** 20 - 2 * per && body.length <= 12 * 2 ** 20, `${body.length} bytes`)
    // Parsing and reading it, in CPU time (the machine running the tests may be shared).
    const cpu0 = process.cpuUsage()
    const check = checkMerakiPost(JSON.parse(body), { validator: 'v', secret: 's' })
    assert.ok(check.ok)
    const aps = apMap(g.o.site)
    let readings = 0
    for (let i = 0; i < check.post.observations.length; i += 500) for (const r of merakiReadings(check.post, aps, i, i + 500).per.values()) readings += r.length
    const cpu = process.cpuUsage(cpu0)
    const cpuMs = (cpu.user + cpu.system) / 1000
    assert.equal(readings, check.post.observations.length * 9)
    assert.ok(cpuMs < 1000, `parsed and read in ${Math.round(cpuMs)} ms of CPU`)
    const t0 = performance.now()
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const answered = performance.now() - t0
    assert.equal(res.status, 202)
    // While the post is taken in, the broker still answers at once.
    let pong = 0
    c.on('message', () => {
      pong = performance.now()
    })
    await c.subscribeAsync('ping')
    const sent = performance.now()
    await c.publishAsync('ping', 'x', { qos: 1 })
    await waitFor(() => pong > 0, 5000, 'the broker during a big post')
    const lag = pong - sent
    await g.merakiWork
    const total = performance.now() - t0
    // Relative to the taking-in, not a wall-clock bound (a loaded machine stretches both): taken
    // in one synchronous piece, the round trip would wait for all of it.
    assert.ok(lag < Math.max(500, total / 3), `broker round trip ${Math.round(lag)} ms while taking in the post (${Math.round(total)} ms)`)
    const m = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.match(m, /instore_messages_total\{kind="readings"\} [1-9]/)
    process.stdout.write(
      `# meraki 10 MiB: ${body.length} bytes, parsed and read in ${Math.round(cpuMs)} ms CPU, answered over HTTP ${Math.round(answered)} ms, taken in ${Math.round(total)} ms, broker round trip meanwhile ${Math.round(lag)} ms\n`
    )
    const tooBig = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bigPost(Math.floor((13 * 2 ** 20) / per), 1793610000000) })
    assert.equal(tooBig.status, 413)
  } finally {
    await c.endAsync()
    await g.stop()
  }
})

test("where its APs are not placed, Meraki's own estimate (x/y, or lat/lng through the georef) is the position, with its variance", { timeout: 60_000 }, async () => {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  site.georef = { origin: [13.4, 52.5], bearingDeg: 0 }
  const path = join(mkdtempSync(join(tmpdir(), 'meraki-est-')), 'site.json')
  writeFileSync(path, JSON.stringify(site))
  const g = await startGateway({ meraki: { validator: 'v', secret: 's' } }, path)
  const c = await mqtt.connectAsync(g.mqttUrl)
  const got = new Map<string, { x: number; y: number; accuracyM: number; sector: string | null }>()
  c.on('message', (t, p) => got.set(t.slice(`${STORE}/positions/`.length), JSON.parse(p.toString()) as { x: number; y: number; accuracyM: number; sector: string | null }))
  await c.subscribeAsync(`${STORE}/positions/#`, { qos: 1 })
  const T = 1793610000000
  const R = 6_371_008.8
  const lat = 52.5 + ((3 / R) * 180) / Math.PI
  const lng = 13.4 + ((15 / (R * Math.cos((52.5 * Math.PI) / 180))) * 180) / Math.PI
  try {
    const locations = (f: (s: number) => Record<string, unknown>) =>
      Array.from({ length: 12 }, (_, k) => ({ time: new Date(T + k * 5000).toISOString(), variance: 4, rssiRecords: [{ apMac: '00:18:0a:99:99:99', rssi: -60 }], ...f(k) }))
    const observations = [
      { clientMac: 'c3:00:00:00:00:aa', locations: locations(() => ({ x: 4.5, y: 8.5 })), bleBeacons: [{ bleType: 'iBeacon', uuid: UUID, major: 9, minor: 9 }] },
      { clientMac: 'c3:00:00:00:00:bb', locations: locations(() => ({ x: 99, y: 99, lat, lng })), bleBeacons: [] }
    ]
    assert.equal(
      (
        await fetch(`http://127.0.0.1:${g.httpPort}/meraki`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ version: '3.0', secret: 's', type: 'Bluetooth', data: { observations } })
        })
      ).status,
      202
    )
    await g.merakiWork
    for (const id of g.o.site.sensors.keys()) await c.publishAsync(`${STORE}/sensors/${id}/readings`, JSON.stringify({ ts: T + 150_000, readings: [] }), { qos: 1 })
    const tag = `ibeacon:${UUID}:9:9`
    await waitFor(() => got.has(tag) && got.size >= 2, 10_000, "positions from Meraki's estimates")
    const a = got.get(tag)
    const b = [...got].find(([s]) => s.startsWith('h:'))?.[1]
    assert.ok(a && Math.hypot(a.x - 4.5, a.y - 8.5) < 0.01 && a.accuracyM === 2 && a.sector === 'women', JSON.stringify(a))
    assert.ok(b && Math.hypot(b.x - 15, b.y - 3) < 0.05, JSON.stringify(b))
  } finally {
    await c.endAsync()
    await g.stop()
  }
})

test("the Meraki v3 fixture: the Bluetooth client is the iBeacon it advertises, each AP record a reading at the record's own time", async () => {
  const fx = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/meraki-v3.json'), 'utf8')) as {
    post: { data: { observations: Array<{ locations: Array<{ time: string }> }> } }
    subject: string
  }
  const site = loadSiteFile(merakiSite())
  const c = checkMerakiPost(fx.post, { validator: 'v', secret: 's3cret' })
  assert.ok(c.ok)
  const { per, unknownAps, fixes } = merakiReadings(c.post, apMap(site), 0, Infinity, site)
  const at = Date.parse(fx.post.data.observations[0].locations[0].time)
  const ap = (mac: string) => [...site.sensors.values()].find(s => s.mac === mac)?.id
  assert.deepEqual(
    [...per],
    [
      [ap('e0:55:3d:00:00:01'), [{ t: 'ble', id: fx.subject, rssi: -61, ts: at }]],
      [ap('e0:55:3d:00:00:02'), [{ t: 'ble', id: fx.subject, rssi: -70, ts: at }]]
    ]
  )
  assert.equal(unknownAps, 0)
  assert.deepEqual(fixes, [], "placed APs: no need for Meraki's own estimate")
  assert.equal(bleIdentity(fx.subject, undefined, new SubjectHasher('x')).subject, fx.subject)
})
