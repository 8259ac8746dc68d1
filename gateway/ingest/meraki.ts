// Cisco Meraki Scanning API webhooks (v3, tolerant of v2) on the gateway's HTTP port. Meraki's
// cloud GETs the validator, then POSTs observations with the shared secret, about once a minute,
// each record stamped with its own time (0-60 s old on arrival). Each access point's RSSI record
// becomes a native reading, at its own time, from the site sensor with that AP's MAC (`mac` in
// the site file). Tolerated: numbers sent as strings, empty `locations` (the nearest-AP record is
// used), and v2-style positive RSSI (signal above the -95 dBm noise floor).
// Identity: a Bluetooth client advertising an iBeacon (`bleBeacons`) is that iBeacon, the same
// subject as through any other sensor; anything else is its MAC, hashed.
import { sameSecret } from '../io/http.ts'
import { normalizeMac } from './subjects.ts'
import type { Site } from '../../shared/site.ts'
import { topics } from '../../shared/mqtt-topics.ts'
import { num } from './foreign.ts'
import { ibeaconId } from './sensor-ids.ts'
import { siteXY } from './external-fixes.ts'

export interface MerakiOptions {
  validator: string
  secret: string
  /** Records this old on arrival are still placed at their own time, ms (outputs lag by as much). */
  lateMs?: number
}

/** Longest Bluetooth client id a reading may carry (the readings schema, shared/messages.ts). */
const MAX_BLE_ID = 128

/** Meraki posts about once a minute with records up to 60 s old; 30 s more for delivery. */
export const MERAKI_LATE_MS = 90_000

export interface Batch {
  topic: string
  payload: Buffer
}

/** An ISO time, or epoch seconds (v2 `seenEpoch`) or milliseconds. */
function time(v: unknown): number | undefined {
  if (typeof v === 'string' && Number.isFinite(Date.parse(v)) && !/^\d+$/.test(v)) return Date.parse(v)
  const n = num(v)
  if (n === undefined) return undefined
  return n < 1e11 ? n * 1000 : n
}
/** Meraki v2 reported RSSI as dB above the noise floor; v3 sends dBm. */
const dbm = (r: number): number => (r > 0 ? r - 95 : r)

export function apMap(site: Site): Map<string, string> {
  const m = new Map<string, string>()
  for (const s of site.sensors.values()) if (s.mac) m.set(normalizeMac(s.mac), s.id)
  return m
}

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined)
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])

/** A checked post: its observations, to be turned into readings slice by slice. */
export interface MerakiPost {
  observations: unknown[]
  ble: boolean
  apMac: unknown
}

/** Why a post was refused, as counted (`instore_meraki_posts_total{result}`). */
export type MerakiRefusal = 'bad_body' | 'bad_secret' | 'no_observations' | 'no_client_mac'

export type MerakiCheck = { ok: true; post: MerakiPost; noClientMac: number } | { ok: false; status: number; reason: string; result: MerakiRefusal }

/** The client's MAC of an observation (v3 `clientMac`, v2 `clientMac`, Bluetooth v2 `deviceMac`), if it has one. */
function clientMac(ob: Obj | undefined): string | undefined {
  const mac = ob === undefined ? undefined : typeof ob.clientMac === 'string' ? ob.clientMac : typeof ob.deviceMac === 'string' ? ob.deviceMac : undefined
  return mac === undefined || mac.trim() === '' ? undefined : mac
}

/**
 * The cheap part, answered at once: shape and shared secret. `data.observations` must be an array
 * (Meraki always sends one, empty when nothing was heard); a post none of whose observations names
 * a client is refused, and `noClientMac` says how many of an accepted post's observations are skipped.
 */
export function checkMerakiPost(body: unknown, o: MerakiOptions): MerakiCheck {
  const b = obj(body)
  if (b === undefined) return { ok: false, status: 400, reason: 'body must be a JSON object', result: 'bad_body' }
  if (typeof b.secret !== 'string' || !sameSecret(b.secret, o.secret)) return { ok: false, status: 403, reason: 'wrong shared secret', result: 'bad_secret' }
  const data = obj(b.data)
  if (!Array.isArray(data?.observations)) return { ok: false, status: 400, reason: 'data.observations must be an array', result: 'no_observations' }
  const observations: unknown[] = data.observations
  let noClientMac = 0
  for (const ob of observations) if (clientMac(obj(ob)) === undefined) noClientMac++
  if (observations.length > 0 && noClientMac === observations.length) return { ok: false, status: 400, reason: 'no observation has a clientMac', result: 'no_client_mac' }
  return { ok: true, post: { observations, ble: typeof b.type === 'string' && /blue/i.test(b.type), apMac: data.apMac }, noClientMac }
}

/** The iBeacon a Bluetooth client advertises, in contract form, if it does. */
function beaconOf(ob: Obj): string | undefined {
  for (const x of arr(ob.bleBeacons)) {
    const bb = obj(x)
    if (bb === undefined || (typeof bb.bleType === 'string' && !/ibeacon/i.test(bb.bleType))) continue
    const major = num(bb.major)
    const minor = num(bb.minor)
    const id = typeof bb.uuid === 'string' && major !== undefined && minor !== undefined ? ibeaconId(bb.uuid, major, minor) : undefined
    if (id) return id
  }
  return undefined
}

/**
 * Readings of observations [from, to) of a post, grouped per site sensor; linear in their size.
 * Records from access points the site does not place are counted, not used.
 */
