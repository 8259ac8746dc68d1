// The gateway's pipeline, as a list of named stages. Per message:
//   ingest (parse → validate → subject) → time (stamp, lateness) → estimate (per-sensor RSSI windows)
// Per tick of event time (every second):
//   smooth (solver + motion filter) → locate (shop, sector) → publish positions → occupancy
// Zone diffs, events, triggers and the outbox hang off the `onPosition` sink.
import { createHash } from 'node:crypto'
import type { Site } from '../shared/site.ts'
import type { Logger } from '../shared/log.ts'
import type { PositionMessageT, OccupancyMessageT } from '../shared/messages.ts'
import { ingest, REJECT_REASONS, type IngestContext, type Reading, type RejectReason } from './ingest.ts'
import { SubjectHasher } from './subjects.ts'
import type { IdentityResolver } from './identity.ts'
import { GatewayClock, defaultClockOptions, type ClockOptions } from './clock.ts'
import { Tracker, trackerOptions, type TrackerOptions, type TrackerLearned } from './tracker.ts'
import { sensorModels, beaconModels, type SensorModel } from './radio-model.ts'
import { SelfCalibrator, type CalibratorState } from './self-calibration.ts'
import type { Metrics } from './metrics.ts'
import type { PresenceEngine } from './presence.ts'
import type { Evidence } from './zones.ts'
import type { InstoreEvent } from '../shared/events.ts'
import { Footfall, type FootfallCounts } from './footfall.ts'
import { translate, aliasMap, type ForeignConfig } from './foreign.ts'
import { ReorderBuffer } from './reorder.ts'
import { ExternalFixes } from './external-fixes.ts'
import { bleIdentity } from './sensor-ids.ts'
import { isRandomizedMac } from './subjects.ts'
import { locate } from '../shared/site.ts'
import { redactMacs } from './subjects.ts'
import { localTime } from '../shared/local-time.ts'

export interface PipelineOptions {
  prefix: string
  secret: string
  clock: ClockOptions
  /** Tick period, ms of event time: positions are published at least this often per subject. */
  tickMs: number
  /** A subject is present (and published) while heard within this long, ms, per source. */
  presenceMs: { ble: number, wifi: number }
  maxMessageBytes: number
  selfCalibration: boolean
  tracker?: Partial<TrackerOptions>
  /** Resolves apps' rotating EIDs (gateway/identity.ts); without it every EID is anonymous. */
  identity?: IdentityResolver
  /** Foreign sensors' topic roots (default: each firmware's own). */
  foreign?: ForeignConfig
  /**
   * Set when the clock's lateness is raised for sources that deliver late (Meraki): readings wait
   * in time order and reach the trackers up to `aheadMs` past each tick, as they would live.
   */
  reorder?: { aheadMs: number }
}

export interface PipelineSink {
  position (p: PositionMessageT): void
  occupancy (o: OccupancyMessageT): void
  /** Events of one tick, already committed to the outbox. */
  events (e: InstoreEvent[]): void
  footfall (f: FootfallCounts & { ts: number }): void
}

type Source = 'ble' | 'wifi' | 'scan'

/**
 * What the gateway learns about the site's radio as it runs, kept across restarts: the sensors'
 * corrections and floors, and the beacons' corrections (phone-scan mode) with the key of the
 * beacons they were learned for.
 */
export interface LearnedRadio { calibrator: CalibratorState, ble: TrackerLearned, scan?: { key: string, calibrator: CalibratorState } }

/**
 * Names the radio setup learned state belongs to: the site's radio defaults and its sensors (ids,
 * places, fitted values, maps). Moving a sensor or calibrating again makes the old learning moot.
 */
export function radioKey (site: Site, kind: 'sensor' | 'beacon' = 'sensor'): string {
  const features = site.file.features.filter(f => f.properties.kind === kind)
  return createHash('sha256').update(JSON.stringify([site.file.radio ?? null, features])).digest('hex').slice(0, 16)
}

interface Latest { pos: PositionMessageT, lastHeard: number }

