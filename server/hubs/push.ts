// Triggers to phones. A gateway's trigger.fired only names a campaign; everything else comes from
// the server's own records: the campaign must exist, be active, run today and target the posting
// store; the pushed content, reason and time-to-live are the server's; the caps (cooldown across
// all stores, per visit, per hour) are counted in the database on the server's clock, so no
// gateway can exceed them by posting more events or other timestamps, and they hold across restarts. Pushes go only to a registered device with
// marketing consent. Each push has a sequence number in the database, the SSE event id a phone
// resumes from on any replica. A trigger is written in the transaction that stores its event;
// its commit wakes the streams of the device wherever they are held (NOTIFY on PostgreSQL, a
// local call on SQLite), and each stream then reads what follows the last id it sent, so a
// wake-up lost or doubled never loses or repeats a trigger.
import type { DataStore, Q } from '../db/db.ts'
import type { InstoreEvent, ContentT } from '../../shared/events.ts'
import type { Campaign } from '../../shared/campaigns.ts'
import { StreamSlots, DEFAULT_STREAM_LIMITS, DEFAULT_LEASE_MS, type StreamLimits, type StreamSlot } from './stream-slots.ts'
import { stillLive } from './withdraw.ts'

export interface PushedTrigger {
  triggerId: string
  storeId: string
  campaignId: string
  ts: number
  expires: number
  content: ContentT
  reason?: string
  shop?: string
  sector?: string
}

type Listener = (seq: number, t: PushedTrigger) => void

/** An open stream: where triggers go, how to end it (erasure, marketing consent withdrawn), the last id sent. */
interface Stream {
  send: Listener
  close: () => void
  last: number
  ended: boolean
}

/** A device's open streams here, and whether a read for them is under way (another asked meanwhile: `again`). */
interface DeviceStreams {
  streams: Set<Stream>
  busy: boolean
  again: boolean
}

export const DEFAULT_TTL_MIN = 60
/** However many visits a gateway makes up, a device gets a campaign at most this often per hour. */
export const MAX_PER_CAMPAIGN_HOUR = 3
/** Link schemes a campaign may carry besides https: and http: (the demo's app links), unless the server is told otherwise. */
export const DEFAULT_APP_SCHEMES = ['app']

/** What the server knows of a store: its zones (the only shop and sector names it vouches for) and its time zone. */
export interface StoreFacts {
  shops: Set<string>
  sectors: Set<string>
  timeZone: string
}

export function storeFacts(siteJson: string): StoreFacts {
  const site = JSON.parse(siteJson) as { timezone?: string; features?: Array<{ properties?: { kind?: string; id?: string } }> }
  const facts: StoreFacts = { shops: new Set(), sectors: new Set(), timeZone: site.timezone ?? 'UTC' }
  for (const f of site.features ?? []) {
    const id = f.properties?.id
    if (typeof id !== 'string') continue
    if (f.properties?.kind === 'shop') facts.shops.add(id)
    if (f.properties?.kind === 'sector') facts.sectors.add(id)
  }
  return facts
}

/**
 * Whether a link may reach a phone: https:, http: or one of the app schemes the server was given,
 * and no control or bidirectional-override character (which would make a link read as another).
 */
export function linkAllowed(url: string, appSchemes: readonly string[]): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u0020\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(url)) return false
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1].toLowerCase()
  return scheme !== undefined && (scheme === 'https' || scheme === 'http' || appSchemes.includes(scheme))
}

/** The rule a campaign fires on, as the reason shown on the phone: the server's words, never the gateway's. */
export function ruleText(c: Campaign): string {
  const w = c.when
  return `${w.event} ${w.sector ?? w.shop ?? 'store'}${w.minDwellS !== undefined ? ` ≥ ${w.minDwellS} s` : ''}`
}

/**
 * The registered device a gateway's subject names. The one place that reads devices by subject:
 * the column's name is an implementation detail of registration.
 */
