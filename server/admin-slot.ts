// The admin token that comes from configuration (INSTORE_ADMIN_TOKEN, --admin-token-file,
// --admin-token) or, without one, the bootstrap token made at first start, is one slot: starting
// with a different configured token revokes the one the slot held (an operator who changes
// server.env and restarts rotates the token; before, every token ever given stayed valid). Admin
// tokens made through the API (POST /v1/tokens) are not in the slot and stay until revoked.
// Replicas starting together on one PostgreSQL database take the slot's row lock in turn: exactly
// one token ends in the slot, and one bootstrap token at most is made.
// A database from before the slot (migration 015) starts with it empty: the bootstrap file of this
// data folder names the token it would have held; a token configured before the upgrade cannot be
// told from API-made ones, so the admin tokens made before the slot are listed in a warn instead.
import { existsSync, readFileSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'kysely'
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
    const wasEmpty = slot?.hash == null
    if (given !== undefined && !(await wasRevoked(trx, given))) {
      const hash = hashToken(given)
      // The bootstrap file of this data folder names a token the slot held or would have held (a
      // database from before the slot; a replica without the file that took the slot first): a
      // bootstrap token is never one made through the API, so it goes too.
      const previous = new Set([slot?.hash ?? null, leftFile !== null ? hashToken(leftFile) : null])
      const retired: string[] = []
      for (const h of previous) {
        const id = h !== null && h !== hash ? await retire(trx, data, h) : null
        if (id !== null) retired.push(id)
      }
      await issue(trx, 'admin', [], null, given)
      await trx.updateTable('admin_slot').set({ hash, file: null }).where('id', '=', 1).execute()
      return { kind: 'given' as const, retired, wasEmpty }
    }
    if (given !== undefined) log.warn('the given admin token was revoked and is not issued again; give another one', {})
    const admins = await trx.selectFrom('tokens').select('id').where('role', '=', 'admin').limit(1).executeTakeFirst()
    if (admins !== undefined) {
      // Upgraded with no token configured: the live bootstrap token of this data folder takes the
      // empty slot, so that the first configured token revokes it even once the file is gone.
      const live =
        wasEmpty && leftFile !== null
          ? await trx.selectFrom('tokens').select('hash').where('hash', '=', hashToken(leftFile)).where('role', '=', 'admin').executeTakeFirst()
          : undefined
      if (live !== undefined) await trx.updateTable('admin_slot').set({ hash: live.hash, file }).where('id', '=', 1).execute()
      return { kind: 'kept' as const, file: live !== undefined ? file : (slot?.file ?? null), wasEmpty }
    }
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
  if (outcome.wasEmpty) await warnUntracked(data, log)
  if (outcome.kind === 'given') {
    // The secret never reaches the log: only the id by which GET /v1/tokens listed it.
    for (const id of outcome.retired) log.warn('the configured admin token changed: the previous one (configured, or made at first start) is revoked', { revokedTokenId: id })
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

/**
 * With the slot empty at start (a database from before it): the admin tokens made before the slot
 * existed, other than the one now in it. A token configured before the upgrade and changed at this
 * start is among them, still valid: nothing tells it from one made through the API.
 */
async function warnUntracked(data: DataStore, log: Logger): Promise<void> {
  let since: number
  try {
    const r = await sql<{ timestamp: string }>`SELECT timestamp FROM kysely_migration WHERE name = '015_admin_slot'`.execute(data.db)
    since = Date.parse(r.rows[0]?.timestamp ?? '')
  } catch {
    since = Number.NaN
  }
  // Without the migration's time (its record lost), every admin token is listed: better one too many.
  const slot = await data.db.selectFrom('admin_slot').select('hash').where('id', '=', 1).executeTakeFirst()
  const old = await data.db
    .selectFrom('tokens')
    .select('id')
    .where('role', '=', 'admin')
    .$if(Number.isFinite(since), qb => qb.where('created', '<', since))
    .$if(slot?.hash != null, qb => qb.where('hash', '!=', slot?.hash ?? ''))
    .orderBy('created')
    .execute()
  if (old.length === 0) return
  log.warn(
    'admin tokens made before this version are not tracked by the configured admin token: one configured before the upgrade and changed since is still valid; list them with GET /v1/tokens?role=admin and revoke those not in use (DELETE /v1/tokens/{id})',
    { untrackedTokenIds: old.map(r => r.id) }
  )
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
