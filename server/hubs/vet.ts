// Vetting a gateway's trigger.fired before anything is stored or pushed: the campaign (exists,
// active, this store, dates, weekday, hours, place, audience), the subject (marketing consent)
// and the visit (one the server saw begin in that store, still open). Each refusal has its code,
// which the route counts.
import type { Q } from '../db/db.ts'
import { HOUR_MS, OPEN_FOR_AT_MOST_MS } from '../db/rollups.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import { scheduleRefusal, type Campaign } from '../../shared/campaigns.ts'
import { campaignById, deviceBySubject, type StoreFacts } from './push.ts'
import { BatchVisits, visitOf } from './visits.ts'

/** Why a trigger.fired is refused (the 4xx `error` code and the metric's reason). */
export const TRIGGER_REFUSALS = [
  'INSTORE_NO_CAMPAIGN',
  'INSTORE_CAMPAIGN_INACTIVE',
  'INSTORE_CAMPAIGN_OTHER_STORE',
  'INSTORE_CAMPAIGN_MISMATCH',
  'INSTORE_CAMPAIGN_OUT_OF_DATES',
  'INSTORE_CAMPAIGN_OFF_DAY',
  'INSTORE_CAMPAIGN_OUT_OF_HOURS',
  'INSTORE_CAMPAIGN_AUDIENCE',
  'INSTORE_NO_VISIT',
  'INSTORE_VISIT_UNKNOWN',
  'INSTORE_VISIT_CLOSED',
  'INSTORE_VISIT_STALE',
  'INSTORE_NO_MARKETING_CONSENT'
] as const
export type TriggerRefusal = (typeof TRIGGER_REFUSALS)[number]
export type TriggerVetting = { ok: true; campaign: Campaign } | { ok: false; code: TriggerRefusal; message: string }

/**
 * How late a trigger may arrive and still be judged by its event's time against the campaign's
 * days and hours: beyond it, the campaign must run at arrival too, so a back-dated or long-held
 * trigger cannot reach a phone outside the hours.
 */
export const SCHEDULE_LATE_MS = 5 * 60_000

/**
 * Whether a gateway of `storeId` may report this trigger: it names its visit, and its
 * campaign exists, is active, runs in this store on the event's date (the store's date), on this weekday and at
 * this hour (the store's time zone), fires where the event says, and its audience holds the
 * visit's segment; the visit is one of that subject in that store, open (see visits.ts).
 * `earlier`: the events of the same batch accepted before this one, in order, and `batch` the whole
 * batch as posted (an exit later in it still closes the visit for a trigger stamped after it); or,
 * from the events route, the batch's BatchVisits kept as it goes (built once per batch).
 */
export async function vetTrigger(
  db: Q,
  e: InstoreEvent,
  storeId: string,
  facts: StoreFacts,
  now: number,
  earlier: readonly InstoreEvent[] | BatchVisits = [],
  batch: readonly InstoreEvent[] = []
): Promise<TriggerVetting> {
  const id = e.campaignId
  let seen: BatchVisits
  if (earlier instanceof BatchVisits) seen = earlier
  else {
    seen = new BatchVisits(batch.length > 0 ? batch : earlier)
    for (const x of earlier) seen.accept(x)
  }
  const no = (code: TriggerRefusal, why: string): TriggerVetting => ({ ok: false, code, message: `event ${e.id}: ${why}` })
  // The gateway always names the visit: without it the per-visit cap could not be counted.
  if (e.visitId === undefined) return no('INSTORE_NO_VISIT', 'a trigger must name its visit')
  // Only a registered device with marketing consent may be triggered: anything else would be stored
  // and counted as fired in the funnel, although it is never pushed.
  if ((await seen.once(`device:${e.subject}`, () => deviceBySubject(db, e.subject)))?.marketing !== true)
    return no('INSTORE_NO_MARKETING_CONSENT', `${e.subject} has no marketing consent`)
  const c = id === undefined ? null : await seen.once(`campaign:${id}`, () => campaignById(db, id))
  if (!c) return no('INSTORE_NO_CAMPAIGN', `no campaign ${id ?? '(none given)'}`)
  if (c.active === false) return no('INSTORE_CAMPAIGN_INACTIVE', `campaign ${c.id} is not active`)
  if (!c.stores.includes(storeId)) return no('INSTORE_CAMPAIGN_OTHER_STORE', `campaign ${c.id} does not run in store ${storeId}`)
  // A rule that names a place fires only on an event in that place: omitting it is no way round.
  if ((c.when.sector !== undefined && e.sector !== c.when.sector) || (c.when.shop !== undefined && e.shop !== c.when.shop)) {
    return no('INSTORE_CAMPAIGN_MISMATCH', `campaign ${c.id} does not fire in ${e.sector ?? e.shop ?? '(no place)'}`)
  }
  // Dates, days and hours as the gateway judged them (the event's time, never later than now), and
  // at arrival too once the trigger is late: a trigger fired at 10:59 for a campaign ending at 11:00
  // still goes, and so does one fired at 23:59 on a campaign's last day that arrives after midnight.
  const fired = Math.min(e.ts, now)
  const off = scheduleRefusal(c, fired, facts.timeZone) ?? (now - fired > SCHEDULE_LATE_MS ? scheduleRefusal(c, now, facts.timeZone) : null)
  if (off === 'days') return no('INSTORE_CAMPAIGN_OFF_DAY', `campaign ${c.id} does not run on this weekday in ${facts.timeZone}`)
  if (off === 'hours') return no('INSTORE_CAMPAIGN_OUT_OF_HOURS', `campaign ${c.id} does not run at this hour in ${facts.timeZone}`)
  if (off === 'dates') return no('INSTORE_CAMPAIGN_OUT_OF_DATES', `campaign ${c.id} did not run on the trigger's date`)
  const visit = await visitOf(db, storeId, e.subject, e.visitId, e.ts, now, seen)
  if (visit.state === 'unknown') return no('INSTORE_VISIT_UNKNOWN', `no shop.enter of ${e.subject} for visit ${e.visitId} in store ${storeId}`)
  if (visit.state === 'closed') return no('INSTORE_VISIT_CLOSED', `visit ${e.visitId} has ended`)
  if (visit.state === 'stale') return no('INSTORE_VISIT_STALE', `visit ${e.visitId} began (or reached the server) more than ${OPEN_FOR_AT_MOST_MS / HOUR_MS} h ago`)
  const segments = c.audience?.segments
  if (segments !== undefined && (visit.segment === null || !segments.includes(visit.segment))) {
    return no('INSTORE_CAMPAIGN_AUDIENCE', `campaign ${c.id} is for ${segments.join(', ')}, the visit's segment is ${visit.segment ?? 'unknown'}`)
  }
  return { ok: true, campaign: c }
}
