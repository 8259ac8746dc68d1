// Zone presence per device as a pure state machine (a diff of the previous state and the new
// evidence, tile38-style). Entry needs evidence over time inside the zone (a shop entry, and a move
// from one sector straight into the next, well inside: the margin grows with the position's
// inaccuracy); exit comes after a timeout without evidence, stamped with the last time the device
// was seen there (for a shop, seen confidently inside), not when the timeout noticed. Noise at a
// boundary therefore does not flap. A shop entry also waits for the radio behind its fixes to say
// inside rather than outside (zone-odds.ts), and a confirmed visit, its events with it, for the
// street-walk test to tell a shopper from a passer-by (visit-hold.ts).
import type { Zone } from '../../shared/site.ts'
import type { ZoneParams } from '../../shared/site-schema.ts'
import { radioOdds } from '../estimation/zone-odds.ts'
import { trafficOf } from '../estimation/outside-traffic.ts'
import { testDue, heldVerdict, crossedFront } from './visit-hold.ts'
import { followRun, provedVisit } from './floor-runs.ts'
import { weighEntry, weighWeak, candidate } from './zones-entry.ts'
import { depth, insideProbability, margin, confidentlyIn, conf, anchorDepth } from './zone-measures.ts'
import type { Candidate, Evidence, TestsLeft, ZoneContext, ZoneEvent, ZoneState, ZoneStep, ZoneTrack, WalkEvidence } from './zone-types.ts'

export type * from './zone-types.ts'

// The defaults are written once, in the site schema.
export { defaultZoneParams } from '../../shared/site-schema.ts'

export function newTrack(): ZoneTrack {
  return { shop: null, shopCand: null, sector: null, sectorCand: null }
}

/** A device's state before anything was heard of it. */
export function newZoneState(): ZoneState {
  return { track: newTrack(), walk: null }
}

/** One step in the making: a copy of the track it may change, the events so far, the tests run. */
interface Step {
  track: ZoneTrack
  walk: WalkEvidence | null
  out: ZoneEvent[]
  t: number
  ctx: ZoneContext
  p: Required<ZoneParams>
  spent: TestsLeft
}

/**
 * Advances one device's zone state to time t with optional fresh evidence: a pure function of the
 * state and the evidence (the state given is not changed; the one thing kept outside it is the
 * gateway's count of fixes outside each shop, which the evidence adds to: outside-traffic.ts),
 * returning the new state and the events
 * in time order. The stages: the evidence refreshes what it supports, timeouts end what lost it,
 * candidates that held long enough are confirmed, dwell thresholds crossed are reported; a visit
 * held back for the street-walk test keeps its own events until it is announced.
 */
export function stepZones(state: ZoneState, e: Evidence | null, t: number, ctx: ZoneContext): ZoneStep {
  const s: Step = { track: copyTrack(state.track), walk: state.walk, out: [], t, ctx, p: ctx.params, spent: { radio: 0, walk: 0 } }
  if (e) takeEvidence(s, e)
  timeouts(s)
  confirmEntries(s, e)
  crossDwells(s)
  return finish(s)
}

/** Copies what a step may change of a track (each part is small; events are never changed once made). */
function copyTrack(t: ZoneTrack): ZoneTrack {
  const track: ZoneTrack = { ...t }
  if (t.shop) {
    const shop = { ...t.shop, sectors: { ...t.shop.sectors } }
    if (shop.held) shop.held = [...shop.held]
    if (shop.accuracy) shop.accuracy = { ...shop.accuracy }
    if (shop.radio) shop.radio = { ...shop.radio, inside: [...shop.radio.inside], outside: [...shop.radio.outside] }
    track.shop = shop
  }
  for (const k of ['shopCand', 'sectorCand'] as const) {
    const c = t[k]
    if (c) track[k] = c.radio ? { ...c, radio: { ...c.radio, inside: [...c.radio.inside], outside: [...c.radio.outside] } } : { ...c }
  }
  if (t.sector) track.sector = { ...t.sector }
  if (t.run) track.run = { ...t.run }
  if (t.prevRun) track.prevRun = { ...t.prevRun }
  return track
}

