// What the server tells gateways about devices, and what it lets through from them.
// - Config (GET /v1/stores/{id}/config): resolution material for devices with presence consent
//   only, as the temporary keys of the current and the next 2^16-s epoch (never identity keys:
//   a stolen gateway can follow a device for a day at most, not forever), plus consent changes
//   and erasures, whole or as a delta since a version (built in config-reply.ts).
// - Consent gate (POST events, live snapshots): an event or a position about an `app:` subject (any
//   case) is stored or shown only while that subject is a registered device with presence consent;
//   one about a device id (a uuid, the form this server issues) never is; anything else is refused
//   and counted.
import type { Db, Q } from './db/db.ts'
import { nextConfigVersion } from './db/db.ts'
import { sql } from 'kysely'
import { retryConflicts } from './db/retry.ts'
import { deviceIdForm } from '../shared/eid.ts'

/**
 * `<change seq>.<epoch>.<site and campaigns hash>.m<material format>`: what a gateway holds, in one
 * opaque string. Versions given before the format was named (no `.m`) are format 1.
 */
export const VERSION_RE = /^([0-9]{1,15})\.([0-9]{1,5})\.([0-9a-f]{8})(?:\.m([0-9]{1,3}))?$/
/**
 * What a device's entry in the config holds: 2 since entries carry `scan` (a phone's device-id
 * digest). A delta only sends devices changed since its `since`, so a gateway holding entries of
 * another format is sent a whole config: every entry then in this one.
 */
export const MATERIAL_FORMAT = 2

/**
 * How long a gateway may hold data about a subject (the gateway's --retention-days, 400 by
 * default): a whole config lists only the erasures of this window, since a gateway has deleted
 * anything older by itself. The server must be told the longest retention of its gateways.
 */
export const DEFAULT_GATEWAY_RETENTION_MS = 400 * 86_400_000
/** Registrations never seen by any gateway and whose token went unused this long are removed. */
export const DEFAULT_REGISTRATION_TTL_MS = 30 * 86_400_000

/** How stale a device's last_reported may grow before a batch naming it rewrites it: far below any registration TTL. */
const REPORTED_STEP_MS = 3_600_000

/**
 * Removes registrations no gateway has reported (none since `ttlMs` ago, and no stored event: the
 * time is kept since migration 006, and retention may drop events sooner) whose token went unused for
 * `ttlMs` (an install never opened in a store, or registration spam), a page at a time, so that
 * they stop inflating every gateway's config. Each becomes an erasure record with ts 0, which a
 * delta carries once (gateways drop its keys) and a whole config never lists. How many.
 */
export async function expireRegistrations(db: Db, nowMs: number, ttlMs: number, postgres = false): Promise<number> {
  const before = nowMs - ttlMs
  // Which devices may go: asked for a page, then again for each device under its row's lock, so a
  // device used or reported meanwhile stays (and the device row is locked first, as erasure does).
  const unused = (q: Q) =>
    q
      .selectFrom('devices')
      .select(['device_id', 'subject'])
      .where('created', '<', before)
      .where(eb => eb.or([eb('last_reported', 'is', null), eb('last_reported', '<', before)]))
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('events').select('events.id').whereRef('events.subject', '=', 'devices.subject'))))
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('tokens')
              .select('tokens.hash')
              .whereRef('tokens.device_id', '=', 'devices.device_id')
              .where(eb => eb.or([eb('tokens.last_used', '>=', before), eb('tokens.created', '>=', before)]))
          )
        )
      )
  let n = 0
  for (;;) {
    const page = await unused(db).limit(500).execute()
    for (const d of page) {
      const gone = await retryConflicts(() =>
        db.transaction().execute(async trx => {
          const still = await unused(trx)
            .where('device_id', '=', d.device_id)
            .$if(postgres, qb => qb.forUpdate())
            .executeTakeFirst()
          if (still === undefined) return false
          await trx.deleteFrom('tokens').where('device_id', '=', d.device_id).execute()
          await trx.deleteFrom('triggers').where('device_id', '=', d.device_id).execute()
          await trx.deleteFrom('devices').where('device_id', '=', d.device_id).execute()
          await trx
            .insertInto('erasures')
            .values({ subject: d.subject, ts: 0, version: await nextConfigVersion(trx) })
            .onConflict(oc => oc.column('subject').doNothing())
            .execute()
          return true
        })
      )
      if (gone) n++
    }
    if (page.length < 500) return n
  }
}

/** An app subject (any case of `app:`: the event schema admits any case). */
const isApp = (s: string) => s.slice(0, 4).toLowerCase() === 'app:'
/**
 * A subject in the form of a device id this server issues (a uuid, any case, with or without
 * dashes): never kept. A device's events name its `app:` subject, which consent and erasure name
 * (a gateway maps a phone-scan phone's device id to it). A known device's id as a subject would
 * escape both; an unknown one may be an erased or expired device's (their ids are not kept), or
 * one never issued, which no erasure could ever reach either.
 */