export function merakiReadings(
  post: MerakiPost,
  aps: Map<string, string>,
  from: number,
  to: number,
  site?: Site
): { per: Map<string, Obj[]>; unknownAps: number; fixes: MerakiFix[]; implausible: number; unfit: number } {
  const per = new Map<string, Obj[]>()
  const fixes: MerakiFix[] = []
  let unknownAps = 0
  let unfit = 0
  let implausible = 0
  const end = Math.min(to, post.observations.length)
  for (let i = from; i < end; i++) {
    const ob = obj(post.observations[i])
    if (ob === undefined) continue
    const mac = clientMac(ob)
    if (mac === undefined) continue
    const beacon = post.ble ? beaconOf(ob) : undefined
    // An id the readings schema refuses would fail its whole batch (every client the AP heard):
    // its records are left out and counted; its estimate, if any, is refused by the pipeline.
    const id = beacon ?? mac
    const fits = post.ble ? id.length <= MAX_BLE_ID : id.length >= 12 && id.length <= 17
    let placed = false
    const add = (apMac: unknown, rssi: number | undefined, ts: number | undefined): void => {
      if (typeof apMac !== 'string' || rssi === undefined) return
      if (!fits) {
        unfit++
        return
      }
      const sensor = aps.get(normalizeMac(apMac))
      if (!sensor) {
        unknownAps++
        return
      }
      placed = true
      const at = ts !== undefined ? { ts } : {}
      const r = post.ble ? { t: 'ble', id, rssi: dbm(rssi), ...at } : { t: 'wifi', mac, rssi: dbm(rssi), ...at }
      const list = per.get(sensor)
      if (list === undefined) per.set(sensor, [r])
      else list.push(r)
    }
    let any = false
    for (const l of arr(ob.locations)) {
      const loc = obj(l)
      if (loc === undefined) continue
      const ts = time(loc.time)
      for (const x of arr(loc.rssiRecords)) {
        const rr = obj(x)
        if (rr) {
          add(rr.apMac, num(rr.rssi), ts)
          any = true
        }
      }
    }
    const latest = obj(ob.latestRecord)
    if (!any && latest) {
      add(latest.nearestApMac, num(latest.nearestApRssi), time(latest.time))
      any = true
    }
    // v2: one AP per post, the observation's own rssi and seenEpoch.
    if (!any && ob.rssi !== undefined) add(post.apMac, num(ob.rssi), time(ob.seenEpoch) ?? time(ob.seenTime))
    // None of its APs placed: Meraki's own estimate is all there is.
    if (!placed && site) {
      for (const l of arr(ob.locations)) {
        const f = estimate(obj(l), site, id, post.ble)
        if (f === 'implausible') implausible++
        else if (f) fixes.push(f)
      }
    }
  }
  return { per, unknownAps, fixes, implausible, unfit }
}

/** How far off the site's bounds a Meraki estimate may fall and still be used, m. */
const ESTIMATE_MARGIN_M = 20
/** Largest variance of a Meraki estimate still used, m² (an accuracy of 100 m). */
const MAX_VARIANCE_M2 = 10_000

/** Meraki's own location estimate of a client, in site coordinates. */
export interface MerakiFix {
  t: 'ble' | 'wifi'
  id: string
  ts: number
  x: number
  y: number
  floor: number
  accuracyM: number
}

/**
 * A location record as a position: lat/lng through the site's georef when it has one, else
 * x/y (metres on Meraki's floor plan) taken as site coordinates. `variance` is in m².
 */
function estimate(loc: Obj | undefined, site: Site, id: string, ble: boolean): MerakiFix | 'implausible' | undefined {
  if (!loc) return undefined
  const ts = time(loc.time)
  const lat = num(loc.lat)
  const lng = num(loc.lng)
  const geo = lat !== undefined && lng !== undefined ? siteXY(site, lat, lng) : undefined
  const x = geo?.[0] ?? num(loc.x)
  const y = geo?.[1] ?? num(loc.y)
  if (ts === undefined || x === undefined || y === undefined) return undefined
  const v = num(loc.variance)
  // An estimate off the site (lat/lng 0,0, a wrong floor plan) or with no useful accuracy places
  // nobody: counted, not used.
  const [x0, y0, x1, y1] = site.bbox
  if (x < x0 - ESTIMATE_MARGIN_M || x > x1 + ESTIMATE_MARGIN_M || y < y0 - ESTIMATE_MARGIN_M || y > y1 + ESTIMATE_MARGIN_M) return 'implausible'
  if (v !== undefined && !(v <= MAX_VARIANCE_M2)) return 'implausible'
  return { t: ble ? 'ble' : 'wifi', id, ts, x, y, floor: 0, accuracyM: v !== undefined && v > 0 ? Math.sqrt(v) : 5 }
}

/** Native batches for the pipeline, at most `maxReadings` readings each (the native limit is 2000). */
export function toBatches(per: Map<string, Obj[]>, site: Site, prefix: string, maxReadings = 1000): Batch[] {
  const out: Batch[] = []
  for (const [sensor, readings] of per) {
    for (let i = 0; i < readings.length; i += maxReadings) {
      out.push({ topic: topics.readings(prefix, site.storeId, sensor), payload: Buffer.from(JSON.stringify({ readings: readings.slice(i, i + maxReadings) })) })
    }
  }
  return out
}
