// Campaign CRUD (contract §6). Admins run every store's campaigns; a store manager creates and
// changes content only for their own stores (local activation of local content).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { sql } from 'kysely'
import type { Context } from '../context.ts'
import type { Q } from '../db/db.ts'
import { requireRole, canReachStore, HttpError } from '../auth.ts'
import { IdParams } from '../schemas.ts'
import { ListQuery, type ListQueryT, listCampaigns } from './listing.ts'
import { retryConflicts } from '../db/retry.ts'
import { campaignById, linkAllowed } from '../hubs/push.ts'
import { withdrawPending } from '../hubs/withdraw.ts'
import { CampaignSchema, scheduleProblems, type Campaign } from '../../shared/campaigns.ts'
import type { SiteFile } from '../../shared/site-schema.ts'

function mayManage(req: FastifyRequest, c: Campaign): void {
  const outside = c.stores.filter(s => !canReachStore(req.principal, s))
  if (outside.length > 0) throw new HttpError(403, 'INSTORE_OTHER_STORE', `no rights on store(s) ${outside.join(', ')}`)
}

/** A campaign's link must be one a phone will open: https:, http: or an app scheme the server was given. */
function mustLink(c: Campaign, appSchemes: readonly string[]): void {
  const url = c.content.url
  if (url !== undefined && !linkAllowed(url, appSchemes))
    throw new HttpError(400, 'INSTORE_BAD_LINK', `content.url must be https:, http: or ${appSchemes.map(s => s + ':').join(', ') || 'no app scheme'}, without control characters`)
}

/**
 * Refuses a campaign that can never fire: a schedule with no day or minute in it, a store the
 * server does not know, a shop or sector its store's site does not have. A store must be
 * registered (POST /v1/stores) before a campaign names it: its site is what the campaign's zones
 * are checked against, and a store id mistyped would otherwise be a campaign silently idle.
 */
async function mustFire(q: Q, c: Campaign): Promise<void> {
  const schedule = scheduleProblems(c)
  if (schedule.length > 0) throw new HttpError(400, 'INSTORE_BAD_SCHEDULE', schedule.join('; '))
  const stores = [...new Set(c.stores)]
  const rows = await q.selectFrom('stores').select(['id', 'site']).where('id', 'in', stores).execute()
  const missing = stores.filter(s => !rows.some(r => r.id === s))
  if (missing.length > 0) throw new HttpError(400, 'INSTORE_UNKNOWN_STORE', `unknown store(s) ${missing.join(', ')}: register a store (POST /v1/stores) before a campaign names it`)
  for (const kind of ['shop', 'sector'] as const) {
    const id = c.when[kind]
    if (id === undefined) continue
    const without = rows.filter(r => !(JSON.parse(r.site) as SiteFile).features.some(f => f.properties.kind === kind && f.properties.id === id)).map(r => r.id)
    if (without.length > 0) throw new HttpError(400, 'INSTORE_UNKNOWN_ZONE', `when.${kind} '${id}': no such ${kind} in the site of store(s) ${without.join(', ')}`)
  }
}

/** The most campaigns (active or not) that may name one store, unless the server is told otherwise. */
export const DEFAULT_CAMPAIGNS_PER_STORE = 200

/**
 * Writes which stores the campaign names (campaign_stores, read by each store's config pull),
 * refusing it (409 INSTORE_TOO_MANY_CAMPAIGNS) when one of them has `limit` campaigns already.
 * On PostgreSQL each store's count is taken under a lock of that store's campaigns (advisory,
 * in store order), so two replicas creating campaigns at once cannot both take the last place.
 */
async function indexStores(q: Q, c: Campaign, limit: number, postgres: boolean): Promise<void> {
  const stores = [...new Set(c.stores)].sort()
  if (postgres) for (const s of stores) await sql`SELECT pg_advisory_xact_lock(hashtext(${`campaigns:${s}`}))`.execute(q)
  const counts = await q
    .selectFrom('campaign_stores')
    .select(eb => ['store_id', eb.fn.countAll().as('n')])
    .where('store_id', 'in', stores)
    .where('campaign_id', '<>', c.id)
    .groupBy('store_id')
    .execute()
  const full = counts.filter(r => Number(r.n) >= limit).map(r => r.store_id)
  if (full.length > 0)
    throw new HttpError(409, 'INSTORE_TOO_MANY_CAMPAIGNS', `store(s) ${full.join(', ')} have ${limit} campaigns already, the most a store may have; delete one first`)
  await q.deleteFrom('campaign_stores').where('campaign_id', '=', c.id).execute()
  await q
    .insertInto('campaign_stores')
    .values(stores.map(store_id => ({ store_id, campaign_id: c.id })))
    .onConflict(oc => oc.doNothing())
    .execute()
}

/** A campaign none of whose stores the caller reaches answers as unknown: its id is not confirmed to exist. */
function visibleTo(req: FastifyRequest, c: Campaign): boolean {
  return c.stores.some(s => canReachStore(req.principal, s))
}

