// Bearer tokens: random 256-bit secrets, stored only as SHA-256 hashes, each with a public id
// (random, unrelated to the secret) by which operators list and revoke it. Roles: admin (all
// stores), manager (own stores only), gateway (one store), device (one registered app install).
import { createHash, randomBytes } from 'node:crypto'
import type { Db, Q } from './db/db.ts'
import type { FastifyReply, FastifyRequest } from 'fastify'

export type Role = 'admin' | 'manager' | 'gateway' | 'device'
export interface Principal {
  role: Role
  stores: string[]
  deviceId: string | null
  tokenId: string
}

const PREFIX: Record<Role, string> = { admin: 'adm_', manager: 'mgr_', gateway: 'gw_', device: 'dev_' }
/** lastUsed is written at most this often per token (ms): a busy gateway must not turn reads into writes. */
const LAST_USED_EVERY_MS = 60_000

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
const newTokenId = (): string => 'tok_' + randomBytes(9).toString('base64url')

/** Revokes a token by id (its row goes, its hash is remembered); whether it existed. */
export async function revoke(db: Db, id: string): Promise<boolean> {
  return await db.transaction().execute(trx => revokeIn(trx, id))
}

/** revoke() inside the caller's transaction. */
export async function revokeIn(q: Q, id: string): Promise<boolean> {
  const r = await q.deleteFrom('tokens').where('id', '=', id).returning('hash').executeTakeFirst()
  if (r)
    await q
      .insertInto('revoked_tokens')
      .values({ hash: r.hash, ts: Date.now() })
      .onConflict(oc => oc.column('hash').doNothing())
      .execute()
  return r !== undefined
}

/** Whether this token was revoked once (a token given at start is then not issued again). */
export async function wasRevoked(q: Q, token: string): Promise<boolean> {
  return (await q.selectFrom('revoked_tokens').select('hash').where('hash', '=', hashToken(token)).executeTakeFirst()) !== undefined
}

/** Issues a token; returns the secret (shown once) and its public id. */
export async function issue(q: Q, role: Role, stores: string[] = [], deviceId: string | null = null, token?: string): Promise<{ id: string; token: string }> {
  const t = token ?? PREFIX[role] + randomBytes(32).toString('base64url')
  // A given token (--admin-token at every start) keeps its id and creation time.
  const row = await q
    .insertInto('tokens')
    .values({ hash: hashToken(t), role, stores: JSON.stringify(stores), device_id: deviceId, created: Date.now(), id: newTokenId() })
    .onConflict(oc => oc.column('hash').doUpdateSet(eb => ({ role: eb.ref('excluded.role'), stores: eb.ref('excluded.stores'), device_id: eb.ref('excluded.device_id') })))
    .returning('id')
    .executeTakeFirstOrThrow()
  return { id: row.id ?? '', token: t }
}

export async function issueToken(q: Q, role: Role, stores: string[] = [], deviceId: string | null = null, token?: string): Promise<string> {
  return (await issue(q, role, stores, deviceId, token)).token
}

const lastWritten = new WeakMap<Db, Map<string, number>>()

export async function lookup(db: Db, token: string): Promise<Principal | null> {
  const r = await db.selectFrom('tokens').select(['id', 'role', 'stores', 'device_id', 'last_used']).where('hash', '=', hashToken(token)).executeTakeFirst()
  if (!r || r.id === null) return null
  const now = Date.now()
  let seen = lastWritten.get(db)
  if (!seen) {
    seen = new Map()
    lastWritten.set(db, seen)
  }
  if (now - (seen.get(r.id) ?? r.last_used ?? 0) >= LAST_USED_EVERY_MS) {
    seen.set(r.id, now)
    await db.updateTable('tokens').set({ last_used: now }).where('id', '=', r.id).execute()
    if (seen.size > 100_000) seen.clear()
  }
  return { role: r.role as Role, stores: JSON.parse(r.stores) as string[], deviceId: r.device_id, tokenId: r.id }
}

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235). */
export function bearerToken(header: string | undefined): string | null {
  const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '')
  return m ? m[1] : null
}

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {}
  ) {
    super(message)
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
  interface FastifyInstance {
    /** Counts a failed authentication of this caller; a retry delay (s) once it has failed too often. */
    authFailed?: (req: FastifyRequest) => Promise<number | null>
  }
}

/** The roles a requireRole hook admits: app.ts reads it to run the hook before validation and to document the route's security. */
export const ROLES = Symbol('instore.roles')
export type RoleHook = ((req: FastifyRequest, reply: FastifyReply) => Promise<void>) & { [ROLES]: Role[] }

/** A hook that admits only the given roles (app.ts runs it at onRequest, before the body is read). */
export function requireRole(db: Db, ...roles: Role[]): RoleHook {
  return roleHook(db, roles, req => bearerToken(req.headers.authorization))
}

function roleHook(db: Db, roles: Role[], tokenOf: (req: FastifyRequest) => string | null): RoleHook {
  const hook = async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    // A token in a URL ends up in proxies' access logs and browser histories: refused outright,
    // whatever it is, before it is looked up (so a guess there learns nothing either).
    if (tokenInUrl(req.url)) throw new HttpError(400, 'INSTORE_TOKEN_IN_URL', 'a token is never taken from a URL; send it as Authorization: Bearer <token>')
    const token = tokenOf(req)
    const p = token === null ? null : await lookup(db, token)
    if (!p) {
      const retryAfterS = (await req.server.authFailed?.(req)) ?? null
      if (retryAfterS !== null)
        throw new HttpError(429, 'INSTORE_RATE_LIMITED', `too many failed authentications; retry in ${retryAfterS} s`, { 'retry-after': String(retryAfterS) })
      if (token === null) throw new HttpError(401, 'INSTORE_NO_TOKEN', 'missing bearer token')
      throw new HttpError(401, 'INSTORE_BAD_TOKEN', 'unknown token')
    }
    if (!roles.includes(p.role)) throw new HttpError(403, 'INSTORE_FORBIDDEN', `this route needs a ${roles.join(' or ')} token`)
    // The principal files an SSE stream under the token id: revoking the token ends the stream.
    req.principal = p
  }
  return Object.assign(hook, { [ROLES]: roles })
}

/** Whether a URL's query carries a `token` (or `access_token`) parameter. */
export function tokenInUrl(url: string): boolean {
  const at = url.indexOf('?')
  if (at < 0) return false
  const q = new URLSearchParams(url.slice(at + 1))
  return q.has('token') || q.has('access_token')
}

/** Admins reach every store; managers and gateways only their own. */
export function canReachStore(p: Principal | null, storeId: string): boolean {
  return p !== null && (p.role === 'admin' || p.stores.includes(storeId))
}

/** Refuses (403 INSTORE_OTHER_STORE, with `message`) a principal that cannot reach the store. */
export function mustReachStore(p: Principal | null, storeId: string, message: string): void {
  if (!canReachStore(p, storeId)) throw new HttpError(403, 'INSTORE_OTHER_STORE', message)
}
