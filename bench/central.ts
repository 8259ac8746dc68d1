// Central server figures: event ingest rate over HTTP against a bare fastify route taking the
// same payloads, and the latency from a reading's arrival at the gateway to the trigger at the SDK.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import mqtt from 'mqtt'
import { buildServer } from '../server/app.ts'
import { Gateway } from '../gateway/gateway.ts'
import { InstoreClient } from '../sdk/client.ts'
import { eidReadingId } from '../shared/eid.ts'
import { loadSiteFile, type Site } from '../shared/site.ts'
import { silentLogger } from '../shared/log.ts'
import { quantile } from '../shared/stats.ts'
import { Rng } from '../shared/rng.ts'
import { randomPointIn } from '../shared/geometry.ts'
import type { InstoreEvent } from '../shared/events.ts'

const ADMIN = 'adm_bench'

async function post(url: string, token: string, body: string): Promise<void> {
  const r = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body })
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`)
  await r.arrayBuffer()
}

export async function ingestRate(events = 20_000, batch = 500): Promise<{ eventsPerS: number; bareEventsPerS: number; ratio: number }> {
  const site = loadSiteFile('sites/boutique.site.json')
  const { app } = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), 'bench-s-')), log: silentLogger, adminToken: ADMIN })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const reg = await fetch(`${url}/v1/stores`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ site: site.file })
  })
  const { gatewayToken } = (await reg.json()) as { gatewayToken: string }
  const bodies: string[] = []
  // Recent times: the server refuses events older than --max-event-age-days.
  const t0 = Date.now() - events
  for (let i = 0; i < events; i += batch) {
    const evs: InstoreEvent[] = Array.from({ length: batch }, (_, k) => ({
      id: `ev${i + k}`,
      type: 'sector.exit',
      storeId: site.storeId,
      subject: `h:${((i + k) % 997).toString(16).padStart(16, '0')}`,
      visitId: 'v' + ((i + k) % 5000),
      seq: i + k + 1,
      ts: t0 + i + k,
      shop: 'boutique',
      sector: 'women',
      dwellMs: 42_000,
      confidence: 0.9
    }))
    bodies.push(JSON.stringify({ events: evs }))
  }
  const bare = Fastify({ bodyLimit: 8 << 20 })
  bare.post('/v1/stores/:storeId/events', async req => ({ accepted: (req.body as { events: unknown[] }).events.length, duplicates: 0 }))
  const bareUrl = await bare.listen({ port: 0, host: '127.0.0.1' })
  const time = async (base: string): Promise<number> => {
    const t0 = performance.now()
    for (const b of bodies) await post(`${base}/v1/stores/${site.storeId}/events`, gatewayToken, b)
    return events / ((performance.now() - t0) / 1000)
  }
  const bareRate = await time(bareUrl)
  const rate = await time(url)
  await bare.close()
  await app.close()
  return { eventsPerS: rate, bareEventsPerS: bareRate, ratio: rate / bareRate }
}

/** Readings a device at (x, y) would produce at each sensor (path-loss model plus noise). */
function readingsAt(site: Site, rng: Rng, x: number, y: number, id: string, ts: number): Map<string, { t: 'ble'; id: string; rssi: number; ts: number }> {
  const out = new Map<string, { t: 'ble'; id: string; rssi: number; ts: number }>()
  for (const s of site.sensors.values()) {
    const d = Math.hypot(x - s.x, y - s.y, 1.2 - s.z)
    out.set(s.id, { t: 'ble', id, rssi: Math.round(-59 - 22 * Math.log10(d) + rng.normal(0, 4)), ts })
  }
  return out
}

export async function triggerLatency(devices = 40, seconds = 45): Promise<{ triggers: number; p50Ms: number; p99Ms: number }> {
  const site = loadSiteFile('sites/boutique.site.json')
  const { app } = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), 'bench-s-')), log: silentLogger, adminToken: ADMIN })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const admin = (path: string, body: unknown) =>
    fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const { gatewayToken } = (await (await admin('/v1/stores', { site: site.file })).json()) as { gatewayToken: string }
  await admin('/v1/campaigns', {
    id: 'lat',
    stores: [site.storeId],
    when: { event: 'sector.enter', sector: 'women' },
    cap: { perVisit: 1 },
    content: { title: 'now', ttlMin: 10000 }
  })
  const received = new Map<string, number>()
  const subs = []
  // Each phone advertises the EID of the key the server issued it.
  const onAir: Array<(ms: number) => string> = []
  for (let i = 0; i < devices; i++) {
    const c = new InstoreClient({ baseUrl: url })
    const reg = await c.register({ presence: true, marketing: true })
    const key = Buffer.from(reg.eid.key, 'hex')
    onAir.push(ms => eidReadingId(key, reg.eid.k, ms))
    subs.push(
      c.triggers(t => {
        if (!received.has(t.triggerId)) received.set(t.triggerId, performance.now())
      })
    )
  }
  const g = new Gateway({
    site,
    port: 0,
    host: '127.0.0.1',
    dataDir: mkdtempSync(join(tmpdir(), 'bench-g-')),
    clock: 'event',
    httpPort: 0,
    prefix: 'instore',
    secret: 'b',
    log: silentLogger,
    central: { url, token: gatewayToken, configEveryMs: 200 }
  })
  await g.start()
  while ((g.campaigns?.list.length ?? 0) === 0 || g.identity.size < devices) await new Promise(resolve => setTimeout(resolve, 50))
  // Instrument: which message's arrival let the tick that fired each trigger run.
  const pipeline = g.pipeline
  const presence = g.presence
  if (!pipeline || !presence) throw new Error('gateway not started')
  let arrival = 0
  const fired = new Map<string, number>()
  // The gateway takes each message in (`take`) and works it through later, in slices.
  const take = pipeline.take.bind(pipeline)
  pipeline.take = (topic, payload) => {
    arrival = performance.now()
    take(topic, payload)
  }
  const tick = presence.tick.bind(presence)
  presence.tick = (t, fresh, source) => {
    const evs = tick(t, fresh, source)
    for (const e of evs) if (e.type === 'trigger.fired') fired.set(e.id, arrival)
    return evs
  }
  const rng = new Rng(4)
  const zone = site.sectors.find(s => s.id === 'women')
  if (!zone) throw new Error('no women sector')
  const spots = Array.from({ length: devices }, () => randomPointIn(zone, () => rng.next(), 1.5))
  const client = await mqtt.connectAsync(g.mqttUrl)
  const t0 = Math.floor(Date.now() / 1000) * 1000
  for (let s = 0; s < seconds; s++) {
    const batches = new Map<string, unknown[]>()
    spots.forEach(([x, y], i) => {
      for (let k = 0; k < 4; k++) {
        for (const [sensor, r] of readingsAt(site, rng, x, y, onAir[i](t0 + s * 1000 + k * 250), t0 + s * 1000 + k * 250)) {
          const arr = batches.get(sensor) ?? []
          arr.push(r)
          batches.set(sensor, arr)
        }
      }
    })
    for (const [sensor, readings] of batches) await client.publishAsync(`instore/${site.storeId}/sensors/${sensor}/readings`, JSON.stringify({ ts: t0 + s * 1000 + 999, readings }))
    // Paced well within what the gateway takes, so the figure is latency, not queueing.
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const until = Date.now() + 15_000
  while (received.size < fired.size && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
  const lat = [...fired]
    .filter(([id]) => received.has(id))
    .map(([id, at]) => (received.get(id) as number) - at)
    .sort((a, b) => a - b)
  for (const s of subs) s.close()
  await client.endAsync()
  await g.stop()
  await app.close()
  return { triggers: lat.length, p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99) }
}
