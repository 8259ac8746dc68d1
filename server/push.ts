// Triggers to phones. A gateway's trigger.fired only names a campaign; everything else comes from
// the server's own records: the campaign must exist, be active and target the posting store; the
// pushed content and its time-to-live are the server's copy of the campaign; the caps (cooldown
// across all stores, per visit) are counted in the database, so no gateway can exceed them by
// posting more events, and they hold across restarts. Pushes go only to a registered device with
// marketing consent. Each push has a per-server sequence number: the SSE event id a phone resumes from.
import type Database from 'better-sqlite3'
import type { InstoreEvent, ContentT } from '../shared/events.ts'
import type { Campaign } from '../shared/campaigns.ts'

export interface PushedTrigger {
  triggerId: string, storeId: string, campaignId: string, ts: number, expires: number,
  content: ContentT, reason?: string, shop?: string, sector?: string
}

type Listener = (seq: number, t: PushedTrigger) => void

/** An open stream: where triggers go, and how to end it (erasure, marketing consent withdrawn). */
interface Stream { send: Listener, close: () => void }

export const DEFAULT_TTL_MIN = 60

/** Why a trigger.fired is refused (the 4xx `error` code and the metric's reason). */
export const TRIGGER_REFUSALS = ['INSTORE_NO_CAMPAIGN', 'INSTORE_CAMPAIGN_INACTIVE', 'INSTORE_CAMPAIGN_OTHER_STORE', 'INSTORE_CAMPAIGN_MISMATCH'] as const
export type TriggerRefusal = typeof TRIGGER_REFUSALS[number]
export type TriggerVetting = { ok: true, campaign: Campaign } | { ok: false, code: TriggerRefusal, message: string }

/**
 * The registered device a gateway's subject names. The one place that reads devices by subject:
 * the column's name is an implementation detail of registration.
 */
export function deviceBySubject (db: Database.Database, subject: string): { deviceId: string, marketing: boolean } | null {
  const r = db.prepare('SELECT device_id, marketing FROM devices WHERE subject = ?').get(subject) as { device_id: string, marketing: number } | undefined
  return r ? { deviceId: r.device_id, marketing: r.marketing === 1 } : null
}

export function campaignById (db: Database.Database, id: string): Campaign | null {
  const r = db.prepare('SELECT body FROM campaigns WHERE id = ?').get(id) as { body: string } | undefined
  return r ? JSON.parse(r.body) as Campaign : null
}

/** Whether a gateway of `storeId` may report this trigger: its campaign exists, is active, is this store's and fits the event. */
export function vetTrigger (db: Database.Database, e: InstoreEvent, storeId: string): TriggerVetting {
  const id = e.campaignId
  const c = id === undefined ? null : campaignById(db, id)
  if (!c) return { ok: false, code: 'INSTORE_NO_CAMPAIGN', message: `event ${e.id}: no campaign ${id ?? '(none given)'}` }
  if (c.active === false) return { ok: false, code: 'INSTORE_CAMPAIGN_INACTIVE', message: `event ${e.id}: campaign ${c.id} is not active` }
  if (!c.stores.includes(storeId)) return { ok: false, code: 'INSTORE_CAMPAIGN_OTHER_STORE', message: `event ${e.id}: campaign ${c.id} does not run in store ${storeId}` }
  // The gateway copies the shop and sector of the event that matched: they must be the rule's.
  if ((c.when.sector !== undefined && e.sector !== undefined && e.sector !== c.when.sector) ||
      (c.when.shop !== undefined && e.shop !== undefined && e.shop !== c.when.shop)) {
    return { ok: false, code: 'INSTORE_CAMPAIGN_MISMATCH', message: `event ${e.id}: campaign ${c.id} does not fire in ${e.sector ?? e.shop}` }
  }
  return { ok: true, campaign: c }
}

export class TriggerHub {
  private readonly listeners = new Map<string, Set<Stream>>()
  readonly dropped: Record<'no_device' | 'no_consent' | 'expired' | 'cap', number> = { no_device: 0, no_consent: 0, expired: 0, cap: 0 }
  pushed = 0

  constructor (private readonly db: Database.Database, private readonly now: () => number = Date.now) {}

