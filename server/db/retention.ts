// Raw events, visits, triggers and acks are kept for the configured retention, then dropped; the
// analytics rollups keep their counts (they hold no device id). Runs at start and then every hour, in pages, so that a
// first run over years of events never holds the database for long. Every replica may run it:
// deleting what another replica already deleted deletes nothing.
import type { SelectQueryBuilder } from 'kysely'
import type { Db, Engine, Q, Tables } from './schema.ts'
import { dropOldMonths, ensureMonths } from './partitions.ts'
import { dropStaleOpenRows, OPEN_FOR_AT_MOST_MS } from './rollups.ts'

const EVERY_MS = 3_600_000
const PAGE = 5000

/**
 * Deletes events received before `before`, a page at a time; how many. The ids of those whose time
 * is at or after `keepIdsFrom` go to dropped_event_ids first, in the same transaction: a gateway
 * may still send them again, and they must stay duplicates.
 */
export async function dropEventsBefore(db: Db, before: number, keepIdsFrom = Number.POSITIVE_INFINITY): Promise<number> {
  let dropped = 0
  for (;;) {
    const n = await db.transaction().execute(async trx => {
      const page = trx.selectFrom('events').select('id').where('received', '<', before).limit(PAGE)
      if (Number.isFinite(keepIdsFrom)) await keepIds(trx, before, keepIdsFrom, page)
      return Number((await trx.deleteFrom('events').where('received', '<', before).where('id', 'in', page).executeTakeFirst()).numDeletedRows)
    })
    dropped += n
    if (n < PAGE) return dropped
  }
}

/** Copies the ids (and times) of the events about to be dropped that a gateway may still send again. */
async function keepIds(q: Q, before: number, from: number, page: SelectQueryBuilder<Tables, 'events', { id: string }>): Promise<void> {
  await q
    .insertInto('dropped_event_ids')
    .columns(['store_id', 'id', 'ts'])
    .expression(q.selectFrom('events').select(['store_id', 'id', 'ts']).where('received', '<', before).where('ts', '>=', from).where('id', 'in', page))
    .onConflict(oc => oc.doNothing())
    .execute()
}

/**
 * Deletes the visits rows stored before `before` (raw-event retention: they name a subject). The
 * ids of those whose latest time (exit, else entry) is at or after `keepIdsFrom` go to
 * dropped_visit_ids first, with the halves (entry, exit) the row had: an entry or exit of such a
 * visit may still come under a new event id, and must not count a half again (the other half,
 * never stored, still counts once). Run it in a transaction (both statements or neither).
 */
export async function dropVisitsBefore(q: Q, before: number, keepIdsFrom = Number.POSITIVE_INFINITY): Promise<number> {
  if (Number.isFinite(keepIdsFrom))
    await q
      .insertInto('dropped_visit_ids')
      .columns(['store_id', 'visit_id', 'ts', 'entered', 'exited'])
      .expression(
        q
          .selectFrom('visits')
          .select(eb => [
            'store_id',
            'visit_id',
            eb.fn.coalesce('exit_ts', 'enter_ts', 'received').as('ts'),
            eb.case().when('enter_ts', 'is', null).then(0).else(1).end().as('entered'),
            eb.case().when('exit_ts', 'is', null).then(0).else(1).end().as('exited')
          ])
          .where('received', '<', before)
          .where(eb => eb(eb.fn.coalesce('exit_ts', 'enter_ts', 'received'), '>=', keepIdsFrom))
      )
      .onConflict(oc => oc.doNothing())
      .execute()
  return Number((await q.deleteFrom('visits').where('received', '<', before).executeTakeFirst()).numDeletedRows)
}

/** Campaigns named one by one when their cooldowns outlast the retention; past this many, the longest counts for all. */
const MAX_LONG_COOLDOWNS = 500

/**
 * Deletes the triggers (and their acks) the retention no longer keeps: each names a device, store,
 * campaign, shop or sector and a time. The caps still read some of them (push.ts capped): perVisit
 * over a visit (open at most OPEN_FOR_AT_MOST_MS), the hourly bound an hour, and a campaign's
 * cooldown `cooldownS` back: so a campaign whose cooldown outlasts the retention keeps its
 * triggers that long, and every trigger stays while it may still be delivered (not expired). Acks
 * older than the retention go too: their trigger.fired events went with the raw events, so an ack
 * sent again counts nothing. In pages, each with its acks in one transaction; how many triggers.
 */
export async function dropTriggersBefore(db: Db, before: number, at: number): Promise<number> {
  const until = Math.min(before, at - OPEN_FOR_AT_MOST_MS)
  const long = new Map<string, number>()
  for (const c of await db.selectFrom('campaigns').select(['id', 'body']).execute()) {
    const ms = cooldownMs(c.body)
    if (at - ms < until) long.set(c.id, at - ms)
  }
  let dropped = 0
  if (long.size > MAX_LONG_COOLDOWNS) dropped = await dropTriggerPages(db, at, Math.min(...long.values()), null)
  else {
    dropped = await dropTriggerPages(db, at, until, [...long.keys()])
    for (const [id, from] of long) dropped += await dropTriggerPages(db, at, from, id)
  }
  for (;;) {
    const page = db.selectFrom('acks').select('trigger_id').where('ts', '<', before).limit(PAGE)
    const n = Number((await db.deleteFrom('acks').where('ts', '<', before).where('trigger_id', 'in', page).executeTakeFirst()).numDeletedRows)
    if (n < PAGE) return dropped
  }
}

