// How much likelier a device's radio makes it inside a zone than outside it, over a stretch of
// fixes that share one transmit offset. Fix by fix, a loud phone on the street and an ordinary
// phone just inside the door look alike: each fix takes the offset that suits it, and the position
// follows. One offset for the whole stretch cannot suit both places, and the spread of phones'
// offsets says which of the two offsets is the likelier phone. A shop entry passes this test
// before it is confirmed (zones.ts).
//
// Each fix adds, for every offset on a grid, the cost (-2 ln L, likelihood.ts) of the best place
// inside the zone and of the best place outside it, near the fix or, for the side the fix is far
// from, near the outline; the candidate sums them, and the odds are the two profiles' minima over
// the offset, each with the offset prior.
import { costs, firstOffset, OFFSET_STEP_DB, type ZoneCostOptions, type ZoneCosts } from './zone-costs.ts'
import type { Observation, Silence } from './solver.ts'
import type { Zone } from '../../shared/site.ts'

export { OFFSET_HALF, OFFSET_STEP_DB, type ZoneCostOptions, type ZoneCosts } from './zone-costs.ts'

/**
 * One fix's costs inside and outside `zone` for each offset of the grid around `base`, from the
 * places near (x, y), and for a fix more than half the reach from the outline, the other side's
 * places near the outline's nearest point too.
 */
export function zoneCosts(obs: Observation[], silent: Silence[], o: ZoneCostOptions, zone: Zone, x: number, y: number, base: number): ZoneCosts {
  return costs(obs, silent, o, zone, x, y, base, true)
}

/** `zoneCosts` summing every term of every place tried, none skipped: what the skipping must equal to the bit (the tests). */
export function zoneCostsSummingAll(obs: Observation[], silent: Silence[], o: ZoneCostOptions, zone: Zone, x: number, y: number, base: number): ZoneCosts {
  return costs(obs, silent, o, zone, x, y, base, false)
}

/** A candidate's costs summed over its fixes, per offset step around `base`; the offset prior; how many fixes each reading counts in. */
export interface RadioSum extends ZoneCosts {
  base: number
  mean: number
  sd: number
  overlap: number
  /** Fixes the sums stand for (a tested fix's costs may stand for the untested ones before it too). */
  fixes: number
  /** Fixes since the last test, not tested (zones-entry.ts asks a test every few fixes). */
  untested?: number
}

/** Adds one test's costs to the sum, standing for `weight` fixes (1: the fix tested alone, added exactly as ever). */
export function addCosts(sum: RadioSum, c: ZoneCosts, weight = 1): void {
  const first = sum.fixes === 0
  sum.fixes += weight
  if (first) {
    sum.inside = weight === 1 ? [...c.inside] : c.inside.map(v => v * weight)
    sum.outside = weight === 1 ? [...c.outside] : c.outside.map(v => v * weight)
    return
  }
  for (let k = 0; k < c.inside.length; k++) {
    sum.inside[k] += weight === 1 ? c.inside[k] : c.inside[k] * weight
    sum.outside[k] += weight === 1 ? c.outside[k] : c.outside[k] * weight
  }
}

/**
 * Whether the summed radio makes inside at least `odds` times likelier than outside (false without
 * fixes or with odds 0). Each reading counts in `overlap` fixes, so the sums count it that many times over.
 */
export function radioOdds(r: RadioSum | undefined, odds: number): boolean {
  if (!r || r.fixes === 0 || odds <= 0) return false
  return insideLogOdds2(r, r.base, r.mean, r.sd) / (2 * r.overlap) >= Math.log(odds)
}

/**
 * Twice the natural log of the odds inside against outside for summed costs, each side at its
 * best offset under the prior N(mean, sd²) (sd 0: the offset is the step nearest the mean). The
 * best offset falls between steps: a parabola through the best step and its neighbours finds it.
 */
export function insideLogOdds2(c: ZoneCosts, base: number, mean: number, sd: number): number {
  const b0 = firstOffset(base)
  const prior = (k: number): number => {
    const b = b0 + k * OFFSET_STEP_DB
    return sd > 0 ? ((b - mean) / sd) ** 2 : Math.abs(b - mean) < OFFSET_STEP_DB / 2 ? 0 : Infinity
  }
  return profileMin(c.outside, prior, sd > 0) - profileMin(c.inside, prior, sd > 0)
}

function profileMin(costs: number[], prior: (k: number) => number, between: boolean): number {
  let best = 0
  for (let k = 1; k < costs.length; k++) if (costs[k] + prior(k) < costs[best] + prior(best)) best = k
  const y1 = costs[best] + prior(best)
  if (!between || best === 0 || best === costs.length - 1) return y1
  const y0 = costs[best - 1] + prior(best - 1)
  const y2 = costs[best + 1] + prior(best + 1)
  const curve = y0 - 2 * y1 + y2
  return curve > 0 && Number.isFinite(curve) ? y1 - (y0 - y2) ** 2 / (8 * curve) : y1
}
