// A device's runs inside shops, whatever zones.ts has confirmed: floors are reached through the
// building, not from the street, so a device that changes floors proves the shop it came through
// (`floorChangeS`). These helpers update the runs of the track zones.ts is stepping.
import type { Zone } from '../../shared/site.ts'
import type { ZoneParams } from '../../shared/site-schema.ts'
import { depth, insideProbability, conf } from './zone-measures.ts'
import type { Evidence, ZoneEvent, ZoneTrack } from './zone-types.ts'

/**
 * Follows the device's runs inside shops (by its fix alone, no margin): a run goes on in the same
 * shop across gaps up to `shopEnterGapS`; one that begins on another floor keeps the last as `prevRun`.
 */
export function followRun(track: ZoneTrack, e: Evidence, t: number, shops: Zone[], p: Required<ZoneParams>): void {
  let here: Zone | undefined
  let dep = -Infinity
  for (const z of shops) {
    const d = depth(z, e)
    if (d >= 0 && d > dep) {
      here = z
      dep = d
    }
  }
  if (here === undefined) return
  let r = track.run
  const ip = insideProbability(dep, e.accuracyM)
  if (r && r.id === here.id && t - r.last <= p.shopEnterGapS * 1000) {
    r.last = t
    r.score += ip
    r.n++
  } else {
    if (r && r.floor !== here.floor) track.prevRun = r
    r = track.run = { id: here.id, floor: here.floor, since: t, last: t, score: ip, n: 1, visited: false }
  }
  if (track.shop && track.shop.id === here.id && track.shop.pending !== true) r.visited = true
}

/**
 * Whether the device has just come from a visit on another floor than `floor` (its last fix there
 * at most `floorChangeS` ago): floors are reached through the building, not from the street.
 */
export function cameFromFloor(track: ZoneTrack, floor: number, t: number, p: Required<ZoneParams>): boolean {
  const r = track.prevRun
  return p.floorChangeS > 0 && r !== undefined && r.visited && r.floor !== floor && t - r.last <= p.floorChangeS * 1000
}

/**
 * A visit on floor `floor` that began at `since` proves that the device's last run on another
 * floor, no visit yet and ended at most `floorChangeS` before, was one: it came up or down through
 * that shop, whatever the radio made of its walk there (along a wall, to the stairs). Its events,
 * stamped with the run, are returned (none if there is no such run).
 */
export function provedVisit(track: ZoneTrack, since: number, floor: number, p: Required<ZoneParams>, newVisitId: (shop: string, enteredAt: number) => string): ZoneEvent[] {
  const r = track.prevRun
  if (p.floorChangeS <= 0 || r === undefined || r.visited || r.floor === floor || since - r.last > p.floorChangeS * 1000) return []
  r.visited = true
  const visitId = newVisitId(r.id, r.since)
  const left = Math.min(r.last, since)
  const durationMs = Math.max(0, left - r.since)
  const confidence = conf(r.score, r.n)
  return [
    { type: 'shop.enter', ts: r.since, shop: r.id, visitId, confidence },
    { type: 'shop.exit', ts: left, shop: r.id, visitId, durationMs, confidence },
    { type: 'visit.summary', ts: left, shop: r.id, visitId, durationMs, confidence, sectors: [] }
  ]
}
