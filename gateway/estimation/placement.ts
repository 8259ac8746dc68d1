// Where a filtered position is published: kept inside the site's shops unless the evidence says
// the device is outside, and inside the sector it most likely is in when it falls in the aisle
// beside one. Zone events judge the filter's own position instead, with their own margins.
import { locate, type Site, type Zone } from '../../shared/site.ts'
import { pointInPolygon, clampToPolygon, distanceToBoundary } from '../../shared/geometry.ts'
import { normalUpperTail } from './sensitivity.ts'

/** A published position and the shop and sector it is in (null: none). */
export interface Placement {
  x: number
  y: number
  shop: string | null
  sector: string | null
}

/**
 * How far past a sector's edge a position moved into it goes, m: the edge's own rounding and the
 * published centimetres cannot leave it outside.
 */
const INTO_SECTOR_M = 0.02
/** Half a centimetre: positions are published in centimetres. */
const PUBLISHED_PRECISION_M = 0.005

/**
 * The published position for a filtered one at (x, y) with accuracy `accuracyM` on `floor`: first
 * kept inside the shops (a position within `outsideSigmas` accuracy radii of a wall is pulled onto
 * it), then moved into the likeliest sector.
 */
export function place(site: Site, x: number, y: number, accuracyM: number, floor: number, outsideSigmas: number): Placement {
  const [px, py, shop] = keepInside(site, x, y, accuracyM, floor, outsideSigmas)
  return likeliestSector(site, px, py, accuracyM, floor, shop)
}

/**
 * Pulls a position that is barely outside every shop back onto the nearest shop's edge. Also says
 * which shop the position is in, as far as the search found out: the one holding it, null outside
 * every shop, undefined for a position pulled onto an edge (the first shop holding it is looked up).
 */
function keepInside(site: Site, x: number, y: number, sigma: number, floor: number, outsideSigmas: number): [number, number, string | null | undefined] {
  let best: [number, number] | null = null
  let bestD = Infinity
  for (const shop of site.shops) {
    if (shop.floor !== floor) continue
    if (pointInPolygon(x, y, shop)) return [x, y, shop.id]
    const d = distanceToBoundary(x, y, shop.polygon)
    if (d < bestD) {
      bestD = d
      best = clampToPolygon(x, y, shop)
    }
  }
  if (best && bestD <= outsideSigmas * Math.max(sigma, 0.5)) return [best[0], best[1], undefined]
  return [x, y, null]
}

/**
 * A position in a shop's aisle (in no sector) that is more likely in a nearby sector than in the
 * aisle, given its accuracy, moves just inside that sector: aisles are narrow, so the chance that
 * a device really is in the sector next to a slightly wrong position often outweighs the chance
 * that it is in the strip between sectors (`npm run bench -- accuracy`: sector agreement up, error
 * a little smaller). Each sector's chance is the share of the position's spread across its nearest edge.
 * Returns where the position is as `locate` would say (the first shop and sector holding it);
 * `known` is the shop holding (x, y) where the caller already found it (null: none).
 */
export function likeliestSector(site: Site, x: number, y: number, accuracyM: number, floor: number, known?: string | null): Placement {
  const sd = Math.max(0.3, accuracyM / Math.SQRT2)
  // The shop holding (x, y), unless the caller already knows it.
  let shop = known ?? null
  if (known === undefined)
    for (const z of site.shops)
      if (z.floor === floor && pointInPolygon(x, y, z)) {
        shop = z.id
        break
      }
  if (shop === null) return { x, y, shop, sector: null }
  let inSectors = 0
  let best: Zone | null = null
  let bestP = 0
  for (const z of site.sectors) {
    if (z.shop !== shop || z.floor !== floor) continue
    // Beyond four sigmas of its box a sector holds nothing of the spread.
    const b = z.bbox
    if (x < b[0] - 4 * sd || x > b[2] + 4 * sd || y < b[1] - 4 * sd || y > b[3] + 4 * sd) continue
    if (pointInPolygon(x, y, z)) return { x, y, shop, sector: z.id }
    const edge = distanceToBoundary(x, y, z.polygon)
    // Within the published precision of its edge: rounded to centimetres it would lie on the edge, in it.
    const p = edge < PUBLISHED_PRECISION_M ? 1 : normalUpperTail(edge / sd)
    inSectors += p
    if (p > bestP) {
      bestP = p
      best = z
    }
  }
  if (best === null || bestP <= 1 - inSectors) return { x, y, shop, sector: null }
  const [ex, ey] = clampToPolygon(x, y, best)
  const d = Math.hypot(ex - x, ey - y)
  const ix = d > 0 ? ex + (INTO_SECTOR_M * (ex - x)) / d : ex
  const iy = d > 0 ? ey + (INTO_SECTOR_M * (ey - y)) / d : ey
  if (pointInPolygon(ix, iy, best)) return { x: ix, y: iy, shop, sector: best.id }
  // A corner too sharp to step into: the edge itself, wherever that lies.
  return { x: ex, y: ey, ...locate(site, ex, ey, floor) }
}