export class Pipeline {
  readonly clock: GatewayClock
  private readonly ctx: IngestContext
  private readonly trackers: Record<Source, Tracker>
  private readonly calibrator: SelfCalibrator
  /** Phone-scan mode: the beacons' transmit offsets, learned from fixes as the sensors' are. */
  private readonly scanCalibrator: SelfCalibrator
  private readonly latest = new Map<string, Latest>()
  private nextTick = -Infinity
  private lastOccupancy = ''
  private fixesSinceModels = 0
  private readonly logBudget = new Map<string, { windowStart: number, n: number }>()
  private readonly m
  readonly footfall: Footfall
  /** The occupancy last published (for the live dashboard). */
  lastOccupancyMessage: OccupancyMessageT | null = null
  private readonly aliases: Map<string, string>
  private readonly reportLagMs: number

  constructor (private readonly site: Site, private readonly o: PipelineOptions, private readonly sink: PipelineSink,
    metrics: Metrics, private readonly log: Logger, private readonly presence: PresenceEngine | null = null) {
    this.clock = new GatewayClock(o.clock)
    this.held = o.reorder ? new ReorderBuffer<Reading>() : null
    this.ctx = {
      prefix: o.prefix, storeId: site.storeId, sensors: new Set(site.sensors.keys()), beacons: new Set(site.beacons.keys()),
      hasher: new SubjectHasher(o.secret), maxBytes: o.maxMessageBytes, ...(o.identity ? { identity: o.identity } : {})
    }
    this.footfall = new Footfall(ts => localTime(ts, site.timezone).date)
    this.aliases = aliasMap(site)
    const base = sensorModels(site)
    const beacons = beaconModels(site)
    this.calibrator = new SelfCalibrator(base)
    this.scanCalibrator = new SelfCalibrator(beacons)
    const topts = trackerOptions(site, o.tracker)
    this.reportLagMs = topts.reportLagMs
    // Wi-Fi probes carry more power and are rarer and noisier than BLE adverts.
    const wifiDelta = site.radio.wifiRssiAt1m - site.radio.rssiAt1m
    this.trackers = {
      ble: new Tracker(site, base, topts),
      // Wi-Fi positions count in footfall, not in visits: no walk history.
      wifi: new Tracker(site, shiftModels(base, wifiDelta), { ...topts, window: { ...topts.window, windowMs: 10_000, rawSigmaDb: topts.window.rawSigmaDb + 2 }, ttlMs: 300_000, walkHistory: false }),
      scan: new Tracker(site, beacons, topts)
    }
    if (o.selfCalibration) {
      this.trackers.ble.onFix = (obs, fix) => this.calibrator.observeFix(obs, fix, topts.tagHeight)
      this.trackers.scan.onFix = (obs, fix) => this.scanCalibrator.observeFix(obs, fix, topts.tagHeight)
    }
    this.m = {
      messages: metrics.counter('instore_messages_total', 'MQTT messages taken in, by kind'),
      readings: metrics.counter('instore_readings_total', 'readings accepted, by source'),
      rejected: metrics.counter('instore_rejected_total', 'messages or readings dropped, by reason'),
      positions: metrics.counter('instore_positions_total', 'positions published'),
      ticks: metrics.counter('instore_ticks_total', 'pipeline ticks run'),
      devices: metrics.gauge('instore_devices', 'devices tracked, by source'),
      skew: metrics.counter('instore_clock_skew_total', 'readings re-stamped because their clock was off'),
      sensorSeen: metrics.gauge('instore_sensor_last_seen_ms', 'event time of each sensor\'s last message'),
      sensorOnline: metrics.gauge('instore_sensor_online', 'sensor status (1 online, 0 offline)'),
      correction: metrics.gauge('instore_selfcal_correction_db', 'learned RSSI correction per sensor'),
      beaconCorrection: metrics.gauge('instore_selfcal_beacon_correction_db', 'learned RSSI correction per beacon (phone-scan mode)'),
      fixes: metrics.counter('instore_fixes_total', 'position fixes, by result (gated = rejected by the motion filter)')
    }
    for (const r of REJECT_REASONS) this.m.rejected.inc({ reason: r }, 0)
    metrics.onCollect(() => {
      for (const s of ['ble', 'wifi', 'scan'] as const) this.m.devices.set({ source: s }, this.trackers[s].size)
      const all = Object.values(this.trackers)
      this.m.fixes.set({ result: 'used' }, all.reduce((n, t) => n + t.fixes - t.gated, 0))
      this.m.fixes.set({ result: 'gated' }, all.reduce((n, t) => n + t.gated, 0))
      this.m.skew.set({}, this.clock.skewed)
      for (const [id, c] of Object.entries(this.calibrator.corrections())) this.m.correction.set({ sensor: id }, c)
      for (const [id, c] of Object.entries(this.scanCalibrator.corrections())) this.m.beaconCorrection.set({ beacon: id }, c)
    })
  }

