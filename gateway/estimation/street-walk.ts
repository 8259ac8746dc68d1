// Whether a passer-by's walk explains a device's recent fixes. Over the 10-20 s in which a shop
// entry is decided, a phone on the street and one just inside the front can sound alike, even to
// the entry's radio test (zone-odds.ts), which lets every fix take the place that suits it best.
// Over half a minute they differ: a passer-by keeps walking, and one straight, steady walk outside
// the shop explains its fixes nearly as well as the best straight walk does; a shopper's fixes, even
// near the front, fit a walk that comes inside clearly better. A visit is therefore held back for a
// while after it began (zones.ts `shopHoldS`) and then asked this.
//
// Each gap is the cost (-2 ln L, likelihood.ts) of the best straight walk at least OUTSIDE_M
// outside the zone, at MIN_SPEED_M_S to MAX_SPEED_M_S, less that of the best walk anywhere
// (Nelder-Mead from the best starts), each with one transmit offset for the whole stretch under
// the spread of phones' offsets: every fix keeps its own offset otherwise, and a loud phone would
// then fit anywhere. Two walks anywhere, two questions:
// - `line`, one straight walk: a passer-by's gap is small, and stays small from one test to the next;
// - `stop`, a straight walk that may stop and stand to the end: a shopper walks in and stops, which
//   no straight line fits, so early in a visit only this gap is large. A passer-by's stays small,
//   though less so: the stop lets a stretch misplaced inside (the radio's mirror place) fit.
import type { Zone } from '../../shared/site.ts'
import { pointInPolygon, signedDepth } from '../../shared/geometry.ts'
import type { Observation, Silence } from './solver.ts'
import { WalkCosts, type FixSensors } from './walk-cost.ts'
import type { SensorModel } from './radio-model.ts'
import { nelderMead } from './nelder-mead.ts'
import { unpackFix, type WalkFix } from './walk-history.ts'

// The walk history (walk-history.ts) is this test's input; its names are taken from here too.
export {
  WALK_HISTORY_MS,
  WALK_SAMPLE_MS,
  WALK_SENSORS,
  WalkHistory,
  packListening,
  sensorTable,
  unpackFix,
  type Listening,
  type SensorTable,
  type WalkFix
} from './walk-history.ts'

/** A passer-by walks at least this far outside the outline (the pavement, not the shop window), m. */
const OUTSIDE_M = 1
/** Farther than this outside an outline's box, a place is more than OUTSIDE_M outside it, rounding and all, m. */
const CLEAR_M = 2 * OUTSIDE_M
const MAX_SPEED_M_S = 2
/**
 * A passer-by walks on: a walk outside slower than this is no passer-by's (otherwise a shopper by
 * the front window is taken for one standing outside it: `npm run bench -- visits`, boutique).
 */
const MIN_SPEED_M_S = 0.5
/** Cost per square metre a walk strays inside (or per (m/s)² its speed strays out of bounds, per fix). */
const PENALTY = 50
const ITERATIONS = 200

export interface WalkOptions {
  tagHeight: number
  huberK: number
  bounds: [number, number, number, number]
}

/** How much worse the best straight walk outside a zone explains a device's kept fixes than the best walks anywhere, in -2 ln L. */
export interface WalkGaps {
  /** Than one straight walk: small (under 3 or so), a passer-by. */
  line: number
  /**
   * Than a straight walk that may stop and stand to the end (never under `line`): large, a
   * shopper. Searched for only where `line` is under the `enough` asked for; otherwise `line`.
   */
  stop: number
}

/** Where a kept fix was placed, and when: what the searches start from. */
export interface Placed {
  t: number
  x: number
  y: number
}

/** Too little to tell: fewer than three fixes kept, or sensors the models no longer have. */
const UNKNOWN: WalkGaps = { line: Infinity, stop: Infinity }

/**
 * The street-walk test of `zone` over the kept fixes (≥ 0 up to the search's precision). A `stop`
 * gap of `enough` or more is all the caller needs to know: the walk that stops is not searched for
 * where the straight one already makes it.
 */
export function streetWalkGaps(fixes: readonly WalkFix[], sensors: SensorModel[], zone: Zone, o: WalkOptions, prior: { mean: number; sd: number }, enough = Infinity): WalkGaps {
  const sensed = walkSensors(fixes, sensors)
  return sensed === null ? UNKNOWN : walkGaps(fixes, sensed, zone, o, prior, enough)
}

/** What the test takes besides the fixes and the zone: the receivers' models by index, the cost options and the phones' offset prior (tracker.ts `walkModel`). */
export interface WalkModel {
  sensors: SensorModel[]
  o: WalkOptions
  prior: { mean: number; sd: number }
}

/** `streetWalkGaps` with a tracker's `walkModel`. */
export function walkTest(m: WalkModel, fixes: readonly WalkFix[], zone: Zone, enough: number): WalkGaps {
  return streetWalkGaps(fixes, m.sensors, zone, m.o, m.prior, enough)
}

