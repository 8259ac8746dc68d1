// Issue 28, latency: a tick's positions go out before its zone stage, whose shop-entry and
// street-walk tests are most of a busy tick's work. The pipeline alone, on the event clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { CampaignEngine } from '../../gateway/campaigns/campaigns.ts'
import { PresenceEngine, presenceOptions } from '../../gateway/presence/presence.ts'
import { eventPipelineOptions } from '../helpers/gateway.ts'

const site = loadSiteFile('sites/boutique.site.json')
const T0 = 1_764_000_000_000

test('a tick publishes its positions before its zone stage runs, and occupancy after it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tick-order-'))
  const store = new GatewayStore(dir)
  try {
    const presence = new PresenceEngine(site, store, new CampaignEngine(site.storeId, site.timezone, store), presenceOptions(site), silentLogger)
    const order: string[] = []
    const sink = { position: () => order.push('position'), occupancy: () => order.push('occupancy'), events() {}, footfall() {} }
    const p = new Pipeline(site, eventPipelineOptions(), sink, new Metrics(), silentLogger, presence)
    const zones = presence.tick.bind(presence)
    presence.tick = (t, fresh, source) => {
      order.push('zones')
      return zones(t, fresh, source)
    }
    const marks: number[] = []
    p.afterPositions = t => marks.push(t)
    for (let t = T0; t < T0 + 8000; t += 250) {
      for (const s of site.sensors.values()) {
        const rssi = Math.round(site.radio.rssiAt1m - 10 * site.radio.pathLossExponent * Math.log10(Math.hypot(s.x - 10, s.y - 6, s.z - 1.2)))
        p.handle(`instore/${site.storeId}/sensors/${s.id}/readings`, Buffer.from(JSON.stringify({ ts: t, readings: [{ ts: t, t: 'ble', id: 'tag:order', rssi }] })))
      }
    }
    const first = order.indexOf('position')
    assert.ok(first >= 0, 'no position published')
    // Every tick with positions: all of them, then the zone stage, then occupancy (if it changed).
    const ticks = order.join(' ').split('zones').slice(1, -1)
    assert.ok(ticks.length > 3, `only ${ticks.length} ticks`)
    for (const between of ticks) assert.match(between, /^( occupancy)? position( position)* $/, between)
    assert.ok(marks.length >= ticks.length, 'afterPositions called once a tick')
  } finally {
    store.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
