// A pipeline on the boutique in event time fed simulated Wi-Fi probe bursts and BLE adverts of
// phones standing still (people counting's integration tests), with its state in a temp dir.
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import type { OccupancyMessageT, FootfallMessageT } from '../../shared/messages.ts'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayStore } from '../../gateway/io/store.ts'
import { CampaignEngine } from '../../gateway/campaigns/campaigns.ts'
import { PresenceEngine, presenceOptions } from '../../gateway/presence/presence.ts'
import { eventPipelineOptions } from './gateway.ts'

/**
 * The boutique, with no cold-start rule: the tests built on it have phones standing in the shop from
 * the first second with no newcomer, which a gateway that has learned nothing takes for always-on
 * devices at first (people-cold.ts, tested on its own in people-cold.test.ts).
 */
export const siteFile = JSON.parse(JSON.stringify(loadSiteFile('sites/boutique.site.json').file))
siteFile.people = { ...siteFile.people, coldStartQuietS: 0 }
export const T0 = Date.UTC(2026, 10, 2, 9)

export interface Phone {
  x: number
  y: number
  macs?: () => string
  seq?: () => number
  fp?: string
  ble?: string | ((s: number) => string)
  /** Probes until this many seconds into the run (then gone). */
  untilS?: number
  /** Probes from this many seconds into the run (not there before). */
  fromS?: number
}

/** A pipeline on the boutique in event time from `startMs`, fed probe bursts of `phones` every `everyS` for `minutes`. */
export function run(phones: Phone[], minutes: number, everyS = 60, file: unknown = siteFile, stateDir = mkdtempSync(join(tmpdir(), 'people-')), startMs = T0) {
  const site = parseSite(file)
  const occ: OccupancyMessageT[] = []
  const foot: FootfallMessageT[] = []
  const metrics = new Metrics()
  // With zone state, as a gateway runs: the repro's occupancy came from it, blind to Wi-Fi.
  const store = new GatewayStore(stateDir)
  const presence = new PresenceEngine(site, store, new CampaignEngine(site.storeId, site.timezone, store), presenceOptions(site))
  const p = new Pipeline(site, eventPipelineOptions(), { position() {}, occupancy: o => occ.push(o), events() {}, footfall: f => foot.push(f) }, metrics, silentLogger, presence)
  for (let s = 0; s < minutes * 60; s++) {
    const ts = startMs + s * 1000
    for (const [i, ph] of phones.entries()) {
      // An app (or any BLE advertiser) heard every second by every sensor.
      // An id '' is a device not there (yet).
      const id = typeof ph.ble === 'function' ? ph.ble(s) : ph.ble
      if (id !== undefined && id !== '') {
        for (const sensor of site.sensors.values()) {
          const rssi = Math.round(-59 - 22 * Math.log10(Math.hypot(ph.x - sensor.x, ph.y - sensor.y, 1.6)))
          if (rssi >= -95) p.handle(`instore/${site.storeId}/sensors/${sensor.id}/readings`, Buffer.from(JSON.stringify({ ts, readings: [{ t: 'ble', id, rssi, ts: ts + 3 }] })))
        }
      }
      if (ph.macs === undefined || (s + 7 * i) % everyS !== 0 || s >= (ph.untilS ?? Infinity) || s < (ph.fromS ?? 0)) continue
      const mac = ph.macs()
      const seq = ph.seq?.()
      for (const sensor of site.sensors.values()) {
        const d = Math.hypot(ph.x - sensor.x, ph.y - sensor.y, 1.6)
        const rssi = Math.round(-45 - 22 * Math.log10(d))
        if (rssi < -95) continue
        const reading = { t: 'wifi', mac, rssi, ts: ts + 5, ...(seq !== undefined ? { seq } : {}), ...(ph.fp !== undefined ? { fp: ph.fp } : {}) }
        p.handle(`instore/${site.storeId}/sensors/${sensor.id}/readings`, Buffer.from(JSON.stringify({ ts, readings: [reading] })))
      }
    }
    for (const sensor of site.sensors.values()) p.handle(`instore/${site.storeId}/sensors/${sensor.id}/readings`, Buffer.from(JSON.stringify({ ts, readings: [] })))
  }
  const text = metrics.text()
  store.close()
  return { occ, foot, metrics: text, p }
}

let macN = 0
export const randomMac = () => {
  macN++
  return `0a:00:00:${((macN >> 16) & 255).toString(16).padStart(2, '0')}:${((macN >> 8) & 255).toString(16).padStart(2, '0')}:${(macN & 255).toString(16).padStart(2, '0')}`
}
export const restarted = () => {
  let s = 1
  return () => {
    s = (s * 1103 + 12345) % 4096
    return s
  }
}
export const counter = (start: number) => {
  let s = start
  return () => {
    s = (s + 3) % 4096
    return s
  }
}
