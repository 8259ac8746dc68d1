// Positions become events (contract §5): zone diff per device → events with id, seq, frequency →
// campaign triggers → outbox. Everything a tick produces is written to SQLite in one transaction
// before anything is published, and open visits are saved so a crash resumes them.
import type { Site } from '../../shared/site.ts'
import type { InstoreEvent, FrequencyT } from '../../shared/events.ts'
import type { ZoneParams } from '../../shared/site-schema.ts'
import { stepZones, closeVisit, newZoneState, defaultZoneParams, type ZoneTrack, type ZoneEvent, type ZoneState, type Evidence, type EvidenceSource } from './zones.ts'
import type { GatewayStore } from '../io/store.ts'
import type { CampaignEngine } from '../campaigns/campaigns.ts'
import { frequency, defaultSegmentRules, type SegmentRules } from './frequency.ts'
import { ulid, visitUlid } from '../ingest/ids.ts'
import { STATE_VERSION, zonesKey, trackProblem, parseTrack, closableShop, closableSector } from './state-check.ts'
import { silentLogger, type Logger } from '../../shared/log.ts'
import { planEntryTests, timedOut } from './entry-plan.ts'

export interface PresenceOptions {
  zones: Required<ZoneParams>
  segments: SegmentRules
  /** Visits older than this are purged, days (default 400). */
  retentionDays: number
  /** Open zone state is saved at least this often per device, ms of event time. */
  saveEveryMs: number
  /**
   * Shop-entry radio tests (zone-odds.ts; their cost is in `npm run bench -- events`) worked out per tick at most; past
   * it, a tick's other fixes weigh in by position alone, so a crowd arriving at once cannot stall
   * the gateway. A count, not a time, so replays stay deterministic.
   */
  entryTestsPerTick: number
  /** Most street-walk tests of held visits per tick (gateway/estimation/street-walk.ts, the costliest test: `npm run bench -- events`): past it, a held visit waits a tick. */
  walkTestsPerTick: number
}

export function presenceOptions(site: Site, over: Partial<PresenceOptions> = {}): PresenceOptions {
  return {
    zones: { ...defaultZoneParams, ...(site.file.zones ?? {}) },
    segments: defaultSegmentRules,
    retentionDays: 400,
    saveEveryMs: 10_000,
    entryTestsPerTick: 64,
    walkTestsPerTick: 2,
    ...over
  }
}

/** A device's zone state (the saved part in `state.track`) and what the engine keeps of it. */
interface Tracked {
  state: ZoneState
  lastSeen: number
  savedAt: number
  heard: boolean
}

/** The evidence source of a tick whose evidence has no radio (positions only): never asked. */
const POSITIONS_ONLY: EvidenceSource = {
  zoneCosts: () => {
    throw new Error('evidence without radio asked for zone costs')
  },
  walkGaps: () => {
    throw new Error('evidence without radio asked for a street-walk test')
  }
}

const DAY = 86_400_000
/** Delivered outbox rows are kept this long (event ms) for an operator to look at, then purged; visits past retention go at the same time. */
const DELIVERED_KEPT_MS = 3_600_000

export class PresenceEngine {
  private readonly tracks = new Map<string, Tracked>()
  private params: Required<ZoneParams>
  private lastPurge = -Infinity
  /** Shop-entry radio tests worked out in this tick so far. */
  private entryTests = 0
  private walkTests = 0
  events = 0

  private readonly siteKey: string

  constructor(
    private readonly site: Site,
    readonly store: GatewayStore,
    private readonly campaigns: CampaignEngine,
    private readonly o: PresenceOptions,
    private readonly log: Logger = silentLogger
  ) {
    this.params = o.zones
    this.refreshThresholds()
    this.siteKey = zonesKey(site)
    this.resume()
  }