export async function campaignRoutes(app: FastifyInstance, { db, data, policy, hub }: Context): Promise<void> {
  // A campaign deleted, deactivated or changed recalls its triggers not yet read by a phone (hubs/withdraw.ts).
  const withdraw = async (id: string, now: Campaign | null) => {
    hub.dropped.withdrawn += await withdrawPending(db, id, now, Date.now())
  }
  const get = (id: string): Promise<Campaign | null> => campaignById(db, id)
  const row = (c: Campaign) => ({ id: c.id, body: JSON.stringify(c), stores: JSON.stringify(c.stores), updated: Date.now() })
  const operators = requireRole(db, 'admin', 'manager')
  const postgres = data.engine === 'postgres'
  const perStore = policy.campaignsPerStore ?? DEFAULT_CAMPAIGNS_PER_STORE

  app.get<{ Querystring: ListQueryT }>('/v1/campaigns', { schema: { tags: ['operator'], querystring: ListQuery }, preHandler: operators }, (req, reply) =>
    listCampaigns(db, req, reply)
  )

  // Insert if absent, in one statement: of two creations at once (on one replica or two) one is
  // 201, the other 409, and neither overwrites the other. Campaign ids are chain-wide: a manager
  // learns that an id is taken, and nothing else about a campaign of another store.
  app.post<{ Body: Campaign }>('/v1/campaigns', { schema: { tags: ['operator'], body: CampaignSchema }, preHandler: operators }, async (req, reply) => {
    mayManage(req, req.body)
    mustLink(req.body, policy.appSchemes)
    await mustFire(db, req.body)
    await retryConflicts(() =>
      db.transaction().execute(async trx => {
        const r = await trx
          .insertInto('campaigns')
          .values(row(req.body))
          .onConflict(oc => oc.column('id').doNothing())
          .executeTakeFirst()
        if (Number(r.numInsertedOrUpdatedRows ?? 0) === 0) throw new HttpError(409, 'INSTORE_EXISTS', `campaign ${req.body.id} exists; use PUT to change it`)
        await indexStores(trx, req.body, perStore, postgres)
      })
    )
    return reply.code(201).send(req.body)
  })

  app.get<{ Params: { id: string } }>('/v1/campaigns/:id', { schema: { tags: ['operator'], params: IdParams }, preHandler: operators }, async req => {
    const c = await get(req.params.id)
    if (!c || !visibleTo(req, c)) throw new HttpError(404, 'INSTORE_NO_CAMPAIGN', `unknown campaign ${req.params.id}`)
    mayManage(req, c)
    return c
  })

  // A change is checked against the campaign as it is when the change is written: its row is
  // locked (PostgreSQL; SQLite runs one writer at a time) from the check to the write, so another
  // store's manager cannot slip a creation or a change in between and have it overwritten, or
  // overwrite it. A PUT of an absent id creates it, if absent still when written.
  app.put<{ Params: { id: string }; Body: Campaign }>(
    '/v1/campaigns/:id',
    { schema: { tags: ['operator'], params: IdParams, body: CampaignSchema }, preHandler: operators },
    async req => {
      if (req.body.id !== req.params.id) throw new HttpError(400, 'INSTORE_ID_MISMATCH', 'body id differs from the path')
      mayManage(req, req.body)
      mustLink(req.body, policy.appSchemes)
      await mustFire(db, req.body)
      const write = () =>
        db.transaction().execute(async trx => {
          const old = await trx
            .selectFrom('campaigns')
            .select('body')
            .where('id', '=', req.params.id)
            .$if(data.engine === 'postgres', qb => qb.forUpdate())
            .executeTakeFirst()
          if (old) {
            const c = JSON.parse(old.body) as Campaign
            if (!visibleTo(req, c)) throw new HttpError(404, 'INSTORE_NO_CAMPAIGN', `unknown campaign ${req.params.id}`)
            mayManage(req, c)
            await trx.updateTable('campaigns').set(row(req.body)).where('id', '=', req.params.id).execute()
            await indexStores(trx, req.body, perStore, postgres)
            return 'updated' as const
          }
          const r = await trx
            .insertInto('campaigns')
            .values(row(req.body))
            .onConflict(oc => oc.column('id').doNothing())
            .executeTakeFirst()
          if (Number(r.numInsertedOrUpdatedRows ?? 0) !== 1) return null
          await indexStores(trx, req.body, perStore, postgres)
          return 'inserted' as const
        })
      // Created by another request since this one looked: look again, under its lock this time.
      for (let i = 0; i < 3; i++) {
        const done = await retryConflicts(write)
        // After the update: a trigger recorded meanwhile is checked against the live campaign when read.
        if (done === 'updated') await withdraw(req.params.id, req.body)
        if (done !== null) return req.body
      }
      throw new HttpError(409, 'INSTORE_EXISTS', `campaign ${req.params.id} changed meanwhile; try again`)
    }
  )

  app.delete<{ Params: { id: string } }>('/v1/campaigns/:id', { schema: { tags: ['operator'], params: IdParams }, preHandler: operators }, async (req, reply) => {
    // Checked and deleted under the row's lock, as PUT writes: a change racing the delete cannot
    // move the campaign out of the caller's rights between the check and the delete.
    const c = await retryConflicts(() =>
      db.transaction().execute(async trx => {
        const row = await trx
          .selectFrom('campaigns')
          .select('body')
          .where('id', '=', req.params.id)
          .$if(data.engine === 'postgres', qb => qb.forUpdate())
          .executeTakeFirst()
        const found = row ? (JSON.parse(row.body) as Campaign) : null
        if (!found || !visibleTo(req, found)) throw new HttpError(404, 'INSTORE_NO_CAMPAIGN', `unknown campaign ${req.params.id}`)
        mayManage(req, found)
        await trx.deleteFrom('campaigns').where('id', '=', req.params.id).execute()
        await trx.deleteFrom('campaign_stores').where('campaign_id', '=', req.params.id).execute()
        return found
      })
    )
    await withdraw(c.id, null)
    return reply.code(204).send()
  })
}
