// The admin token that comes from configuration (INSTORE_ADMIN_TOKEN, --admin-token-file,
// --admin-token) or, without one, the bootstrap token made at first start, is one slot: starting
// with a different configured token revokes the one the slot held (an operator who changes
// server.env and restarts rotates the token; before, every token ever given stayed valid). Admin
// tokens made through the API (POST /v1/tokens) are not in the slot and stay until revoked.
// Replicas starting together on one PostgreSQL database take the slot's row lock in turn: exactly
// one token ends in the slot, and one bootstrap token at most is made.
import { existsSync, readFileSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { hashToken, issue, revokeIn, wasRevoked } from './auth.ts'
import type { DataStore } from './db/db.ts'
import type { Q } from './db/schema.ts'
import type { Logger } from '../shared/log.ts'

/** The admin token generated on first start is written here (mode 0600), never to the log. */
export const BOOTSTRAP_TOKEN_FILE = 'admin-token'

export interface AdminSlotOptions {
  data: DataStore
  dataDir: string
  log: Logger
  /** The configured admin token, if any (already checked by admin-token.ts). */
  given: string | undefined
}

/** Fills the admin slot at start; the bootstrap token when this start made one (written to dataDir). */
export async function fillAdminSlot(o: AdminSlotOptions): Promise<string | null> {
  const { data, log } = o
  const file = join(o.dataDir, BOOTSTRAP_TOKEN_FILE)
  const leftFile = readToken(file)
  const given = o.given !== undefined && o.given !== '' ? o.given : undefined
  const outcome = await data.db.transaction().execute(async trx => {
    const slot = await trx
      .selectFrom('admin_slot')
      .select(['hash', 'file'])
      .where('id', '=', 1)
      .$if(data.engine === 'postgres', qb => qb.forUpdate())
      .executeTakeFirst()
    if (given !== undefined && !(await wasRevoked(trx, given))) {
      const hash = hashToken(given)
      // A database from before the slot: the bootstrap file of this data folder names the token
      // the slot would have held.
      const previous = slot?.hash ?? (leftFile !== null && leftFile !== given ? hashToken(leftFile) : null)
      const retired = previous !== null && previous !== hash ? await retire(trx, data, previous) : null
      await issue(trx, 'admin', [], null, given)
      await trx.updateTable('admin_slot').set({ hash, file: null }).where('id', '=', 1).execute()
      return { kind: 'given' as const, retired }
    }
    if (given !== undefined) log.warn('the given admin token was revoked and is not issued again; give another one', {})
    const admins = await trx.selectFrom('tokens').select('id').where('role', '=', 'admin').limit(1).executeTakeFirst()
    if (admins !== undefined) return { kind: 'kept' as const, file: slot?.file ?? null }
    const made = await issue(trx, 'admin')
    await trx
      .updateTable('admin_slot')
      .set({ hash: hashToken(made.token), file })
      .where('id', '=', 1)
      .execute()
    writeFileSync(file, made.token + '\n', { mode: 0o600 })
    chmodSync(file, 0o600) // a file left from an earlier start keeps its old mode otherwise
    return { kind: 'bootstrap' as const, token: made.token }
  })
  if (outcome.kind === 'bootstrap') return outcome.token
  if (outcome.kind === 'given') {
    // The secret never reaches the log: only the id by which GET /v1/tokens listed it.
    if (outcome.retired !== null)
      log.warn('the configured admin token changed: the previous one (configured, or made at first start) is revoked', { revokedTokenId: outcome.retired })
    if (leftFile !== null && leftFile !== given && (await wasRevoked(data.db, leftFile))) {
      unlinkSync(file)
      log.info('removed the bootstrap admin token file: its token is revoked', { file })
    }
  } else if (outcome.file !== null && outcome.file !== file && !existsSync(file)) {
    // With replicas, the one that started first made the bootstrap token, in its own data folder.
    log.info('the bootstrap admin token was made by the replica with this data folder, in this file', { file: outcome.file })
  }
  return null
}

/** Revokes the token with this hash (if it is still there); its id. */
async function retire(q: Q, data: DataStore, hash: string): Promise<string | null> {
  const row = await q.selectFrom('tokens').select('id').where('hash', '=', hash).where('role', '=', 'admin').executeTakeFirst()
  if (row?.id == null || !(await revokeIn(q, row.id))) return null
  await data.signal(q, 'token', row.id)
  return row.id
}

function readToken(file: string): string | null {
  try {
    const t = readFileSync(file, 'utf8').trim()
    return t === '' ? null : t
  } catch {
    return null
  }
}