  /**
   * Resumes what a crash cut off: open visits and stays continue (or time out) from their
   * evidence. A saved state that no longer fits the site (another format, a shop renamed or
   * removed since) is dropped with a warning and its visit closed as of its last evidence: it
   * must never make every tick fail.
   */
  private resume(): void {
    const closed: InstoreEvent[] = []
    this.store.transaction(() => {
      for (const saved of this.store.loadStates()) {
        const track = parseTrack(saved.state)
        const problem = track === null ? 'unreadable' : saved.version > STATE_VERSION ? `saved by a newer gateway (state version ${saved.version})` : trackProblem(track, this.site)
        if (track !== null && problem === null) {
          this.tracks.set(saved.subject, { state: { track, walk: null }, lastSeen: track.shop?.lastEvidence ?? 0, savedAt: 0, heard: false })
          continue
        }
        this.dropped++
        this.store.dropState(saved.subject)
        const ended = track === null ? [] : this.closeDropped(saved.subject, track)
        closed.push(...ended)
        this.log.warn('saved zone state does not fit the site: dropped', { problem, visitClosed: ended.length > 0, siteChanged: saved.siteKey !== this.siteKey })
      }
    })
    this.events += closed.length
  }

  /**
   * The announced visit of a state being dropped (it does not fit the site, or a tick threw on
   * it): it ends where its evidence did, so that no visit is left open for ever. Its open sector
   * stay ends first under the name it was opened with, even one the site no longer has (every
   * `sector.enter` gets its `sector.exit`); the summary lists the sectors that still exist.
   * Nothing when there is no announced visit or nothing sound to end it at.
   */
  private closeDropped(subject: string, track: ZoneTrack): InstoreEvent[] {
    const shop = closableShop(track, this.site)
    if (shop === null) return []
    let z: ZoneEvent[]
    try {
      z = closeVisit({ shop, sector: closableSector(track, shop), sectorCand: null, shopCand: null }).events
    } catch {
      return []
    }
    const known = new Set(this.site.sectors.filter(s => s.shop === shop.id).map(s => s.id))
    const out: InstoreEvent[] = []
    for (const ev of z) {
      if (ev.type !== 'sector.exit' && ev.type !== 'shop.exit' && ev.type !== 'visit.summary') continue
      const sectors = ev.sectors?.filter(s => known.has(s.id))
      out.push(...this.emit(subject, sectors === undefined ? ev : { ...ev, sectors }, track))
    }
    return out
  }

  /** Saved states dropped at start because they no longer fit the site; subjects whose tick threw. */
  dropped = 0
  failed = 0
  /** When a subject's tick last threw (wall ms), for /healthz. */
  lastFailure: number | null = null

  /** Campaign dwell rules need exact thresholds: merge them into the zone parameters. */
  refreshThresholds(): void {
    const all = new Set([...this.o.zones.dwellThresholdsS, ...this.campaigns.dwellThresholdsS()])
    this.params = { ...this.o.zones, dwellThresholdsS: [...all].sort((a, b) => a - b) }
  }

  get size(): number {
    return this.tracks.size
  }

  /** Drops a subject's open visit and stay without any event (erasure, consent withdrawn). */
  forget(subject: string): boolean {
    return this.tracks.delete(subject)
  }

  has(subject: string): boolean {
    return this.tracks.has(subject)
  }

  /** Subjects with zone state (to drop those whose consent is gone). */
  subjects(): string[] {
    return [...this.tracks.keys()]
  }

  /**
   * One tick: fresh evidence for some subjects, timeouts for all. Returns the events, already
   * committed to the outbox, in order. `source` answers the costly questions about the radio
   * behind the evidence (zone-types.ts), within this tick's budgets.
   */
  tick(t: number, fresh: Map<string, Evidence>, source: EvidenceSource = POSITIONS_ONLY): InstoreEvent[] {
    const produced: InstoreEvent[] = []
    // A source with a test pool is told the tick's entry tests first (entry-plan.ts), to work
    // them out beside this thread while the steps below run.
    if (source.prefetch !== undefined && fresh.size > 0)
      source.prefetch(
        planEntryTests({ states: this.tracks, site: this.site, params: this.params, entryTests: this.o.entryTestsPerTick, walkTests: this.o.walkTestsPerTick }, t, fresh, source)
      )
    try {
      this.steps(t, fresh, source, produced)
    } finally {
      source.settle?.()
    }
    this.entryTests = 0
    this.walkTests = 0
    this.events += produced.length
    return produced
  }

