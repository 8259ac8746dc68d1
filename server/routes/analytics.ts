// Operator analytics per store: occupancy now, visits, dwell per sector, frequency segments,
// and the trigger funnel (fired → delivered → opened → converted) per campaign and per sector.
// Everything is read from the rollups (server/db/rollups.ts): a handful of index range reads, so
// an analytics request never holds the (synchronous) database long enough to delay /healthz or
// an uplink, however many events are stored.
import type { FastifyInstance } from 'fastify'
import type { Context } from '../context.ts'
import { requireRole, mustReachStore, HttpError } from '../auth.ts'
import { StoreParams, AnalyticsQuery, type AnalyticsReplyT } from '../schemas.ts'
import { DWELL_BUCKETS_S, FUNNEL_STEPS, DURATION_STEP, HOUR_MS, installRollups } from '../db/rollups.ts'

/** A visit or stay still open after this long (ms) is taken as a missed exit, not as presence. */
export const OPEN_FOR_AT_MOST_MS = 6 * HOUR_MS

type Funnel = Omit<AnalyticsReplyT['funnel'][number], 'campaign'>

export async function analyticsRoutes (app: FastifyInstance, { db }: Context): Promise<void> {
  installRollups(db)
  const q = {
    store: db.prepare('SELECT 1 FROM stores WHERE id = ?'),
    prune: [db.prepare('DELETE FROM an_open_visits WHERE ts < ?'), db.prepare('DELETE FROM an_open_stays WHERE ts < ?')],
    shops: db.prepare('SELECT shop AS k, COUNT(*) AS n FROM an_open_visits WHERE store_id = ? GROUP BY shop'),
    sectors: db.prepare('SELECT sector AS k, COUNT(*) AS n FROM an_open_stays WHERE store_id = ? GROUP BY sector'),
    /** Counts of one resolution with `at` in [from, to), per key. */
    range: db.prepare('SELECT k1, k2, SUM(n) AS n FROM an_counts WHERE store_id = ? AND metric = ? AND res = ? AND at >= ? AND at < ? GROUP BY k1, k2'),
    /** Visits (shop.enter) per day or per hour with `at` in [from, to). */
    per: db.prepare("SELECT at, SUM(n) AS n FROM an_counts WHERE store_id = ? AND metric = 'enter' AND res = ? AND at >= ? AND at < ? GROUP BY at"),
    firstDay: db.prepare("SELECT MIN(at) AS at FROM an_counts WHERE store_id = ? AND metric = ? AND res = 'd'")
  }
  type Count = { k1: string, k2: number, n: number }
  const END = Number.MAX_SAFE_INTEGER
  /**
   * Counts of `metric` from hour `fromHour` on: whole days after its day plus its day's hours from
   * it, or, when `fromHour` is nearer the first stored day than today, all-time counts less what
   * came before. Either way at most half the stored days are read.
   */
  const countsSince = (storeId: string, metric: string, fromHour: number, nowHour: number): Count[] => {
    const all = (res: string, from: number, to: number) => q.range.all(storeId, metric, res, from, to) as Count[]
    if (fromHour <= 0) return all('t', 0, 1)
    const day = Math.floor(fromHour / 24)
    const first = (q.firstDay.get(storeId, metric) as { at: number | null }).at ?? day
    const sum = new Map<string, Count>()
    const add = (rows: Count[], sign: number) => {
      for (const r of rows) {
        const k = `${r.k2}\u0000${r.k1}`
        const c = sum.get(k) ?? sum.set(k, { k1: r.k1, k2: r.k2, n: 0 }).get(k) as Count
        c.n += sign * r.n
      }
    }
    if (Math.floor(nowHour / 24) - day <= day - first) {
      add(all('d', day + 1, END), 1); add(all('h', fromHour, (day + 1) * 24), 1)
    } else {
      add(all('t', 0, 1), 1); add(all('d', 0, day), -1); add(all('h', day * 24, fromHour), -1)
    }
    return [...sum.values()].filter(c => c.n > 0).sort((a, b) => a.k1 < b.k1 ? -1 : a.k1 > b.k1 ? 1 : a.k2 - b.k2)
  }
  const perDay = (storeId: string, fromHour: number): Array<{ day: string, visits: number }> => {
    const day = Math.floor(fromHour / 24)
    const days = new Map<number, number>()
    for (const r of q.per.all(storeId, 'd', day + 1, END) as Array<{ at: number, n: number }>) days.set(r.at, r.n)
    const partial = (q.per.all(storeId, 'h', fromHour, (day + 1) * 24) as Array<{ at: number, n: number }>).reduce((a, r) => a + r.n, 0)
    if (partial > 0) days.set(day, partial)
    return [...days].sort((a, b) => a[0] - b[0]).map(([d, n]) => ({ day: new Date(d * 86_400_000).toISOString().slice(0, 10), visits: n }))
  }

  app.get<{ Params: { storeId: string }, Querystring: { since?: string } }>('/v1/analytics/stores/:storeId', {
    schema: { tags: ['operator'], params: StoreParams, querystring: AnalyticsQuery },
    preHandler: requireRole(db, 'admin', 'manager')
  }, async (req): Promise<AnalyticsReplyT> => {
    const { storeId } = req.params
    mustReachStore(req.principal, storeId, `no rights on store ${storeId}`)
    if (!q.store.get(storeId)) throw new HttpError(404, 'INSTORE_NO_STORE', `unknown store ${storeId}`)
    // Rollups count by the hour: `since` counts from the start of its hour.
    const fromHour = Math.floor(Number(req.query.since ?? 0) / HOUR_MS)
    const now = Date.now()
    for (const p of q.prune) p.run(now - OPEN_FOR_AT_MOST_MS)
    const counts = (metric: string) => countsSince(storeId, metric, fromHour, Math.floor(now / HOUR_MS))
    // Keys come from gateway data (shop and sector ids): objects without a prototype, so an id such as
    // `__proto__` or `constructor` is a plain key and never reaches Object.prototype.
    const asMap = (rows: unknown[]) => Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries((rows as Array<{ k: string, n: number }>).map(r => [r.k, r.n])))

    const durations = counts('dur')
    const total = durations.reduce((a, r) => a + r.n, 0)
    let median: number | null = null
    // The element at index floor(total / 2) of the sorted durations, read off the histogram.
    for (let i = 0, seen = 0; total > 0 && i < durations.length; i++) {
      seen += durations[i].n
      if (seen > Math.floor(total / 2)) { median = Math.round(DURATION_STEP ** durations[i].k2); break }
    }
    const dwell = Object.create(null) as Record<string, number[]>
    for (const r of counts('dwell')) (dwell[r.k1] ??= new Array(DWELL_BUCKETS_S.length + 1).fill(0))[r.k2] = r.n
    const segments = Object.create(null) as Record<string, number>
    for (const r of counts('enter')) segments[r.k1] = (segments[r.k1] ?? 0) + r.n
    const funnel = (metric: 'fc' | 'fs'): Array<{ key: string | null } & Funnel> => {
      const by = new Map<string, number[]>()
      for (const r of counts(metric)) if (r.k2 < FUNNEL_STEPS.length) (by.get(r.k1) ?? by.set(r.k1, new Array(FUNNEL_STEPS.length).fill(0)).get(r.k1) as number[])[r.k2] = r.n
      return [...by].map(([k, [fired, delivered, opened, dismissed, converted]]) => {
        const rate = (x: number) => fired > 0 ? Math.round(1000 * x / fired) / 1000 : 0
        return { key: k === '' ? null : k, fired, delivered, opened, dismissed, converted, rates: { delivered: rate(delivered), opened: rate(opened), converted: rate(converted) } }
      })
    }
    return {
      storeId,
      occupancy: { shops: asMap(q.shops.all(storeId)), sectors: asMap(q.sectors.all(storeId)) },
      visits: { total, perDay: perDay(storeId, fromHour), medianDurationMs: median },
      dwell: { bucketsS: DWELL_BUCKETS_S, sectors: dwell },
      segments,
      funnel: funnel('fc').map(({ key, ...f }) => ({ campaign: key, ...f })),
      funnelBySector: funnel('fs').map(({ key, ...f }) => ({ sector: key, ...f }))
    }
  })
}
