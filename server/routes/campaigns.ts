// Campaign CRUD (contract §6). Admins run every store's campaigns; a store manager creates and
// changes content only for their own stores (local activation of local content).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Context } from '../context.ts'
import { requireRole, canReachStore, HttpError } from '../auth.ts'
import { IdParams } from '../schemas.ts'
import { campaignById, linkAllowed } from '../hubs/push.ts'
import { withdrawPending } from '../hubs/withdraw.ts'
import { CampaignSchema, type Campaign } from '../../shared/campaigns.ts'

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

export async function campaignRoutes(app: FastifyInstance, { db, policy, hub }: Context): Promise<void> {
  // A campaign deleted, deactivated or changed recalls its triggers not yet read by a phone (hubs/withdraw.ts).
  const withdraw = async (id: string, now: Campaign | null) => {
    hub.dropped.withdrawn += await withdrawPending(db, id, now, Date.now())
  }
  const get = (id: string): Promise<Campaign | null> => campaignById(db, id)
  const put = (c: Campaign) =>
    db
      .insertInto('campaigns')
      .values({ id: c.id, body: JSON.stringify(c), stores: JSON.stringify(c.stores), updated: Date.now() })
      .onConflict(oc => oc.column('id').doUpdateSet(eb => ({ body: eb.ref('excluded.body'), stores: eb.ref('excluded.stores'), updated: eb.ref('excluded.updated') })))
      .execute()
  const operators = requireRole(db, 'admin', 'manager')

  app.get('/v1/campaigns', { schema: { tags: ['operator'] }, preHandler: operators }, async req => {
    return (await db.selectFrom('campaigns').select('body').orderBy('id').execute())
      .map(r => JSON.parse(r.body) as Campaign)
      .filter(c => c.stores.some(s => canReachStore(req.principal, s)))
  })

  app.post<{ Body: Campaign }>('/v1/campaigns', { schema: { tags: ['operator'], body: CampaignSchema }, preHandler: operators }, async (req, reply) => {
    mayManage(req, req.body)
    mustLink(req.body, policy.appSchemes)
    if (await get(req.body.id)) throw new HttpError(409, 'INSTORE_EXISTS', `campaign ${req.body.id} exists; use PUT to change it`)
    await put(req.body)
    return reply.code(201).send(req.body)
  })

  app.get<{ Params: { id: string } }>('/v1/campaigns/:id', { schema: { tags: ['operator'], params: IdParams }, preHandler: operators }, async req => {
    const c = await get(req.params.id)
    if (!c) throw new HttpError(404, 'INSTORE_NO_CAMPAIGN', `unknown campaign ${req.params.id}`)
    mayManage(req, c)
    return c
  })

  app.put<{ Params: { id: string }; Body: Campaign }>(
    '/v1/campaigns/:id',
    { schema: { tags: ['operator'], params: IdParams, body: CampaignSchema }, preHandler: operators },
    async req => {
      if (req.body.id !== req.params.id) throw new HttpError(400, 'INSTORE_ID_MISMATCH', 'body id differs from the path')
      const old = await get(req.params.id)
      if (old) mayManage(req, old)
      mayManage(req, req.body)
      mustLink(req.body, policy.appSchemes)
      await put(req.body)
      if (old) await withdraw(old.id, req.body)
      return req.body
    }
  )

  app.delete<{ Params: { id: string } }>('/v1/campaigns/:id', { schema: { tags: ['operator'], params: IdParams }, preHandler: operators }, async (req, reply) => {
    const c = await get(req.params.id)
    if (!c) throw new HttpError(404, 'INSTORE_NO_CAMPAIGN', `unknown campaign ${req.params.id}`)
    mayManage(req, c)
    await db.deleteFrom('campaigns').where('id', '=', req.params.id).execute()
    await withdraw(c.id, null)
    return reply.code(204).send()
  })
}
