// The operators' listings of stores and campaigns, filtered and paged by the database: a store
// manager's listing reads the rows of their stores only (by primary key, and the campaign_stores
// index), however large the chain; an admin's reads one page. Nothing is parsed to be thrown away.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import type { Db } from '../db/db.ts'
import { canReachStore, HttpError } from '../auth.ts'
import type { Campaign } from '../../shared/campaigns.ts'

export const LIST_PAGE = 200
export const LIST_PAGE_MAX = 1000
export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: `items in the page, 1 to ${LIST_PAGE_MAX} (default ${LIST_PAGE})` })),
    after: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: "the previous page's cursor (its Link rel=next, or X-Next-Cursor): the last id it listed" }))
  },
  { additionalProperties: false }
)
export type ListQueryT = Static<typeof ListQuery>

type Listed = FastifyRequest<{ Querystring: ListQueryT }>

/** The page's size, checked: 400 beyond the most a page may hold. */
function pageSize(req: Listed): number {
  const limit = Number(req.query.limit ?? LIST_PAGE)
  if (limit > LIST_PAGE_MAX) throw new HttpError(400, 'INSTORE_BAD_REQUEST', `limit is at most ${LIST_PAGE_MAX}`)
  return limit
}

/** Keeps a page of `limit` rows out of `limit + 1` read, and says where the next page starts, if one does. */
function paged<R extends { id: string }>(rows: R[], limit: number, path: string, reply: FastifyReply): R[] {
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  if (rows.length > limit && last) {
    const q = new URLSearchParams({ limit: String(limit), after: last.id })
    void reply.header('x-next-cursor', last.id).header('link', `<${path}?${q}>; rel="next"`)
  }
  return page
}

/** What a listing reads: its page size, whether the caller is a manager and of which stores, the cursor; null when a manager runs no store. */
function scope(req: Listed): { limit: number; manager: boolean; theirs: string[]; after: string | undefined } | null {
  const p = req.principal
  const manager = p?.role !== 'admin'
  const theirs = p?.stores ?? []
  if (manager && theirs.length === 0) return null
  return { limit: pageSize(req), manager, theirs, after: req.query.after }
}

/** The stores the caller runs (an admin: every store), by id, one page at a time. */
export async function listStores(db: Db, req: Listed, reply: FastifyReply): Promise<{ storeId: string; name: string }[]> {
  const s = scope(req)
  if (s === null) return []
  const { limit, manager, theirs, after } = s
  const rows = await db
    .selectFrom('stores')
    .select(['id', 'site'])
    .$if(manager, qb => qb.where('id', 'in', theirs))
    .$if(after !== undefined, qb => qb.where('id', '>', after ?? ''))
    .orderBy('id')
    .limit(limit + 1)
    .execute()
  return paged(rows, limit, '/v1/stores', reply).map(r => ({ storeId: r.id, name: (JSON.parse(r.site) as { name?: string }).name ?? r.id }))
}

/** The campaigns of the caller's stores (an admin: every campaign), by id, one page at a time. */
export async function listCampaigns(db: Db, req: Listed, reply: FastifyReply): Promise<Campaign[]> {
  const s = scope(req)
  if (s === null) return []
  const { limit, manager, theirs, after } = s
  const rows = await db
    .selectFrom('campaigns')
    .select(['id', 'body'])
    .$if(manager, qb => qb.where('id', 'in', eb => eb.selectFrom('campaign_stores').select('campaign_id').where('store_id', 'in', theirs)))
    .$if(after !== undefined, qb => qb.where('id', '>', after ?? ''))
    .orderBy('id')
    .limit(limit + 1)
    .execute()
  // The index says which campaigns name the caller's stores; the body, written with it, has the last word.
  return paged(rows, limit, '/v1/campaigns', reply)
    .map(r => JSON.parse(r.body) as Campaign)
    .filter(c => c.stores.some(id => canReachStore(req.principal, id)))
}
