// Token listing and revocation for operators. A token is named by its public id, never by its
// secret or hash. Admins see and revoke every token; a store manager sees and revokes only the
// gateway and manager tokens all of whose stores are theirs. Revocation deletes the row, so it
// takes effect on the very next request, ends the streams the token holds open, and remembers
// the hash so that a token given at start (--admin-token) is not issued again.
import type { Q } from '../db/db.ts'
import type { FastifyInstance } from 'fastify'
import type { Context } from '../context.ts'
import { requireRole, canReachStore, HttpError, revokeIn, type Principal, type Role } from '../auth.ts'
import { retryConflicts } from '../db/retry.ts'
import { IdParams, TokenQuery } from '../schemas.ts'
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

export async function tokenRoutes(app: FastifyInstance, { db, data }: Context): Promise<void> {
  data.onSignal('token', id => {
    closeStreamsOf(app, id)
  })
  const operators = requireRole(db, 'admin', 'manager')
  app.get<{ Querystring: { role?: Role } }>('/v1/tokens', { schema: { tags: ['operator'], querystring: TokenQuery }, preHandler: operators }, async req => {
    const role = req.query.role
    const rows = (await db
      .selectFrom('tokens')
      .select(['id', 'role', 'stores', 'device_id', 'created', 'last_used'])
      .$if(role !== undefined, qb => qb.where('role', '=', role ?? ''))
      .orderBy('created')
      .orderBy('id')
      .execute()) as Row[]
    return rows
      .filter(r => visible(req.principal, r))
      .map(r => ({
        id: r.id,
        role: r.role,
        stores: JSON.parse(r.stores) as string[],
        deviceId: r.device_id,
        created: r.created,
        lastUsed: r.last_used
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
