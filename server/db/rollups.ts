// Analytics rollups, kept in code as events and acknowledgements are stored (storeEvents,
// storeAck), in the same transaction, so that no analytics query ever scans events or parses
// their JSON. The same statements run on SQLite and PostgreSQL. Open visits and open sector stays
// are small tables (a row while someone is inside); everything else is a count per store and key
// in an_counts, kept three times: for all time (res 't', at 0), per day (res 'd', at = days since
// the epoch) and per hour (res 'h', at = hours since the epoch), so that any `since` is answered
// from whole days plus the hours of one day. Counts hold no device id: erasing a device removes
// its events and its open rows, and leaves the anonymous counts; withdrawing presence consent
// closes its open rows (the gateway drops the visit without an exit).
//   metric  k1                 k2
//   enter   frequency segment  0                      shop.enter
//   dur     ''                 log-1.05 bucket of ms  shop.exit with durationMs
//   dwell   sector             DWELL_BUCKETS_S index  sector.exit with dwellMs
//   fc, fs  campaign, sector   FUNNEL_STEPS index     trigger.fired (0) and its acks (1-4)
import { sql } from 'kysely'
import type { Q, Tables } from './schema.ts'

export const DWELL_BUCKETS_S = [30, 60, 120, 300, 600, 1800]
export const FUNNEL_STEPS = ['fired', 'delivered', 'opened', 'dismissed', 'converted'] as const
/** Durations are counted in buckets 5% wide: the median visit duration is exact to within that. */
export const DURATION_STEP = 1.05
export const HOUR_MS = 3_600_000

export type EventRow = Tables['events']
type Body = Record<string, unknown>
type Count = { store_id: string; metric: string; k1: string; k2: number }

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const parse = (body: string): Body => {
  try {
    const b = JSON.parse(body) as unknown
    return typeof b === 'object' && b !== null ? (b as Body) : {}
  } catch {
    return {}
  }
}
const dwellBucket = (ms: number) => {
  const i = DWELL_BUCKETS_S.findIndex(b => ms < b * 1000)
  return i < 0 ? DWELL_BUCKETS_S.length : i
}
const stepOf = (status: string) => {
  const i = (FUNNEL_STEPS as readonly string[]).indexOf(status)
  return i < 0 ? FUNNEL_STEPS.length : i
}
/** The key of a sector stay: its visit, or for a gateway that names none, its subject. */
const stayKey = (e: EventRow, b: Body) => str(b.visitId) ?? e.subject

/**
 * Counts gathered over a batch (or a whole transaction), then written in key order: two
 * transactions bumping the same counters lock their rows in one order, so neither can hold one
 * the other needs while waiting for one it holds (a deadlock on PostgreSQL).
 */
export class Counts {
  private readonly m = new Map<string, Tables['an_counts']>()
  add(c: Count, ts: number): void {
    const hour = Math.floor(ts / HOUR_MS)
    for (const [res, at] of [
      ['t', 0],
      ['d', Math.floor(hour / 24)],
      ['h', hour]
    ] as const) {
      const key = JSON.stringify([c.store_id, c.metric, res, at, c.k1, c.k2])
      const row = this.m.get(key)
      if (row) row.n++
      else this.m.set(key, { ...c, res, at, n: 1 })
    }
  }

  async write(q: Q): Promise<void> {
    const rows = [...this.m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r)
    this.m.clear()
    // A few hundred rows per statement keeps under either engine's limit on bound parameters.
    for (let i = 0; i < rows.length; i += 200) {
      await q
        .insertInto('an_counts')
        .values(rows.slice(i, i + 200))
        .onConflict(oc => oc.columns(['store_id', 'metric', 'res', 'at', 'k1', 'k2']).doUpdateSet({ n: sql<number>`an_counts.n + excluded.n` }))
        .execute()
    }
  }
}

/** A visit or stay still open after this long (ms) is taken as a missed exit, not as presence: by analytics and by trigger vetting alike. */
export const OPEN_FOR_AT_MOST_MS = 6 * HOUR_MS

const segmentOf = (b: Body): string | null => {
  const f = b.frequency
  return (typeof f === 'object' && f !== null ? str((f as Body).segment) : undefined) ?? null
}

/**
 * Keeps the visits row of a stored shop.enter or shop.exit (one key write, in any order of
 * arrival): the first entry fixes the entry's time, arrival and segment, the first exit its time.
 * `first`: this is the visit's first entry (or first exit), the only one the counts take, so a
 * visit is counted once whatever entries and exits of it arrive under other event ids, also after
 * retention dropped its row (dropped_visit_ids keeps which halves were counted). `opens`
 * (a shop.enter): it opens the visit: the first entry, and only before any exit. A visit closed
 * without an exit (presence withdrawn, erasure, the stale cut-off) has lost its open row but keeps
 * its entry here: a later entry with the same visit id, under a new event id, re-opens nothing.
 */
