// Event-pipeline cost per reading and memory with many devices: the same synthetic readings
// through the pipeline with and without the presence stage (zones, events, SQLite outbox).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile } from '../shared/site.ts'
import { silentLogger } from '../shared/log.ts'
import { Rng } from '../shared/rng.ts'
import { Pipeline } from '../gateway/pipeline.ts'
import { Metrics } from '../gateway/io/metrics.ts'
import { GatewayStore } from '../gateway/io/store.ts'
import { CampaignEngine } from '../gateway/campaigns/campaigns.ts'
import { PresenceEngine, presenceOptions } from '../gateway/presence/presence.ts'
import { defaultClockOptions } from '../gateway/ingest/clock.ts'

export interface PresenceCost {
  devices: number
  readings: number
  usPerReading: number
  eventStageUsPerReading: number
  eventStageShare: number
  events: number
  heapMiB: number
  rssMiB: number
}

function batches(sitePath: string, devices: number, seconds: number): Array<[string, Buffer]> {
  const site = loadSiteFile(sitePath)
  const rng = new Rng(9)
  const sensors = [...site.sensors.values()]
  const [x0, y0, x1, y1] = site.bbox
  const pos = Array.from({ length: devices }, () => [rng.uniform(x0, x1), rng.uniform(y0, y1)])
  const t0 = Date.UTC(2026, 10, 2, 10)
  const out: Array<[string, Buffer]> = []
  for (let s = 0; s < seconds; s++) {
    const per = new Map<string, Array<{ t: 'ble'; id: string; rssi: number; ts: number }>>()
    pos.forEach(([x, y], i) => {
      // Shoppers drift a little; each is heard by the sensors within ~20 m.
      x += rng.normal(0, 0.3)
      y += rng.normal(0, 0.3)
      pos[i] = [x, y]
      for (const sn of sensors) {
        const d = Math.hypot(x - sn.x, y - sn.y, 1.2 - sn.z)
        if (d > 20) continue
        const rssi = Math.round(-59 - 22 * Math.log10(d) + rng.normal(0, 6))
        if (rssi < -98) continue
        const arr = per.get(sn.id) ?? []
        arr.push({ t: 'ble', id: `tag:${i.toString(16).padStart(8, '0')}`, rssi, ts: t0 + s * 1000 + (i % 1000) })
        per.set(sn.id, arr)
      }
    })
    for (const [sensor, readings] of per) {
      for (let k = 0; k < readings.length; k += 500) {
        out.push([`instore/${site.storeId}/sensors/${sensor}/readings`, Buffer.from(JSON.stringify({ ts: t0 + s * 1000 + 999, readings: readings.slice(k, k + 500) }))])
      }
    }
  }
  return out
}

function run(
  sitePath: string,
  msgs: Array<[string, Buffer]>,
  withPresence: boolean
): { seconds: number; stageSeconds: number; events: number; pipeline: Pipeline; presence: PresenceEngine | null } {
  const site = loadSiteFile(sitePath)
  let events = 0
  let presence: PresenceEngine | null = null
  if (withPresence) {
    const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'bench-p-')))
    presence = new PresenceEngine(site, store, new CampaignEngine(site.storeId, site.timezone, store), presenceOptions(site))
    // Time the event stage itself: zone diff, events, campaigns, the SQLite transaction.
    const tick = presence.tick.bind(presence)
    presence.tick = (t, fresh, source) => {
      const a = performance.now()
      const r = tick(t, fresh, source)
      stage += performance.now() - a
      return r
    }
  }
  let stage = 0
  const pipeline = new Pipeline(
    site,
    {
      prefix: 'instore',
      secret: 'b',
      clock: { ...defaultClockOptions, mode: 'event' },
      tickMs: 1000,
      presenceMs: { ble: 10_000, wifi: 120_000 },
      maxMessageBytes: 1 << 20,
      selfCalibration: true
    },
    {
      position() {},
      occupancy() {},
      events(e) {
        events += e.length
      },
      footfall() {}
    },
    new Metrics(),
    silentLogger,
    presence
  )
  const t0 = performance.now()
  for (const [topic, payload] of msgs) pipeline.handle(topic, payload)
  return { seconds: (performance.now() - t0) / 1000, stageSeconds: stage / 1000, events, pipeline, presence }
}

export function presenceCost(sitePath: string, devices = 5000, seconds = 30): PresenceCost {
  const msgs = batches(sitePath, devices, seconds)
  const readings = msgs.reduce((n, [, p]) => n + (p.toString().match(/"rssi"/g)?.length ?? 0), 0)
  run(sitePath, msgs.slice(0, Math.floor(msgs.length / 3)), true) // warm-up: JIT, caches
  global.gc?.()
  const withP = run(sitePath, msgs, true)
  global.gc?.()
  const mem = process.memoryUsage()
  const tracked = withP.pipeline.trackedDevices
  return {
    devices: tracked,
    readings,
    usPerReading: (1e6 * withP.seconds) / readings,
    eventStageUsPerReading: (1e6 * withP.stageSeconds) / readings,
    eventStageShare: withP.stageSeconds / withP.seconds,
    events: withP.events,
    heapMiB: mem.heapUsed / 2 ** 20,
    rssMiB: mem.rss / 2 ** 20
  }
}