/** Whether the tick has a test of this kind left (taking it). */
function test(s: Step, kind: keyof TestsLeft): boolean {
  if (s.spent[kind] >= (s.ctx.left?.[kind] ?? Infinity)) return false
  s.spent[kind]++
  return true
}

/** 1. Evidence refreshes what it supports. */
function takeEvidence(s: Step, e: Evidence): void {
  const {
    track,
    t,
    p,
    ctx: { site }
  } = s
  const shops = site.shops
  const traffic = trafficOf(s.ctx.source)
  traffic.count(shops, e.floor ?? 0, e.x, e.y)
  followRun(track, e, t, shops, p)
  let inShop = false
  if (track.shop) {
    const sp = track.shop
    const z = shops.find(s => s.id === sp.id) as Zone
    const dep = depth(z, e)
    inShop = dep >= -margin(p.shopExitMarginSigmas, e, p)
    const confident = dep >= 0 && (dep >= margin(p.shopEnterMarginSigmas, e, p) || dep >= anchorDepth(site, z, e))
    // A track that comes in faster than anyone walks has jumped to the radio's mirror place
    // across the front row (a leaver on the street, as often as not): its confident fixes do
    // not move the visit's end until it has come back out of them. (A saved state holds an
    // unknown depth, another floor's, as null.)
    const before = sp.depth ?? -Infinity
    if (confident && Number.isFinite(before) && dep - before > MAX_INWARD_M_PER_S * Math.max(0.5, (t - (sp.depthAt ?? t)) / 1000)) sp.jumped = true
    if (!confident) sp.jumped = false
    sp.depth = dep
    sp.depthAt = t
    if (inShop) {
      sp.to = [e.x, e.y]
      if (sp.accuracy) {
        sp.accuracy.sum += e.accuracyM
        sp.accuracy.n++
      }
      sp.lastEvidence = t
      sp.score += insideProbability(dep, e.accuracyM)
      sp.n++
      if (confident && sp.jumped !== true) sp.leftBy = t + (1000 * dep) / WALK_M_PER_S
    }
    // A visit held back for the street-walk test gets it once the hold is over, and again every
    // 5 s until it is told (visit-hold.ts; without a test left in the tick, it waits a tick).
    // The test runs on the device's latest kept fixes, which the state keeps until the next.
    weighWeak(s, sp, e, z, traffic, () => test(s, 'radio'))
    if (sp.pending === true && e.radio?.walk !== undefined) {
      s.walk = { from: e.radio.from, fixes: e.radio.walk }
      if (testDue(sp, t, p) && test(s, 'walk')) {
        const verdict = heldVerdict(sp, s.ctx.source.walkGaps(s.walk, z, p.streetWalkSureGap), t, p, false)
        if (verdict === 'drop') {
          dropVisit(track)
          inShop = false
        } else if (verdict === 'announce') announce(track, s.out)
      }
    }
    if (track.sector) {
      const sz = site.sectors.find(s => s.id === track.sector?.id) as Zone
      const sdep = depth(sz, e)
      if (sdep >= -margin(p.exitMarginSigmas, e, p)) {
        track.sector.lastEvidence = t
        track.sector.score += insideProbability(sdep, e.accuracyM)
        track.sector.n++
      }
    }
  }
  weighEntry(s, e, inShop, traffic, () => test(s, 'radio'))
  // Sector evidence gathers while the shop entry is still being confirmed, so a stay that
  // began at once is stamped from its real start.
  const shopId = track.shop?.id ?? track.shopCand?.id
  const sectors = shopId !== undefined ? site.sectors.filter(s => s.shop === shopId && s.id !== track.sector?.id) : []
  // From the aisle, a position inside a sector is evidence enough (shoppers stop in sectors, not
  // in aisles); leaving a sector straight for its neighbour needs a margin, or a position that
  // wanders across the gap for a few seconds would end a stay that goes on.
  track.sectorCand = candidate(track.sectorCand, confidentlyIn(sectors, e, p, track.sector ? p.switchMarginSigmas : p.enterMarginSigmas), t, e)
}

