// Zone presence per device as a pure state machine (a diff of the previous state and the new
// evidence, tile38-style). Entry needs evidence over time inside the zone (a shop entry, and a move
// from one sector straight into the next, well inside: the margin grows with the position's
// inaccuracy); exit comes after a timeout without evidence, stamped with the last time the device
// was seen there (for a shop, seen confidently inside), not when the timeout noticed. Noise at a
// boundary therefore does not flap. A shop entry also waits for the radio behind its fixes to say
// inside rather than outside (zone-odds.ts), and a confirmed visit, its events with it, for the
// street-walk test to tell a shopper from a passer-by (visit-hold.ts).
import type { Site, Zone } from '../../shared/site.ts'
import { pointInPolygon, distanceToBoundary, signedDepth } from '../../shared/geometry.ts'
import { normalUpperTail } from '../estimation/sensitivity.ts'
import type { ZoneParams } from '../../shared/site-schema.ts'
import { addCosts, radioOdds, type RadioSum, type ZoneCosts } from '../estimation/zone-odds.ts'
import { keepWalkTest, hasWalkTest, testDue, heldVerdict, type Hold, type WalkTest } from './visit-hold.ts'

export interface Presence { id: string, enteredAt: number, lastEvidence: number, score: number, n: number }
export interface ShopPresence extends Presence, Hold {
  visitId: string, sectors: Record<string, number>, segment?: string
  /**
   * When the visit ends if no fix is confidently inside again: the last one that was, plus the
   * time to walk from there to the outline (absent in states saved before it: the last evidence).
   */
  leftBy?: number
  /** The last fix's depth into the shop and when it came; whether the track has since jumped in faster than anyone walks. */
  depth?: number, depthAt?: number, jumped?: boolean
  /**
   * Confirmed but not announced yet: the visit waits `shopHoldS` after it began for the
   * street-walk test; its own events wait with it, in `held`.
   */
  pending?: boolean
  held?: ZoneEvent[]
  /** Events of a visit on another floor that this one proves (`floorChangeS`): they go out when this one is announced, and not at all if it is dropped. */
  proves?: ZoneEvent[]
}
export interface SectorPresence extends Presence { dwellSent: number }
export interface Candidate {
  id: string, since: number, lastEvidence: number, score: number, n: number
  /** Shop candidates: the radio's costs inside and outside, summed over the candidate's fixes (zone-odds.ts). */
  radio?: RadioSum
  /** A shop candidate of a device that has just come from a visit on another floor: no radio test, no hold. */
  viaFloor?: boolean
}

/**
 * A run of a device's fixes inside one shop's outline (gaps up to `shopEnterGapS`), confirmed or
 * not: the evidence a change of floors turns into a visit.
 */
export interface Run { id: string, floor: number, since: number, last: number, score: number, n: number, /** a confirmed visit covers it */ visited: boolean }

export interface ZoneTrack {
  shop: ShopPresence | null
  shopCand: Candidate | null
  sector: SectorPresence | null
  sectorCand: Candidate | null
  /** The device's current run inside a shop, and the last one on another floor (absent in states saved before them). */
  run?: Run
  prevRun?: Run
}

export interface ZoneEvent {
  type: 'shop.enter' | 'shop.exit' | 'visit.summary' | 'sector.enter' | 'sector.exit' | 'sector.dwell'
  ts: number
  shop: string
  sector?: string
  visitId: string
  dwellMs?: number
  thresholdMs?: number
  durationMs?: number
  sectors?: Array<{ id: string, dwellMs: number }>
  confidence: number
}

export interface Evidence {
  x: number, y: number, accuracyM: number, /** default 0 */ floor?: number
  /** The radio behind the position, for the shop-entry test; without it an entry goes by position alone. */
  radio?: EvidenceRadio
}

export interface EvidenceRadio {
  costs: (zone: Zone, base: number) => ZoneCosts
  /** The offset of a phone not known yet, dB: the site's typical one and the spread of phones. */
  offsetPrior: { mean: number, sd: number }
  /** Fixes each reading counts in (the RSSI windows overlap from one fix to the next). */
  overlap: number
  /** How much worse a passer-by's walk outside the zone explains the device's last half minute than walks anywhere (street-walk.ts). */
  walkGap?: WalkTest
}

// The defaults are written once, in the site schema.
export { defaultZoneParams } from '../../shared/site-schema.ts'

