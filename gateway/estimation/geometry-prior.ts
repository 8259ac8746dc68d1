// The site's walls as a prior on a fix, before the motion filter takes it, on a site nobody is
// heard outside of (site radio `outsideHeard: false`: a flat, an office floor). There a fix just
// outside every shop is a device inside near the wall: receivers hang inside, so a device near a
// wall is heard from one side only, and the fit overshoots away from them. The published position
// already gets this rule (placement.ts); applied to the fix, the filter's own track stays inside
// too, instead of averaging positions nobody stood at. Where a street passes (the default), its
// passers-by are as close outside the wall as such fixes, and the rule would carry them into the
// shop (the department store's street, 1 m outside its front wall, gained a false visit).
import type { Site } from '../../shared/site.ts'
import { pointInPolygon, clampToPolygon, distanceToBoundary } from '../../shared/geometry.ts'

/**
 * On a site nobody is heard outside of, (x, y) moved onto the nearest shop's edge when it lies
 * outside every shop on `floor` but within `outsideSigmas` radii of `sigma` (m, at least 0.5 m) of
 * one; otherwise, and on every other site, unchanged.
 */
export function insideWalls(site: Site, x: number, y: number, sigma: number, floor: number, outsideSigmas: number): [number, number] {
  if (site.radio.outsideHeard) return [x, y]
  let best: [number, number] | null = null
  let bestD = Infinity
  for (const shop of site.shops) {
    if (shop.floor !== floor) continue
    if (pointInPolygon(x, y, shop)) return [x, y]
    const d = distanceToBoundary(x, y, shop.polygon)
    if (d < bestD) {
      bestD = d
      best = clampToPolygon(x, y, shop)
    }
  }
  return best !== null && bestD <= outsideSigmas * Math.max(sigma, 0.5) ? best : [x, y]
}