export async function deviceBySubject(q: Q, subject: string, lock = false): Promise<{ deviceId: string; marketing: boolean } | null> {
  const r = await q
    .selectFrom('devices')
    .select(['device_id', 'marketing'])
    .where('subject', '=', subject)
    .$if(lock, qb => qb.forUpdate())
    .executeTakeFirst()
  return r ? { deviceId: r.device_id, marketing: r.marketing === 1 } : null
}

export async function campaignById(q: Q, id: string): Promise<Campaign | null> {
  const r = await q.selectFrom('campaigns').select('body').where('id', '=', id).executeTakeFirst()
  return r ? (JSON.parse(r.body) as Campaign) : null
}

/**
 * The server's key of a trigger: event ids are unique per store only, so two stores' gateways may
 * send one id and each trigger must still be recorded. Store ids hold no `/` (STORE_ID), so no two
 * pairs share a key, and no key from before migration 010 (an event id alone) has one.
 */
export const triggerKey = (storeId: string, eventId: string): string => `${storeId}/${eventId}`

/** What became of a trigger `record` was given: pushed, already recorded, or dropped and why. */
export type RecordOutcome = 'pushed' | 'duplicate' | 'no_device' | 'no_consent' | 'expired' | 'cap' | 'link'

export class TriggerHub {
  private readonly listeners = new Map<string, DeviceStreams>()
  /**
   * Triggers not pushed or recalled, by reason; `duplicate`: the store already has a trigger of
   * that event id (the batch's own duplicate check makes it rare: a race it did not see);
   * `consent_withdrawn`: pending when the device withdrew marketing consent.
   */
  readonly dropped: Record<'duplicate' | 'no_device' | 'no_consent' | 'expired' | 'cap' | 'link' | 'withdrawn' | 'consent_withdrawn', number> = {
    duplicate: 0,
    no_device: 0,
    no_consent: 0,
    expired: 0,
    cap: 0,
    link: 0,
    withdrawn: 0,
    consent_withdrawn: 0
  }
  /** How many streams each device, token and store holds open, here and on every replica (stream-slots.ts); the live dashboard's streams count here too. */
  readonly slots: StreamSlots
  pushed = 0

  constructor(
    private readonly data: DataStore,
    private readonly now: () => number = Date.now,
    private readonly appSchemes: readonly string[] = DEFAULT_APP_SCHEMES,
    limits: Readonly<StreamLimits> = DEFAULT_STREAM_LIMITS,
    leaseMs = DEFAULT_LEASE_MS
  ) {
    this.slots = new StreamSlots(limits, data, leaseMs)
    data.onSignal(
      'device',
      id => this.wake(id),
      () => {
        for (const id of this.listeners.keys()) this.wake(id)
      }
    )
  }

