// Bearer tokens: random 256-bit secrets, stored only as SHA-256 hashes, each with a public id
// (random, unrelated to the secret) by which operators list and revoke it. Roles: admin (all
// stores), manager (own stores only), gateway (one store), device (one registered app install).
import { createHash, randomBytes } from 'node:crypto'
import type Database from 'better-sqlite3'
import type { FastifyReply, FastifyRequest } from 'fastify'

export type Role = 'admin' | 'manager' | 'gateway' | 'device'
export interface Principal { role: Role, stores: string[], deviceId: string | null, tokenId: string }

const PREFIX: Record<Role, string> = { admin: 'adm_', manager: 'mgr_', gateway: 'gw_', device: 'dev_' }
/** lastUsed is written at most this often per token (ms): a busy gateway must not turn reads into writes. */
const LAST_USED_EVERY_MS = 60_000

export function hashToken (token: string): string { return createHash('sha256').update(token).digest('hex') }
const newTokenId = (): string => 'tok_' + randomBytes(9).toString('base64url')

/** Adds the public id and lastUsed columns to a tokens table made before they existed. */
export function migrateTokens (db: Database.Database): void {
  const cols = new Set((db.prepare('PRAGMA table_info(tokens)').all() as Array<{ name: string }>).map(c => c.name))
  if (!cols.has('id')) db.exec('ALTER TABLE tokens ADD COLUMN id TEXT')
  if (!cols.has('last_used')) db.exec('ALTER TABLE tokens ADD COLUMN last_used INTEGER')
  const fill = db.prepare('UPDATE tokens SET id = ? WHERE hash = ?')
  for (const r of db.prepare('SELECT hash FROM tokens WHERE id IS NULL').all() as Array<{ hash: string }>) fill.run(newTokenId(), r.hash)
  db.exec('CREATE UNIQUE INDEX IF NOT EXISTS tokens_id ON tokens (id)')
  // Hashes of revoked tokens: a token given again at every start (--admin-token) must stay revoked.
  db.exec('CREATE TABLE IF NOT EXISTS revoked_tokens (hash TEXT PRIMARY KEY, ts INTEGER NOT NULL)')
}

/** Revokes a token by id (its row goes, its hash is remembered); whether it existed. */
export function revoke (db: Database.Database, id: string): boolean {
  return db.transaction(() => {
    const r = db.prepare('DELETE FROM tokens WHERE id = ? RETURNING hash').get(id) as { hash: string } | undefined
    if (r) db.prepare('INSERT OR IGNORE INTO revoked_tokens (hash, ts) VALUES (?, ?)').run(r.hash, Date.now())
    return r !== undefined
  })()
}

/** Whether this token was revoked once (a token given at start is then not issued again). */
export function wasRevoked (db: Database.Database, token: string): boolean {
  return db.prepare('SELECT 1 FROM revoked_tokens WHERE hash = ?').get(hashToken(token)) !== undefined
}

/** Issues a token; returns the secret (shown once) and its public id. */
export function issue (db: Database.Database, role: Role, stores: string[] = [], deviceId: string | null = null, token?: string): { id: string, token: string } {
  const t = token ?? PREFIX[role] + randomBytes(32).toString('base64url')
  // A given token (--admin-token at every start) keeps its id and creation time.
  const row = db.prepare(`INSERT INTO tokens (hash, role, stores, device_id, created, id) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT(hash) DO UPDATE SET role = excluded.role, stores = excluded.stores, device_id = excluded.device_id RETURNING id`)
    .get(hashToken(t), role, JSON.stringify(stores), deviceId, Date.now(), newTokenId()) as { id: string }
  return { id: row.id, token: t }
}

export function issueToken (db: Database.Database, role: Role, stores: string[] = [], deviceId: string | null = null, token?: string): string {
  return issue(db, role, stores, deviceId, token).token
}

const lastWritten = new WeakMap<Database.Database, Map<string, number>>()