/** Deletes the expired triggers from before `until` (with their acks) of one campaign (a string), of all but some (an array) or of all (null). */
async function dropTriggerPages(db: Db, at: number, until: number, campaigns: string | string[] | null): Promise<number> {
  let dropped = 0
  for (;;) {
    const n = await db.transaction().execute(async trx => {
      let page = trx.selectFrom('triggers').select('trigger_id').where('ts', '<', until).where('expires', '<=', at)
      if (typeof campaigns === 'string') page = page.where('campaign_id', '=', campaigns)
      else if (campaigns !== null && campaigns.length > 0) page = page.where('campaign_id', 'not in', campaigns)
      // The ids read once: a page without an order could differ between the two deletions.
      const ids = (await page.limit(PAGE).execute()).map(r => r.trigger_id)
      if (ids.length === 0) return 0
      await trx.deleteFrom('acks').where('trigger_id', 'in', ids).execute()
      await trx.deleteFrom('triggers').where('trigger_id', 'in', ids).execute()
      return ids.length
    })
    dropped += n
    if (n < PAGE) return dropped
  }
}

/** A stored campaign's cooldown in ms (0 without one, or for a body that does not parse). */
function cooldownMs(body: string): number {
  try {
    const s = (JSON.parse(body) as { cap?: { cooldownS?: unknown } }).cap?.cooldownS
    return typeof s === 'number' && Number.isFinite(s) && s > 0 ? s * 1000 : 0
  } catch {
    return 0
  }
}

export function startRetention(
  db: Db,
  engine: Engine,
  retentionMs: number,
  onError: (err: Error) => void,
  now: () => number = Date.now,
  /** Events older than this are refused whatever their id (the server's maxEventAgeMs); 0: keep no ids. */
  maxEventAgeMs = 0
): { stop: () => Promise<void>; runOnce: () => Promise<number> } {
  if (!(retentionMs > 0)) throw new Error(`retention must be above 0 ms, got ${retentionMs}`)
  return hourly(async () => {
    const at = now()
    const before = at - retentionMs
    // An event older than the age limit is refused as such: its id need not be kept.
    const keepIdsFrom = maxEventAgeMs > 0 ? at - maxEventAgeMs : Number.POSITIVE_INFINITY
    if (Number.isFinite(keepIdsFrom)) {
      await db.deleteFrom('dropped_event_ids').where('ts', '<', keepIdsFrom).execute()
      await db.deleteFrom('dropped_visit_ids').where('ts', '<', keepIdsFrom).execute()
    }
    await db.transaction().execute(async trx => await dropVisitsBefore(trx, before, keepIdsFrom))
    await dropTriggersBefore(db, before, at)
    // On PostgreSQL whole months go first (a table dropped), then the rest row by row.
    return (engine === 'postgres' ? await dropOldMonths(db, before, keepIdsFrom) : 0) + (await dropEventsBefore(db, before, keepIdsFrom))
  }, onError)
}

/**
 * Deletes open visits and stays older than OPEN_FOR_AT_MOST_MS (missed exits), now and every
 * hour: analytics and trigger vetting already ignore them; this keeps their tables small, and
 * runs whether or not raw events have a retention.
 */
export function startStaleSweep(db: Db, onError: (err: Error) => void, now: () => number = Date.now): { stop: () => Promise<void>; runOnce: () => Promise<number> } {
  return hourly(async () => await dropStaleOpenRows(db, now() - OPEN_FOR_AT_MOST_MS), onError)
}

/** On PostgreSQL, creates the coming months' event partitions now and every hour; nothing on SQLite. */
export function startMonthUpkeep(db: Db, engine: Engine, onError: (err: Error) => void, now: () => number = Date.now): { stop: () => Promise<void> } {
  if (engine !== 'postgres') return { stop: async () => {} }
  return hourly(async () => await ensureMonths(db, now()), onError)
}

/**
 * Runs `task` now and every hour, one run at a time (`runOnce` joins a run under way); stopping
 * waits for a run under way: the database must not close under it.
 */
export function hourly<T>(task: () => Promise<T>, onError: (err: Error) => void): { stop: () => Promise<void>; runOnce: () => Promise<T> } {
  let running: Promise<T> | null = null
  const runOnce = (): Promise<T> => {
    running ??= task().finally(() => {
      running = null
    })
    return running
  }
  const tick = (): void => {
    runOnce().catch(err => onError(err as Error))
  }
  const timer = setInterval(tick, EVERY_MS)
  timer.unref()
  tick()
  return {
    stop: async () => {
      clearInterval(timer)
      await running?.catch(() => {})
    },
    runOnce
  }
}
