// A shop entry in the making (zones.ts step 1): which fixes open a shop candidate and which count
// as evidence for it. Where the radio test (zone-odds.ts) weighs the entry, any fix inside the
// outline opens the question and the radio answers it (`shopEnterFromOutline`): a shopper standing
// two metres inside the front, above all with a quiet phone, is placed between the front row and
// the front wall, seldom a margin inside, so an entry that waited for such a fix began its radio
// sum, and its start, late. Evidence is a fix a margin inside; or, once the radio is sure
// (`shopEnterSureOdds`), any fix inside the outline; or, once it makes inside as likely as an entry
// needs (`shopEnterOdds`), a fix whose own readings say inside at the offset the entry's fixes
// share (`shopEnterByRadio`), wherever the solver placed it but where the street's traffic is.
import type { Zone } from '../../shared/site.ts'
import type { ZoneParams } from '../../shared/site-schema.ts'
import { addCosts, insideLogOdds2, radioOdds, OFFSET_HALF, OFFSET_STEP_DB, type RadioSum, type ZoneCosts } from '../estimation/zone-odds.ts'
import type { OutsideTraffic } from '../estimation/outside-traffic.ts'
import { cameFromFloor } from './floor-runs.ts'
import { depth, insideProbability, confidentlyIn } from './zone-measures.ts'
import type { Candidate, Evidence, ShopPresence, ZoneContext, ZoneTrack } from './zone-types.ts'

/**
 * A candidate's radio test is asked every this many fixes, and its costs count for each fix since
 * the last test. A fix's RSSI windows hold the last few seconds of readings (3 s for BLE: each
 * reading is in three fixes, the sum's `overlap`), so consecutive fixes repeat most of their
 * evidence, and testing every other fix would still take in every reading at half the tests (the
 * largest share of the gateway's CPU, docs/performance.md). It cost a passer-by's false visit in
 * the simulated department-store hour (test/integration/scenario.test.ts), so every fix is tested.
 */
export const ENTRY_TEST_STRIDE = 1

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
    if (inside !== null)
      track.shopCand = { id: inside.zone.id, since: t, lastEvidence: t, score: insideProbability(inside.dep, e.accuracyM), n: 1, at: [e.x, e.y], atAccuracy: e.accuracyM }
  }
  const c = track.shopCand
  if (c && c !== before && elsewhere !== null && cameFromFloor(track, elsewhere.zone.floor, t, p)) c.viaFloor = true
  if (!c || c.viaFloor === true || !e.radio || !radioOn) return
  const zone = shops.find(z => z.id === c.id) as Zone
  const fresh = c !== before || !c.radio
  const dep = c.lastEvidence < t ? depth(zone, e) : -Infinity
  // Once the radio makes inside as likely as an entry needs, a fix is evidence if its own
  // readings, at the offset the candidate's fixes share, fit a place inside better than one
  // outside: the solver places each fix under the site's typical offset, so a quiet phone standing
  // in the shop is put short of where it stands (on the front wall, beyond a back corner), and its
  // entry lapsed for want of fixes a margin inside. Outside the outline, though, only where the
  // learned outside traffic is thinner than in its average cell (outside-traffic.ts; a fresh map:
  // nowhere), and on the shop's floor: near the front a passer-by sounds like a quiet phone
  // inside, and with its fixes on the street counted, passers-by the radio favoured made visits
  // of their own (`npm run bench -- nights`).
  const byRadioPlace = p.shopEnterByRadio && (dep >= 0 || (dep > -Infinity && traffic.cost(zone, e.x, e.y) > 0))
  // A test every ENTRY_TEST_STRIDE fixes, counted for the fixes since the last; the fixes between
  // weigh the evidence below on the sum as it stands. A fix that may count by its own readings
  // needs its costs (unless the sum is sure already): it is tested whatever the stride.
  const mayCountByRadio = byRadioPlace && c.radio !== undefined && radioOdds(c.radio, p.shopEnterOdds) && !(dep >= 0 && radioOdds(c.radio, p.shopEnterSureOdds))
  const settled = !fresh && decided(c.radio, p)
  const due = fresh || mayCountByRadio || ((c.radio?.untested ?? 0) + 1 >= ENTRY_TEST_STRIDE && !settled)
  if (due && !radioTest()) return
  if (fresh) {
    const { mean, sd } = e.radio.offsetPrior
    c.radio = { base: mean, mean, sd, overlap: e.radio.overlap, fixes: 0, inside: [], outside: [] }
  }
  const sum = c.radio as RadioSum
  let costs: ZoneCosts | null = null
  // A settled sum's skipped fixes are not owed a test: a test forced later (a fix that may count
  // by its own readings) weighs that one fix alone.
  if (due) {
    costs = s.ctx.source.zoneCosts(e.radio, traffic.view(zone), sum.base)
    addCosts(sum, costs, 1 + (sum.untested ?? 0))
    sum.untested = 0
  } else if (!settled) sum.untested = (sum.untested ?? 0) + 1
  if (dep === -Infinity) return
  // Once the radio is sure, a fix inside the outline is evidence enough: a shopper in a corner or
  // by the front is seldom a margin away from the walls.
  const sure = dep >= 0 && radioOdds(sum, p.shopEnterSureOdds)
  if (sure || (costs !== null && byRadioPlace && radioOdds(sum, p.shopEnterOdds) && favoursInside(sum, costs))) {
    c.lastEvidence = t
    c.score += insideProbability(dep, e.accuracyM)
    c.n++
  }
}

/**
 * Whether one fix's costs fit inside better than outside at the transmit offset a candidate's
 * summed costs make likeliest (inside or out, under the offset prior): the phone has one offset
 * over the candidate's fixes, and it is learned from all of them.
 */
export function favoursInside(sum: RadioSum, fix: ZoneCosts): boolean {
  const b0 = (Math.round(sum.base / OFFSET_STEP_DB) - OFFSET_HALF) * OFFSET_STEP_DB
  let best = -1
  let bestCost = Infinity
  for (let k = 0; k < sum.inside.length; k++) {
    const prior = sum.sd > 0 ? ((b0 + k * OFFSET_STEP_DB - sum.mean) / sum.sd) ** 2 : 0
    const cost = Math.min(sum.inside[k], sum.outside[k]) + prior
    if (cost < bestCost) {
      bestCost = cost
      best = k
    }
  }
  return best >= 0 && fix.inside[best] < fix.outside[best]
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
  return { id: hit.zone.id, since: t, lastEvidence: t, score: p, n: 1, at: [e.x, e.y], atAccuracy: e.accuracyM }
}

/**
 * Feeds a visit held on the radio's weak odds (`shopEnterWeakOdds`) with a fix inside its outline,
 * as its candidate was fed: once the sum makes inside `shopEnterOdds` times likelier, the visit is
 * an ordinary held one (announced by default after `shopHoldMaxS`), as it would have been had it
 * waited for those odds before it was confirmed.
 */
export function weighWeak(s: EntryStep, sp: ShopPresence, e: Evidence, zone: Zone, traffic: OutsideTraffic, radioTest: () => boolean): void {
  if (sp.weak !== true || sp.radio === undefined || e.radio === undefined || depth(zone, e) < 0 || !radioTest()) return
  addCosts(sp.radio, s.ctx.source.zoneCosts(e.radio, traffic.view(zone), sp.radio.base))
  if (!radioOdds(sp.radio, s.p.shopEnterOdds)) return
  delete sp.weak
  delete sp.radio
}
