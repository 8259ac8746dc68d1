// What the zone stage (zones.ts) works on: a device's zone state, the evidence a tick brings it,
// the events it makes, and the one interface through which it asks the estimation stage about
// evidence that stage handed out (`EvidenceSource`, injected by the pipeline). Plain data only:
// no closures into the tracker, nothing kept beside the state.
import type { Site, Zone } from '../../shared/site.ts'
import type { ZoneParams } from '../../shared/site-schema.ts'
import type { RadioSum, ZoneCosts } from '../estimation/zone-odds.ts'
import type { WalkFix, WalkGaps } from '../estimation/street-walk.ts'
import type { Observation, Silence } from '../estimation/solver.ts'
import type { Hold, Place } from './visit-hold.ts'
import type { OutsideTraffic } from '../estimation/outside-traffic.ts'

export interface Presence {
  id: string
  enteredAt: number
  lastEvidence: number
  score: number
  n: number
}
export interface ShopPresence extends Presence, Hold {
  visitId: string
  sectors: Record<string, number>
  segment?: string
  /**
   * When the visit ends if no fix is confidently inside again: the last one that was, plus the
   * time to walk from there to the outline (absent in states saved before it: the last evidence).
   */
  leftBy?: number
  /** The last fix's depth into the shop and when it came; whether the track has since jumped in faster than anyone walks. */
  depth?: number
  depthAt?: number
  jumped?: boolean
  /**
   * Confirmed but not announced yet: the visit waits `shopHoldS` after it began for the
   * street-walk test; its own events wait with it, in `held`.
   */
  pending?: boolean
  held?: ZoneEvent[]
  /** A visit held on the radio's weak odds (`weak`): its entry's radio sum, fed on until it reaches `shopEnterOdds`. */
  radio?: RadioSum
  /** Events of a visit on another floor that this one proves (`floorChangeS`): they go out when this one is announced, and not at all if it is dropped. */
  proves?: ZoneEvent[]
  /**
   * Where its first fix was placed and its latest fix within the exit margin, and the summed
   * accuracy of its fixes (m) and their count: the path the end of a visit the street-walk test
   * could not tell is judged by (visit-hold.ts `crossedFront`; absent in states saved before them).
   */
  from?: Place
  to?: Place
  accuracy?: { sum: number; n: number }
}
export interface SectorPresence extends Presence {
  dwellSent: number
}
export interface Candidate {
  id: string
  since: number
  lastEvidence: number
  score: number
  n: number
  /** Shop candidates: the radio's costs inside and outside, summed over the candidate's fixes (zone-odds.ts). */
  radio?: RadioSum
  /** A shop candidate of a device that has just come from a visit on another floor: no radio test, no hold. */
  viaFloor?: boolean
  /** Where the fix that opened it was placed, and its accuracy (m). */
  at?: Place
  atAccuracy?: number
}

/**
 * A run of a device's fixes inside one shop's outline (gaps up to `shopEnterGapS`), confirmed or
 * not: the evidence a change of floors turns into a visit.
 */
export interface Run {
  id: string
  floor: number
  since: number
  last: number
  score: number
  n: number /** a confirmed visit covers it */
  visited: boolean
}

/** A device's zone state as saved across restarts (store.ts keeps it as JSON). */
export interface ZoneTrack {
  shop: ShopPresence | null
  shopCand: Candidate | null
  sector: SectorPresence | null
  sectorCand: Candidate | null
  /** The device's current run inside a shop, and the last one on another floor (absent in states saved before them). */
  run?: Run
  prevRun?: Run
}

/**
 * The evidence the street-walk test of a held visit runs on: the device's kept fixes when it was
 * last heard, and which estimator kept them. A restart forgets it (the tracker forgets the fixes).
 */
export interface WalkEvidence {
  from: string
  fixes: readonly WalkFix[]
}

/** A device's zone state: what is saved, and what a restart forgets. */
export interface ZoneState {
  track: ZoneTrack
  /** The latest walk evidence of a visit held back for the street-walk test (null: none since it was held). */
  walk: WalkEvidence | null
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
  sectors?: Array<{ id: string; dwellMs: number }>
  confidence: number
}