  private steps(t: number, fresh: Map<string, Evidence>, source: EvidenceSource, produced: InstoreEvent[]): void {
    this.store.transaction(() => {
      for (const subject of fresh.keys()) {
        let tr = this.tracks.get(subject)
        if (!tr) {
          tr = { state: newZoneState(), lastSeen: t, savedAt: -Infinity, heard: true }
          this.tracks.set(subject, tr)
        }
        tr.lastSeen = t
        tr.heard = true
      }
      for (const [subject, tr] of this.tracks) {
        const heard = fresh.get(subject) ?? null
        const hadShop = tr.state.track.shop !== null
        let zevents: ZoneEvent[]
        try {
          // Heard again after a silence longer than the timeouts (a visit resumed after a restart
          // overnight): the old visit ends as of its evidence before the new evidence counts.
          const ctx = { site: this.site, params: this.params, newVisitId: (shop: string, at: number) => visitUlid(at, this.site.storeId, subject, shop), source }
          zevents = []
          for (const e of heard !== null && timedOut(tr.state.track, t, this.params) ? [null, heard] : [heard]) {
            const left = { radio: this.o.entryTestsPerTick - this.entryTests, walk: this.o.walkTestsPerTick - this.walkTests }
            const step = stepZones(tr.state, e, t, { ...ctx, left })
            tr.state = step.state
            this.entryTests += step.spent.radio
            this.walkTests += step.spent.walk
            zevents.push(...step.events)
          }
        } catch (err) {
          // One subject's state that trips the zone logic costs that subject's state, never the store's ticks.
          this.failed++
          this.lastFailure = Date.now()
          this.tracks.delete(subject)
          this.store.dropState(subject)
          const ended = this.closeDropped(subject, tr.state.track)
          produced.push(...ended)
          this.log.error('zone state failed; dropped', { err: (err as Error).message, visitClosed: ended.length > 0 })
          continue
        }
        for (const z of zevents) produced.push(...this.emit(subject, z, tr.state.track))
        this.persist(subject, tr, t, hadShop || zevents.length > 0, zevents.length > 0)
        // Forget devices with nothing open that have been quiet a while (addresses rotate).
        if (!tr.state.track.shop && !tr.state.track.shopCand && t - tr.lastSeen > this.params.shopExitS * 1000) this.tracks.delete(subject)
      }
      if (t - this.lastPurge > DELIVERED_KEPT_MS) {
        this.lastPurge = t
        this.store.purgeVisits(t - this.o.retentionDays * DAY, t - DELIVERED_KEPT_MS)
      }
    })
  }

  /** Closes every open visit at its last evidence (a planned stop): nothing is left dangling. */
  closeAll(): InstoreEvent[] {
    const produced: InstoreEvent[] = []
    this.store.transaction(() => {
      for (const [subject, tr] of this.tracks) {
        const closed = closeVisit(tr.state.track)
        for (const ev of closed.events) produced.push(...this.emit(subject, ev, closed.track))
        this.store.dropState(subject)
      }
      this.tracks.clear()
    })
    return produced
  }

