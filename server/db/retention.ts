// Raw events are kept for the configured retention, then dropped; the analytics rollups keep
// their counts (they hold no device id). Runs at start and then every hour, in pages, so that a
// first run over years of events never holds the database for long. Every replica may run it:
// deleting what another replica already deleted deletes nothing.
import type { Db, Engine } from './schema.ts'
import { dropOldMonths, ensureMonths } from './partitions.ts'

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
  let running: Promise<number> | null = null
  const runOnce = () => {
    const before = now() - retentionMs
    // On PostgreSQL whole months go first (a table dropped), then the rest row by row.
    const drop = async (): Promise<number> => (engine === 'postgres' ? await dropOldMonths(db, before) : 0) + (await dropEventsBefore(db, before))
    running ??= drop().finally(() => {
      running = null
    })
    return running
  }
  const tick = () => {
    runOnce().catch(err => onError(err as Error))
  }
  const timer = setInterval(tick, EVERY_MS)
  timer.unref()
  tick()
  // Stopping waits for a run under way: the database must not close under it.
  return {
    stop: async () => {
      clearInterval(timer)
      await running?.catch(() => {})
    },
    runOnce
  }
}

/** On PostgreSQL, creates the coming months' event partitions now and every hour; nothing on SQLite. */
export function startMonthUpkeep(db: Db, engine: Engine, onError: (err: Error) => void, now: () => number = Date.now): { stop: () => Promise<void> } {
  if (engine !== 'postgres') return { stop: async () => {} }
  let running: Promise<void> | null = null
  const tick = (): void => {
    running ??= ensureMonths(db, now())
      .catch(err => onError(err as Error))
      .finally(() => {
        running = null
      })
  }
  const timer = setInterval(tick, EVERY_MS)
  timer.unref()
  tick()
  return {
    stop: async () => {
      clearInterval(timer)
      await running
    }
  }
}