async function noteVisit(q: Q, e: EventRow, b: Body, visitId: string): Promise<{ first: boolean; opens: boolean }> {
  const key = { store_id: e.store_id, subject: e.subject, visit_id: visitId }
  // A visit whose row retention dropped: the half it had counted counts nothing again; the other
  // (an exit held in a gateway's outbox past the retention) is its first, once. It opens nothing:
  // the row had an exit, or this is one.
  const half = e.type === 'shop.enter' ? 'entered' : 'exited'
  const dropped = await q.selectFrom('dropped_visit_ids').select(half).where('store_id', '=', e.store_id).where('visit_id', '=', visitId).executeTakeFirst()
  if (dropped !== undefined) {
    const r = await q
      .updateTable('dropped_visit_ids')
      .set({ [half]: 1, ts: sql<number>`case when ts < ${e.ts} then ${e.ts} else ts end` })
      .where('store_id', '=', e.store_id)
      .where('visit_id', '=', visitId)
      .where(half, '=', 0)
      .executeTakeFirst()
    return { first: Number(r.numUpdatedRows) > 0, opens: false }
  }
  if (e.type === 'shop.enter') {
    // RETURNING names the row only when this entry inserted it or gave it its entry (both engines).
    const first = await q
      .insertInto('visits')
      .values({ ...key, enter_ts: e.ts, received: e.received, segment: segmentOf(b), exit_ts: null })
      .onConflict(oc =>
        oc
          .columns(['store_id', 'subject', 'visit_id'])
          .doUpdateSet({ enter_ts: e.ts, received: e.received, segment: segmentOf(b) })
          .where('visits.enter_ts', 'is', null)
      )
      .returning('exit_ts')
      .executeTakeFirst()
    return { first: first !== undefined, opens: first !== undefined && first.exit_ts == null }
  }
  const first = await q
    .insertInto('visits')
    .values({ ...key, enter_ts: null, received: e.received, segment: null, exit_ts: e.ts })
    .onConflict(oc => oc.columns(['store_id', 'subject', 'visit_id']).doUpdateSet({ exit_ts: e.ts }).where('visits.exit_ts', 'is', null))
    .returning('visit_id')
    .executeTakeFirst()
  return { first: first !== undefined, opens: false }
}

/** What one stored event changes in the open rows, and which counts it bumps (storeEvents; replayRollups in rollups-replay.ts). */
export async function applyEvent(q: Q, e: EventRow, counts: Counts, visits = true): Promise<void> {
  const b = parse(e.body)
  const count = (metric: string, k1: string, k2: number) => counts.add({ store_id: e.store_id, metric, k1, k2 }, e.ts)
  switch (e.type) {
    case 'shop.enter': {
      // (The subject column only from migration 011 on: not while migration 002 replays.)
      const row = { store_id: e.store_id, visit_id: str(b.visitId) ?? e.id, shop: str(b.shop) ?? '', ts: e.ts, ...(visits ? { subject: e.subject } : {}) }
      // The first entry of a visit fixes it (its time names the entry whose segment the audience
      // is judged on): a second entry changes nothing, and one stored after its visit's exit, or
      // arriving after it, or after the visit was closed otherwise, does not re-open it.
      // (`visits` false: migration 002 replaying events before the visits table exists, in time order.)
      const seen = visits ? await noteVisit(q, e, b, row.visit_id) : { first: true, opens: true }
      if (seen.opens)
        await q
          .insertInto('an_open_visits')
          .values(row)
          .onConflict(oc => oc.doNothing())
          .execute()
      if (seen.first) count('enter', segmentOf(b) ?? 'unknown', 0)
      return
    }
    case 'shop.exit': {
      const visit = str(b.visitId)
      // Without a visit id there is nothing to tell a second exit by: it is counted.
      const first = visit === undefined || !visits || (await noteVisit(q, e, b, visit)).first
      if (visit !== undefined) await q.deleteFrom('an_open_visits').where('store_id', '=', e.store_id).where('visit_id', '=', visit).execute()
      const d = num(b.durationMs)
      if (d !== undefined && first) count('dur', '', Math.round(Math.log(Math.max(d, 1)) / Math.log(DURATION_STEP)))
      return
    }
    case 'sector.enter': {
      const row = { store_id: e.store_id, visit_id: stayKey(e, b), sector: str(b.sector) ?? '', ts: e.ts, ...(visits ? { subject: e.subject } : {}) }
      await q
        .insertInto('an_open_stays')
        .values(row)
        .onConflict(oc => oc.columns(['store_id', 'visit_id', 'sector']).doUpdateSet({ ts: row.ts, ...(visits ? { subject: e.subject } : {}) }))
        .execute()
      return
    }
    case 'sector.exit': {
      const sector = str(b.sector) ?? ''
      await q.deleteFrom('an_open_stays').where('store_id', '=', e.store_id).where('visit_id', '=', stayKey(e, b)).where('sector', '=', sector).execute()
      const d = num(b.dwellMs)
      if (d !== undefined) count('dwell', sector, dwellBucket(d))
      return
    }
    case 'trigger.fired':
      // Stored but never pushed (routes/gateway.ts): it was not fired at anyone.
      if (b.dropped !== undefined) return
      count('fc', str(b.campaignId) ?? '', 0)
      count('fs', str(b.sector) ?? '', 0)
  }
}

