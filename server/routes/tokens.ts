// Token listing and revocation for operators. A token is named by its public id, never by its
// secret or hash. Admins see and revoke every token; a store manager sees and revokes only the
// gateway and manager tokens all of whose stores are theirs. Revocation deletes the row, so it
// takes effect on the very next request, ends the streams the token holds open, and remembers
// the hash so that a token given at start (--admin-token) is not issued again.
import type { Q } from '../db/db.ts'
import type { FastifyInstance } from 'fastify'
import type { Context } from '../context.ts'
import { sql, type SqlBool } from 'kysely'
import { requireRole, canReachStore, mustReachStore, HttpError, revokeIn, type Principal, type Role } from '../auth.ts'
import { retryConflicts } from '../db/retry.ts'
import { IdParams, TokenQuery, TOKEN_PAGE, TOKEN_PAGE_MAX, type TokenQueryT } from '../schemas.ts'
import { closeStreamsOf } from '../hubs/sse.ts'

interface Row {
  id: string
  role: Role
  stores: string
  device_id: string | null
  created: number
  last_used: number | null
}

function visible(p: Principal | null, r: Row): boolean {
  if (p?.role === 'admin') return true
  const stores = JSON.parse(r.stores) as string[]
  return p?.role === 'manager' && (r.role === 'gateway' || r.role === 'manager') && stores.length > 0 && stores.every(s => canReachStore(p, s))
}

/** Revokes the gateway tokens of a store (re-provisioning); returns how many. */
export async function revokeGatewayTokens(q: Q, storeId: string): Promise<number> {
  return Number(
    (
      await q
        .deleteFrom('tokens')
        .where('role', '=', 'gateway')
        .where('stores', '=', JSON.stringify([storeId]))
        .executeTakeFirst()
    ).numDeletedRows
  )
}

export interface TokenListing {
  role?: string
  store?: string
  deviceId?: string
  cursor: { created: number; id: string } | null
  limit: number
  /** A manager's stores (null: an admin, who sees every token). */
  theirs: string[] | null
}

/**
 * One page of the token listing, oldest first. Everything is filtered and paged by the database,
 * through an index in the page's order (migration 020): a page reads its rows and, with a store
 * or for a manager, only tokens that name stores, never a device token (one per installed app).
 */
export function tokenListQuery(db: Q, engine: 'sqlite' | 'postgres', o: TokenListing) {
  const pg = engine === 'postgres'
  const elements = pg ? sql`json_array_elements_text(tokens.stores::json) AS e(v)` : sql`json_each(tokens.stores) AS e`
  const v = pg ? sql`e.v` : sql`e.value`
  const { role, store, deviceId, cursor, theirs } = o
  // Written out, not a parameter: a planner uses the partial index only for its very condition.
  const stored = sql<SqlBool>`tokens.stores <> '[]'`
  // Only tokens that name stores can match: walked through their index, the role tested on each
  // (`+role`, on PostgreSQL `role || ''`, keep the planner off tokens_role_created, which for
  // role=device reads every device token, none of which names a store: re-tester, s12).
  const byStores = store !== undefined || theirs !== null
  const roleRef = byStores ? (pg ? sql`(tokens.role || '')` : sql`+tokens.role`) : sql.ref('role')
  return (
    db
      .selectFrom('tokens')
      .select(['id', 'role', 'stores', 'device_id', 'created', 'last_used'])
      .$if(role !== undefined, qb => qb.where(roleRef, '=', role ?? ''))
      .$if(deviceId !== undefined, qb => qb.where('device_id', '=', deviceId ?? ''))
      .$if(store !== undefined, qb => qb.where(stored).where(sql<SqlBool>`EXISTS (SELECT 1 FROM ${elements} WHERE ${v} = ${store ?? ''})`))
      // A manager sees the gateway and manager tokens all of whose stores are theirs.
      .$if(theirs !== null, qb =>
        qb
          // SQLite: `+role` keeps it off tokens_role_created, whose two runs would then need a sort.
          .where(pg ? sql.ref('role') : sql`+tokens.role`, 'in', ['gateway', 'manager'])
          .where(stored)
          .where(sql<SqlBool>`NOT EXISTS (SELECT 1 FROM ${elements} WHERE ${v} NOT IN (${sql.join(theirs ?? [])}))`)
      )
      .$if(cursor !== null, qb =>
        qb.where(eb => eb.or([eb('created', '>', cursor?.created ?? 0), eb.and([eb('created', '=', cursor?.created ?? 0), eb('id', '>', cursor?.id ?? '')])]))
      )
      // By role when one is named (tokens_role_created serves it), else by (created, id).
      .$if(role !== undefined && !byStores, qb => qb.orderBy('role'))
      .orderBy('created')
      .orderBy('id')
      .limit(o.limit + 1)
  )
}