  /**
   * Records the push of a newly accepted trigger.fired event, with the campaign vetTrigger found
   * and what the server knows of the store, inside the transaction `q` that stores the event; its
   * commit wakes the device's streams. What became of it: counted with `count` once the transaction
   * has committed, so a transaction PostgreSQL runs again does not count its triggers twice.
   */
  async record(q: Q, e: InstoreEvent, c: Campaign, facts: StoreFacts): Promise<RecordOutcome> {
    // The device's row is locked until the commit (PostgreSQL; SQLite runs one writer at a time):
    // two replicas vetting triggers for one device count its caps one after the other, and its
    // triggers take their sequence numbers in commit order, so no stream reads past one not yet committed.
    // The event batch has already taken this lock in this mode (identity.ts lockNamed, at the batch's end): taking it
    // again here is no upgrade, which is what used to deadlock two batches for one device.
    const dev = await deviceBySubject(q, e.subject, this.data.engine === 'postgres')
    if (!dev) {
      return 'no_device'
    }
    if (!dev.marketing) {
      return 'no_consent'
    }
    // A campaign stored before the link allowlist, or under a wider one, never sends its link on.
    if (c.content.url !== undefined && !linkAllowed(c.content.url, this.appSchemes)) {
      return 'link'
    }
    // Caps count on the server's clock at arrival, so a back-dated timestamp cannot slip between
    // two cooldowns; validity counts from the event's time but never from later than now, so a
    // timestamp can only shorten it (a trigger held back by an outage expires as it should).
    const arrived = this.now()
    const ts = Math.min(e.ts, arrived)
    const expires = ts + (c.content.ttlMin ?? DEFAULT_TTL_MIN) * 60_000
    if (arrived > expires) {
      return 'expired'
    }
    if (await this.capped(q, c, dev.deviceId, arrived, e.visitId ?? null)) {
      return 'cap'
    }
    // Only what the server vouches for reaches the phone: the campaign's own rule as the reason,
    // and a shop or sector only when the store's site has it.
    const t: PushedTrigger = {
      triggerId: e.id,
      storeId: e.storeId,
      campaignId: c.id,
      ts,
      expires,
      content: c.content,
      reason: ruleText(c),
      ...(e.shop !== undefined && facts.shops.has(e.shop) ? { shop: e.shop } : {}),
      ...(e.sector !== undefined && facts.sectors.has(e.sector) ? { sector: e.sector } : {})
    }
    const r = await q
      .insertInto('triggers')
      .values({
        trigger_id: triggerKey(t.storeId, t.triggerId),
        event_id: t.triggerId,
        device_id: dev.deviceId,
        store_id: t.storeId,
        campaign_id: c.id,
        ts: arrived,
        expires: Math.floor(expires),
        body: JSON.stringify(t),
        visit_id: e.visitId ?? null
      })
      .onConflict(oc => oc.column('trigger_id').doNothing())
      .executeTakeFirst()
    if (Number(r.numInsertedOrUpdatedRows ?? 0) === 0) return 'duplicate'
    await this.data.signal(q, 'device', dev.deviceId)
    return 'pushed'
  }

  /** Counts what `record` returned, once its transaction has committed. */
  count(outcome: RecordOutcome): void {
    if (outcome === 'pushed') this.pushed++
    else this.dropped[outcome]++
  }

  /** The campaign's caps, counted over every trigger pushed to the device from any store, by any replica. */
  private async capped(q: Q, c: Campaign, deviceId: string, ts: number, visitId: string | null): Promise<boolean> {
    const mine = () => q.selectFrom('triggers').where('device_id', '=', deviceId).where('campaign_id', '=', c.id)
    const cooldownS = c.cap?.cooldownS
    if (cooldownS !== undefined) {
      const last = await mine()
        .select(eb => eb.fn.max('ts').as('ts'))
        .executeTakeFirst()
      if (last?.ts != null && ts - Number(last.ts) < cooldownS * 1000) return true
    }
    const perVisit = c.cap?.perVisit
    if (perVisit !== undefined && visitId !== null) {
      const n = await mine()
        .where('visit_id', '=', visitId)
        .select(eb => eb.fn.countAll().as('n'))
        .executeTakeFirst()
      if (Number(n?.n ?? 0) >= perVisit) return true
    }
    // Visit ids are the gateway's word: made-up ones would reset perVisit, so an hourly bound holds whatever they say.
    const hour = await mine()
      .where('ts', '>', ts - 3_600_000)
      .select(eb => eb.fn.countAll().as('n'))
      .executeTakeFirst()
    return Number(hour?.n ?? 0) >= MAX_PER_CAMPAIGN_HOUR
  }

  /** Whether a device may receive triggers now (registered, with marketing consent). */
  async mayReceive(deviceId: string): Promise<boolean> {
    return (await this.data.db.selectFrom('devices').select('marketing').where('device_id', '=', deviceId).executeTakeFirst())?.marketing === 1
  }

  /**
   * Triggers after `afterSeq` still worth showing, then every new one, until unsubscribe or until
   * the server ends the stream with `close` (the device was erased or withdrew marketing consent).
   * `slot` (from slots.reserve) is released when the stream ends.
   */
  async subscribe(deviceId: string, afterSeq: number, listener: Listener, close: () => void = () => {}, slot?: StreamSlot): Promise<() => void> {
    if (!(await this.mayReceive(deviceId))) {
      slot?.release()
      close()
      return () => {}
    }
    let dev = this.listeners.get(deviceId)
    if (!dev) {
      dev = { streams: new Set(), busy: false, again: false }
      this.listeners.set(deviceId, dev)
    }
    const stream: Stream = {
      send: listener,
      close: () => {
        slot?.release()
        close()
      },
      last: afterSeq,
      ended: false
    }
    dev.streams.add(stream)
    void this.pump(deviceId, dev)
    const set = dev
    return () => {
      stream.ended = true
      slot?.release()
      set.streams.delete(stream)
      if (set.streams.size === 0 && this.listeners.get(deviceId) === set) this.listeners.delete(deviceId)
    }
  }

