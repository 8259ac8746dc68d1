// How far a position is into a zone, and how sure: the measures every zone decision (zones.ts,
// floor-runs.ts) takes of a fix. Pure functions of the site and the evidence (the anchors' depths
// are worked out once per zone and remembered).
import type { Site, Zone } from '../../shared/site.ts'
import { pointInPolygon, distanceToBoundary, signedDepth } from '../../shared/geometry.ts'
import { normalUpperTail } from '../estimation/sensitivity.ts'
import type { ZoneParams } from '../../shared/site-schema.ts'
import type { Evidence } from './zone-types.ts'

/** Signed distance into a zone (positive inside), metres; evidence from another floor is nowhere near it. */
export function depth(z: Zone, e: Evidence): number {
  return z.floor !== (e.floor ?? 0) ? -Infinity : signedDepth(e.x, e.y, z)
}

/** Probability the device is inside given its position spread (1-D normal across the boundary). */
export function insideProbability(dep: number, accuracyM: number): number {
  return 1 - normalUpperTail(dep / Math.max(0.3, accuracyM / Math.SQRT2))
}

export function margin(sigmas: number, e: Evidence, p: Required<ZoneParams>): number {
  return Math.min(p.maxMarginM, sigmas * e.accuracyM)
}

/** The zone (of a list) this evidence is confidently inside, by the entry margin. */
export function confidentlyIn(zones: Zone[], e: Evidence, p: Required<ZoneParams>, sigmas: number): { zone: Zone; dep: number } | null {
  const m = margin(sigmas, e, p)
  let best: { zone: Zone; dep: number } | null = null
  for (const z of zones) {
    const dep = depth(z, e)
    if (dep >= m && (best === null || dep > best.dep)) best = { zone: z, dep }
  }
  return best
}

/** A confidence: the mean probability of being inside over the fixes, to two decimals. */
export const conf = (score: number, n: number): number => Math.round((100 * score) / Math.max(1, n)) / 100

/**
 * How deep into a shop the radio anchor (sensor or beacon) nearest the evidence stands. Between
 * the front row and the front wall a phone inside sounds much like one on the street, so a fix
 * there is confident only a margin inside; where the anchors stand at the walls, a fix deeper
 * than they are is confident at once.
 */
export function anchorDepth(site: Site, z: Zone, e: Evidence): number {
  let anchors = ANCHORS.get(z)
  if (anchors === undefined) {
    anchors = [...site.sensors.values(), ...site.beacons.values()]
      .filter(a => a.floor === z.floor && pointInPolygon(a.x, a.y, z))
      .map(a => ({ x: a.x, y: a.y, depth: distanceToBoundary(a.x, a.y, z.polygon) }))
    ANCHORS.set(z, anchors)
  }
  let best = Infinity
  let nearest = Infinity
  for (const a of anchors) {
    const d = (a.x - e.x) ** 2 + (a.y - e.y) ** 2
    if (d < nearest) {
      nearest = d
      best = a.depth
    }
  }
  return best
}
/** The anchors inside each zone with their depths: a memo of the site's geometry, not of any device. */
const ANCHORS = new WeakMap<Zone, Array<{ x: number; y: number; depth: number }>>()
