// Issue 25 repro 7: analytics from rollups kept as events arrive. The route's answer over a few
// thousand stored visits equals a plain recount of the same events (the old route's rules:
// open = an entry with no exit of the same visit in the last 6 h), also with `since`; rollups are
// built once for a database that had events before them; erasing a device's events closes its
// open rows. Its timing at 100,000 visits is `npm run bench -- analytics`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { openData } from '../../server/db/db.ts'
import { sql } from 'kysely'
import { DWELL_BUCKETS_S, eraseEventsOf, storeEvents } from '../../server/db/rollups.ts'
import type { AnalyticsReplyT } from '../../server/schemas.ts'
import { silentLogger } from '../../shared/log.ts'
import { loadVisits, type Loaded } from '../../bench/analytics-load.ts'
import { ROOT } from '../helpers/run.ts'

const ADMIN = 'adm_analytics_test'
const HOUR = 3_600_000
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }

/** The analytics of `loaded` counted the plain way, over every event. */
function recount({ events, acks }: Loaded, now: number, since: number): Omit<AnalyticsReplyT, 'storeId'> {
  const num = (v: unknown) => v as number
  const str = (v: unknown) => v as string
  const exits = new Set(events.filter(e => e.type === 'shop.exit').map(e => e.visitId))
  const stayExits = new Set(events.filter(e => e.type === 'sector.exit').map(e => `${str(e.visitId)}/${str(e.sector)}`))
  const count = (keys: string[]) => {
    const m: Record<string, number> = {}
    for (const k of keys) m[k] = (m[k] ?? 0) + 1
    return m
  }
  const recent = events.filter(e => e.ts >= now - 6 * HOUR)
  const after = events.filter(e => e.ts >= since)
  const durations = after
    .filter(e => e.type === 'shop.exit')
    .map(e => num(e.durationMs))
    .sort((a, b) => a - b)
  const dwell: Record<string, number[]> = {}
  for (const e of after.filter(e => e.type === 'sector.exit')) {
    const i = DWELL_BUCKETS_S.findIndex(b => num(e.dwellMs) / 1000 < b)
    ;(dwell[str(e.sector)] ??= new Array(DWELL_BUCKETS_S.length + 1).fill(0))[i < 0 ? DWELL_BUCKETS_S.length : i]++
  }
  const funnel = (field: string) => {
    const by = new Map<string | null, { fired: number; delivered: number; opened: number; dismissed: number; converted: number }>()
    for (const e of after.filter(e => e.type === 'trigger.fired')) {
      const k = (e[field] as string | undefined) ?? null
      const f = by.get(k) ?? { fired: 0, delivered: 0, opened: 0, dismissed: 0, converted: 0 }
      f.fired++
      for (const a of acks) if (a.triggerId === e.id) f[a.status as 'opened']++
      by.set(k, f)
    }
    const rate = (x: number, n: number) => (n > 0 ? Math.round((1000 * x) / n) / 1000 : 0)
    return [...by]
      .sort(([a], [b]) => (a === null ? -1 : b === null ? 1 : a < b ? -1 : 1))
      .map(([k, f]) => ({ k, ...f, rates: { delivered: rate(f.delivered, f.fired), opened: rate(f.opened, f.fired), converted: rate(f.converted, f.fired) } }))
  }
  const enters = after.filter(e => e.type === 'shop.enter')
  const days = count(enters.map(e => new Date(e.ts).toISOString().slice(0, 10)))
  return {
    occupancy: {
      shops: count(recent.filter(e => e.type === 'shop.enter' && !exits.has(e.visitId)).map(e => str(e.shop))),
      sectors: count(recent.filter(e => e.type === 'sector.enter' && !stayExits.has(`${str(e.visitId)}/${str(e.sector)}`)).map(e => str(e.sector)))
    },
    visits: {
      total: durations.length,
      perDay: Object.keys(days)
        .sort()
        .map(day => ({ day, visits: days[day] })),
      medianDurationMs: durations.length ? durations[Math.floor(durations.length / 2)] : null
    },
    dwell: { bucketsS: DWELL_BUCKETS_S, sectors: dwell },
    segments: count(enters.map(e => (e.frequency as { segment?: string } | undefined)?.segment ?? 'unknown')),
    funnel: funnel('campaignId').map(({ k, ...f }) => ({ campaign: k, ...f })),
    funnelBySector: funnel('sector').map(({ k, ...f }) => ({ sector: k, ...f }))
  }
}

