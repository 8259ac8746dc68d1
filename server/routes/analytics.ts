// Operator analytics per store: occupancy now, visits, dwell per sector, frequency segments,
// and the trigger funnel (fired → delivered → opened → converted) per campaign and per sector.
// Everything is read from the rollups (server/db/rollups.ts): a handful of index range reads, so
// an analytics request never holds the database long enough to delay /healthz or
// an uplink, however many events are stored.
import type { FastifyInstance } from 'fastify'
import type { Context } from '../context.ts'
import { requireRole, mustReachStore, HttpError } from '../auth.ts'
import { StoreParams, AnalyticsQuery, type AnalyticsReplyT } from '../schemas.ts'
import { DWELL_BUCKETS_S, FUNNEL_STEPS, DURATION_STEP, HOUR_MS, OPEN_FOR_AT_MOST_MS } from '../db/rollups.ts'

export { OPEN_FOR_AT_MOST_MS }

type Funnel = Omit<AnalyticsReplyT['funnel'][number], 'campaign'>

export async function analyticsRoutes(app: FastifyInstance, { db }: Context): Promise<void> {
  const q = {
    store: (storeId: string) => db.selectFrom('stores').select('id').where('id', '=', storeId).executeTakeFirst(),
    // Rows that began before `after` are missed exits: left out here (a GET changes nothing), and
    // deleted, store by store, by the hourly retention job (db/rollups.ts dropStaleOpenRows).
    shops: (storeId: string, after: number) =>
      db
        .selectFrom('an_open_visits')
        .select(eb => ['shop as k', eb.fn.countAll().as('n')])
        .where('store_id', '=', storeId)
        .where('ts', '>=', after)
        .groupBy('shop')
        .execute(),
    sectors: (storeId: string, after: number) =>
      db
        .selectFrom('an_open_stays')
        .select(eb => ['sector as k', eb.fn.countAll().as('n')])
        .where('store_id', '=', storeId)
        .where('ts', '>=', after)
        .groupBy('sector')
        .execute(),
    /** Counts of one resolution with `at` in [from, to), per key. */
    range: async (storeId: string, metric: string, res: string, from: number, to: number): Promise<Count[]> =>
      (
        await db
          .selectFrom('an_counts')
          .select(eb => ['k1', 'k2', eb.fn.sum<number>('n').as('n')])
          .where('store_id', '=', storeId)
          .where('metric', '=', metric)
          .where('res', '=', res)
          .where('at', '>=', from)
          .where('at', '<', to)
          .groupBy(['k1', 'k2'])
          .execute()
      ).map(r => ({ k1: r.k1, k2: Number(r.k2), n: Number(r.n) })),
    /** Visits (shop.enter) per day or per hour with `at` in [from, to). */
    per: async (storeId: string, res: string, from: number, to: number) =>
      (
        await db
          .selectFrom('an_counts')
          .select(eb => ['at', eb.fn.sum<number>('n').as('n')])
          .where('store_id', '=', storeId)
          .where('metric', '=', 'enter')
          .where('res', '=', res)
          .where('at', '>=', from)
          .where('at', '<', to)
          .groupBy('at')
          .execute()
      ).map(r => ({ at: Number(r.at), n: Number(r.n) })),
    firstDay: async (storeId: string, metric: string) =>
      (
        await db
          .selectFrom('an_counts')
          .select(eb => eb.fn.min<number>('at').as('at'))
          .where('store_id', '=', storeId)
          .where('metric', '=', metric)
          .where('res', '=', 'd')
          .executeTakeFirst()
      )?.at ?? null
  }
  type Count = { k1: string; k2: number; n: number }
  const END = Number.MAX_SAFE_INTEGER
  /**
   * Counts of `metric` from hour `fromHour` on: whole days after its day plus its day's hours from
   * it, or, when `fromHour` is nearer the first stored day than today, all-time counts less what
   * came before. Either way at most half the stored days are read.
   */
  const countsSince = async (storeId: string, metric: string, fromHour: number, nowHour: number): Promise<Count[]> => {
    const all = (res: string, from: number, to: number) => q.range(storeId, metric, res, from, to)
    if (fromHour <= 0) return await all('t', 0, 1)
    const day = Math.floor(fromHour / 24)
    const first = Number((await q.firstDay(storeId, metric)) ?? day)
    const sum = new Map<string, Count>()
    const add = (rows: Count[], sign: number) => {
      for (const r of rows) {
        const k = `${r.k2}\u0000${r.k1}`
        const c = sum.get(k) ?? (sum.set(k, { k1: r.k1, k2: r.k2, n: 0 }).get(k) as Count)
        c.n += sign * r.n
      }
    }
    if (Math.floor(nowHour / 24) - day <= day - first) {
      add(await all('d', day + 1, END), 1)
      add(await all('h', fromHour, (day + 1) * 24), 1)
    } else {
      add(await all('t', 0, 1), 1)
      add(await all('d', 0, day), -1)
      add(await all('h', day * 24, fromHour), -1)
    }
    return [...sum.values()].filter(c => c.n > 0).sort((a, b) => (a.k1 < b.k1 ? -1 : a.k1 > b.k1 ? 1 : a.k2 - b.k2))
  }
  const perDay = async (storeId: string, fromHour: number): Promise<Array<{ day: string; visits: number }>> => {
    const day = Math.floor(fromHour / 24)
    const days = new Map<number, number>()
    for (const r of await q.per(storeId, 'd', day + 1, END)) days.set(r.at, r.n)
    const partial = (await q.per(storeId, 'h', fromHour, (day + 1) * 24)).reduce((a, r) => a + r.n, 0)
    if (partial > 0) days.set(day, partial)
    return [...days].sort((a, b) => a[0] - b[0]).map(([d, n]) => ({ day: new Date(d * 86_400_000).toISOString().slice(0, 10), visits: n }))
  }

  app.get<{ Params: { storeId: string }; Querystring: { since?: string } }>(
    '/v1/analytics/stores/:storeId',
    {
      schema: { tags: ['operator'], params: StoreParams, querystring: AnalyticsQuery },
      preHandler: requireRole(db, 'admin', 'manager')
    },
    async (req): Promise<AnalyticsReplyT> => {
      const { storeId } = req.params
      mustReachStore(req.principal, storeId, `no rights on store ${storeId}`)
      if (!(await q.store(storeId))) throw new HttpError(404, 'INSTORE_NO_STORE', `unknown store ${storeId}`)
      // Rollups count by the hour: `since` counts from the start of its hour.
      const fromHour = Math.floor(Number(req.query.since ?? 0) / HOUR_MS)
      const now = Date.now()
      const counts = (metric: string) => countsSince(storeId, metric, fromHour, Math.floor(now / HOUR_MS))
      // Keys come from gateway data (shop and sector ids): objects without a prototype, so an id such as
      // `__proto__` or `constructor` is a plain key and never reaches Object.prototype.
      const asMap = (rows: Array<{ k: string; n: unknown }>) => Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(rows.map(r => [r.k, Number(r.n)])))

      const durations = await counts('dur')
      const total = durations.reduce((a, r) => a + r.n, 0)
      let median: number | null = null
      // The element at index floor(total / 2) of the sorted durations, read off the histogram.
      for (let i = 0, seen = 0; total > 0 && i < durations.length; i++) {
        seen += durations[i].n
        if (seen > Math.floor(total / 2)) {
          median = Math.round(DURATION_STEP ** durations[i].k2)
          break
        }
      }
      const dwell = Object.create(null) as Record<string, number[]>
      for (const r of await counts('dwell')) (dwell[r.k1] ??= new Array(DWELL_BUCKETS_S.length + 1).fill(0))[r.k2] = r.n
      const segments = Object.create(null) as Record<string, number>
      for (const r of await counts('enter')) segments[r.k1] = (segments[r.k1] ?? 0) + r.n
      const funnel = async (metric: 'fc' | 'fs'): Promise<Array<{ key: string | null } & Funnel>> => {
        const by = new Map<string, number[]>()
        for (const r of await counts(metric))
          if (r.k2 < FUNNEL_STEPS.length) (by.get(r.k1) ?? (by.set(r.k1, new Array(FUNNEL_STEPS.length).fill(0)).get(r.k1) as number[]))[r.k2] = r.n
        return [...by].map(([k, [fired, delivered, opened, dismissed, converted]]) => {
          const rate = (x: number) => (fired > 0 ? Math.round((1000 * x) / fired) / 1000 : 0)
          return {
            key: k === '' ? null : k,
            fired,
            delivered,
            opened,
            dismissed,
            converted,
            rates: { delivered: rate(delivered), opened: rate(opened), converted: rate(converted) }
          }
        })
      }
      return {
        storeId,
        occupancy: { shops: asMap(await q.shops(storeId, now - OPEN_FOR_AT_MOST_MS)), sectors: asMap(await q.sectors(storeId, now - OPEN_FOR_AT_MOST_MS)) },
        visits: { total, perDay: await perDay(storeId, fromHour), medianDurationMs: median },
        dwell: { bucketsS: DWELL_BUCKETS_S, sectors: dwell },
        segments,
        funnel: (await funnel('fc')).map(({ key, ...f }) => ({ campaign: key, ...f })),
        funnelBySector: (await funnel('fs')).map(({ key, ...f }) => ({ sector: key, ...f }))
      }
    }
  )
}