  /** Last message time per sensor (for health checks). */
  readonly sensorLastSeen = new Map<string, number>()

  /** Stage 1-3 for one MQTT message: ingest, time, estimate. Never throws on bad input. */
  handle (topic: string, payload: Buffer): void {
    if (!topic.startsWith(this.o.prefix + '/')) {
      // Stage 0 for foreign sensors: translate to a native batch, then the same path.
      const f = translate(topic, payload, this.o.prefix, this.site.storeId, this.aliases, this.o.foreign)
      if (f === null) { this.rejected('bad_topic', topic.slice(0, 200), topic); return }
      if ('reject' in f) { this.rejected(f.reject, f.detail, topic); return }
      if ('ignore' in f) { this.m.messages.inc({ kind: 'foreign_ignored' }); return }
      this.m.messages.inc({ kind: 'foreign' })
      topic = f.topic; payload = f.payload
    }
    const r = ingest(topic, payload, this.ctx)
    switch (r.kind) {
      case 'rejected':
        this.rejected(r.reason, r.detail, topic)
        return
      case 'status':
        this.m.messages.inc({ kind: 'status' })
        this.m.sensorOnline.set({ sensor: r.sensor }, r.online ? 1 : 0)
        return
      case 'readings': {
        this.m.messages.inc({ kind: r.readings.length === 0 && r.rejected.length === 0 ? 'heartbeat' : 'readings' })
        for (const x of r.rejected) this.rejected(x.reason, x.detail, topic)
        const batchTs = this.clock.stamp(r.ts)
        this.sensorLastSeen.set(r.sensor, batchTs)
        this.m.sensorSeen.set({ sensor: r.sensor }, batchTs)
        if (this.held !== null) {
          for (const reading of r.readings) this.hold(reading, batchTs)
          break
        }
        this.estimateAll(r.readings, batchTs)
        break
      }
      case 'scans': {
        this.m.messages.inc({ kind: 'scans' })
        for (const x of r.rejected) this.rejected(x.reason, x.detail, topic)
        const ts = this.clock.stamp(r.ts)
        if (r.randomized && r.beacons.length > 0) this.randomized.add(r.device)
        for (const b of r.beacons) this.trackers.scan.addReading(r.device, b.id, ts, b.rssi)
        if (r.beacons.length > 0) this.m.readings.inc({ source: 'scan' }, r.beacons.length)
        break
      }
    }
    this.advance()
  }

  /** Readings waiting for their tick (only with `reorder`). */
  private readonly held: ReorderBuffer<Reading> | null

  private hold (reading: Reading, batchTs: number): void {
    // An access point's record (Meraki: site sensors with a MAC) is judged against the late window.
    const late = !Number.isNaN(reading.ts) && this.site.sensors.get(reading.sensor)?.mac !== undefined
    const ts = Number.isNaN(reading.ts) ? batchTs : late ? this.lateSourceTs(reading.ts) : this.clock.stamp(reading.ts)
    if (ts === null) return
    if (ts < this.clock.watermark() - this.trackers.ble.o.window.windowMs) { this.rejected('late', `${this.clock.watermark() - ts} ms behind`, ''); return }
    this.held?.push({ ...reading, ts })
  }

  /**
   * A record from a source that delivers late, in wall mode: kept at its own time when within the
   * late window, dropped as `late` when older, refused as `bad_ts` when ahead of the wall clock by
   * more than ordinary skew. Never re-stamped to its arrival: a minute-old record placed "now" would
   * shift the device by a minute.
   */
  private lateSourceTs (ts: number): number | null {
    if (this.clock.o.mode !== 'wall') return this.clock.stamp(ts)
    const now = this.clock.now()
    if (ts > now + defaultClockOptions.maxSkewMs) { this.rejected('bad_ts', `${ts - now} ms ahead`, ''); return null }
    return ts
  }