  /** Called for each newly accepted trigger.fired event, with the campaign vetTrigger found. */
  deliver (e: InstoreEvent, c: Campaign): void {
    const dev = deviceBySubject(this.db, e.subject)
    if (!dev) { this.dropped.no_device++; return }
    if (!dev.marketing) { this.dropped.no_consent++; return }
    // A gateway's clock may run ahead (or lie): a trigger never counts from later than now, so
    // neither its validity nor a cooldown can be stretched by a future timestamp.
    const ts = Math.min(e.ts, this.now())
    const expires = ts + (c.content.ttlMin ?? DEFAULT_TTL_MIN) * 60_000
    if (this.now() > expires) { this.dropped.expired++; return }
    if (this.capped(c, dev.deviceId, ts, e.visitId ?? null)) { this.dropped.cap++; return }
    const t: PushedTrigger = {
      triggerId: e.id, storeId: e.storeId, campaignId: c.id, ts, expires, content: c.content,
      ...(e.reason ? { reason: e.reason } : {}), ...(e.shop ? { shop: e.shop } : {}), ...(e.sector ? { sector: e.sector } : {})
    }
    const r = this.db.prepare('INSERT OR IGNORE INTO triggers (trigger_id, device_id, store_id, campaign_id, ts, expires, body, visit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(t.triggerId, dev.deviceId, t.storeId, c.id, ts, expires, JSON.stringify(t), e.visitId ?? null)
    if (r.changes === 0) return
    this.pushed++
    for (const l of this.listeners.get(dev.deviceId) ?? []) l.send(Number(r.lastInsertRowid), t)
  }

  /** The campaign's caps, counted over every trigger pushed to the device from any store. */
  private capped (c: Campaign, deviceId: string, ts: number, visitId: string | null): boolean {
    const cooldownS = c.cap?.cooldownS
    if (cooldownS !== undefined) {
      const last = this.db.prepare('SELECT MAX(ts) AS ts FROM triggers WHERE device_id = ? AND campaign_id = ?').get(deviceId, c.id) as { ts: number | null }
      if (last.ts !== null && ts - last.ts < cooldownS * 1000) return true
    }
    const perVisit = c.cap?.perVisit
    if (perVisit !== undefined && visitId !== null) {
      const n = this.db.prepare('SELECT COUNT(*) AS n FROM triggers WHERE device_id = ? AND campaign_id = ? AND visit_id = ?').get(deviceId, c.id, visitId) as { n: number }
      if (n.n >= perVisit) return true
    }
    return false
  }

  /** Whether a device may receive triggers now (registered, with marketing consent). */
  mayReceive (deviceId: string): boolean {
    return (this.db.prepare('SELECT marketing FROM devices WHERE device_id = ?').get(deviceId) as { marketing: number } | undefined)?.marketing === 1
  }

  /**
   * Triggers after `afterSeq` still worth showing, then every new one, until unsubscribe or until
   * the server ends the stream with `close` (the device was erased or withdrew marketing consent).
   */
  subscribe (deviceId: string, afterSeq: number, listener: Listener, close: () => void = () => {}): () => void {
    if (!this.mayReceive(deviceId)) { close(); return () => {} }
    const missed = this.db.prepare('SELECT seq, body FROM triggers WHERE device_id = ? AND seq > ? AND expires > ? ORDER BY seq')
      .all(deviceId, afterSeq, this.now()) as Array<{ seq: number, body: string }>
    for (const m of missed) listener(m.seq, JSON.parse(m.body) as PushedTrigger)
    let set = this.listeners.get(deviceId)
    if (!set) { set = new Set(); this.listeners.set(deviceId, set) }
    const stream: Stream = { send: listener, close }
    set.add(stream)
    return () => { set?.delete(stream); if (set?.size === 0 && this.listeners.get(deviceId) === set) this.listeners.delete(deviceId) }
  }

  /** Ends every open stream of a device (erasure, marketing consent withdrawn): nothing more reaches it. */
  disconnect (deviceId: string): void {
    const set = this.listeners.get(deviceId)
    this.listeners.delete(deviceId)
    for (const s of set ?? []) s.close()
  }

  get connections (): number { let n = 0; for (const s of this.listeners.values()) n += s.size; return n }
}