export interface Evidence {
  x: number
  y: number
  accuracyM: number /** default 0 */
  floor?: number
  /** The radio behind the position, for the shop-entry test; without it an entry goes by position alone. */
  radio?: EvidenceRadio
}

/** What a fix heard and where the solver put the phone: the shop-entry radio test's input (zone-odds.ts). */
export interface RadioFix {
  obs: Observation[]
  silent: Silence[]
  x: number
  y: number
}

export interface EvidenceRadio {
  /** The estimator that made the fix (the pipeline's name for it): the source answers for it. */
  from: string
  fix: RadioFix
  /** The offset of a phone not known yet, dB: the site's typical one and the spread of phones. */
  offsetPrior: { mean: number; sd: number }
  /** Fixes each reading counts in (the RSSI windows overlap from one fix to the next). */
  overlap: number
  /**
   * The device's fixes of its last half minute, as kept for the street-walk test (street-walk.ts);
   * absent: no test, and a confirmed visit is announced at once.
   */
  walk?: readonly WalkFix[]
}

/**
 * What the zone stage asks the estimation stage about evidence it handed out (implemented by the
 * pipeline over its trackers). Both answers are worked out only when asked: they are the costly
 * part of a zone decision, and a tick's budget (`TestsLeft`) bounds how many it asks.
 */
export interface EvidenceSource {
  /** The fix's costs inside and outside `zone` for each offset of a grid around `base`, dB (zone-odds.ts). */
  zoneCosts(radio: EvidenceRadio, zone: Zone, base: number): ZoneCosts
  /** How much worse a passer-by's walk outside `zone` explains the kept fixes than walks anywhere (street-walk.ts; `enough`: a `stop` gap that already decides). */
  walkGaps(walk: WalkEvidence, zone: Zone, enough: number): WalkGaps
  /**
   * Given before a tick's steps when the source works tests out beside the main thread (the test
   * pool, test-pool.ts): the shop-entry tests the tick is expected to ask, in order. `zoneCosts`
   * then answers from the pool what was expected, and works out anything else itself.
   */
  prefetch?(plan: EntryPlan): void
  /** After a tick's steps: the tests expected but not asked are dropped. */
  settle?(): void
}

/** A shop-entry test a tick's plan expects (presence.ts runs the tick's zone steps once ahead on a copy of the traffic map). */
export interface EntryAsk {
  radio: EvidenceRadio
  zone: Zone
  base: number
  /** Cells the plan's copy of the traffic map had counted around the zone in this tick when the test was asked. */
  logged: number
  /** The zone's traffic sums then (a check that the tick counted as planned). */
  total: number
  cells: number
}

/** A street-walk test a tick's plan expects: the walk (its kept fixes by identity: the same array reaches the real step), the zone and the sure gap asked. */
export interface WalkAsk {
  walk: WalkEvidence
  zone: Zone
  enough: number
}

/** A tick's expected shop-entry tests, the traffic map before the tick, and the cells the tick counts, per zone, in order; and its street-walk tests. */
export interface EntryPlan {
  asks: EntryAsk[]
  walks?: WalkAsk[]
  traffic: OutsideTraffic
  log: Map<string, number[]>
}

/** Costly tests a step may still run: shop-entry radio tests and street-walk tests (counts, so replays stay deterministic). */
export interface TestsLeft {
  radio: number
  walk: number
}

/** What a step needs besides the state and the evidence. */
export interface ZoneContext {
  site: Site
  params: Required<ZoneParams>
  /** Names a visit (its shop, when it began) when one begins. */
  newVisitId: (shop: string, enteredAt: number) => string
  source: EvidenceSource
  /**
   * Tests left in this tick (default: no bound). A step refused a radio test weighs the fix by
   * position alone; one refused a street-walk test leaves the held visit waiting a tick.
   */
  left?: TestsLeft
}

/** A step's result: the new state, the events in time order, and the tests it ran. */
export interface ZoneStep {
  state: ZoneState
  events: ZoneEvent[]
  spent: TestsLeft
}
