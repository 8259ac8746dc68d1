// A store for @fastify/rate-limit that counts in the database instead of in a process's memory:
// a caller spread over several replicas by the load balancer meets one limit, not one per
// replica. Fixed windows: one row per route and caller, restarted when its window has passed.
// The upsert is one statement, the same on SQLite and PostgreSQL, so two replicas counting the
// same caller at once both count.
import type { FastifyRateLimitOptions, FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import { sql } from 'kysely'
import type { Db } from './schema.ts'

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void
/** Rows whose window ended this long ago (ms) are deleted, now and then, so the table holds only live callers. */
const PRUNE_AFTER_MS = 3_600_000

export class DbRateStore implements FastifyRateLimitStore {
  private static made = 0
  constructor(
    private readonly db: Db,
    private readonly prefix: string
  ) {}

  /** The class @fastify/rate-limit instantiates (it takes a constructor, not an instance). */
  static for(db: Db): FastifyRateLimitStoreCtor {
    return class extends DbRateStore {
      constructor(_o: FastifyRateLimitOptions) {
        super(db, '')
      }
    }
  }

  incr(key: string, cb: Callback, timeWindow: number, _max: number): void {
    const now = Date.now()
    const k = `${this.prefix}|${key}`
    const expired = sql<boolean>`rate_limits.window_start + ${timeWindow} <= ${now}`
    this.db
      .insertInto('rate_limits')
      .values({ key: k, window_start: now, n: 1 })
      .onConflict(oc =>
        oc.column('key').doUpdateSet({
          n: sql<number>`CASE WHEN ${expired} THEN 1 ELSE rate_limits.n + 1 END`,
          window_start: sql<number>`CASE WHEN ${expired} THEN ${now} ELSE rate_limits.window_start END`
        })
      )
      .returning(['n', 'window_start'])
      .executeTakeFirstOrThrow()
      .then(
        r => {
          cb(null, { current: Number(r.n), ttl: Math.max(0, Number(r.window_start) + timeWindow - now) })
          this.pruneNowAndThen(now)
        },
        err => cb(err as Error)
      )
  }

  read(key: string, cb: Callback, timeWindow: number): void {
    const now = Date.now()
    this.db
      .selectFrom('rate_limits')
      .select(['n', 'window_start'])
      .where('key', '=', `${this.prefix}|${key}`)
      .executeTakeFirst()
      .then(
        r => cb(null, !r || Number(r.window_start) + timeWindow <= now ? { current: 0, ttl: 0 } : { current: Number(r.n), ttl: Number(r.window_start) + timeWindow - now }),
        err => cb(err as Error)
      )
  }

  child(o: FastifyRateLimitOptions & { routeInfo?: { method?: string | string[]; url?: string } }): FastifyRateLimitStore {
    // Each route (and the failed-authentication limiter, which has none) counts apart.
    const method = o.routeInfo?.method
    const route = o.routeInfo?.url !== undefined ? `${Array.isArray(method) ? method.join(',') : (method ?? '')} ${o.routeInfo.url}` : 'auth'
    return new DbRateStore(this.db, route)
  }

  private pruneNowAndThen(now: number): void {
    if (++DbRateStore.made % 500 !== 0) return
    this.db
      .deleteFrom('rate_limits')
      .where('window_start', '<', now - PRUNE_AFTER_MS)
      .execute()
      .catch(() => {})
  }
}
