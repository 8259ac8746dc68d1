// What the server tells gateways about devices, and what it lets through from them.
// - Config (GET /v1/stores/{id}/config): resolution material for devices with presence consent
//   only, as the temporary keys of the current and the next 2^16-s epoch (never identity keys:
//   a stolen gateway can follow a device for a day at most, not forever), plus consent changes
//   and erasures, whole or as a delta since a version.
// - Consent gate (POST events, live snapshots): an event or a position about an `app:` subject (any
//   case) is stored or shown only while that subject is a registered device with presence consent;
//   anything else is refused and counted.
import { createHash } from 'node:crypto'
import type Database from 'better-sqlite3'
import { counterAt, epochOf, temporaryKey } from '../shared/eid.ts'
import type { DeviceMaterialT, GatewayConfigT } from '../shared/gateway-config.ts'
import type { Campaign } from '../shared/campaigns.ts'
import { configVersion } from './db/db.ts'

/** `<change seq>.<epoch>.<site and campaigns hash>`: what a gateway holds, in one opaque string. */
export const VERSION_RE = /^([0-9]{1,15})\.([0-9]{1,5})\.([0-9a-f]{8})$/

interface DeviceRow { subject: string, identity_key: string, k: number, marketing: number }

function material (d: DeviceRow, epoch: number): DeviceMaterialT {
  const key = Buffer.from(d.identity_key, 'hex')
  return {
    subject: d.subject, k: d.k, marketing: d.marketing === 1,
    tks: { [String(epoch)]: temporaryKey(key, epoch).toString('hex'), [String(epoch + 1)]: temporaryKey(key, epoch + 1).toString('hex') }
  }
}

export type ConfigResult = { ok: true, config: GatewayConfigT } | { ok: false, reason: string }

/** The store's config, whole (no `since`, an older epoch) or what changed since `since`. */
export function gatewayConfig (db: Database.Database, storeId: string, site: unknown, since: string | undefined, nowMs: number): ConfigResult {
  const seq = configVersion(db)
  const epoch = epochOf(counterAt(nowMs))
  const campaigns = (db.prepare('SELECT body FROM campaigns ORDER BY id').all() as Array<{ body: string }>)
    .map(r => JSON.parse(r.body) as Campaign).filter(c => c.stores.includes(storeId) && c.active !== false)
  const contentHash = createHash('sha256').update(JSON.stringify([site, campaigns])).digest('hex').slice(0, 8)
  const version = `${seq}.${epoch}.${contentHash}`
  let from: { seq: number, epoch: number, hash: string } | null = null
  if (since !== undefined) {
    const m = VERSION_RE.exec(since)
    if (!m) return { ok: false, reason: `since '${since.slice(0, 40)}' is not a version this server gave` }
    from = { seq: Number(m[1]), epoch: Number(m[2]), hash: m[3] }
    if (from.seq > seq) return { ok: false, reason: `since ${since} is ahead of this server (version ${version})` }
  }
  // A new epoch needs new temporary keys for every device: a whole reply, once a day or so.
  const full = from === null || from.epoch !== epoch
  const listed = 'SELECT subject, identity_key, k, marketing FROM devices WHERE presence = 1 AND identity_key IS NOT NULL'
  if (full) {
    return {
      ok: true,
      config: {
        storeId, version, full: true, site, campaigns,
        devices: (db.prepare(`${listed} ORDER BY subject`).all() as DeviceRow[]).map(d => material(d, epoch)),
        removed: [],
        erasures: (db.prepare('SELECT subject FROM erasures ORDER BY subject').all() as Array<{ subject: string }>).map(r => r.subject)
      }
    }
  }
  const after = (from as { seq: number }).seq
  return {
    ok: true,
    config: {
      storeId, version, full: false,
      ...(from?.hash !== contentHash ? { site, campaigns } : {}),
      devices: (db.prepare(`${listed} AND version > ? ORDER BY subject`).all(after) as DeviceRow[]).map(d => material(d, epoch)),
      // Only subjects a gateway may have been given: a device that never consented is never named.
      removed: (db.prepare('SELECT subject FROM devices WHERE presence = 0 AND listed = 1 AND version > ? ORDER BY subject').all(after) as Array<{ subject: string }>).map(r => r.subject),
      erasures: (db.prepare('SELECT subject FROM erasures WHERE version > ? ORDER BY subject').all(after) as Array<{ subject: string }>).map(r => r.subject)
    }
  }
}

export const REFUSE_REASONS = ['no_presence_consent'] as const
export type RefuseReason = typeof REFUSE_REASONS[number]

/**
 * Presence consent, checked again at the server: a gateway that is wrong, outdated or hostile
 * still cannot store an event about a shopper who did not consent (or was erased).
 */
export class ConsentGate {
  readonly refused: Record<RefuseReason, number> = { no_presence_consent: 0 }
  private readonly q

  constructor (db: Database.Database) {
    this.q = db.prepare('SELECT presence FROM devices WHERE subject = ?')
  }

  /**
   * Whether data about this subject may be kept or shown, uncounted. Any case of `app:` is an app
   * subject (the event schema admits any case): `APP:…` must not slip past as a non-app subject;
   * it matches no registered device, so it is refused.
   */
  permits (subject: string): boolean {
    if (subject.slice(0, 4).toLowerCase() !== 'app:') return true
    return (this.q.get(subject) as { presence: number } | undefined)?.presence === 1
  }

  /** Whether an event may be stored; a refusal is counted. */
  allows (e: { subject: string }): boolean {
    if (this.permits(e.subject)) return true
    this.refused.no_presence_consent++
    return false
  }

  /** The events that may be stored; the others are counted. */
  filter<E extends { subject: string }> (events: E[]): E[] { return events.filter(e => this.allows(e)) }
}
