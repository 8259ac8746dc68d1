// Positions a source estimated itself, for devices the gateway cannot place from RSSI: Meraki's
// own location estimate when the access points that heard a client are not placed in the site
// file. Each fix waits, in time order, for its tick; a tick uses each device's latest fix while
// it is recent, as it would a fix of its own.
import { locate, type Site } from '../../shared/site.ts'
import { ReorderBuffer } from './reorder.ts'

/** A position a source estimated itself (Meraki where its APs are not placed), for a device heard as `id` (BLE) or `mac` (Wi-Fi). */
export interface ExternalEstimate {
  t: 'ble' | 'wifi'
  id: string
  ts: number
  x: number
  y: number
  floor: number
  accuracyM: number
}

/** The prefix of the places new stable ids of sources' own estimates are counted at against the flood bound (stable-ids.ts). */
export const EXTERNAL_PLACE = 'meraki-estimates'

/**
 * The place an estimate's new stable id counts at against the flood bound: the sector it falls in,
 * else its shop, else outside. An estimate has no sensor; counted at one place for the whole store,
 * one transmitter inventing ids outside made every new shopper anywhere the flood's. Per place, a
 * flood takes only the place it lands in, and an id refused there is looked at again where it is
 * heard next (stable-ids.ts). Bounded: one label per sector, shop and outside.
 */
export function externalPlace(site: Site, x: number, y: number, floor: number): string {
  const at = locate(site, x, y, floor)
  return `${EXTERNAL_PLACE}:${at.sector ?? at.shop ?? 'outside'}`
}

export interface ExternalFix {
  subject: string
  source: 'ble' | 'wifi'
  ts: number
  x: number
  y: number
  floor: number
  accuracyM: number
  /** Never one person over time (class ids, randomized MACs): positions and counts only. */
  anonymous: boolean
}

export class ExternalFixes {
  private readonly waiting = new ReorderBuffer<ExternalFix>()
  private readonly current = new Map<string, ExternalFix>()

  get size(): number {
    return this.current.size + this.waiting.size
  }

  push(f: ExternalFix): void {
    this.waiting.push(f)
  }

  /** The fixes in force at tick `t`: each device's latest, while no older than its source's presence time. */
  due(t: number, maxAgeMs: (source: ExternalFix['source']) => number): ExternalFix[] {
    this.waiting.release(t, f => {
      this.current.set(f.subject, f)
    })
    const out: ExternalFix[] = []
    for (const [s, f] of this.current) {
      if (t - f.ts > maxAgeMs(f.source)) this.current.delete(s)
      else out.push(f)
    }
    return out
  }
}

/**
 * Site coordinates of a WGS84 point through the site's `georef`: `origin` is [longitude,
 * latitude] of the site's (0, 0), `bearingDeg` the frame's turn clockwise from contract §1's "x east,
 * y north" (the compass bearing of its y axis; 0 by default, x then east), y a quarter turn anticlockwise from x. An equirectangular projection: exact to
 * centimetres over a store.
 */
export function siteXY(site: Site, lat: number, lng: number): [number, number] | undefined {
  const g = site.file.georef
  if (!g) return undefined
  const [lng0, lat0] = g.origin
  const R = 6_371_008.8
  const east = (((lng - lng0) * Math.PI) / 180) * R * Math.cos((lat0 * Math.PI) / 180)
  const north = (((lat - lat0) * Math.PI) / 180) * R
  // The x axis points at compass bearing b: unit (sin b, cos b) in (east, north); y is (−cos b, sin b).
  const b = (((g.bearingDeg ?? 0) + 90) * Math.PI) / 180
  return [east * Math.sin(b) + north * Math.cos(b), -east * Math.cos(b) + north * Math.sin(b)]
}
