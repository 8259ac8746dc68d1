// Cisco Meraki Scanning API webhooks (v3, tolerant of v2) on the gateway's HTTP port. Meraki's
// cloud GETs the validator, then POSTs observations with the shared secret; each access point's
// RSSI record becomes a native reading from the site sensor with that AP's MAC (`mac` in the
// site file). Tolerated: numbers sent as strings, empty `locations` (the nearest-AP record is
// used), and v2-style positive RSSI (signal above the -95 dBm noise floor).
import { normalizeMac } from './subjects.ts'
import type { Site } from '../shared/site.ts'
import { topics } from '../shared/mqtt-topics.ts'
import { num } from './foreign.ts'

export interface MerakiOptions { validator: string, secret: string }

interface Batch { topic: string, payload: Buffer }

/** An ISO time, or epoch seconds (v2 `seenEpoch`) or milliseconds. */
function time (v: unknown): number | undefined {
  if (typeof v === 'string' && Number.isFinite(Date.parse(v)) && !/^\d+$/.test(v)) return Date.parse(v)
  const n = num(v)
  if (n === undefined) return undefined
  return n < 1e11 ? n * 1000 : n
}
/** Meraki v2 reported RSSI as dB above the noise floor; v3 sends dBm. */
const dbm = (r: number): number => r > 0 ? r - 95 : r

export function apMap (site: Site): Map<string, string> {
  const m = new Map<string, string>()
  for (const s of site.sensors.values()) if (s.mac) m.set(normalizeMac(s.mac), s.id)
  return m
}

export type MerakiResult = { ok: true, batches: Batch[], unknownAps: number } | { ok: false, status: number, reason: string }

export function merakiToBatches (body: unknown, o: MerakiOptions, site: Site, aps: Map<string, string>, prefix: string): MerakiResult {
  if (typeof body !== 'object' || body === null) return { ok: false, status: 400, reason: 'body must be a JSON object' }
  const b = body as { secret?: unknown, type?: unknown, version?: unknown, data?: { observations?: unknown, apMac?: unknown } }
  if (b.secret !== o.secret) return { ok: false, status: 403, reason: 'wrong shared secret' }
  const ble = typeof b.type === 'string' && /bluetooth|blue/i.test(b.type)
  const obs = Array.isArray(b.data?.observations) ? b.data.observations as Array<Record<string, unknown>> : []
  const per = new Map<string, Array<Record<string, unknown>>>()
  let unknownAps = 0
  const add = (apMac: unknown, mac: string, rssi: number | undefined, ts: number | undefined) => {
    if (typeof apMac !== 'string' || rssi === undefined) return
    const sensor = aps.get(normalizeMac(apMac))
    if (!sensor) { unknownAps++; return }
    const r = ble ? { t: 'ble', id: mac, rssi: dbm(rssi), ...(ts ? { ts } : {}) } : { t: 'wifi', mac, rssi: dbm(rssi), ...(ts ? { ts } : {}) }
    per.set(sensor, [...(per.get(sensor) ?? []), r])
  }
  for (const ob of obs) {
    const mac = typeof ob.clientMac === 'string' ? ob.clientMac : typeof ob.deviceMac === 'string' ? ob.deviceMac : undefined
    if (!mac) continue
    const locations = Array.isArray(ob.locations) ? ob.locations as Array<Record<string, unknown>> : []
    let any = false
    for (const loc of locations) {
      for (const rr of Array.isArray(loc.rssiRecords) ? loc.rssiRecords as Array<Record<string, unknown>> : []) { add(rr.apMac, mac, num(rr.rssi), time(loc.time)); any = true }
    }
    const latest = ob.latestRecord as Record<string, unknown> | undefined
    if (!any && latest) { add(latest.nearestApMac, mac, num(latest.nearestApRssi), time(latest.time)); any = true }
    // v2: one AP per post, the observation's own rssi and seenEpoch.
    if (!any && ob.rssi !== undefined) add(b.data?.apMac, mac, num(ob.rssi), time(ob.seenEpoch) ?? time(ob.seenTime))
  }
  const batches = [...per].map(([sensor, readings]) => ({ topic: topics.readings(prefix, site.storeId, sensor), payload: Buffer.from(JSON.stringify({ readings })) }))
  return { ok: true, batches, unknownAps }
}
