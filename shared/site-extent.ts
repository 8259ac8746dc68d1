/** The site file's extent checked against what a store can be (shared/site.ts). */
import type { Problem } from './schema-errors.ts'

/**
 * The widest a site may be, metres, in either direction. The largest shopping centres are about
 * 1-2 km across; a site wider than this is a plan drawn in millimetres or centimetres, or a typo.
 * Taken as it was, the gateway's work per tick that grows with the site's area (its search grids)
 * froze it on the first readings of a 10,000 km outline (tester s12 G): refused at start-up instead.
 */
export const MAX_SITE_EXTENT_M = 5000

type Feature = { geometry: { type: string; coordinates: unknown } }

/** Every [x, y] of a Point or Polygon geometry. */
function points(g: Feature['geometry']): Array<[number, number]> {
  if (g.type === 'Point') return [g.coordinates as [number, number]]
  return (g.coordinates as Array<Array<[number, number]>>).flat()
}

/** One problem when the features (already checked one by one) span more than MAX_SITE_EXTENT_M. */
export function siteExtentProblems(features: Array<{ i: number; f: Feature }>): Problem[] {
  let x0 = Infinity
  let y0 = Infinity
  let x1 = -Infinity
  let y1 = -Infinity
  for (const { f } of features) {
    for (const [x, y] of points(f.geometry)) {
      x0 = Math.min(x0, x)
      y0 = Math.min(y0, y)
      x1 = Math.max(x1, x)
      y1 = Math.max(y1, y)
    }
  }
  const w = x1 - x0
  const h = y1 - y0
  if (!(w > MAX_SITE_EXTENT_M || h > MAX_SITE_EXTENT_M)) return []
  const far = features.find(({ f }) =>
    points(f.geometry).some(([x, y]) => x - x0 > MAX_SITE_EXTENT_M || y - y0 > MAX_SITE_EXTENT_M || x1 - x > MAX_SITE_EXTENT_M || y1 - y > MAX_SITE_EXTENT_M)
  )
  return [
    {
      path: far !== undefined ? `/features/${far.i}/geometry` : '/features',
      reason: `the site spans ${Math.round(w)} × ${Math.round(h)} m; a store's site is at most ${MAX_SITE_EXTENT_M} m across (coordinates are metres in the store's frame: scale a plan drawn in millimetres or centimetres)`
    }
  ]
}