export function newTrack (): ZoneTrack { return { shop: null, shopCand: null, sector: null, sectorCand: null } }

/** Signed distance into a zone (positive inside), metres; evidence from another floor is nowhere near it. */
function depth (z: Zone, e: Evidence): number {
  return z.floor !== (e.floor ?? 0) ? -Infinity : signedDepth(e.x, e.y, z)
}

/** Probability the device is inside given its position spread (1-D normal across the boundary). */
function insideProbability (dep: number, accuracyM: number): number {
  return 1 - normalUpperTail(dep / Math.max(0.3, accuracyM / Math.SQRT2))
}

function margin (sigmas: number, e: Evidence, p: Required<ZoneParams>): number { return Math.min(p.maxMarginM, sigmas * e.accuracyM) }

/** The zone (of a list) this evidence is confidently inside, by the entry margin. */
function confidentlyIn (zones: Zone[], e: Evidence, p: Required<ZoneParams>, sigmas: number): { zone: Zone, dep: number } | null {
  const m = margin(sigmas, e, p)
  let best: { zone: Zone, dep: number } | null = null
  for (const z of zones) {
    const dep = depth(z, e)
    if (dep >= m && (best === null || dep > best.dep)) best = { zone: z, dep }
  }
  return best
}

const conf = (score: number, n: number) => Math.round(100 * score / Math.max(1, n)) / 100

/**
 * Advances one device's zone state to time t with optional fresh evidence. Returns the events in
 * time order. `newVisitId` names a visit (its shop, when it began) when one begins. `radioTest` is
 * asked before each shop-entry radio test and may refuse it (a budget per tick): that fix then
 * weighs in by position alone. `walkTest` likewise before each street-walk test of a held visit,
 * which then waits a tick.
 */