/** What each kept fix heard and did not, unpacked (null: too little to tell, the gaps are UNKNOWN). */
export function walkSensors(fixes: readonly WalkFix[], sensors: SensorModel[]): FixSensors[] | null {
  if (fixes.length < 3) return null
  const sensed: FixSensors[] = []
  for (const f of fixes) {
    const obs: Observation[] = []
    const silent: Silence[] = []
    if (!unpackFix(f, sensors, obs, silent)) return null
    sensed.push({ obs, silent })
  }
  return sensed
}

/** `streetWalkGaps` over fixes already unpacked: where each was placed and when (`fixes`), and what it heard (`sensed`, in the same order). */
export function walkGaps(fixes: readonly Placed[], sensed: FixSensors[], zone: Zone, o: WalkOptions, prior: { mean: number; sd: number }, enough = Infinity): WalkGaps {
  if (fixes.length < 3 || sensed.length !== fixes.length) return UNKNOWN
  const problems: Kept = { t: fixes.map(f => f.t), costs: new WalkCosts(sensed, o.tagHeight, o.huberK) }
  const tEnd = fixes[fixes.length - 1].t
  // A fix the radio threw far off (behind the back wall) drags every least-squares line, the
  // mirrored ones too, and from those starts the search can settle in a walk outside far worse
  // than the passer-by's own: a passer-by placed inside then looks like a shopper. So the walk
  // outside is also searched from the lines refitted without the fixes farthest from them, and
  // the better of the two searches counts (a second search can only lower the cost outside).
  const outside = Math.min(
    bestWalk(problems, tEnd, zone, 'outside', prior, startsOutside(fixes, tEnd, zone, lineThrough)),
    bestWalk(problems, tEnd, zone, 'outside', prior, startsOutside(fixes, tEnd, zone, trimmedLine), undefined, 1)
  )
  // The best walk outside is a walk anywhere too, and a straight walk one that stops at the end:
  // neither gap is ever below 0, nor the stop's below the line's. A search for a walk anywhere
  // stops as soon as its gap reaches `enough`: searching on could only widen it.
  const decided = (least: number): boolean => outside - least >= enough
  const line = Math.min(outside, bestWalk(problems, tEnd, zone, 'line', prior, [lineThrough(fixes, tEnd, p => p)], decided))
  if (outside - line >= enough) return { line: outside - line, stop: outside - line }
  const stop = Math.min(line, bestWalk(problems, tEnd, zone, 'stop', prior, startsStop(fixes, tEnd), decided))
  return { line: outside - line, stop: outside - stop }
}

/** The kept fixes' times, and their costs on a walk. */
interface Kept {
  t: number[]
  costs: WalkCosts
}

/**
 * The least cost of a walk over the kept fixes, searched from the `tries` best starts: straight and
 * at least OUTSIDE_M outside the zone, straight anywhere, or straight anywhere until it stops.
 */
function bestWalk(
  problems: Kept,
  tEnd: number,
  zone: Zone,
  kind: 'outside' | 'line' | 'stop',
  prior: { mean: number; sd: number },
  starts: number[][],
  done: (least: number) => boolean = () => false,
  tries = 2
): number {
  const outside = kind === 'outside'
  const { t: times, costs } = problems
  const n = times.length
  const first = (times[0] - tEnd) / 1000
  const [bx0, by0, bx1, by1] = [zone.bbox[0] - CLEAR_M, zone.bbox[1] - CLEAR_M, zone.bbox[2] + CLEAR_M, zone.bbox[3] + CLEAR_M]
  // Walk: position (x0, y0) at the last fix, velocity (vx, vy), the offset b, and (a walk that
  // stops) when it stopped, s before the last fix: it stood at (x0, y0) from then on.
  // Read by index, not destructured: the searches call it thousands of times a test.
  const objective = (w: number[]): number => {
    const x0 = w[0]
    const y0 = w[1]
    const vx = w[2]
    const vy = w[3]
    const b = w[4]
    const stopped = w.length > 5 ? w[5] : 0
    let c = ((b - prior.mean) / prior.sd) ** 2
    const speed = Math.hypot(vx, vy)
    if (speed > MAX_SPEED_M_S) c += PENALTY * (speed - MAX_SPEED_M_S) ** 2 * n
    if (outside && speed < MIN_SPEED_M_S) c += PENALTY * (MIN_SPEED_M_S - speed) ** 2 * n
    // A stop within the stretch: between its first fix and its last.
    if (stopped > 0) c += PENALTY * stopped ** 2 * n
    if (stopped < first) c += PENALTY * (first - stopped) ** 2 * n
    for (let k = 0; k < n; k++) {
      const tau = Math.min(0, (times[k] - tEnd) / 1000 - stopped)
      const x = x0 + vx * tau
      const y = y0 + vy * tau
      // Well clear of the outline's box, a place is well clear of the outline: no penalty, and
      // no need to measure how far (the outline's edges, one by one).
      if (outside && x > bx0 && x < bx1 && y > by0 && y < by1) {
        const depth = signedDepth(x, y, zone)
        if (depth > -OUTSIDE_M) c += PENALTY * (depth + OUTSIDE_M) ** 2
      }
      c += costs.heard(k, x, y, b)
      if (costs.hasSilent(k)) c += costs.silent(k, x, y, b)
    }
    return c
  }
  const steps = kind === 'stop' ? [2, 2, 0.3, 0.3, 2, 5] : [2, 2, 0.3, 0.3, 2]
  const withOffset = (s: number[]): number[] => (kind === 'stop' ? [...s.slice(0, 4), prior.mean, s[4]] : [...s, prior.mean])
  const ranked = starts
    .map(withOffset)
    .map(p => ({ p, v: objective(p) }))
    .sort((a, b) => a.v - b.v)
    .slice(0, tries)
  let cost = Infinity
  for (const { p, v } of ranked) {
    if (done(Math.min(cost, v))) return Math.min(cost, v)
    cost = Math.min(cost, nelderMead(objective, p, steps, ITERATIONS, v, done))
  }
  return cost
}

