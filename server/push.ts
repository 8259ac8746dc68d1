// Triggers to phones: a gateway's trigger.fired becomes a push to the registered device, only with
// marketing consent, within the content's time-to-live, and within the campaign's cooldown across
// all stores. Each push has a per-server sequence number: the SSE event id a phone resumes from.
import type Database from 'better-sqlite3'
import type { InstoreEvent } from '../shared/events.ts'
import type { Campaign } from '../shared/campaigns.ts'

export interface PushedTrigger {
  triggerId: string, storeId: string, campaignId: string, ts: number, expires: number,
  content: InstoreEvent['content'], reason?: string, shop?: string, sector?: string
}

type Listener = (seq: number, t: PushedTrigger) => void

/** An open stream: where triggers go, and how to end it (erasure, marketing consent withdrawn). */
interface Stream { send: Listener, close: () => void }

export const DEFAULT_TTL_MIN = 60

export class TriggerHub {
  private readonly listeners = new Map<string, Set<Stream>>()
  readonly dropped: Record<'no_device' | 'no_consent' | 'expired' | 'cap', number> = { no_device: 0, no_consent: 0, expired: 0, cap: 0 }
  pushed = 0

  constructor (private readonly db: Database.Database, private readonly now: () => number = Date.now) {}

  /** Called for each newly accepted trigger.fired event. */
  deliver (e: InstoreEvent): void {
    const dev = this.db.prepare('SELECT device_id, marketing FROM devices WHERE subject = ?').get(e.subject) as { device_id: string, marketing: number } | undefined
    if (!dev) { this.dropped.no_device++; return }
    if (dev.marketing !== 1) { this.dropped.no_consent++; return }
    const ttlMin = e.content?.ttlMin ?? DEFAULT_TTL_MIN
    const expires = e.ts + ttlMin * 60_000
    if (this.now() > expires) { this.dropped.expired++; return }
    const campaignId = e.campaignId ?? ''
    const row = this.db.prepare('SELECT body FROM campaigns WHERE id = ?').get(campaignId) as { body: string } | undefined
    const cooldownS = row ? (JSON.parse(row.body) as Campaign).cap?.cooldownS : undefined
    if (cooldownS !== undefined) {
      // Caps hold across stores: the gateways each know only their own.
      const last = this.db.prepare('SELECT MAX(ts) AS ts FROM triggers WHERE device_id = ? AND campaign_id = ?').get(dev.device_id, campaignId) as { ts: number | null }
      if (last.ts !== null && e.ts - last.ts < cooldownS * 1000) { this.dropped.cap++; return }
    }
    const t: PushedTrigger = {
      triggerId: e.id, storeId: e.storeId, campaignId, ts: e.ts, expires, content: e.content,
      ...(e.reason ? { reason: e.reason } : {}), ...(e.shop ? { shop: e.shop } : {}), ...(e.sector ? { sector: e.sector } : {})
    }
    const r = this.db.prepare('INSERT OR IGNORE INTO triggers (trigger_id, device_id, store_id, campaign_id, ts, expires, body) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(t.triggerId, dev.device_id, t.storeId, campaignId, t.ts, expires, JSON.stringify(t))
    if (r.changes === 0) return
    this.pushed++
    for (const l of this.listeners.get(dev.device_id) ?? []) l.send(Number(r.lastInsertRowid), t)
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