export function stepZones (track: ZoneTrack, e: Evidence | null, t: number, site: Site, p: Required<ZoneParams>, newVisitId: (shop: string, enteredAt: number) => string, radioTest: () => boolean = always, walkTest: () => boolean = always): ZoneEvent[] {
  const out: ZoneEvent[] = []
  const shops = site.shops
  // 1. Evidence refreshes what it supports.
  if (e) {
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
      sp.depth = dep; sp.depthAt = t
      if (inShop) {
        sp.lastEvidence = t; sp.score += insideProbability(dep, e.accuracyM); sp.n++
        if (confident && sp.jumped !== true) sp.leftBy = t + 1000 * dep / WALK_M_PER_S
      }
      // A visit held back for the street-walk test gets it once the hold is over, and again every
      // 5 s until it is told (visit-hold.ts; `walkTest` is the tick's budget of tests: without
      // one left, it waits a tick).
      if (sp.pending === true && e.radio?.walkGap !== undefined) {
        keepWalkTest(sp, e.radio.walkGap)
        if (testDue(sp, t, p) && walkTest()) {
          const verdict = heldVerdict(sp, z, t, p, false)
          if (verdict === 'drop') { dropVisit(track); inShop = false } else if (verdict === 'announce') announce(track, out)
        }
      }
      if (track.sector) {
        const sz = site.sectors.find(s => s.id === track.sector?.id) as Zone
        const sdep = depth(sz, e)
        if (sdep >= -margin(p.exitMarginSigmas, e, p)) {
          track.sector.lastEvidence = t; track.sector.score += insideProbability(sdep, e.accuracyM); track.sector.n++
        }
      }
    }
    // Evidence that is no longer in the current shop but well inside another (upstairs, next
    // door) starts that shop's entry at once, without waiting for the timeout to end this visit.
    const elsewhere = inShop ? null : confidentlyIn(track.shop ? shops.filter(z => z.id !== track.shop?.id) : shops, e, p, p.shopEnterMarginSigmas)
    const before = track.shopCand
    track.shopCand = candidate(track.shopCand, elsewhere, t, e)
    // Every fix while a shop entry is pending weighs in on it, also those that no longer look inside.
    const c = track.shopCand
    if (c && c !== before && elsewhere !== null && cameFromFloor(track, elsewhere.zone.floor, t, p)) c.viaFloor = true
    if (c && c.viaFloor !== true && e.radio && p.shopEnterOdds > 0 && radioTest()) {
      if (c !== before || !c.radio) {
        const { mean, sd } = e.radio.offsetPrior
        c.radio = { base: mean, mean, sd, overlap: e.radio.overlap, fixes: 0, inside: [], outside: [] }
      }
      const zone = shops.find(z => z.id === c.id) as Zone
      addCosts(c.radio, e.radio.costs(zone, c.radio.base))
      // Once the radio is sure, a fix inside the outline is evidence enough: a shopper in a corner
      // is seldom a margin away from two walls, and passers-by seldom reach such odds.
      const dep = c.lastEvidence < t ? depth(zone, e) : -Infinity
      if (dep >= 0 && radioOdds(c.radio, p.shopEnterSureOdds)) { c.lastEvidence = t; c.score += insideProbability(dep, e.accuracyM); c.n++ }
    }
    // Sector evidence gathers while the shop entry is still being confirmed, so a stay that
    // began at once is stamped from its real start.
    const shopId = track.shop?.id ?? track.shopCand?.id
    const sectors = shopId !== undefined ? site.sectors.filter(s => s.shop === shopId && s.id !== track.sector?.id) : []
    // From the aisle, a position inside a sector is evidence enough (shoppers stop in sectors, not
    // in aisles); leaving a sector straight for its neighbour needs a margin, or a position that
    // wanders across the gap for a few seconds would end a stay that goes on.
    track.sectorCand = candidate(track.sectorCand, confidentlyIn(sectors, e, p, track.sector ? p.switchMarginSigmas : p.enterMarginSigmas), t, e)
  }
  // 2. Timeouts: exits are stamped with the last supporting evidence.
  if (track.sector && t - track.sector.lastEvidence > p.sectorExitS * 1000) exitSector(track, track.sector.lastEvidence, out)
  // A visit held back that ends before it was told gets its test now, on the device's last fixes
  // (or, with no test left this tick, a tick later: the exit is stamped with its evidence anyway).
  if (track.shop && t - track.shop.lastEvidence > p.shopExitS * 1000) endVisit(track, t, shops, p, out, walkTest)
  // Candidates that lost their evidence are dropped.
  // A shop candidate the radio test weighs outlasts short gaps in its evidence (a shopper by the
  // front wall drifts in and out of the margin; the odds carry the decision); one judged by
  // position alone needs its evidence unbroken.
  if (track.shopCand && t - track.shopCand.lastEvidence > (track.shopCand.radio ? p.shopEnterGapS * 1000 : 2000)) track.shopCand = null
  if (track.sectorCand && t - track.sectorCand.lastEvidence > 2000) track.sectorCand = null
  // 3. Confirmed entries, stamped with when the evidence began.
  if (track.shopCand && track.shopCand.lastEvidence - track.shopCand.since >= p.shopEnterS * 1000 && radioSaysInside(track.shopCand, p)) {
    const c = track.shopCand
    // Moving on to another shop: this visit ends where its evidence did (one held back, and no
    // test left this tick, is announced: moves are rare, and the new visit will not wait).
    if (track.shop && !endVisit(track, t, shops, p, out, walkTest)) exitShop(track, out)
    track.shop = { id: c.id, enteredAt: c.since, lastEvidence: c.lastEvidence, leftBy: c.lastEvidence, score: c.score, n: c.n, visitId: newVisitId(c.id, c.since), sectors: {}, pending: true }
    track.shopCand = null
    const proved = provedVisit(track, c.since, shops.find(z => z.id === c.id)?.floor ?? 0, p, newVisitId)
    if (proved.length > 0) track.shop.proves = proved
    // Announced at once where there is no street-walk test to wait for, or the device came from
    // another floor. Even a radio sure of the entry is held: passers-by reach such odds too.
    if (p.shopHoldS <= 0 || e?.radio?.walkGap === undefined || c.viaFloor === true) announce(track, out)
  }
  if (track.shop && track.sectorCand && track.sectorCand.lastEvidence - track.sectorCand.since >= p.sectorEnterS * 1000 &&
      site.sectors.some(z => z.id === track.sectorCand?.id && z.shop === track.shop?.id)) {
    const c = track.sectorCand
    // Moving on to another sector: the old stay ends where its evidence did (never after the new one began).
    if (track.sector) exitSector(track, Math.min(track.sector.lastEvidence, c.since), out)
    track.sector = { id: c.id, enteredAt: Math.max(c.since, track.shop.enteredAt), lastEvidence: c.lastEvidence, score: c.score, n: c.n, dwellSent: 0 }
    track.sectorCand = null
    out.push({ type: 'sector.enter', ts: track.sector.enteredAt, shop: track.shop.id, sector: c.id, visitId: track.shop.visitId, confidence: conf(c.score, c.n) })
  }
  // 4. Dwell thresholds crossed by now.
  if (track.shop && track.sector) {
    const s = track.sector
    const stayed = Math.min(t, s.lastEvidence) - s.enteredAt
    while (s.dwellSent < p.dwellThresholdsS.length && stayed >= p.dwellThresholdsS[s.dwellSent] * 1000) {
      const th = p.dwellThresholdsS[s.dwellSent++] * 1000
      out.push({ type: 'sector.dwell', ts: s.enteredAt + th, shop: track.shop.id, sector: s.id, visitId: track.shop.visitId, dwellMs: th, thresholdMs: th, confidence: conf(s.score, s.n) })
    }
  }
  // A visit still held back keeps its own events (stays, dwell) until it is announced.
  const held = track.shop?.pending === true ? track.shop : null
  if (held === null) return out.sort((a, b) => a.ts - b.ts)
  const sent: ZoneEvent[] = []
  for (const ev of out) {
    if (ev.visitId === held.visitId) (held.held ??= []).push(ev)
    else sent.push(ev)
  }
  return sent.sort((a, b) => a.ts - b.ts)
}