  /** Positions a source estimated itself (Meraki where its APs are not placed). */
  private readonly external = new ExternalFixes()

  /** Takes a position a source estimated itself, for a device heard as `id` (BLE) or `mac` (Wi-Fi). */
  placeExternal (f: { t: 'ble' | 'wifi', id: string, ts: number, x: number, y: number, floor: number, accuracyM: number }): void {
    const ts = this.lateSourceTs(f.ts)
    if (ts === null) return
    if (ts < this.clock.watermark() - this.trackers.ble.o.window.windowMs) { this.rejected('late', `${this.clock.watermark() - ts} ms behind`, ''); return }
    const who = f.t === 'ble' ? bleIdentity(f.id, undefined, this.ctx.hasher) : { subject: this.ctx.hasher.hash(f.id), anonymous: isRandomizedMac(f.id) }
    this.external.push({ subject: who.subject, source: f.t, ts, x: f.x, y: f.y, floor: f.floor, accuracyM: f.accuracyM, anonymous: who.anonymous })
  }

  private estimateAll (readings: Reading[], batchTs: number, held = false): void {
    let ble = 0; let wifi = 0
    for (const reading of readings) {
      if (this.estimate(reading, batchTs, held)) { if (reading.source === 'wifi') wifi++; else ble++ }
    }
    if (ble > 0) this.m.readings.inc({ source: 'ble' }, ble)
    if (wifi > 0) this.m.readings.inc({ source: 'wifi' }, wifi)
  }

  /** Returns whether the reading was taken (counted per batch by the caller: labels cost). */
  private estimate (reading: Reading, batchTs: number, held = false): boolean {
    // A held reading was judged (stamped, skew and lateness) on arrival and keeps that time: judged
    // again at release it would be as old as the late window and taken for clock skew.
    const ts = held ? reading.ts : Number.isNaN(reading.ts) ? batchTs : this.clock.stamp(reading.ts)
    if (!held && ts < this.clock.watermark() - this.trackers.ble.o.window.windowMs) { this.rejected('late', `${this.clock.watermark() - ts} ms behind`, ''); return false }
    if (reading.beacon !== undefined) {
      // A fixed beacon heard by a sensor: a known distance, evidence for self-calibration.
      const b = this.site.beacons.get(reading.beacon); const s = this.site.sensors.get(reading.sensor)
      if (b && s && this.o.selfCalibration) this.calibrator.observeKnown(s.id, Math.hypot(b.x - s.x, b.y - s.y, b.z - s.z), reading.rssi, b.rssiAt1m, this.site.radio.rssiAt1m)
      return true
    }
    this.trackers[reading.source].addReading(reading.subject, reading.sensor, ts, reading.rssi, reading.tx)
    if (reading.randomized) this.randomized.add(reading.subject)
    if (reading.source === 'wifi') this.footfall.observeWifi(reading.subject, reading.randomized, reading.seq, reading.sensor, reading.rssi, ts)
    else if (!reading.randomized) this.footfall.observeBle(reading.subject, ts)
    return true
  }

  /**
   * Subjects behind randomized MACs (BLE too): a new address every few minutes is not a person
   * over time, so they get positions and count in footfall, but open no visits.
   */
  private readonly randomized = new Set<string>()

  private rejected (reason: RejectReason, detail: string, topic: string): void {
    this.m.rejected.inc({ reason })
    // At most 5 log lines per reason per minute of wall time: a flood must not flood the log.
    const now = Date.now()
    const b = this.logBudget.get(reason) ?? { windowStart: now, n: 0 }
    if (now - b.windowStart > 60_000) { b.windowStart = now; b.n = 0 }
    // Topics and details can carry a MAC (OpenMQTTGateway topics, ids): never log one raw.
    if (b.n++ < 5) this.log.warn('dropped', { reason, detail: redactMacs(detail), topic: redactMacs(topic.slice(0, 200)) })
    this.logBudget.set(reason, b)
  }