function same(got: AnalyticsReplyT, want: ReturnType<typeof recount>, what: string): void {
  const { medianDurationMs: gm, ...gv } = got.visits
  const { medianDurationMs: wm, ...wv } = want.visits
  assert.deepEqual(gv, wv, `${what}: visits`)
  if (wm === null) assert.equal(gm, null)
  else assert.ok(gm !== null && Math.abs(gm - wm) / wm <= 0.05, `${what}: median ${gm} vs ${wm}`)
  for (const k of ['occupancy', 'dwell', 'segments', 'funnel', 'funnelBySector'] as const) assert.deepEqual(got[k], want[k], `${what}: ${k}`)
}

test('analytics from rollups equal a plain recount of the stored events, with and without since', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'analytics-'))
  const now = Date.now()
  const { app, ctx } = await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: ADMIN }))
  const get = async (query = '') => {
    const r = await app.inject({ url: `/v1/analytics/stores/${site.storeId}${query}`, headers: { authorization: `Bearer ${ADMIN}` } })
    assert.equal(r.statusCode, 200, r.body)
    return r.json() as AnalyticsReplyT
  }
  let loaded: Loaded
  try {
    assert.equal((await app.inject({ method: 'POST', url: '/v1/stores', headers: { authorization: `Bearer ${ADMIN}` }, payload: { site } })).statusCode, 201)
    // Two days, so that several visits are still open in the last hours.
    loaded = await loadVisits(ctx.db, { storeId: site.storeId, visits: 3000, now, spanDays: 2 })
    const all = await get()
    assert.ok(Object.keys(all.occupancy.shops).length > 0 && all.funnel.length === 3, 'the load has open visits and three campaigns')
    same(all, recount(loaded, now, 0), 'since 0')
    // Near today (whole days after, plus hours) and near the first day (all time, less what came before).
    for (const h of [3, 20, 30, 44]) {
      const since = Math.floor((now - h * HOUR) / HOUR) * HOUR
      same(await get(`?since=${since}`), recount(loaded, now, since), `since ${h} h ago`)
    }
    // Erasure deletes a device's events: its open visits and stays go with them.
    const subject = loaded.events.find(
      e => e.type === 'shop.enter' && e.ts > now - 3 * HOUR && !loaded.events.some(x => x.type === 'shop.exit' && x.visitId === e.visitId)
    )?.subject
    assert.ok(subject)
    await ctx.db.transaction().execute(trx => eraseEventsOf(trx, subject))
    const kept = { events: loaded.events.filter(e => e.subject !== subject), acks: loaded.acks }
    assert.deepEqual((await get()).occupancy, recount(kept, now, 0).occupancy)
    loaded = kept
  } finally {
    await app.close()
  }

  // A database from before the rollups (and before versioned migrations): they are built once
  // from its events at the next start.
  const data = await openData(await onTestDb({ dataDir }))
  for (const t of ['an_counts', 'an_open_visits', 'an_open_stays', 'kysely_migration', 'kysely_migration_lock']) await sql`DROP TABLE ${sql.table(t)}`.execute(data.db)
  await data.close()
  const again = await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: ADMIN }))
  try {
    const r = await again.app.inject({ url: `/v1/analytics/stores/${site.storeId}`, headers: { authorization: `Bearer ${ADMIN}` } })
    same(r.json() as AnalyticsReplyT, recount(loaded, now, 0), 'rebuilt')
  } finally {
    await again.app.close()
  }
})