/** 2. Timeouts: exits are stamped with the last supporting evidence. */
function timeouts(s: Step): void {
  const { track, t, p } = s
  if (track.sector && t - track.sector.lastEvidence > p.sectorExitS * 1000) exitSector(track, track.sector.lastEvidence, s.out)
  // A visit held back that ends before it was told gets its test now, on the device's last fixes
  // (or, with no test left this tick, a tick later: the exit is stamped with its evidence anyway).
  if (track.shop && t - track.shop.lastEvidence > p.shopExitS * 1000) endVisit(s)
  // Candidates that lost their evidence are dropped.
  // A shop candidate the radio test weighs outlasts short gaps in its evidence (a shopper by the
  // front wall drifts in and out of the margin; the odds carry the decision); one judged by
  // position alone needs its evidence unbroken.
  if (track.shopCand && t - track.shopCand.lastEvidence > (track.shopCand.radio ? p.shopEnterGapS * 1000 : 2000)) track.shopCand = null
  if (track.sectorCand && t - track.sectorCand.lastEvidence > 2000) track.sectorCand = null
}

/** 3. Confirmed entries, stamped with when the evidence began. */
function confirmEntries(s: Step, e: Evidence | null): void {
  const {
    track,
    p,
    ctx: { site, newVisitId }
  } = s
  const shops = site.shops
  const weak = track.shopCand !== null && !radioSaysInside(track.shopCand, p) && weakInside(track.shopCand, e, p)
  if (track.shopCand && track.shopCand.lastEvidence - track.shopCand.since >= p.shopEnterS * 1000 && (weak || radioSaysInside(track.shopCand, p))) {
    const c = track.shopCand
    // Moving on to another shop: this visit ends where its evidence did (one held back, and no
    // test left this tick, is announced: moves are rare, and the new visit will not wait).
    if (track.shop && !endVisit(s)) exitShop(track, s.out)
    track.shop = {
      id: c.id,
      enteredAt: c.since,
      lastEvidence: c.lastEvidence,
      leftBy: c.lastEvidence,
      score: c.score,
      n: c.n,
      visitId: newVisitId(c.id, c.since),
      sectors: {},
      pending: true,
      ...(weak ? { weak, radio: c.radio } : {}),
      ...(c.at ? { from: c.at, to: c.at, accuracy: { sum: c.atAccuracy ?? 0, n: 1 } } : {})
    }
    // A new visit is tested on the evidence that comes after it began.
    s.walk = null
    track.shopCand = null
    const proved = provedVisit(track, c.since, shops.find(z => z.id === c.id)?.floor ?? 0, p, newVisitId)
    if (proved.length > 0) track.shop.proves = proved
    // Announced at once where there is no street-walk test to wait for, or the device came from
    // another floor. Even a radio sure of the entry is held: passers-by reach such odds too.
    if (p.shopHoldS <= 0 || e?.radio?.walk === undefined || c.viaFloor === true) announce(track, s.out)
  }
  if (
    track.shop &&
    track.sectorCand &&
    track.sectorCand.lastEvidence - track.sectorCand.since >= p.sectorEnterS * 1000 &&
    site.sectors.some(z => z.id === track.sectorCand?.id && z.shop === track.shop?.id)
  ) {
    const c = track.sectorCand
    // Moving on to another sector: the old stay ends where its evidence did (never after the new one began).
    if (track.sector) exitSector(track, Math.min(track.sector.lastEvidence, c.since), s.out)
    track.sector = { id: c.id, enteredAt: Math.max(c.since, track.shop.enteredAt), lastEvidence: c.lastEvidence, score: c.score, n: c.n, dwellSent: 0 }
    track.sectorCand = null
    s.out.push({ type: 'sector.enter', ts: track.sector.enteredAt, shop: track.shop.id, sector: c.id, visitId: track.shop.visitId, confidence: conf(c.score, c.n) })
  }
}