  /** Runs every tick the clock allows. Called after each message, and by a timer in wall mode. */
  advance (): void {
    const wm = this.clock.watermark()
    if (!Number.isFinite(wm)) return
    if (this.nextTick === -Infinity) this.nextTick = Math.ceil(wm / this.o.tickMs) * this.o.tickMs
    while (this.nextTick <= wm) {
      // Nothing tracked: jump straight to the latest tick (multi-day traces have long gaps).
      if (this.trackers.ble.size + this.trackers.wifi.size + this.trackers.scan.size === 0 && this.latest.size === 0 && this.external.size === 0) {
        this.nextTick = Math.max(this.nextTick, Math.floor(Math.min(wm, this.held?.earliest ?? Infinity) / this.o.tickMs) * this.o.tickMs)
      }
      if (this.held !== null) this.releaseHeld(this.nextTick + (this.o.reorder?.aheadMs ?? 0))
      this.tick(this.nextTick)
      this.nextTick += this.o.tickMs
    }
  }

  private releaseHeld (t: number): void {
    const out: Reading[] = []
    this.held?.release(t, r => out.push(r))
    if (out.length > 0) this.estimateAll(out, t, true)
  }

  /**
   * Stages 4-9 at tick time t: smooth → locate → publish → zone diff → events → occupancy. What
   * the tick estimates is published for `at`, the time it describes best (tracker `reportLagMs`),
   * and zones, events and counts follow that time.
   */
  tick (t: number): void {
    this.m.ticks.inc()
    const at = t - this.reportLagMs
    const fresh = new Map<string, Evidence>()
    for (const source of ['ble', 'scan', 'wifi'] as const) {
      const tracker = this.trackers[source]
      for (const subject of [...tracker.active(t)]) {
        const e = tracker.estimate(subject, t)
        if (!e) continue
        const pos: PositionMessageT = {
          subject, ts: e.ts, x: round2(e.x), y: round2(e.y), floor: e.floor, accuracyM: round2(e.accuracyM),
          shop: e.shop, sector: e.sector, source: source === 'wifi' ? 'wifi' : 'ble'
        }
        this.latest.set(subject, { pos, lastHeard: t })
        // Visits and stays need a device heard every second or so: BLE and phone scans. A Wi-Fi
        // phone probes every 30-180 s, too sparse to time a stay; it counts in footfall instead.
        // Zones judge the unclamped estimate: a position pulled onto the wall is not evidence of staying.
        if (source !== 'wifi' && !this.randomized.has(subject)) {
          // Consecutive fixes share most of their readings: a reading counts in about window/tick of them.
          const overlap = Math.max(1, tracker.o.window.windowMs / this.o.tickMs)
          fresh.set(subject, { x: e.rawX, y: e.rawY, accuracyM: e.accuracyM, floor: e.floor, radio: { costs: e.zoneCosts, offsetPrior: e.offsetPrior, overlap, walkGap: e.streetWalkGaps } })
        }
      }
      for (const gone of tracker.expire(t)) { this.latest.delete(gone); this.randomized.delete(gone) }
    }
    for (const f of this.external.due(t, f0 => f0 === 'wifi' ? this.o.presenceMs.wifi : this.o.presenceMs.ble)) {
      const pos: PositionMessageT = { subject: f.subject, ts: f.ts, x: round2(f.x), y: round2(f.y), floor: f.floor, accuracyM: round2(f.accuracyM), ...locate(this.site, f.x, f.y, f.floor), source: f.source }
      this.latest.set(f.subject, { pos, lastHeard: f.ts })
      if (f.source === 'ble' && !f.anonymous) fresh.set(f.subject, { x: f.x, y: f.y, accuracyM: f.accuracyM, floor: f.floor })
    }
    if (this.o.selfCalibration && ++this.fixesSinceModels >= 10) {
      this.fixesSinceModels = 0
      this.applyCorrections()
    }
    if (this.presence) {
      const events = this.presence.tick(at, fresh)
      if (events.length > 0) this.sink.events(events)
    }
    const occ: OccupancyMessageT = { ts: at, shops: {}, sectors: {}, passersBy: 0 }
    for (const s of this.site.shops) occ.shops[s.id] = 0
    for (const s of this.site.sectors) occ.sectors[s.id] = 0
    for (const [subject, l] of this.latest) {
      const presence = l.pos.source === 'wifi' ? this.o.presenceMs.wifi : this.o.presenceMs.ble
      if (t - l.lastHeard > presence) { this.latest.delete(subject); continue }
      // Between fixes the last position is repeated with its time moved on: at least one per tick.
      const pos = l.pos.ts === at ? l.pos : { ...l.pos, ts: at }
      this.sink.position(pos)
      this.m.positions.inc()
      if (pos.shop === null) occ.passersBy++
      else occ.shops[pos.shop]++
      if (pos.sector !== null) occ.sectors[pos.sector]++
    }
    // With zone state, counts follow confirmed presence (hysteresis), not raw positions.
    if (this.presence) Object.assign(occ, this.presence.occupancy(at, this.o.presenceMs.ble))
    const key = JSON.stringify([occ.shops, occ.sectors, occ.passersBy])
    if (key !== this.lastOccupancy || t % 10_000 === 0) {
      this.lastOccupancy = key
      this.lastOccupancyMessage = occ
      this.sink.occupancy(occ)
    }
    if (t % 10_000 === 0) {
      this.footfall.expire(t)
      this.sink.footfall({ ts: t, ...this.footfall.counts(t) })
    }
  }

