// A bound on the people a place can hold, from its floor area (limits.md, "One sender can inflate
// people counts"). The new-device limit (newcomers.ts) bounds how fast new addresses may count,
// not how many: a sender under it that keeps each address alive (probing it again within the
// presence time) adds devices without end. A real place cannot: people take floor space, so a
// place holds at most its area times a crowd density no shop floor reaches. Wi-Fi devices are
// bounded per sensor neighbourhood (the shop floor nearer that sensor than any other: where a
// device loudest there most likely is), as a sender beside one sensor fills that one first; every
// source together is bounded per shop and per sector. What a place holds beyond its bound is the
// excess: out of `n` and `high`, never a visitor, listed in /metrics.
import type { Site, Zone } from '../../shared/site.ts'
import { pointInPolygon } from '../../shared/geometry.ts'

/** Grid points sampled over the shops to measure sensor neighbourhoods, at most (a large store gets a coarser grid). */
const MAX_SAMPLES = 200_000
/**
 * Smallest neighbourhood a sensor is given, m²: where sensors stand a few metres apart (or one
 * stands at a wall), its own cell is small, and which of them hears a burst loudest is a matter of
 * a few dB of fading, so its devices spread over its neighbours' cells too.
 */
export const MIN_NEIGHBOURHOOD_M2 = 25

export interface Capacities {
  /** Wi-Fi devices each sensor's neighbourhood can hold (by the sensor id loudest for their last burst). */
  sensors: Map<string, number>
  /** What the neighbourhood of a sensor not in `sensors` holds (one the site lists without Wi-Fi still places probes). */
  otherSensor: number
  shops: Map<string, number>
  sectors: Map<string, number>
}

/** Area of a zone, m² (shoelace: its outer ring less its holes). */
export function zoneArea(z: Zone): number {
  const ringArea = (ring: number[][]) => {
    let a = 0
    for (let i = 0; i + 1 < ring.length; i++) a += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1]
    return Math.abs(a) / 2
  }
  const [outer, ...holes] = z.polygon.coordinates
  return Math.max(0, ringArea(outer) - holes.reduce((a, h) => a + ringArea(h), 0))
}

/**
 * Shop floor nearer each Wi-Fi sensor than any other on its floor, m², by sampling a grid over the
 * shops (sensors without Wi-Fi hear no probe, so they take no part). Before the minimum.
 */
export function sensorNeighbourhoods(site: Site): Map<string, number> {
  const sensors = [...site.sensors.values()].filter(s => s.radios.includes('wifi'))
  const out = new Map(sensors.map(s => [s.id, 0]))
  // The grid walks each shop's bounding box: a thin diagonal shop's box is far larger than its floor.
  const boxes = site.shops.reduce((a, z) => a + (z.bbox[2] - z.bbox[0]) * (z.bbox[3] - z.bbox[1]), 0)
  const step = Math.max(0.5, Math.sqrt(boxes / MAX_SAMPLES))
  for (const shop of site.shops) {
    const [x0, y0, x1, y1] = shop.bbox
    const here = sensors.filter(s => s.floor === shop.floor)
    if (here.length === 0) continue
    for (let x = x0 + step / 2; x < x1; x += step) {
      for (let y = y0 + step / 2; y < y1; y += step) {
        if (!pointInPolygon(x, y, shop)) continue
        let best = here[0]
        let bestD = Infinity
        for (const s of here) {
          const d = (s.x - x) ** 2 + (s.y - y) ** 2
          if (d < bestD) {
            bestD = d
            best = s
          }
        }
        out.set(best.id, (out.get(best.id) ?? 0) + step * step)
      }
    }
  }
  return out
}

/** What each place can hold at `perM2` people a square metre (at least one). */
export function capacities(site: Site, perM2: number): Capacities {
  const hold = (m2: number) => Math.max(1, Math.ceil(perM2 * m2))
  return {
    sensors: new Map([...sensorNeighbourhoods(site)].map(([id, m2]) => [id, hold(Math.max(MIN_NEIGHBOURHOOD_M2, m2))])),
    otherSensor: hold(MIN_NEIGHBOURHOOD_M2),
    shops: new Map(site.shops.map(z => [z.id, hold(zoneArea(z))])),
    sectors: new Map(site.sectors.map(z => [z.id, hold(zoneArea(z))]))
  }
}

/** One Wi-Fi device's share of the counts now: `n`, and the sure and perhaps parts of the range. */
export interface Share {
  at: { shop: string | null; sector: string | null }
  n: number
  sure: number
  maybe: number
}

/**
 * Scales the shares of every sensor neighbourhood holding more than its capacity (by its devices'
 * `high`: sure and perhaps) down to it. Returns the shares to count, the excess per sensor
 * (devices held beyond capacity, the sensors over it only) and the sensors full (at capacity or over).
 */
export function boundShares(bySensor: Map<string, Share[]>, cap: ReadonlyMap<string, number>, other: number): { shares: Share[]; excess: Map<string, number>; full: Set<string> } {
  const shares: Share[] = []
  const excess = new Map<string, number>()
  const full = new Set<string>()
  for (const [sensor, list] of bySensor) {
    const held = list.reduce((a, s) => a + s.sure + s.maybe, 0)
    const c = cap.get(sensor) ?? other
    if (held >= c) full.add(sensor)
    if (held <= c) {
      shares.push(...list)
      continue
    }
    excess.set(sensor, held - c)
    const f = c / held
    for (const s of list) shares.push({ at: s.at, n: s.n * f, sure: s.sure * f, maybe: s.maybe * f })
  }
  return { shares, excess, full }
}