/** 4. Dwell thresholds crossed by now. */
function crossDwells(s: Step): void {
  const { track, t, p } = s
  if (!track.shop || !track.sector) return
  const sec = track.sector
  const stayed = Math.min(t, sec.lastEvidence) - sec.enteredAt
  while (sec.dwellSent < p.dwellThresholdsS.length && stayed >= p.dwellThresholdsS[sec.dwellSent] * 1000) {
    const th = p.dwellThresholdsS[sec.dwellSent++] * 1000
    s.out.push({
      type: 'sector.dwell',
      ts: sec.enteredAt + th,
      shop: track.shop.id,
      sector: sec.id,
      visitId: track.shop.visitId,
      dwellMs: th,
      thresholdMs: th,
      confidence: conf(sec.score, sec.n)
    })
  }
}

/** A visit still held back keeps its own events (stays, dwell) until it is announced; the rest go out in time order. */
function finish(s: Step): ZoneStep {
  const held = s.track.shop?.pending === true ? s.track.shop : null
  // Walk evidence is only for a visit still held back.
  const state: ZoneState = { track: s.track, walk: held === null ? null : s.walk }
  if (held === null) return { state, events: s.out.sort((a, b) => a.ts - b.ts), spent: s.spent }
  const sent: ZoneEvent[] = []
  for (const ev of s.out) {
    if (ev.visitId === held.visitId) (held.held ??= []).push(ev)
    else sent.push(ev)
  }
  return { state, events: sent.sort((a, b) => a.ts - b.ts), spent: s.spent }
}

/**
 * A visit ends at most this long before its last fix inside the outline. Simulated leavers' fixes
 * linger on the front wall after they left; a shopper who does stand there loses up to this much
 * of the visit (the bound moves the earliest ends, not the median: `npm run bench -- visits`,
 * exit error).
 */
const LINGER_MS = 10_000
/** Walking pace from a visit's last confident fix to the outline. */
const WALK_M_PER_S = 1
/**
 * Faster than this into the shop, a track has jumped, not walked. A bound of 4-5 m/s brought the
 * hypermarket's exits closer and left the other stores' as they were; 3 m/s began to cut real
 * walks short (`npm run bench -- visits`, exit error).
 */
const MAX_INWARD_M_PER_S = 4

/** Whether the candidate's radio makes inside at least `shopEnterOdds` times likelier than outside (no radio sum: yes). */
function radioSaysInside(c: Candidate, p: Required<ZoneParams>): boolean {
  if (c.viaFloor === true || !c.radio || c.radio.fixes === 0 || p.shopEnterOdds <= 0) return true
  return radioOdds(c.radio, p.shopEnterOdds)
}

/**
 * Whether a candidate the radio only leans towards (`shopEnterWeakOdds`, under `shopEnterOdds`)
 * is held as a visit all the same, for the street-walk test alone to announce (visit-hold.ts):
 * only where that test can run (the device's walk kept, the visit held back).
 */
function weakInside(c: Candidate, e: Evidence | null, p: Required<ZoneParams>): boolean {
  if (p.shopEnterWeakOdds <= 0 || p.shopHoldS <= 0 || e?.radio?.walk === undefined || c.viaFloor === true || !c.radio || c.radio.fixes === 0) return false
  return radioOdds(c.radio, p.shopEnterWeakOdds)
}

function exitSector(track: ZoneTrack, ts: number, out: ZoneEvent[]): void {
  const s = track.sector
  const shop = track.shop
  if (!s || !shop) return
  const dwellMs = Math.max(0, ts - s.enteredAt)
  shop.sectors[s.id] = (shop.sectors[s.id] ?? 0) + dwellMs
  out.push({ type: 'sector.exit', ts, shop: shop.id, sector: s.id, visitId: shop.visitId, dwellMs, confidence: conf(s.score, s.n) })
  track.sector = null
}