/**
 * Stores events (a duplicate of a stored store and id is skipped) and keeps the rollups; returns
 * the ids stored. Called inside the caller's transaction. With `counts` given, the counters are
 * gathered there and the caller writes them once, at the end of its transaction.
 */
export async function storeEvents(q: Q, rows: EventRow[], shared?: Counts): Promise<Set<string>> {
  const stored = new Set<string>()
  const counts = shared ?? new Counts()
  // Event times may carry fractions of a ms (the schema admits any number): the column holds whole ms on both engines.
  const whole = rows.map(r => ({ ...r, ts: Math.floor(r.ts), received: Math.floor(r.received) }))
  // One statement per few hundred rows; RETURNING names the rows inserted (not the duplicates) on both engines.
  const fresh = new Set<string>()
  for (let i = 0; i < whole.length; i += 400) {
    const r = await q
      .insertInto('events')
      .values(whole.slice(i, i + 400))
      // No target: SQLite's key is (store, id), PostgreSQL's partitioned one (store, id, ts) (partitions.ts).
      .onConflict(oc => oc.doNothing())
      .returning(['store_id', 'id'])
      .execute()
    for (const x of r) fresh.add(JSON.stringify([x.store_id, x.id]))
  }
  for (const e of whole) {
    const key = JSON.stringify([e.store_id, e.id])
    // A row given twice in one call is counted once.
    if (!fresh.delete(key)) continue
    stored.add(e.id)
    await applyEvent(q, e, counts)
  }
  if (!shared) await counts.write(q)
  return stored
}

/**
 * Stores an acknowledgement (once per trigger and status) and counts it in its trigger's funnel;
 * whether it was new. `key` is the trigger's key (triggers.trigger_id); `fired` names its
 * trigger.fired event by store and id. Without it (acks replayed by migration 002, from before
 * per-store trigger keys) the key is the event id, looked up in every store.
 */
export async function storeAck(q: Q, key: string, status: string, ts: number, fired?: { storeId: string; eventId: string }): Promise<boolean> {
  const r = await q
    .insertInto('acks')
    .values({ trigger_id: key, status, ts })
    .onConflict(oc => oc.columns(['trigger_id', 'status']).doNothing())
    .executeTakeFirst()
  if (Number(r.numInsertedOrUpdatedRows ?? 0) === 0) return false
  const counts = new Counts()
  const events = await q
    .selectFrom('events')
    .select(['store_id', 'ts', 'body'])
    .where('id', '=', fired?.eventId ?? key)
    .$if(fired !== undefined, qb => qb.where('store_id', '=', fired?.storeId ?? ''))
    .where('type', '=', 'trigger.fired')
    .execute()
  for (const e of events) {
    const b = parse(e.body)
    counts.add({ store_id: e.store_id, metric: 'fc', k1: str(b.campaignId) ?? '', k2: stepOf(status) }, e.ts)
    counts.add({ store_id: e.store_id, metric: 'fs', k1: str(b.sector) ?? '', k2: stepOf(status) }, e.ts)
  }
  await counts.write(q)
  return true
}

/**
 * Fills the visits table from stored entries and exits (migration 009, once) and closes the open
 * visits whose exit is stored. The same rows as storing each event in time order: per store, all
 * entries in (ts, id) order, then all exits, each page in a few set-based statements, the first
 * of a visit kept (within a page in memory, across pages by the upsert's condition). Keyset pages
 * on the (store, type, ts) index: each page costs the same however far the backfill has gone.
 */
