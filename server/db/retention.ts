// Raw events are kept for the configured retention, then dropped; the analytics rollups keep
// their counts (they hold no device id). Runs at start and then every hour, in pages, so that a
// first run over years of events never holds the database for long. Every replica may run it:
// deleting what another replica already deleted deletes nothing.
import type { Db } from './schema.ts'

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
  retentionMs: number,
  onError: (err: Error) => void,
  now: () => number = Date.now
): { stop: () => Promise<void>; runOnce: () => Promise<number> } {
  if (!(retentionMs > 0)) throw new Error(`retention must be above 0 ms, got ${retentionMs}`)
  let running: Promise<number> | null = null
  const runOnce = () => {
    running ??= dropEventsBefore(db, now() - retentionMs).finally(() => {
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
