// The visit a trigger.fired names, as the server itself has seen it: a trigger reaches a phone only
// while its subject is inside that store, so the visit must have begun with a shop.enter of the
// same subject posted by that store's gateway (stored earlier, or earlier in the same batch), not
// long ago, and must not have ended. Its audience segment is the one that shop.enter carried
// (contract §5: the gateway counts a subject's earlier visits with thresholds the server does not
// hold), fixed when the visit began, so a gateway cannot pick another segment at trigger time.
// Everything is read from the visits row (db/rollups.ts keeps it): one key read per trigger, never
// a stored body parsed, so a gateway cannot make vetting slow by storing many or large entries.
import type { Q } from '../db/db.ts'
import { OPEN_FOR_AT_MOST_MS } from '../db/rollups.ts'
import type { FrequencyT, InstoreEvent } from '../../shared/events.ts'

export type Segment = FrequencyT['segment']
export type VisitState = { state: 'unknown' } | { state: 'closed' } | { state: 'stale' } | { state: 'open'; segment: Segment | null }

/**
 * How long after a visit's exit a trigger the exit itself caused (a shop.exit rule, a sector left
 * on the way out) may still arrive: the gateway sends it right behind the exit, in the same batch.
 */
export const EXIT_GRACE_MS = 5 * 60_000

type Seen = { ts: number; received: number; segment: Segment | null }

/**
 * The batch's events by visit, built once per batch: each trigger then finds its visit's entry
 * and exits without scanning the batch. It also keeps what vetting read once for the batch (a
 * device's consent, a campaign), so that a batch's cost grows with its distinct subjects and
 * campaigns, not with its triggers.
 */
export class BatchVisits {
  private readonly memo = new Map<string, Promise<unknown>>()
  private readonly entries = new Map<string, InstoreEvent>()
  private readonly exits = new Map<string, InstoreEvent[]>()
  private readonly accepted = new Set<InstoreEvent>()

  constructor(batch: readonly InstoreEvent[]) {
    for (const e of batch) if (e.type === 'shop.exit' && e.visitId !== undefined) this.list(this.exits, e).push(e)
  }

  /** An event of the batch was accepted (stored or to be stored), in batch order. */
  accept(e: InstoreEvent): void {
    if (e.visitId === undefined) return
    this.accepted.add(e)
    if (e.type === 'shop.enter' && !this.entries.has(BatchVisits.key(e))) this.entries.set(BatchVisits.key(e), e)
  }

  /** `load()`'s answer for `key`, read once per batch. */
  once<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.memo.get(key)
    if (hit !== undefined) return hit as Promise<T>
    const p = load()
    this.memo.set(key, p)
    return p
  }

  entry(storeId: string, subject: string, visitId: string): InstoreEvent | undefined {
    return this.entries.get(BatchVisits.key({ storeId, subject, visitId }))
  }

  /** The first accepted exit (`accepted`) or any exit of the batch, wherever it stands. */
  exit(storeId: string, subject: string, visitId: string, accepted: boolean): InstoreEvent | undefined {
    const all = this.exits.get(BatchVisits.key({ storeId, subject, visitId })) ?? []
    return accepted ? all.find(e => this.accepted.has(e)) : all[0]
  }

  private static key(e: { storeId: string; subject: string; visitId?: string }): string {
    return JSON.stringify([e.storeId, e.subject, e.visitId])
  }

  private list(m: Map<string, InstoreEvent[]>, e: InstoreEvent): InstoreEvent[] {
    const k = BatchVisits.key(e)
    return m.get(k) ?? (m.set(k, []).get(k) as InstoreEvent[])
  }
}

/**
 * Whether `subject`'s visit `visitId` at `storeId` is open for a trigger fired at `at`: entered
 * at or before it, and not exited (or exited at or after it, within EXIT_GRACE_MS of `now`); and
 * begun, by its entry's time and by when the server received it, no more than
 * OPEN_FOR_AT_MOST_MS before `now` (analytics takes such a visit as a missed exit, and so does
 * vetting: a gateway cannot keep a visit open for days, nor forge one back-dated). `batch` holds
 * the batch's events accepted before the trigger and all its exits: one later in the batch still
 * closes the visit for a trigger stamped after it. The visit's first entry fixes its segment: the
 * stored one, else the batch's first; an entry after its exit re-opens nothing.
 */
export async function visitOf(q: Q, storeId: string, subject: string, visitId: string, at: number, now: number, batch: BatchVisits): Promise<VisitState> {
  const row = await q
    .selectFrom('visits')
    .select(['enter_ts', 'received', 'segment', 'exit_ts'])
    .where('store_id', '=', storeId)
    .where('subject', '=', subject)
    .where('visit_id', '=', visitId)
    .executeTakeFirst()
  const mine = batch.entry(storeId, subject, visitId)
  let enter: Seen | null =
    row?.enter_ts != null
      ? { ts: Number(row.enter_ts), received: Number(row.received), segment: (row.segment as Segment | null) ?? null }
      : mine !== undefined
        ? { ts: mine.ts, received: now, segment: mine.frequency?.segment ?? null }
        : null
  const exitTs = row?.exit_ts != null ? Number(row.exit_ts) : batch.exit(storeId, subject, visitId, true)?.ts
  if (enter !== null && enter.ts > at) enter = null
  if (enter === null) return { state: 'unknown' }
  // Stored, not exited, yet no longer open: closed without an exit (presence consent withdrawn).
  if (row?.enter_ts != null && row.exit_ts == null) {
    const open = await q.selectFrom('an_open_visits').select('ts').where('store_id', '=', storeId).where('visit_id', '=', visitId).executeTakeFirst()
    if (open === undefined && now - enter.ts <= OPEN_FOR_AT_MOST_MS) return { state: 'closed' }
  }
  if (exitTs !== undefined && !(exitTs >= Math.floor(at) && now - exitTs <= EXIT_GRACE_MS)) return { state: 'closed' }
  // An exit later in the batch: the trigger went before it in the batch, but not in time.
  const later = batch.exit(storeId, subject, visitId, false)
  if (later !== undefined && later.ts < Math.floor(at)) return { state: 'closed' }
  if (now - enter.ts > OPEN_FOR_AT_MOST_MS || now - enter.received > OPEN_FOR_AT_MOST_MS) return { state: 'stale' }
  return { state: 'open', segment: enter.segment }
}