  /** Live counts from confirmed zone state; heard devices outside every shop are passers-by. */
  occupancy(t: number, presenceMs: number): { shops: Record<string, number>; sectors: Record<string, number>; passersBy: number } {
    const shops: Record<string, number> = Object.fromEntries(this.site.shops.map(s => [s.id, 0]))
    const sectors: Record<string, number> = Object.fromEntries(this.site.sectors.map(s => [s.id, 0]))
    let passersBy = 0
    for (const tr of this.tracks.values()) {
      // A visit held back for the street-walk test is not in the shop yet.
      const track = tr.state.track
      if (track.shop && track.shop.pending !== true) {
        shops[track.shop.id]++
        if (track.sector) sectors[track.sector.id]++
      } else if (tr.heard && t - tr.lastSeen <= presenceMs) passersBy++
    }
    return { shops, sectors, passersBy }
  }

  /** Subjects in a shop by confirmed zone state (visits held for the street-walk test not yet), and heard devices outside. */
  placed(t: number, presenceMs: number): { placed: Array<{ subject: string; shop: string; sector: string | null }>; passersBy: number } {
    const placed: Array<{ subject: string; shop: string; sector: string | null }> = []
    let passersBy = 0
    for (const [subject, tr] of this.tracks) {
      const track = tr.state.track
      if (track.shop && track.shop.pending !== true) placed.push({ subject, shop: track.shop.id, sector: track.sector?.id ?? null })
      else if (tr.heard && t - tr.lastSeen <= presenceMs) passersBy++
    }
    return { placed, passersBy }
  }

  /**
   * Saves a subject's open zone state, at most every `saveEveryMs` and always with events: the
   * events and the state that produced them commit together, so a crash never replays them under
   * new ids.
   */
  private persist(subject: string, tr: Tracked, t: number, changed: boolean, emitted: boolean): void {
    if (!tr.state.track.shop) {
      if (changed) this.store.dropState(subject)
      return
    }
    if (emitted || (changed && t - tr.savedAt >= this.o.saveEveryMs)) {
      this.store.saveState(subject, tr.state.track, t, STATE_VERSION, this.siteKey)
      tr.savedAt = t
    }
  }

  private emit(subject: string, z: ZoneEvent, track: ZoneTrack): InstoreEvent[] {
    const { type, ts, shop, sector, visitId, confidence, dwellMs, thresholdMs, durationMs, sectors } = z
    const e: InstoreEvent = {
      id: ulid(ts),
      type,
      storeId: this.site.storeId,
      subject,
      visitId,
      seq: this.store.nextSeq(subject),
      ts,
      shop,
      ...(sector !== undefined ? { sector } : {}),
      ...(dwellMs !== undefined ? { dwellMs } : {}),
      ...(thresholdMs !== undefined ? { thresholdMs } : {}),
      ...(durationMs !== undefined ? { durationMs } : {}),
      ...(sectors !== undefined ? { sectors } : {}),
      confidence
    }
    let segment: FrequencyT['segment'] | null = null
    if (type === 'shop.enter') {
      e.frequency = frequency(this.store.history(subject, ts), ts, this.o.segments)
      segment = e.frequency.segment
      if (track.shop) track.shop.segment = segment
      this.store.openVisit(visitId, subject, shop, ts)
    } else {
      segment = (track.shop?.segment as FrequencyT['segment'] | undefined) ?? null
    }
    if (type === 'shop.exit') this.store.closeVisit(visitId, ts, null)
    if (type === 'visit.summary') this.store.closeVisit(visitId, ts, sectors)
    const out = [e]
    this.store.addEvent(e.id, e.type, e.ts, JSON.stringify(e))
    for (const d of this.campaigns.evaluate(e, segment)) {
      const trig: InstoreEvent = {
        id: ulid(ts),
        type: 'trigger.fired',
        storeId: this.site.storeId,
        subject,
        visitId,
        seq: this.store.nextSeq(subject),
        ts,
        shop,
        ...(sector !== undefined ? { sector } : {}),
        campaignId: d.campaign.id,
        content: d.campaign.content,
        reason: d.reason
      }
      this.store.addEvent(trig.id, trig.type, trig.ts, JSON.stringify(trig))
      out.push(trig)
    }
    return out
  }
}
