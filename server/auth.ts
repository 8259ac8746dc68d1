// Bearer tokens: random 256-bit secrets, stored only as SHA-256 hashes. Roles: admin (all stores),
// manager (own stores only), gateway (one store), device (one registered app install).
import { createHash, randomBytes } from 'node:crypto'
import type Database from 'better-sqlite3'
import type { FastifyReply, FastifyRequest } from 'fastify'

export type Role = 'admin' | 'manager' | 'gateway' | 'device'
export interface Principal { role: Role, stores: string[], deviceId: string | null }

const PREFIX: Record<Role, string> = { admin: 'adm_', manager: 'mgr_', gateway: 'gw_', device: 'dev_' }

export function hashToken (token: string): string { return createHash('sha256').update(token).digest('hex') }

export function issueToken (db: Database.Database, role: Role, stores: string[] = [], deviceId: string | null = null, token?: string): string {
  const t = token ?? PREFIX[role] + randomBytes(32).toString('base64url')
  db.prepare('INSERT OR REPLACE INTO tokens (hash, role, stores, device_id, created) VALUES (?, ?, ?, ?, ?)')
    .run(hashToken(t), role, JSON.stringify(stores), deviceId, Date.now())
  return t
}

export function lookup (db: Database.Database, token: string): Principal | null {
  const r = db.prepare('SELECT role, stores, device_id FROM tokens WHERE hash = ?').get(hashToken(token)) as { role: Role, stores: string, device_id: string | null } | undefined
  return r ? { role: r.role, stores: JSON.parse(r.stores) as string[], deviceId: r.device_id } : null
}

export class HttpError extends Error {
  constructor (readonly statusCode: number, readonly code: string, message: string) { super(message) }
}

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | null }
}

/** A preHandler that admits only the given roles. */
export function requireRole (db: Database.Database, ...roles: Role[]) {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const h = req.headers.authorization
    if (!h?.startsWith('Bearer ')) throw new HttpError(401, 'INSTORE_NO_TOKEN', 'missing bearer token')
    const p = lookup(db, h.slice(7).trim())
    if (!p) throw new HttpError(401, 'INSTORE_BAD_TOKEN', 'unknown token')
    if (!roles.includes(p.role)) throw new HttpError(403, 'INSTORE_FORBIDDEN', `this route needs a ${roles.join(' or ')} token`)
    req.principal = p
  }
}

/** Admins reach every store; managers and gateways only their own. */
export function canReachStore (p: Principal | null, storeId: string): boolean {
  return p !== null && (p.role === 'admin' || p.stores.includes(storeId))
}

/** Refuses (403 INSTORE_OTHER_STORE, with `message`) a principal that cannot reach the store. */
export function mustReachStore (p: Principal | null, storeId: string, message: string): void {
  if (!canReachStore(p, storeId)) throw new HttpError(403, 'INSTORE_OTHER_STORE', message)
}