/**
 * Where a walk that stops may start from: standing where the fixes after a third, or two thirds,
 * of the stretch are on average, walked to from the first fix.
 */
function startsStop(fixes: readonly Placed[], tEnd: number): number[][] {
  const first = (fixes[0].t - tEnd) / 1000
  return [1 / 3, 2 / 3].map(share => {
    const stopped = first * share
    const after = fixes.filter(f => (f.t - tEnd) / 1000 >= stopped)
    const x0 = after.reduce((a, f) => a + f.x, 0) / after.length
    const y0 = after.reduce((a, f) => a + f.y, 0) / after.length
    const walked = Math.max(1, stopped - first)
    return [x0, y0, (x0 - fixes[0].x) / walked, (y0 - fixes[0].y) / walked, stopped]
  })
}

/**
 * Where a walk outside may start from: the line through the fixes, and that line with the fixes
 * inside reflected across each edge of the outline (the radio's mirror place across the front row
 * is where a passer-by gets misplaced, and the front is not always the nearest edge).
 */
function startsOutside(fixes: readonly Placed[], tEnd: number, zone: Zone, line: LineFit): number[][] {
  const starts = [line(fixes, tEnd, p => p)]
  for (const ring of zone.polygon.coordinates) {
    for (let i = 0; i + 1 < ring.length; i++) {
      const [ax, ay] = ring[i]
      const [bx, by] = ring[i + 1]
      const len2 = (bx - ax) ** 2 + (by - ay) ** 2
      if (!(len2 > 0)) continue
      starts.push(
        line(fixes, tEnd, ([x, y]) => {
          if (!pointInPolygon(x, y, zone)) return [x, y]
          const u = ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / len2
          const fx = ax + u * (bx - ax)
          const fy = ay + u * (by - ay)
          return [2 * fx - x, 2 * fy - y]
        })
      )
    }
  }
  return starts
}

/** A straight walk fitted to the fixes' positions (each mapped first): position at tEnd and velocity. */
type LineFit = (fixes: readonly Placed[], tEnd: number, map: (p: [number, number]) => [number, number]) => number[]

/** Share of the fixes a trimmed line keeps: the rest, farthest from the least-squares line, are left out of its refit. */
const TRIM_KEEP = 0.75

/** The least-squares line refitted to the TRIM_KEEP share of the fixes nearest it (the whole line where that leaves fewer than three). */
function trimmedLine(fixes: readonly Placed[], tEnd: number, map: (p: [number, number]) => [number, number]): number[] {
  const first = lineThrough(fixes, tEnd, map)
  const miss = fixes.map(f => {
    const tau = (f.t - tEnd) / 1000
    const [x, y] = map([f.x, f.y])
    return Math.hypot(x - (first[0] + first[2] * tau), y - (first[1] + first[3] * tau))
  })
  const cut = [...miss].sort((a, b) => a - b)[Math.floor(TRIM_KEEP * (miss.length - 1))]
  const kept = fixes.filter((_, i) => miss[i] <= cut)
  return kept.length >= 3 ? lineThrough(kept, tEnd, map) : first
}

/** Least-squares straight walk through the fixes' positions: position at tEnd and velocity. */
function lineThrough(fixes: readonly Placed[], tEnd: number, map: (p: [number, number]) => [number, number]): number[] {
  let st = 0
  let stt = 0
  let sx = 0
  let sy = 0
  let stx = 0
  let sty = 0
  const n = fixes.length
  for (const f of fixes) {
    const tau = (f.t - tEnd) / 1000
    const [x, y] = map([f.x, f.y])
    st += tau
    stt += tau * tau
    sx += x
    sy += y
    stx += tau * x
    sty += tau * y
  }
  const den = n * stt - st * st
  const vx = den > 0 ? (n * stx - st * sx) / den : 0
  const vy = den > 0 ? (n * sty - st * sy) / den : 0
  return [(sx - vx * st) / n, (sy - vy * st) / n, vx, vy]
}
