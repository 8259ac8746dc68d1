// A tick's plan of shop-entry tests for the test pool (issue 28; test-pool.ts): the tick's zone
// steps run once ahead, on copies of the states and of the outside traffic map, with the costly
// tests answered by placeholders, and every shop-entry test they ask is listed with what it
// depends on. The pool works those out beside the main thread while the real steps run; a real
// step takes a planned answer only if it asks that very test on that very traffic map, and works
// anything else out itself, so the plan decides how fast a tick is, never what it produces.
//
// The outside traffic map is the one thing a step changes outside its own state, and every fix
// counts in it whatever a test answers (zones.ts `takeEvidence`), so the copy counts exactly what
// the real steps will, in the same order: a test asked after k counts sees the map the real test
// sees (checked again when it is taken).
import type { Site } from '../../shared/site.ts'
import type { ZoneParams } from '../../shared/site-schema.ts'
import { OFFSET_HALF } from '../estimation/zone-odds.ts'
import { lendTraffic, trafficOf } from '../estimation/outside-traffic.ts'
import { stepZones, newZoneState } from './zones.ts'
import type { EntryAsk, EntryPlan, Evidence, EvidenceSource, WalkAsk, ZoneState, ZoneTrack } from './zone-types.ts'

/** Whether a track's visit or stay has gone without evidence past its timeout by `t`. */
export function timedOut(track: ZoneTrack, t: number, p: Required<ZoneParams>): boolean {
  return (track.shop !== null && t - track.shop.lastEvidence > p.shopExitS * 1000) || (track.sector !== null && t - track.sector.lastEvidence > p.sectorExitS * 1000)
}

const STEPS = 2 * OFFSET_HALF + 1

/** What the plan needs of the presence engine: its states in its order, the site, the parameters and the tick's budgets. */
export interface PlanInput {
  states: Map<string, { state: ZoneState }>
  site: Site
  params: Required<ZoneParams>
  entryTests: number
  walkTests: number
}

/**
 * The shop-entry tests the tick at t is expected to ask, in the order the real steps would
 * (presence.ts `tick`: the states in their order, new subjects after them in the order heard).
 */
export function planEntryTests(input: PlanInput, t: number, fresh: Map<string, Evidence>, source: EvidenceSource): EntryPlan {
  const { site, params } = input
  const real = trafficOf(source)
  const copy = real.clone()
  const asks: EntryAsk[] = []
  const walks: WalkAsk[] = []
  const dry: EvidenceSource = {
    zoneCosts(radio, zone, base) {
      const g = copy.state(zone.id)
      asks.push({ radio, zone, base, logged: copy.log?.get(zone.id)?.length ?? 0, total: g?.total ?? 0, cells: g?.cells ?? 0 })
      // A placeholder that moves no odds.
      return { inside: new Array<number>(STEPS).fill(0), outside: new Array<number>(STEPS).fill(0) }
    },
    // A placeholder that announces: the plan only has to guess the entry tests well. The walk
    // test's inputs (the kept fixes, the zone, the sure gap) do not depend on any answer, so a
    // real step that asks it asks the very test listed.
    walkGaps(walk, zone, enough) {
      walks.push({ walk, zone, enough })
      return { line: Infinity, stop: Infinity }
    }
  }
  lendTraffic(dry, copy)
  const left = { radio: input.entryTests, walk: input.walkTests }
  const ctx = { site, params, newVisitId: () => '', source: dry }
  const step = (state: ZoneState, e: Evidence): void => {
    // Without radio no entry test is asked: the fix only counts in the traffic map.
    if (e.radio === undefined) {
      copy.count(site.shops, e.floor ?? 0, e.x, e.y)
      return
    }
    try {
      let s = state
      for (const x of timedOut(s.track, t, params) ? [null, e] : [e]) {
        const r = stepZones(s, x, t, { ...ctx, left: { ...left } })
        s = r.state
        left.radio -= r.spent.radio
        left.walk -= r.spent.walk
      }
    } catch {
      // The real step fails too, and is dealt with there.
    }
  }
  for (const [subject, tr] of input.states) {
    const e = fresh.get(subject)
    if (e !== undefined) step(tr.state, e)
  }
  for (const [subject, e] of fresh) if (!input.states.has(subject)) step(newZoneState(), e)
  return { asks, walks, traffic: real, log: copy.log ?? new Map() }
}
