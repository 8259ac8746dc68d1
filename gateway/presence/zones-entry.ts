// A shop entry in the making (zones.ts step 1): which fixes open a shop candidate and which count
// as evidence for it. Where the radio test (zone-odds.ts) weighs the entry, any fix inside the
// outline opens the question and the radio answers it: a shopper standing two metres inside the
// front, above all with a quiet phone, is placed between the front row and the front wall, seldom
// a margin inside, so an entry that waited for such a fix began its radio sum, and its start, late.
// That is the zone option `shopEnterFromOutline` (off by default: it helps the nights replay and
// costs the simulated boutique hours, docs/zones-and-visits.md: `npm run bench -- nights`,
// `npm run bench -- visits`); how sure the radio must be
// before such fixes count as evidence is `shopEnterSureOdds`.
import type { Zone } from '../../shared/site.ts'
import type { ZoneParams } from '../../shared/site-schema.ts'
import { addCosts, insideLogOdds2, radioOdds, type RadioSum } from '../estimation/zone-odds.ts'
import type { OutsideTraffic } from '../estimation/outside-traffic.ts'
import { cameFromFloor } from './floor-runs.ts'
import { depth, insideProbability, confidentlyIn } from './zone-measures.ts'
import type { Candidate, Evidence, ZoneContext, ZoneTrack } from './zone-types.ts'

/**
 * A candidate's radio test is asked every this many fixes, and its costs count for each fix since
 * the last test. A fix's RSSI windows hold the last few seconds of readings (3 s for BLE: each
 * reading is in three fixes, the sum's `overlap`), so consecutive fixes repeat most of their
 * evidence; testing every other fix still takes in every reading, at half the tests, which were
 * the largest share of the gateway's CPU (docs/performance.md). 1: every fix, as before issue 28.
 */
export const ENTRY_TEST_STRIDE = 2

/**
 * Log odds past the higher of the entry's two thresholds (`shopEnterOdds`, `shopEnterSureOdds`)
 * at which a candidate's radio sum is taken as settled: no more tests, the sum kept as it is. One
 * fix moves the log odds little and seldom down (docs/performance.md has how much), so only a run
 * of fixes all far outside could have brought such a sum back under.
 */
export const ENTRY_DECIDED_MARGIN = 8

/** Whether a candidate's radio sum is far enough past both thresholds to be taken as settled (see ENTRY_DECIDED_MARGIN). */
function decided(r: RadioSum | undefined, p: Required<ZoneParams>): boolean {
  if (r === undefined || r.fixes === 0) return false
  const bar = Math.max(Math.log(p.shopEnterOdds), p.shopEnterSureOdds > 0 ? Math.log(p.shopEnterSureOdds) : -Infinity)
  return insideLogOdds2(r, r.base, r.mean, r.sd) / (2 * r.overlap) >= bar + ENTRY_DECIDED_MARGIN
}

/** What of a step the entry needs: the track it changes, the time, the context and its parameters. */
export interface EntryStep {
  track: ZoneTrack
  t: number
  ctx: ZoneContext
  p: Required<ZoneParams>
}

/**
 * Weighs a fix in a shop entry: a fix a margin inside a shop the device is not in opens (or feeds)
 * its candidate, as does, with `shopEnterFromOutline` and the radio test on, any fix inside the
 * outline. Every fix while a candidate is open adds to its radio sum (when `radioTest` grants a
 * test); once the sum makes inside `shopEnterSureOdds` times likelier, a fix inside the outline is
 * evidence too. The entry is confirmed, as before, after `shopEnterS` of evidence with the sum at
 * `shopEnterOdds` or more (zones.ts).
 */
export function weighEntry(s: EntryStep, e: Evidence, inShop: boolean, traffic: OutsideTraffic, radioTest: () => boolean): void {
  const { track, t, p } = s
  const shops = s.ctx.site.shops
  const others = track.shop ? shops.filter(z => z.id !== track.shop?.id) : shops
  const radioOn = e.radio !== undefined && p.shopEnterOdds > 0
  // Evidence that is no longer in the current shop but well inside another (upstairs, next
  // door) starts that shop's entry at once, without waiting for the timeout to end this visit.
  const elsewhere = inShop ? null : confidentlyIn(others, e, p, p.shopEnterMarginSigmas)
  const before = track.shopCand
  track.shopCand = candidate(track.shopCand, elsewhere, t, e)
  // With the radio to decide, a fix anywhere inside opens the question (it is evidence only once
  // the radio is sure, below; a candidate without evidence lapses after `shopEnterGapS`).
  if (p.shopEnterFromOutline && track.shopCand === null && !inShop && radioOn) {
    const inside = confidentlyIn(others, e, p, 0)
    if (inside !== null) track.shopCand = { id: inside.zone.id, since: t, lastEvidence: t, score: insideProbability(inside.dep, e.accuracyM), n: 1 }
  }
  const c = track.shopCand
  if (c && c !== before && elsewhere !== null && cameFromFloor(track, elsewhere.zone.floor, t, p)) c.viaFloor = true
  if (!c || c.viaFloor === true || !e.radio || !radioOn) return
  const zone = shops.find(z => z.id === c.id) as Zone
  const fresh = c !== before || !c.radio
  // A test every ENTRY_TEST_STRIDE fixes, counted for the fixes since the last; the fixes between
  // weigh the evidence below on the sum as it stands.
  const due = fresh || ((c.radio?.untested ?? 0) + 1 >= ENTRY_TEST_STRIDE && !decided(c.radio, p))
  if (due && !radioTest()) return
  if (fresh) {
    const { mean, sd } = e.radio.offsetPrior
    c.radio = { base: mean, mean, sd, overlap: e.radio.overlap, fixes: 0, inside: [], outside: [] }
  }
  const sum = c.radio as RadioSum
  if (due) {
    addCosts(sum, s.ctx.source.zoneCosts(e.radio, traffic.view(zone), sum.base), 1 + (sum.untested ?? 0))
    sum.untested = 0
  } else sum.untested = (sum.untested ?? 0) + 1
  // Once the radio is sure, a fix inside the outline is evidence enough: a shopper in a corner or
  // by the front is seldom a margin away from the walls.
  const dep = c.lastEvidence < t ? depth(zone, e) : -Infinity
  if (dep >= 0 && radioOdds(c.radio, p.shopEnterSureOdds)) {
    c.lastEvidence = t
    c.score += insideProbability(dep, e.accuracyM)
    c.n++
  }
}

/** A candidate fed by a fix that hit `hit` (or left as it is without a hit). */
export function candidate(c: Candidate | null, hit: { zone: Zone; dep: number } | null, t: number, e: Evidence): Candidate | null {
  if (!hit) return c
  const p = insideProbability(hit.dep, e.accuracyM)
  if (c && c.id === hit.zone.id) {
    c.lastEvidence = t
    c.score += p
    c.n++
    return c
  }
  return { id: hit.zone.id, since: t, lastEvidence: t, score: p, n: 1 }
}
