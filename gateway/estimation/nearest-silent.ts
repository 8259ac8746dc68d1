// Which silent sensors count against a position: the few nearest to it, since a far sensor's
// silence says little about where a phone is. Used by the solver, the zone odds and the street-walk test.
import type { Silence } from './solver-types.ts'

/** How many silent sensors, the nearest, count at a time. */
export const SILENT_COUNTED = 3

/** The SILENT_COUNTED silent sensors nearest to (x, y) (all of them when there are no more). */
export function nearestSilent(all: Silence[], x: number, y: number): Silence[] {
  return nearestSilentInto(all, x, y, [], new Float64Array(SILENT_COUNTED))
}

/**
 * `nearestSilent` into `out` (reused: no allocation per call), nearest first, the first of equals
 * first; `d2` is scratch of SILENT_COUNTED. Returns `out`, or `all` itself when it has no more.
 */
export function nearestSilentInto(all: Silence[], x: number, y: number, out: Silence[], d2: Float64Array): Silence[] {
  if (all.length <= SILENT_COUNTED) return all
  let n = 0
  for (let k = 0; k < all.length; k++) {
    const q = all[k]
    const d = (q.sensor.x - x) ** 2 + (q.sensor.y - y) ** 2
    let i = n
    if (i === SILENT_COUNTED) {
      if (d >= d2[i - 1]) continue
      i--
      n--
    }
    while (i > 0 && d2[i - 1] > d) {
      d2[i] = d2[i - 1]
      out[i] = out[i - 1]
      i--
    }
    d2[i] = d
    out[i] = q
    n++
  }
  out.length = n
  return out
}
