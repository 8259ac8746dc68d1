// The visit a trigger.fired names, as the server itself has seen it: a trigger reaches a phone only
// while its subject is inside that store, so the visit must have begun with a shop.enter of the
// same subject posted by that store's gateway (stored earlier, or earlier in the same batch) and
// must not have ended. Its audience segment is the one that shop.enter carried (contract §5: the
// gateway counts a subject's earlier visits with thresholds the server does not hold), fixed when
// the visit began, so a gateway cannot pick another segment at trigger time.
import type { Q } from '../db/db.ts'
import type { FrequencyT, InstoreEvent } from '../../shared/events.ts'

export type Segment = FrequencyT['segment']
export type VisitState = { state: 'unknown' } | { state: 'closed' } | { state: 'open'; segment: Segment | null }

/**
 * How long after a visit's exit a trigger the exit itself caused (a shop.exit rule, a sector left
 * on the way out) may still arrive: the gateway sends it right behind the exit, in the same batch.
 */
export const EXIT_GRACE_MS = 5 * 60_000
/** How many of a subject's entries (or exits) at a store are read to find one visit: the newest come first. */
const LOOKBACK = 50

type Seen = { ts: number; visitId?: string; frequency?: { segment?: Segment } }

const parse = (body: string): Seen | null => {
  try {
    return JSON.parse(body) as Seen
  } catch {
    return null
  }
}

/** The subject's shop.enter or shop.exit of that visit at that store, as stored; null when none. */
async function stored(
  q: Q,
  storeId: string,
  subject: string,
  visitId: string,
  type: 'shop.enter' | 'shop.exit',
  ts: { eq?: number; max?: number; min?: number }
): Promise<Seen | null> {
  let qb = q.selectFrom('events').select(['ts', 'body']).where('store_id', '=', storeId).where('subject', '=', subject).where('type', '=', type)
  if (ts.eq !== undefined) qb = qb.where('ts', '=', ts.eq)
  if (ts.max !== undefined) qb = qb.where('ts', '<=', Math.ceil(ts.max))
  if (ts.min !== undefined) qb = qb.where('ts', '>=', Math.floor(ts.min))
  const rows = await qb
    .orderBy('ts', type === 'shop.enter' ? 'desc' : 'asc')
    .limit(LOOKBACK)
    .execute()
  for (const r of rows) {
    const b = parse(r.body)
    if (b?.visitId === visitId) return { ...b, ts: Number(r.ts) }
  }
  return null
}

/**
 * Whether `subject`'s visit `visitId` at `storeId` is open for a trigger fired at `at`: entered
 * at or before it and not exited (or exited at or after it, within EXIT_GRACE_MS of `now`).
 * `earlier` are the events of the same batch accepted before the trigger, in their order; `batch`
 * the whole batch, whose exits count wherever they stand: a trigger stamped after its visit's exit
 * is refused even when the exit comes later in the batch. The visit's first entry fixes its
 * segment: the stored one, else the batch's first; an entry after its exit re-opens nothing.
 */
export async function visitOf(
  q: Q,
  storeId: string,
  subject: string,
  visitId: string,
  at: number,
  now: number,
  earlier: readonly InstoreEvent[],
  batch: readonly InstoreEvent[] = []
): Promise<VisitState> {
  const mine = (e: InstoreEvent) => e.subject === subject && e.visitId === visitId && e.storeId === storeId
  let exit: Seen | null = earlier.find(e => mine(e) && e.type === 'shop.exit') ?? null
  // The open-visits rollup says whether the visit has ended, and keeps its first entry's time.
  const open = await q.selectFrom('an_open_visits').select('ts').where('store_id', '=', storeId).where('visit_id', '=', visitId).executeTakeFirst()
  let enter: Seen | null = open !== undefined ? await stored(q, storeId, subject, visitId, 'shop.enter', { eq: Number(open.ts) }) : null
  if (enter === null && open === undefined) {
    enter = await stored(q, storeId, subject, visitId, 'shop.enter', { max: at })
    // Stored yet not open: closed, by its exit or without one (consent withdrawn, cut off after hours).
    if (enter !== null && exit === null) exit = (await stored(q, storeId, subject, visitId, 'shop.exit', { min: enter.ts })) ?? { ts: Number.NEGATIVE_INFINITY }
  }
  enter ??= earlier.find(e => mine(e) && e.type === 'shop.enter') ?? null
  if (enter === null || enter.ts > at) return { state: 'unknown' }
  if (exit !== null && !(exit.ts >= Math.floor(at) && now - exit.ts <= EXIT_GRACE_MS)) return { state: 'closed' }
  // An exit later in the batch: the trigger went before it in the batch, but not in time.
  const later = batch.find(e => mine(e) && e.type === 'shop.exit')
  if (later !== undefined && later.ts < Math.floor(at)) return { state: 'closed' }
  return { state: 'open', segment: enter.frequency?.segment ?? null }
}
