// Raw events are kept for the configured retention, then dropped; the analytics rollups keep
// their counts (they hold no device id). Runs at start and then every hour, in pages, so that a
// first run over years of events never holds the database for long. Every replica may run it:
// deleting what another replica already deleted deletes nothing.
import type { Db, Engine } from './schema.ts'
import { dropOldMonths, ensureMonths } from './partitions.ts'
import { dropStaleOpenRows, dropVisitsBefore, OPEN_FOR_AT_MOST_MS } from './rollups.ts'

const EVERY_MS = 3_600_000
const PAGE = 5000

/** Deletes events received before `before`, a page at a time; how many. */
export async function dropEventsBefore(db: Db, before: number): Promise<number> {
  let dropped = 0
  for (;;) {
    const page = db.selectFrom('events').select('id').where('received', '<', before).limit(PAGE)
    const r = await db.deleteFrom('events').where('received', '<', before).where('id', 'in', page).executeTakeFirst()
    const n = Number(r.numDeletedRows)
    dropped += n
    if (n < PAGE) return dropped
  }
}

export function startRetention(
  db: Db,
  engine: Engine,
  retentionMs: number,
  onError: (err: Error) => void,
  now: () => number = Date.now
): { stop: () => Promise<void>; runOnce: () => Promise<number> } {
  if (!(retentionMs > 0)) throw new Error(`retention must be above 0 ms, got ${retentionMs}`)
  return hourly(async () => {
    const at = now()
    const before = at - retentionMs
    await dropVisitsBefore(db, before)
    // On PostgreSQL whole months go first (a table dropped), then the rest row by row.
    return (engine === 'postgres' ? await dropOldMonths(db, before) : 0) + (await dropEventsBefore(db, before))
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