const always = (): boolean => true

/**
 * A visit ends at most this long before its last fix inside the outline. Simulated leavers' fixes
 * linger on the front wall for 5-25 s after they left; a shopper who does stand there loses up to
 * this much of the visit (one department-store hour's visits, looked at offline: the earliest end
 * came 19 s before the shopper left, 35 s without the bound; the medians the same).
 */
const LINGER_MS = 10_000
/** Walking pace from a visit's last confident fix to the outline. */
const WALK_M_PER_S = 1
/**
 * Faster than this into the shop, a track has jumped, not walked. Over simulated leavers'
 * exits, 4-5 m/s took the hypermarket's median exit error 2 s closer and left the boutique's and
 * the department store's as they were; 3 m/s began to cut real walks short.
 */
const MAX_INWARD_M_PER_S = 4

/**
 * How deep into a shop the radio anchor (sensor or beacon) nearest the evidence stands. Between
 * the front row and the front wall a phone inside sounds much like one on the street, so a fix
 * there is confident only a margin inside; where the anchors stand at the walls, a fix deeper
 * than they are is confident at once.
 */
function anchorDepth (site: Site, z: Zone, e: Evidence): number {
  let anchors = ANCHORS.get(z)
  if (anchors === undefined) {
    anchors = [...site.sensors.values(), ...site.beacons.values()].filter(a => a.floor === z.floor && pointInPolygon(a.x, a.y, z))
      .map(a => ({ x: a.x, y: a.y, depth: distanceToBoundary(a.x, a.y, z.polygon) }))
    ANCHORS.set(z, anchors)
  }
  let best = Infinity; let nearest = Infinity
  for (const a of anchors) {
    const d = (a.x - e.x) ** 2 + (a.y - e.y) ** 2
    if (d < nearest) { nearest = d; best = a.depth }
  }
  return best
}
const ANCHORS = new WeakMap<Zone, Array<{ x: number, y: number, depth: number }>>()

/** Whether the candidate's radio makes inside at least `shopEnterOdds` times likelier than outside (no radio sum: yes). */
function radioSaysInside (c: Candidate, p: Required<ZoneParams>): boolean {
  if (c.viaFloor === true || !c.radio || c.radio.fixes === 0 || p.shopEnterOdds <= 0) return true
  return radioOdds(c.radio, p.shopEnterOdds)
}

function candidate (c: Candidate | null, hit: { zone: Zone, dep: number } | null, t: number, e: Evidence): Candidate | null {
  if (!hit) return c
  const p = insideProbability(hit.dep, e.accuracyM)
  if (c && c.id === hit.zone.id) { c.lastEvidence = t; c.score += p; c.n++; return c }
  return { id: hit.zone.id, since: t, lastEvidence: t, score: p, n: 1 }
}