export async function replayVisits(q: Q, page = 2000): Promise<void> {
  const stores = (await q.selectFrom('events').select('store_id').distinct().execute()).map(r => r.store_id)
  for (const store of stores) {
    for (const type of ['shop.enter', 'shop.exit'] as const) {
      let after: { ts: number; id: string } | null = null
      for (;;) {
        const from: { ts: number; id: string } | null = after
        const rows: Array<Pick<EventRow, 'id' | 'subject' | 'ts' | 'body' | 'received'>> = await q
          .selectFrom('events')
          .select(['id', 'subject', 'ts', 'body', 'received'])
          .where('store_id', '=', store)
          .where('type', '=', type)
          .$if(from !== null, qb => qb.where(eb => eb.or([eb('ts', '>', from?.ts ?? 0), eb.and([eb('ts', '=', from?.ts ?? 0), eb('id', '>', from?.id ?? '')])])))
          .orderBy('ts')
          .orderBy('id')
          .limit(page)
          .execute()
        if (rows.length === 0) break
        const last = rows[rows.length - 1]
        after = { ts: Number(last.ts), id: last.id }
        const first = new Map<string, Tables['visits']>()
        for (const e of rows) {
          const b = parse(e.body)
          const visit_id = str(b.visitId) ?? (type === 'shop.enter' ? e.id : undefined)
          if (visit_id === undefined) continue
          const key = JSON.stringify([e.subject, visit_id])
          if (first.has(key)) continue
          const ts = Math.floor(Number(e.ts))
          first.set(key, {
            store_id: store,
            subject: e.subject,
            visit_id,
            enter_ts: type === 'shop.enter' ? ts : null,
            received: Math.floor(Number(e.received)),
            segment: type === 'shop.enter' ? segmentOf(b) : null,
            exit_ts: type === 'shop.exit' ? ts : null
          })
        }
        const values = [...first.values()]
        for (let i = 0; i < values.length; i += 200) {
          const chunk = values.slice(i, i + 200)
          if (type === 'shop.enter')
            await q
              .insertInto('visits')
              .values(chunk)
              .onConflict(oc =>
                oc
                  .columns(['store_id', 'subject', 'visit_id'])
                  .doUpdateSet(eb => ({ enter_ts: eb.ref('excluded.enter_ts'), received: eb.ref('excluded.received'), segment: eb.ref('excluded.segment') }))
                  .where('visits.enter_ts', 'is', null)
              )
              .execute()
          else {
            await q
              .insertInto('visits')
              .values(chunk)
              .onConflict(oc =>
                oc
                  .columns(['store_id', 'subject', 'visit_id'])
                  .doUpdateSet(eb => ({ exit_ts: eb.ref('excluded.exit_ts') }))
                  .where('visits.exit_ts', 'is', null)
              )
              .execute()
            const ids = [...new Set(chunk.map(v => v.visit_id))]
            await q.deleteFrom('an_open_visits').where('store_id', '=', store).where('visit_id', 'in', ids).execute()
          }
        }
        if (rows.length < page) break
      }
    }
  }
}

/**
 * Deletes the open visits and sector stays that began before `before` (taken as missed exits),
 * store by store; analytics and vetting already ignore them, so this only keeps the tables small.
 */
export async function dropStaleOpenRows(q: Q, before: number): Promise<number> {
  let n = 0
  const stores = await q.selectFrom('stores').select('id').execute()
  for (const { id } of stores) {
    n += Number((await q.deleteFrom('an_open_visits').where('store_id', '=', id).where('ts', '<', before).executeTakeFirst()).numDeletedRows)
    n += Number((await q.deleteFrom('an_open_stays').where('store_id', '=', id).where('ts', '<', before).executeTakeFirst()).numDeletedRows)
  }
  return n
}

/**
 * Closes a subject's open visits and sector stays (presence consent withdrawn: the gateway drops
 * the visit without an exit event, so analytics would show the shopper inside until the 6-h
 * cut-off; erasure: its events go). Its events stay. Set-based, by the rows' indexed subject, and
 * for rows stored before migration 011 (no subject) by the subject's visits rows (one per visit):
 * a few statements whatever the subject's stored history. Returns how many rows were closed.
 */
export async function closeOpenRowsOf(q: Q, subject: string): Promise<number> {
  let closed = 0
  for (const t of ['an_open_visits', 'an_open_stays'] as const) {
    const own = await q.deleteFrom(t).where('subject', '=', subject).executeTakeFirst()
    const before = await q
      .deleteFrom(t)
      .where('subject', 'is', null)
      .where(eb =>
        eb.or([
          // A stay a gateway keyed on the subject (no visit id).
          eb(`${t}.visit_id`, '=', subject),
          eb.exists(
            eb
              .selectFrom('visits')
              .select('visits.visit_id')
              .where('visits.subject', '=', subject)
              .whereRef('visits.store_id', '=', `${t}.store_id`)
              .whereRef('visits.visit_id', '=', `${t}.visit_id`)
          )
        ])
      )
      .executeTakeFirst()
    closed += Number(own.numDeletedRows) + Number(before.numDeletedRows)
  }
  return closed
}

/** Deletes a subject's events and closes their open rows (erasure); the anonymous counts stay. */
export async function eraseEventsOf(q: Q, subject: string): Promise<void> {
  await closeOpenRowsOf(q, subject)
  await q.deleteFrom('visits').where('subject', '=', subject).execute()
  await q.deleteFrom('events').where('subject', '=', subject).execute()
}