const isDeviceId = (s: string) => deviceIdForm(s) !== undefined
/** Subjects allowed without a device lookup: neither an app subject nor a device id. */
const unregistered = (s: string) => !isApp(s) && !isDeviceId(s)

export const REFUSE_REASONS = ['no_presence_consent'] as const
export type RefuseReason = (typeof REFUSE_REASONS)[number]

/**
 * Presence consent, checked again at the server: a gateway that is wrong, outdated or hostile
 * still cannot store an event about a shopper who did not consent (or was erased).
 */
export class ConsentGate {
  readonly refused: Record<RefuseReason, number> = { no_presence_consent: 0 }
  constructor(private readonly db: Db) {}

  /**
   * Whether data about this subject may be kept or shown, uncounted. Any case of `app:` is an app
   * subject (the event schema admits any case): `APP:…` must not slip past as a non-app subject;
   * it matches no registered device, so it is refused.
   */
  async permits(subject: string, q: Q = this.db): Promise<boolean> {
    if (isDeviceId(subject)) return false
    if (!isApp(subject)) return true
    return (await q.selectFrom('devices').select('presence').where('subject', '=', subject).executeTakeFirst())?.presence === 1
  }

  /** Whether an event may be stored; a refusal is counted. */
  async allows(e: { subject: string }, q: Q = this.db): Promise<boolean> {
    if (await this.permits(e.subject, q)) return true
    this.refused.no_presence_consent++
    return false
  }

  /**
   * permits() for many subjects in one query (a batch of events, a snapshot's positions): those
   * that may be kept or shown, uncounted. Locks nothing: a batch locks its devices' rows at its
   * end only (lockNamed), so that erasure and consent changes never wait for a batch's vetting.
   */
  async permitted(subjects: string[], q: Q = this.db): Promise<Set<string>> {
    const ok = new Set(subjects.filter(unregistered))
    const apps = [...new Set(subjects.filter(isApp))]
    // Chunks keep under either engine's limit on bound parameters.
    for (let i = 0; i < apps.length; i += 500)
      for (const r of await q
        .selectFrom('devices')
        .select('subject')
        .where('subject', 'in', apps.slice(i, i + 500))
        .where('presence', '=', 1)
        .execute())
        ok.add(r.subject)
    return ok
  }

  /**
   * PostgreSQL, inside a batch's transaction, once it has vetted and stored what it may and just
   * before it records its pushes and commits: locks the rows of the devices it names and reads
   * which still have presence consent. An erasure or a consent change (which lock the row first)
   * then either waits for this short end of the batch and sees what it stored, or came first and
   * the batch sees it here (the caller runs it again, refusing the subject). `forUpdate` (a batch
   * with triggers: their caps are counted under the lock) takes every row FOR UPDATE, else FOR
   * SHARE; either way in one statement per chunk, in byte order of subject, the same on every
   * replica whatever the collation, and in the mode the transaction will need, so two batches
   * queue instead of each holding a share the other must upgrade (a deadlock).
   */
  async lockNamed(subjects: string[], q: Q, forUpdate: boolean): Promise<Set<string>> {
    const ok = new Set(subjects.filter(unregistered))
    const apps = [...new Set(subjects.filter(isApp))].sort()
    for (let i = 0; i < apps.length; i += 500) {
      const rows = q
        .selectFrom('devices')
        .select(['subject', 'presence'])
        .where('subject', 'in', apps.slice(i, i + 500))
        .orderBy(sql`subject collate "C"`)
      for (const r of await (forUpdate ? rows.forUpdate() : rows.forShare()).execute()) if (r.presence === 1) ok.add(r.subject)
    }
    return ok
  }

  /**
   * A gateway's batch named these subjects at `at`: registration expiry must not take their devices
   * (expireRegistrations). Written after the batch has committed, outside it, so that it holds no
   * device row while the batch runs; once per REPORTED_STEP_MS at most, so that a busy store does
   * not rewrite every row each batch. Expiry also spares a device with a stored event, so a batch
   * that committed before this write is safe meanwhile.
   */
  async markReported(subjects: string[], at: number, q: Q = this.db): Promise<void> {
    const apps = [...new Set(subjects.filter(isApp))].sort()
    for (let i = 0; i < apps.length; i += 500)
      await q
        .updateTable('devices')
        .set({ last_reported: Math.floor(at) })
        .where('subject', 'in', apps.slice(i, i + 500))
        .where(eb => eb.or([eb('last_reported', 'is', null), eb('last_reported', '<', Math.floor(at) - REPORTED_STEP_MS)]))
        .execute()
  }

  /** Counts an event refused for want of presence consent. */
  refuse(): void {
    this.refused.no_presence_consent++
  }
}