function exitSector (track: ZoneTrack, ts: number, out: ZoneEvent[]): void {
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
function endVisit (track: ZoneTrack, t: number, shops: Zone[], p: Required<ZoneParams>, out: ZoneEvent[], walkTest: () => boolean): boolean {
  const sp = track.shop
  if (sp === null) return true
  if (sp.pending !== true || !hasWalkTest(sp)) exitShop(track, out)
  else if (!walkTest()) return false
  else if (heldVerdict(sp, shops.find(s => s.id === sp.id) as Zone, t, p, true) === 'drop') dropVisit(track)
  else exitShop(track, out)
  return true
}

/** A passer-by's held visit never was, nor its stays: its events were held back, and none goes out. */
function dropVisit (track: ZoneTrack): void {
  track.shop = null; track.sector = null; track.sectorCand = null
}

/** Announces a visit held back for the street-walk test: its shop.enter, stamped when it began, then what it held. */
function announce (track: ZoneTrack, out: ZoneEvent[]): void {
  const shop = track.shop
  if (shop?.pending !== true) return
  delete shop.pending
  // The runs this visit covers are visited: no change of floors makes another visit of them.
  for (const r of [track.run, track.prevRun]) if (r && r.id === shop.id && r.last >= shop.enteredAt) r.visited = true
  if (shop.proves) { out.push(...shop.proves); delete shop.proves }
  out.push({ type: 'shop.enter', ts: shop.enteredAt, shop: shop.id, visitId: shop.visitId, confidence: conf(shop.score, shop.n) })
  if (shop.held) { out.push(...shop.held); delete shop.held }
}

/**
 * Follows the device's runs inside shops (by its fix alone, no margin): a run goes on in the same
 * shop across gaps up to `shopEnterGapS`; one that begins on another floor keeps the last as `prevRun`.
 */
function followRun (track: ZoneTrack, e: Evidence, t: number, shops: Zone[], p: Required<ZoneParams>): void {
  let here: Zone | undefined
  let dep = -Infinity
  for (const z of shops) {
    const d = depth(z, e)
    if (d >= 0 && d > dep) { here = z; dep = d }
  }
  if (here === undefined) return
  let r = track.run
  const ip = insideProbability(dep, e.accuracyM)
  if (r && r.id === here.id && t - r.last <= p.shopEnterGapS * 1000) { r.last = t; r.score += ip; r.n++ } else {
    if (r && r.floor !== here.floor) track.prevRun = r
    r = track.run = { id: here.id, floor: here.floor, since: t, last: t, score: ip, n: 1, visited: false }
  }
  if (track.shop && track.shop.id === here.id && track.shop.pending !== true) r.visited = true
}

/**
 * Whether the device has just come from a visit on another floor than `floor` (its last fix there
 * at most `floorChangeS` ago): floors are reached through the building, not from the street.
 */
function cameFromFloor (track: ZoneTrack, floor: number, t: number, p: Required<ZoneParams>): boolean {
  const r = track.prevRun
  return p.floorChangeS > 0 && r !== undefined && r.visited && r.floor !== floor && t - r.last <= p.floorChangeS * 1000
}

/**
 * A visit on floor `floor` that began at `since` proves that the device's last run on another
 * floor, no visit yet and ended at most `floorChangeS` before, was one: it came up or down through
 * that shop, whatever the radio made of its walk there (along a wall, to the stairs). Its events,
 * stamped with the run, are returned (none if there is no such run).
 */
function provedVisit (track: ZoneTrack, since: number, floor: number, p: Required<ZoneParams>, newVisitId: (shop: string, enteredAt: number) => string): ZoneEvent[] {
  const r = track.prevRun
  if (p.floorChangeS <= 0 || r === undefined || r.visited || r.floor === floor || since - r.last > p.floorChangeS * 1000) return []
  r.visited = true
  const visitId = newVisitId(r.id, r.since)
  const left = Math.min(r.last, since)
  const durationMs = Math.max(0, left - r.since)
  const confidence = conf(r.score, r.n)
  return [
    { type: 'shop.enter', ts: r.since, shop: r.id, visitId, confidence },
    { type: 'shop.exit', ts: left, shop: r.id, visitId, durationMs, confidence },
    { type: 'visit.summary', ts: left, shop: r.id, visitId, durationMs, confidence, sectors: [] }
  ]
}

/** Closes the visit (and any open stay) at the last evidence; used by timeouts and by shutdown. */
export function exitShop (track: ZoneTrack, out: ZoneEvent[]): void {
  const shop = track.shop
  if (!shop) return
  // A visit still held back when it ends (or the gateway stops) is announced as it is.
  announce(track, out)
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
    type: 'visit.summary', ts: left, shop: shop.id, visitId: shop.visitId, durationMs, confidence: c,
    sectors: Object.entries(shop.sectors).map(([id, dwellMs]) => ({ id, dwellMs }))
  })
  track.shop = null
  track.sectorCand = null
}
