// A trace with many devices at once, for the memory figure of the throughput benchmark: the
// simulated hypermarket never holds more than about a thousand, and scaling its arrivals up would
// also multiply the readings per device. Here each device is a tag drifting about the site, heard
// once a second by the sensors within 20 m (path loss with 6 dB of noise), the sensors of the
// site reporting heartbeats so that silence counts as it does live. Some devices change their
// address every `rotateS` seconds (randomized MACs): memory must stay flat under that churn.
import { loadSiteFile } from '../shared/site.ts'
import { Rng } from '../shared/rng.ts'
import { JsonLinesWriter, type TraceLine } from '../shared/trace.ts'

export interface ManyDevicesOptions {
  devices: number
  seconds: number
  /** Share of the devices that take a new address every `rotateS` seconds. */
  rotatingShare: number
  rotateS: number
  seed: number
}

export async function writeManyDevicesTrace(sitePath: string, path: string, o: ManyDevicesOptions): Promise<void> {
  const site = loadSiteFile(sitePath)
  const rng = new Rng(o.seed)
  const sensors = [...site.sensors.values()]
  const [x0, y0, x1, y1] = site.bbox
  const pos = Array.from({ length: o.devices }, () => [rng.uniform(x0, x1), rng.uniform(y0, y1)])
  const t0 = Date.UTC(2026, 10, 7, 15)
  const w = new JsonLinesWriter(path)
  for (let s = 0; s < o.seconds; s++) {
    const lines: TraceLine[] = []
    for (let i = 0; i < o.devices; i++) {
      const p = pos[i]
      p[0] = Math.min(x1, Math.max(x0, p[0] + rng.normal(0, 0.3)))
      p[1] = Math.min(y1, Math.max(y0, p[1] + rng.normal(0, 0.3)))
      const rotating = i < o.rotatingShare * o.devices
      const id = `tag:${(rotating ? i + o.devices * Math.floor(s / o.rotateS) : i).toString(16).padStart(8, '0')}`
      const ts = t0 + s * 1000 + (i % 1000)
      for (const sn of sensors) {
        const d = Math.hypot(p[0] - sn.x, p[1] - sn.y, site.radio.tagHeightM - sn.z)
        if (d > 20) continue
        const rssi = Math.round(site.radio.rssiAt1m - 10 * site.radio.pathLossExponent * Math.log10(Math.max(0.5, d)) + rng.normal(0, 6))
        if (rssi < -98) continue
        lines.push({ ts, store: site.storeId, sensor: sn.id, t: 'ble', id, rssi })
      }
    }
    lines.sort((a, b) => a.ts - b.ts)
    for (const l of lines) await w.write(l)
    for (const sn of sensors) await w.write({ ts: t0 + s * 1000 + 999, store: site.storeId, sensor: sn.id, heartbeat: true })
  }
  await w.close()
}