  /**
   * Forgets a subject everywhere the pipeline holds it (erasure, consent withdrawn). Returns the
   * places it was found, so callers and tests can see what was dropped.
   */
  forget (subject: string): string[] {
    const found: string[] = []
    for (const s of ['ble', 'wifi', 'scan'] as const) if (this.trackers[s].forget(subject)) found.push(`tracker:${s}`)
    if (this.latest.delete(subject)) found.push('latest')
    if (this.randomized.delete(subject)) found.push('randomized')
    if (this.footfall.forget(subject)) found.push('footfall')
    return found
  }

  /** The places the pipeline holds a subject in memory (debug accessor for erasure tests). */
  holds (subject: string): string[] {
    const found: string[] = []
    for (const s of ['ble', 'wifi', 'scan'] as const) if (this.trackers[s].has(subject)) found.push(`tracker:${s}`)
    if (this.latest.has(subject)) found.push('latest')
    if (this.randomized.has(subject)) found.push('randomized')
    if (this.footfall.has(subject)) found.push('footfall')
    return found
  }

  /** Latest position of every present subject (for the live dashboard). */
  positions (): PositionMessageT[] { return [...this.latest.values()].map(l => l.pos) }

  get trackedDevices (): number { return this.trackers.ble.size + this.trackers.wifi.size + this.trackers.scan.size }
  get corrections (): Record<string, number> { return this.calibrator.corrections() }

  /** Self-calibration evidence, sensitivity floors and the site's phone offset. */
  learned (): LearnedRadio {
    return { calibrator: this.calibrator.snapshot(), ble: this.trackers.ble.learned(), scan: { key: radioKey(this.site, 'beacon'), calibrator: this.scanCalibrator.snapshot() } }
  }

  /** Takes up what an earlier run learned (see `radioKey` for when that still applies). */
  restoreLearned (l: LearnedRadio): void {
    this.calibrator.restore(l.calibrator)
    this.trackers.ble.restoreLearned(l.ble)
    // The beacons' corrections only while the beacons are where and what they were.
    if (l.scan?.key === radioKey(this.site, 'beacon')) this.scanCalibrator.restore(l.scan.calibrator)
    if (this.o.selfCalibration) this.applyCorrections()
  }

  /** Hands the trackers their receivers' models with what self-calibration has learned so far. */
  private applyCorrections (): void {
    this.trackers.ble.setModels(this.calibrator.models())
    this.trackers.scan.setModels(this.scanCalibrator.models())
  }
}

function shiftModels (models: Map<string, SensorModel>, deltaDb: number): Map<string, SensorModel> {
  return new Map([...models].map(([id, m]) => [id, { ...m, a: m.a + deltaDb, map: undefined }]))
}


function round2 (v: number): number { return Math.round(v * 100) / 100 }
