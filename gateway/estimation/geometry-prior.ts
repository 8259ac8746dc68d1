// The site's walls as a prior on a fix, before the motion filter takes it. A fix just outside
// every shop is far more often a device inside near the wall than one outside: receivers hang
// inside, so a device near a wall is heard from one side only, and the fit overshoots away from
// them. The published position already gets this rule (placement.ts); applied to the fix, the
// filter's own track stays inside too, instead of averaging positions nobody stood at. A fix
// further out than the rule's reach (passers-by on the street) is left where it is.
import type { Site } from '../../shared/site.ts'
import { pointInPolygon, clampToPolygon, distanceToBoundary } from '../../shared/geometry.ts'

/**
 * (x, y) moved onto the nearest shop's edge when it lies outside every shop on `floor` but within
 * `outsideSigmas` radii of `sigma` (m, at least 0.5 m) of one; otherwise unchanged.
 */
export function insideWalls (site: Site, x: number, y: number, sigma: number, floor: number, outsideSigmas: number): [number, number] {
  let best: [number, number] | null = null; let bestD = Infinity
  for (const shop of site.shops) {
    if (shop.floor !== floor) continue
    if (pointInPolygon(x, y, shop)) return [x, y]
    const d = distanceToBoundary(x, y, shop.polygon)
    if (d < bestD) { bestD = d; best = clampToPolygon(x, y, shop) }
  }
  return best !== null && bestD <= outsideSigmas * Math.max(sigma, 0.5) ? best : [x, y]
}