test('ids that name Object.prototype members (a sector "__proto__", a shop "constructor") stay plain keys in analytics and pollute nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'instore-analytics-proto-'))
  const { app, ctx } = await buildServer(await onTestDb({ dataDir: dir, log: silentLogger, adminToken: ADMIN }))
  try {
    await ctx.db
      .insertInto('stores')
      .values({ id: site.storeId, site: JSON.stringify(site), updated: Date.now() })
      .execute()
    // Stored as they would have been before the edge refused such ids: the rollups must still hold them safely.
    const now = Date.now()
    const events = [
      {
        id: 'p1',
        type: 'shop.enter',
        storeId: site.storeId,
        subject: 'h:0011223344556677',
        visitId: 'V1',
        seq: 1,
        ts: now - 60_000,
        shop: 'constructor',
        frequency: { segment: '__proto__' }
      },
      {
        id: 'p2',
        type: 'sector.exit',
        storeId: site.storeId,
        subject: 'h:0011223344556677',
        visitId: 'V1',
        seq: 2,
        ts: now - 30_000,
        shop: 'constructor',
        sector: '__proto__',
        dwellMs: 45_000
      }
    ]
    await ctx.db.transaction().execute(trx =>
      storeEvents(
        trx,
        events.map(e => ({ id: e.id, store_id: e.storeId, type: e.type, subject: e.subject, ts: e.ts, body: JSON.stringify(e), received: now }))
      )
    )
    const res = await app.inject({ method: 'GET', url: `/v1/analytics/stores/${site.storeId}`, headers: { authorization: `Bearer ${ADMIN}` } })
    assert.equal(res.statusCode, 200, res.body)
    const body = JSON.parse(res.body) as AnalyticsReplyT
    assert.ok(Object.hasOwn(body.dwell.sectors, '__proto__'), 'the sector is a key of its own')
    assert.ok(Object.hasOwn(body.occupancy.shops, 'constructor'))
    const probe: Record<string, unknown> = {}
    assert.equal(probe[1], undefined, 'Object.prototype untouched')
    assert.deepEqual(Object.keys(probe), [])
  } finally {
    await app.close()
  }
})

test("withdrawing presence consent closes the shopper's open visit and sector stay in analytics at once", async () => {
  const { app } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'analytics-consent-')), log: silentLogger, adminToken: ADMIN }))
  const call = async <T>(method: 'GET' | 'POST' | 'PUT', url: string, token: string | null, payload?: unknown) => {
    const r = await app.inject({
      method,
      url,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      ...(payload !== undefined ? { payload: payload as object } : {})
    })
    assert.ok(r.statusCode < 300, `${method} ${url}: ${r.statusCode} ${r.body}`)
    return r.json() as T
  }
  try {
    const gw = (await call<{ gatewayToken: string }>('POST', '/v1/stores', ADMIN, { site })).gatewayToken
    const dev = await call<{ deviceId: string; token: string; subject: string }>('POST', '/v1/devices', null, { consent: { presence: true, marketing: false } })
    const now = Date.now()
    const base = { storeId: site.storeId, subject: dev.subject, visitId: 'cv1', shop: 'boutique' }
    await call('POST', `/v1/stores/${site.storeId}/events`, gw, {
      events: [
        { ...base, id: 'c1', type: 'shop.enter', seq: 1, ts: now - 60_000 },
        { ...base, id: 'c2', type: 'sector.enter', seq: 2, ts: now - 30_000, sector: 'women' }
      ]
    })
    const occupancy = async () => (await call<AnalyticsReplyT>('GET', `/v1/analytics/stores/${site.storeId}`, ADMIN)).occupancy
    assert.deepEqual(await occupancy(), { shops: { boutique: 1 }, sectors: { women: 1 } })
    await call('PUT', `/v1/devices/${dev.deviceId}/consent`, dev.token, { presence: false, marketing: false })
    assert.deepEqual(await occupancy(), { shops: {}, sectors: {} }, 'not shown inside any more')
  } finally {
    await app.close()
  }
})
