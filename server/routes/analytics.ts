// Operator analytics per store: occupancy now, visits, dwell per sector, frequency segments,
// and the trigger funnel (fired → delivered → opened → converted) per campaign.
import type { FastifyInstance } from 'fastify'
import type { Context } from '../context.ts'
import { requireRole, mustReachStore } from '../auth.ts'
import { StoreParams } from '../schemas.ts'

const DWELL_BUCKETS_S = [30, 60, 120, 300, 600, 1800]

export async function analyticsRoutes (app: FastifyInstance, { db }: Context): Promise<void> {
  app.get<{ Params: { storeId: string }, Querystring: { since?: number } }>('/v1/analytics/stores/:storeId', {
    schema: { tags: ['operator'], params: StoreParams },
    preHandler: requireRole(db, 'admin', 'manager')
  }, async (req) => {
    const { storeId } = req.params
    mustReachStore(req.principal, storeId, `no rights on store ${storeId}`)
    const since = Number(req.query.since ?? 0)
    const rows = (sql: string, ...args: unknown[]) => db.prepare(sql).all(...args) as Array<Record<string, unknown>>
    // Open visits: an entry with no exit of the same visit yet.
    const occ = rows(`SELECT json_extract(e.body, '$.shop') AS shop, COUNT(*) AS n FROM events e
      WHERE e.store_id = ? AND e.type = 'shop.enter' AND e.ts >= ? AND NOT EXISTS (
        SELECT 1 FROM events x WHERE x.store_id = e.store_id AND x.type = 'shop.exit' AND json_extract(x.body, '$.visitId') = json_extract(e.body, '$.visitId'))
      GROUP BY shop`, storeId, Date.now() - 6 * 3_600_000)
    const openStays = rows(`SELECT json_extract(e.body, '$.sector') AS sector, COUNT(*) AS n FROM events e
      WHERE e.store_id = ? AND e.type = 'sector.enter' AND e.ts >= ? AND NOT EXISTS (
        SELECT 1 FROM events x WHERE x.store_id = e.store_id AND x.type = 'sector.exit' AND x.subject = e.subject
          AND json_extract(x.body, '$.visitId') = json_extract(e.body, '$.visitId') AND json_extract(x.body, '$.sector') = json_extract(e.body, '$.sector') AND x.ts >= e.ts)
      GROUP BY sector`, storeId, Date.now() - 6 * 3_600_000)
    const visits = rows(`SELECT date(ts / 1000, 'unixepoch') AS day, COUNT(*) AS n FROM events WHERE store_id = ? AND type = 'shop.enter' AND ts >= ? GROUP BY day ORDER BY day`, storeId, since)
    const durations = rows(`SELECT json_extract(body, '$.durationMs') AS d FROM events WHERE store_id = ? AND type = 'shop.exit' AND ts >= ?`, storeId, since).map(r => Number(r.d))
    const dwell: Record<string, number[]> = {}
    for (const r of rows(`SELECT json_extract(body, '$.sector') AS sector, json_extract(body, '$.dwellMs') AS d FROM events WHERE store_id = ? AND type = 'sector.exit' AND ts >= ?`, storeId, since)) {
      const h = dwell[String(r.sector)] ??= new Array(DWELL_BUCKETS_S.length + 1).fill(0)
      const s = Number(r.d) / 1000
      const i = DWELL_BUCKETS_S.findIndex(b => s < b)
      h[i < 0 ? DWELL_BUCKETS_S.length : i]++
    }
    const segments = Object.fromEntries(rows(`SELECT json_extract(body, '$.frequency.segment') AS s, COUNT(*) AS n FROM events WHERE store_id = ? AND type = 'shop.enter' AND ts >= ? GROUP BY s`, storeId, since).map(r => [String(r.s), Number(r.n)]))
    // The trigger funnel grouped by a field of the trigger: by campaign, and by sector (where in
    // the store the moments that worked happened).
    const funnelBy = (key: 'campaign' | 'sector', jsonPath: string) => rows(`SELECT json_extract(e.body, '${jsonPath}') AS k, COUNT(*) AS fired,
        ${['delivered', 'opened', 'dismissed', 'converted'].map(st => `SUM(EXISTS (SELECT 1 FROM acks a WHERE a.trigger_id = e.id AND a.status = '${st}')) AS ${st}`).join(',\n        ')}
      FROM events e WHERE e.store_id = ? AND e.type = 'trigger.fired' AND e.ts >= ? GROUP BY k ORDER BY k`, storeId, since).map(r => {
      const fired = Number(r.fired)
      const rate = (k: string) => fired > 0 ? Math.round(1000 * Number(r[k]) / fired) / 1000 : 0
      return {
        [key]: r.k ?? null, fired, delivered: Number(r.delivered), opened: Number(r.opened), dismissed: Number(r.dismissed), converted: Number(r.converted),
        rates: { delivered: rate('delivered'), opened: rate('opened'), converted: rate('converted') }
      }
    })
    const funnel = funnelBy('campaign', '$.campaignId')
    const funnelBySector = funnelBy('sector', '$.sector')
    const sorted = durations.sort((a, b) => a - b)
    return {
      storeId,
      occupancy: { shops: Object.fromEntries(occ.map(r => [String(r.shop), Number(r.n)])), sectors: Object.fromEntries(openStays.map(r => [String(r.sector), Number(r.n)])) },
      visits: { total: sorted.length, perDay: visits.map(r => ({ day: r.day, visits: Number(r.n) })), medianDurationMs: sorted.length ? sorted[Math.floor(sorted.length / 2)] : null },
      dwell: { bucketsS: DWELL_BUCKETS_S, sectors: dwell },
      segments,
      funnel,
      funnelBySector
    }
  })
}