/**
 * Ends the visit at its last evidence; one still held back gets the street-walk test first and is
 * dropped if that takes it for a passer-by. False, and nothing ended, when the tick has no test left.
 */
function endVisit(s: Step): boolean {
  const { track, out } = s
  const sp = track.shop
  if (sp === null) return true
  if (sp.pending !== true || s.walk === null) exitShop(track, out)
  else if (!test(s, 'walk')) return false
  else {
    const zone = s.ctx.site.shops.find(z => z.id === sp.id) as Zone
    const gaps = s.ctx.source.walkGaps(s.walk, zone, s.p.streetWalkSureGap)
    const axis = trafficOf(s.ctx.source).streetAxis(zone)
    const verdict = heldVerdict(sp, gaps, s.t, s.p, true, crossedFront(sp, axis))
    if (verdict === 'announce') announce(track, out)
    if (verdict === 'drop') dropVisit(track)
    else exitShop(track, out)
  }
  return true
}

/** A passer-by's held visit never was, nor its stays: its events were held back, and none goes out. */
function dropVisit(track: ZoneTrack): void {
  track.shop = null
  track.sector = null
  track.sectorCand = null
}

/** Announces a visit held back for the street-walk test: its shop.enter, stamped when it began, then what it held. */
function announce(track: ZoneTrack, out: ZoneEvent[]): void {
  const shop = track.shop
  if (shop?.pending !== true) return
  delete shop.pending
  delete shop.weak
  delete shop.radio
  // The runs this visit covers are visited: no change of floors makes another visit of them.
  for (const r of [track.run, track.prevRun]) if (r && r.id === shop.id && r.last >= shop.enteredAt) r.visited = true
  if (shop.proves) {
    out.push(...shop.proves)
    delete shop.proves
  }
  out.push({ type: 'shop.enter', ts: shop.enteredAt, shop: shop.id, visitId: shop.visitId, confidence: conf(shop.score, shop.n) })
  if (shop.held) {
    out.push(...shop.held)
    delete shop.held
  }
}

/**
 * Closes a track's visit (and any open stay) at its last evidence, for shutdown and for saved
 * states that no longer fit the site: the new track and the events.
 */
export function closeVisit(track: ZoneTrack): { track: ZoneTrack; events: ZoneEvent[] } {
  const copy = copyTrack(track)
  const events: ZoneEvent[] = []
  exitShop(copy, events)
  return { track: copy, events }
}

/** Closes the visit (and any open stay) at the last evidence (timeouts, moves, shutdown). */
function exitShop(track: ZoneTrack, out: ZoneEvent[]): void {
  const shop = track.shop
  if (!shop) return
  // A visit still held back when it ends (or the gateway stops) is announced as it is; one held
  // on the radio's weak odds only by a shopper's verdict.
  if (shop.pending === true && shop.weak === true) dropVisit(track)
  else announce(track, out)
  if (!track.shop) return
  // A visit ends where its last fix confidently inside says, a walk away from the outline: after
  // it, a leaver walking off along the street is placed on the front wall as readily as a shopper
  // standing there. Never more than LINGER_MS before its last fix inside the outline, though: a
  // shopper who does stand there would lose the whole time.
  const left = Math.max(shop.enteredAt, Math.min(shop.lastEvidence, shop.leftBy ?? shop.lastEvidence), shop.lastEvidence - LINGER_MS)
  if (track.sector) exitSector(track, Math.min(track.sector.lastEvidence, left), out)
  const durationMs = Math.max(0, left - shop.enteredAt)
  const c = conf(shop.score, shop.n)
  out.push({ type: 'shop.exit', ts: left, shop: shop.id, visitId: shop.visitId, durationMs, confidence: c })
  out.push({
    type: 'visit.summary',
    ts: left,
    shop: shop.id,
    visitId: shop.visitId,
    durationMs,
    confidence: c,
    sectors: Object.entries(shop.sectors).map(([id, dwellMs]) => ({ id, dwellMs }))
  })
  track.shop = null
  track.sectorCand = null
}