export async function tokenRoutes(app: FastifyInstance, { db, data }: Context): Promise<void> {
  data.onSignal('token', id => {
    closeStreamsOf(app, id)
  })
  const operators = requireRole(db, 'admin', 'manager')
  app.get<{ Querystring: TokenQueryT }>('/v1/tokens', { schema: { tags: ['operator'], querystring: TokenQuery }, preHandler: operators }, async (req, reply) => {
    const p = req.principal
    const { role, store, deviceId, after } = req.query
    if (store !== undefined) mustReachStore(p, store, 'no rights on this store')
    const limit = Number(req.query.limit ?? TOKEN_PAGE)
    if (limit > TOKEN_PAGE_MAX) throw new HttpError(400, 'INSTORE_BAD_REQUEST', `limit is at most ${TOKEN_PAGE_MAX}`)
    const cursor = after === undefined ? null : { created: Number(after.slice(0, after.indexOf('.'))), id: after.slice(after.indexOf('.') + 1) }
    const manager = p?.role !== 'admin'
    const theirs = p?.stores ?? []
    if (manager && theirs.length === 0) return []
    const rows = (await tokenListQuery(db, data.engine, { role, store, deviceId, cursor, limit, theirs: manager ? theirs : null }).execute()) as Row[]
    const page = rows.slice(0, limit)
    const last = page.at(-1)
    if (rows.length > limit && last) {
      const next = `${last.created}.${last.id}`
      const q = new URLSearchParams({ ...(role ? { role } : {}), ...(store ? { store } : {}), ...(deviceId ? { deviceId } : {}), limit: String(limit), after: next })
      void reply.header('x-next-cursor', next).header('link', `</v1/tokens?${q}>; rel="next"`)
    }
    return page.map(r => ({
      id: r.id,
      role: r.role,
      stores: JSON.parse(r.stores) as string[],
      deviceId: r.device_id,
      created: Number(r.created),
      lastUsed: r.last_used === null ? null : Number(r.last_used)
    }))
  })

  app.delete<{ Params: { id: string } }>('/v1/tokens/:id', { schema: { tags: ['operator'], params: IdParams }, preHandler: operators }, async (req, reply) => {
    const r = (await db.selectFrom('tokens').select(['id', 'role', 'stores', 'device_id', 'created', 'last_used']).where('id', '=', req.params.id).executeTakeFirst()) as
      | Row
      | undefined
    // Tokens a manager may not see answer as unknown: their ids are not confirmed to exist.
    if (!r || !visible(req.principal, r)) throw new HttpError(404, 'INSTORE_NO_TOKEN_ID', `unknown token ${req.params.id}`)
    // The count and the revocation in one transaction, the admin rows locked first (PostgreSQL;
    // SQLite runs one writer at a time): two admins revoking each other at once, on one replica
    // or two, cannot both see the other still there and leave none.
    const gone = await retryConflicts(() =>
      db.transaction().execute(async trx => {
        if (r.role === 'admin') {
          const admins = await trx
            .selectFrom('tokens')
            .select('id')
            .where('role', '=', 'admin')
            .$if(data.engine === 'postgres', qb => qb.orderBy('id').forUpdate())
            .execute()
          if (admins.length <= 1 && admins.some(a => a.id === r.id))
            throw new HttpError(409, 'INSTORE_LAST_ADMIN', 'this is the last admin token; issue another before revoking it')
        }
        return await revokeIn(trx, r.id)
      })
    )
    if (!gone) throw new HttpError(404, 'INSTORE_NO_TOKEN_ID', `unknown token ${req.params.id}`)
    // Every replica ends the streams this token holds open there (this one included).
    await data.signal(db, 'token', r.id)
    return reply.code(204).send()
  })
}
