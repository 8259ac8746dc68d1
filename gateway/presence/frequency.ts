// Visit frequency and segment for shop.enter (contract §5).
import type { FrequencyT } from '../../shared/events.ts'
import type { VisitHistory } from '../io/store.ts'

export interface SegmentRules {
  /** `regular`: at least this many earlier visits within 30 days (default 4). */
  regularVisits30d: number
  /** `lapsed`: no earlier visit within this many days (default 90). */
  lapsedDays: number
}

export const defaultSegmentRules: SegmentRules = { regularVisits30d: 4, lapsedDays: 90 }

const DAY = 86_400_000

export function frequency(h: VisitHistory, enterTs: number, rules: SegmentRules = defaultSegmentRules): FrequencyT {
  const days = h.lastEnter === null ? null : Math.floor((enterTs - h.lastEnter) / DAY)
  let segment: FrequencyT['segment']
  if (h.lastEnter === null) segment = 'first'
  else if (days !== null && days >= rules.lapsedDays) segment = 'lapsed'
  else if (h.visits30d >= rules.regularVisits30d) segment = 'regular'
  else segment = 'returning'
  return { visits7d: h.visits7d, visits30d: h.visits30d, visits90d: h.visits90d, daysSinceLastVisit: days, segment }
}
