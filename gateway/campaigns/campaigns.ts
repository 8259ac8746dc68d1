// "In-store now" campaigns at the edge: each event is matched against the rules; a match fires a
// trigger.fired event unless schedule, audience, consent or cap suppress it (each counted).
import type { Campaign } from '../../shared/campaigns.ts'
import type { InstoreEvent, FrequencyT } from '../../shared/events.ts'
import type { GatewayStore } from '../io/store.ts'
import { localTime } from '../../shared/local-time.ts'

export type SuppressReason = 'schedule' | 'audience' | 'consent' | 'cap'
export const SUPPRESS_REASONS: SuppressReason[] = ['schedule', 'audience', 'consent', 'cap']

export interface TriggerDecision {
  campaign: Campaign
  reason: string
}

/**
 * Consent: true/false when the central registry says so; null when unknown (standalone), where
 * only app-issued ids (`app:`), whose owners opted in through the app, may be triggered.
 */
export type ConsentLookup = (subject: string) => boolean | null

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))

export function inSchedule(c: Campaign, ts: number, timeZone: string): boolean {
  const s = c.schedule
  if (!s) return true
  const l = localTime(ts, timeZone)
  if (s.from && l.date < s.from) return false
  if (s.to && l.date > s.to) return false
  if (s.days && !s.days.includes(l.weekday as 'mon')) return false
  if (s.hours && !s.hours.some(([a, b]) => l.minutes >= toMinutes(a) && l.minutes < toMinutes(b))) return false
  return true
}

function matches(c: Campaign, e: InstoreEvent, storeId: string): boolean {
  if (c.active === false || !c.stores.includes(storeId)) return false
  if (c.when.event !== e.type) return false
  if (c.when.shop && c.when.shop !== e.shop) return false
  if (c.when.sector && c.when.sector !== e.sector) return false
  // A dwell rule fires on the dwell event of exactly its threshold (thresholds include every rule's).
  if (e.type === 'sector.dwell' && c.when.minDwellS !== undefined && e.thresholdMs !== c.when.minDwellS * 1000) return false
  return true
}

export class CampaignEngine {
  private campaigns: Campaign[] = []
  readonly suppressed: Record<SuppressReason, number> = { schedule: 0, audience: 0, consent: 0, cap: 0 }
  fired = 0

  constructor(
    private readonly storeId: string,
    private readonly timeZone: string,
    private readonly store: GatewayStore,
    private consent: ConsentLookup = () => null
  ) {}

  setCampaigns(list: Campaign[]): void {
    this.campaigns = list
  }
  setConsent(lookup: ConsentLookup): void {
    this.consent = lookup
  }
  get list(): Campaign[] {
    return this.campaigns
  }

  /** Dwell thresholds the zone engine must report for the rules to be exact, seconds. */
  dwellThresholdsS(): number[] {
    return this.campaigns.flatMap(c => (c.when.event === 'sector.dwell' && c.when.minDwellS !== undefined ? [c.when.minDwellS] : []))
  }

  /** Decides which campaigns fire for an event; updates caps. Call inside the event transaction. */
  evaluate(e: InstoreEvent, segment: FrequencyT['segment'] | null): TriggerDecision[] {
    const out: TriggerDecision[] = []
    for (const c of this.campaigns) {
      if (!matches(c, e, this.storeId)) continue
      const reason = this.suppression(c, e, segment)
      if (reason) {
        this.suppressed[reason]++
        continue
      }
      const cap = this.store.cap(c.id, e.subject)
      const sameVisit = cap !== null && cap.visitId === (e.visitId ?? null)
      this.store.setCap(c.id, e.subject, e.ts, e.visitId ?? '', sameVisit ? (cap?.visitCount ?? 0) + 1 : 1)
      this.fired++
      out.push({ campaign: c, reason: describe(c, segment) })
    }
    return out
  }

  private suppression(c: Campaign, e: InstoreEvent, segment: FrequencyT['segment'] | null): SuppressReason | null {
    if (!inSchedule(c, e.ts, this.timeZone)) return 'schedule'
    const segs = c.audience?.segments
    if (segs && (segment === null || !segs.includes(segment))) return 'audience'
    const consent = this.consent(e.subject)
    if (consent === false || (consent === null && !e.subject.startsWith('app:'))) return 'consent'
    const cap = this.store.cap(c.id, e.subject)
    if (cap) {
      if (c.cap?.cooldownS !== undefined && e.ts - cap.lastTs < c.cap.cooldownS * 1000) return 'cap'
      if (c.cap?.perVisit !== undefined && cap.visitId === (e.visitId ?? null) && cap.visitCount >= c.cap.perVisit) return 'cap'
    }
    return null
  }
}

function describe(c: Campaign, segment: string | null): string {
  const w = c.when
  const where = w.sector ?? w.shop ?? 'store'
  const dwell = w.minDwellS !== undefined ? ` ≥ ${w.minDwellS} s` : ''
  return `${w.event} ${where}${dwell}${c.audience?.segments ? `, segment ${segment ?? '?'}` : ''}`
}