  /** A device has new triggers (or lost its consent): its streams here read what follows their last ids. */
  private wake(deviceId: string): void {
    const dev = this.listeners.get(deviceId)
    if (dev) void this.pump(deviceId, dev)
  }

  /**
   * One read for all of a device's streams here, however many there are: its consent once, then
   * its triggers after the lowest last id, each stream sent those after its own. A wake-up costs
   * two queries per device, not per stream.
   */
  private async pump(deviceId: string, dev: DeviceStreams): Promise<void> {
    if (dev.busy) {
      dev.again = true
      return
    }
    dev.busy = true
    try {
      do {
        dev.again = false
        const streams = [...dev.streams].filter(s => !s.ended)
        if (streams.length === 0) return
        // Consent withdrawn or erased on another replica: this one learns it at the wake-up and ends the streams.
        if (!(await this.mayReceive(deviceId))) {
          this.endLocal(deviceId)
          return
        }
        const rows = await this.triggersAfter(deviceId, Math.min(...streams.map(s => s.last)))
        for (const s of streams) {
          for (const { seq, trigger } of rows) {
            if (s.ended) break
            if (seq <= s.last) continue
            s.last = seq
            s.send(seq, trigger)
          }
        }
      } while (dev.again)
    } catch {
      // The database is unreachable for now: the next wake-up (or the phone's reconnection) reads again.
    } finally {
      dev.busy = false
    }
  }

  /**
   * The device's triggers after `afterSeq` still worth showing, in order. Each is checked against
   * its campaign as it is now: one deleted, deactivated, taken off the trigger's store or given
   * other content since is withdrawn (a recalled link never reaches a phone that connects later).
   */
  async triggersAfter(deviceId: string, afterSeq: number): Promise<Array<{ seq: number; trigger: PushedTrigger }>> {
    const rows = await this.data.db
      .selectFrom('triggers')
      .select(['seq', 'body', 'campaign_id'])
      .where('device_id', '=', deviceId)
      .where('seq', '>', afterSeq)
      .where('expires', '>', this.now())
      .orderBy('seq')
      .execute()
    if (rows.length === 0) return []
    const ids = [...new Set(rows.map(r => r.campaign_id))]
    const live = new Map<string, Campaign>()
    for (const r of await this.data.db.selectFrom('campaigns').select('body').where('id', 'in', ids).execute()) {
      const c = JSON.parse(r.body) as Campaign
      live.set(c.id, c)
    }
    const out: Array<{ seq: number; trigger: PushedTrigger }> = []
    for (const r of rows) {
      const trigger = JSON.parse(r.body) as PushedTrigger
      // Withdrawn rows were counted when their campaign changed (withdraw.ts); this catches a trigger recorded meanwhile.
      if (stillLive(trigger, live.get(r.campaign_id))) out.push({ seq: Number(r.seq), trigger })
    }
    return out
  }

  private endLocal(deviceId: string): void {
    const dev = this.listeners.get(deviceId)
    this.listeners.delete(deviceId)
    for (const s of dev?.streams ?? []) {
      s.ended = true
      s.close()
    }
  }

  /** Ends every open stream of a device (erasure, marketing consent withdrawn), on every replica: nothing more reaches it. */
  async disconnect(deviceId: string): Promise<void> {
    this.endLocal(deviceId)
    await this.data.signal(this.data.db, 'device', deviceId)
  }

  get connections(): number {
    let n = 0
    for (const d of this.listeners.values()) n += d.streams.size
    return n
  }
}
