// A transaction that PostgreSQL aborted because of another one (a deadlock, a serialization
// failure) is run again from the start: nothing of it was committed. A few quick tries are not
// enough under contention (a burst of triggers for one device queues on its row): it is tried
// again, with a growing and jittered pause, for as long as the request is young, so that a caller
// sees a slow answer rather than a 500. SQLite runs one writer at a time and never aborts so.
const RETRYABLE = new Set(['40001', '40P01', 'INSTORE_TRY_AGAIN'])
/**
 * A lock not granted within lock_timeout (55P03), a statement cancelled by statement_timeout
 * (57014), no pooled connection free in time (db.ts): the database is busy with other work. Not tried again here (the wait would only grow):
 * the caller answers 503 with Retry-After, and the gateway's outbox sends the batch again later.
 */
const BUSY = new Set(['55P03', '57014', 'INSTORE_POOL_WAIT'])
/** The code of the error db.ts throws when no pooled connection came free in time: busy too. */
export const POOL_WAIT_CODE = 'INSTORE_POOL_WAIT'

/** Thrown by a transaction that saw something change under it (a consent withdrawn): run it again. */
export class TryAgain extends Error {
  readonly code = 'INSTORE_TRY_AGAIN'
}

export interface RetryPolicy {
  /** How long after the first try another one is still started, ms. */
  budgetMs: number
  /** The longest pause between two tries, ms (the pause doubles from a few ms up to it). */
  maxPauseMs: number
}

/** Tried again for up to 8 s: below a gateway's HTTP timeout (10 s, after which it sends again), far above a contended lock's wait. */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({ budgetMs: 8_000, maxPauseMs: 500 })

export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && RETRYABLE.has(code)
}

export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && BUSY.has(code)
}

export async function retryConflicts<T>(run: () => Promise<T>, policy: RetryPolicy = DEFAULT_RETRY, now: () => number = Date.now): Promise<T> {
  const start = now()
  for (let i = 1; ; i++) {
    try {
      return await run()
    } catch (err) {
      if (!isRetryable(err) || now() - start >= policy.budgetMs) throw err
      const pause = Math.min(policy.maxPauseMs, 5 * 2 ** Math.min(i, 10))
      await new Promise(resolve => setTimeout(resolve, pause / 2 + (Math.random() * pause) / 2))
    }
  }
}