export function lookup (db: Database.Database, token: string): Principal | null {
  const r = db.prepare('SELECT id, role, stores, device_id, last_used FROM tokens WHERE hash = ?').get(hashToken(token)) as { id: string, role: Role, stores: string, device_id: string | null, last_used: number | null } | undefined
  if (!r) return null
  const now = Date.now()
  let seen = lastWritten.get(db)
  if (!seen) { seen = new Map(); lastWritten.set(db, seen) }
  if (now - (seen.get(r.id) ?? r.last_used ?? 0) >= LAST_USED_EVERY_MS) {
    db.prepare('UPDATE tokens SET last_used = ? WHERE id = ?').run(now, r.id)
    seen.set(r.id, now)
    if (seen.size > 100_000) seen.clear()
  }
  return { role: r.role, stores: JSON.parse(r.stores) as string[], deviceId: r.device_id, tokenId: r.id }
}

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235). */
export function bearerToken (header: string | undefined): string | null {
  const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '')
  return m ? m[1] : null
}

export class HttpError extends Error {
  constructor (readonly statusCode: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) { super(message) }
}

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | null }
  interface FastifyInstance {
    /** Counts a failed authentication of this caller; a retry delay (s) once it has failed too often. */
    authFailed?: (req: FastifyRequest) => Promise<number | null>
  }
}

/** The roles a requireRole hook admits: app.ts reads it to run the hook before validation and to document the route's security. */
export const ROLES = Symbol('instore.roles')
export type RoleHook = ((req: FastifyRequest, reply: FastifyReply) => Promise<void>) & { [ROLES]: Role[] }

/** A hook that admits only the given roles (app.ts runs it at onRequest, before the body is read). */
export function requireRole (db: Database.Database, ...roles: Role[]): RoleHook {
  return roleHook(db, roles, req => bearerToken(req.headers.authorization))
}

/**
 * requireRole for Server-Sent Events routes a browser opens with EventSource, which cannot send
 * headers: the token may come as `?token=` instead. Same lookup, failed-auth limit and principal.
 */
export function requireRoleOrQueryToken (db: Database.Database, ...roles: Role[]): RoleHook {
  return roleHook(db, roles, req => {
    const q = (req.query as { token?: unknown } | undefined)?.token
    return typeof q === 'string' && q !== '' ? q : bearerToken(req.headers.authorization)
  })
}

function roleHook (db: Database.Database, roles: Role[], tokenOf: (req: FastifyRequest) => string | null): RoleHook {
  const hook = async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const token = tokenOf(req)
    const p = token === null ? null : lookup(db, token)
    if (!p) {
      const retryAfterS = await req.server.authFailed?.(req) ?? null
      if (retryAfterS !== null) throw new HttpError(429, 'INSTORE_RATE_LIMITED', `too many failed authentications; retry in ${retryAfterS} s`, { 'retry-after': String(retryAfterS) })
      if (token === null) throw new HttpError(401, 'INSTORE_NO_TOKEN', 'missing bearer token')
      throw new HttpError(401, 'INSTORE_BAD_TOKEN', 'unknown token')
    }
    if (!roles.includes(p.role)) throw new HttpError(403, 'INSTORE_FORBIDDEN', `this route needs a ${roles.join(' or ')} token`)
    // The principal files an SSE stream under the token id: revoking the token ends the stream.
    req.principal = p
  }
  return Object.assign(hook, { [ROLES]: roles })
}

/** Admins reach every store; managers and gateways only their own. */
export function canReachStore (p: Principal | null, storeId: string): boolean {
  return p !== null && (p.role === 'admin' || p.stores.includes(storeId))
}

/** Refuses (403 INSTORE_OTHER_STORE, with `message`) a principal that cannot reach the store. */
export function mustReachStore (p: Principal | null, storeId: string, message: string): void {
  if (!canReachStore(p, storeId)) throw new HttpError(403, 'INSTORE_OTHER_STORE', message)
}
