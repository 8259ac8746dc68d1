// The gateway's pipeline, as a list of named stages. Per message:
//   ingest (parse → validate → subject) → time (stamp, lateness) → estimate (per-sensor RSSI windows)
// Per tick of event time (every second):
//   smooth (solver + motion filter) → locate (shop, sector) → publish positions → zone diffs and
//   events (the presence engine, which commits them to the outbox) → occupancy → footfall.
// What comes out goes to the `PipelineSink` the gateway gives (gateway.ts publishes it).
import type { Site } from '../shared/site.ts'
import type { Logger } from '../shared/log.ts'
import type { PositionMessageT, OccupancyMessageT } from '../shared/messages.ts'
import { ingest, REJECT_REASONS, type IngestContext, type Reading } from './ingest/ingest.ts'
import {
  PIPELINE_REASONS,
  rateLimited,
  newestTs,
  pipelineMetrics,
  radioKey,
  type Taken,
  type Work,
  type DropReason,
  type LearnedRadio,
  type PipelineOptions,
  type PipelineSink
} from './pipeline-io.ts'
import { type Detail, SubjectHasher, logDetail, shownDetail } from './ingest/subjects.ts'
import { GatewayClock } from './ingest/clock.ts'
import { ClockGuard } from './ingest/clock-guard.ts'
import type { Tracker } from './estimation/tracker.ts'
import type { SelfCalibrator } from './estimation/self-calibration.ts'
import type { Metrics } from './io/metrics.ts'
import type { PresenceEngine } from './presence/presence.ts'
import { EstimateStage, type Latest, type Source } from './estimate-stage.ts'
import { Footfall } from './presence/footfall.ts'
import { People, peopleOptions, wifiModels } from './presence/people.ts'
import { aliasMap } from './ingest/foreign.ts'
import { ReorderBuffer } from './ingest/reorder.ts'
import { ExternalFixes, type ExternalEstimate } from './ingest/external-fixes.ts'
import { scanDevice } from './presence/stable-ids.ts'
import { localTime } from '../shared/local-time.ts'
import { publishPositions, collectPipelineMetrics, placeDue, translateForeign } from './pipeline-stages.ts'
import { StageClock } from './stage-clock.ts'
import { OccupancyStage } from './occupancy-stage.ts'

export { radioKey, type LearnedRadio, type PipelineOptions, type PipelineSink }

export class Pipeline {
  readonly clock: GatewayClock
  private readonly ctx: IngestContext
  /** The estimate stage (estimate-stage.ts): readings into the trackers, positions and evidence out. */
  readonly est: EstimateStage
  private readonly trackers: Record<Source, Tracker>
  private readonly calibrator: SelfCalibrator
  /** Phone-scan mode: the beacons' transmit offsets, learned from fixes as the sensors' are. */
  private readonly scanCalibrator: SelfCalibrator
  private readonly latest = new Map<string, Latest>()
  private nextTick = -Infinity
  /** Ticks since self-calibration last handed its corrections to the trackers. */
  private ticksSinceModels = 0
  private readonly logLimited = rateLimited()
  private readonly m
  readonly footfall: Footfall
  /** People now and today's visitors, from every source (people.ts). */
  readonly people: People
  private readonly occupancy: OccupancyStage
  /** The occupancy last published (for the live dashboard). */
  get lastOccupancyMessage(): OccupancyMessageT | null {
    return this.occupancy.lastMessage
  }
  private readonly aliases: Map<string, string>
  private readonly reportLagMs: number
  /** Main-thread time per stage (stage-clock.ts): what the throughput benchmark's CPU figures are split by. */
  readonly stages = new StageClock()

  constructor(
    private readonly site: Site,
    private readonly o: PipelineOptions,
    private readonly sink: PipelineSink,
    metrics: Metrics,
    private readonly log: Logger,
    private readonly presence: PresenceEngine | null = null
  ) {
    this.clock = new GatewayClock(o.clock)
    this.clockGuard = new ClockGuard(o.clock, site.sensors.size)
    ;(o.clock.mode === 'event' ? this.clockGuard : this.clock.steps)?.expose(metrics)
    this.reordered = o.reorder ? new ReorderBuffer<Reading>() : null
    this.ctx = {
      prefix: o.prefix,
      storeId: site.storeId,
      sensors: new Set(site.sensors.keys()),
      beacons: new Set(site.beacons.keys()),
      hasher: new SubjectHasher(o.secret),
      maxBytes: o.maxMessageBytes,
      identityTime: ts => this.clock.identityTime(ts),
      ...(o.identity ? { identity: o.identity } : {})
    }
    this.footfall = new Footfall(ts => localTime(ts, site.timezone).date)
    this.aliases = aliasMap(site)
    this.people = new People(site, wifiModels(site), peopleOptions(site), mac => this.ctx.hasher.hash(mac), presence?.store, this.ctx.hasher)
    this.people.keep(site.storeId, log)
    this.m = pipelineMetrics(metrics)
    this.est = new EstimateStage({
      site,
      o,
      clock: this.clock,
      hasher: this.ctx.hasher,
      reordered: this.reordered,
      external: this.external,
      randomized: this.randomized,
      footfall: this.footfall,
      people: this.people,
      m: this.m,
      stages: this.stages,
      rejected: (reason, detail, topic) => this.rejected(reason, detail, topic)
    })
    // The stage's trackers and calibrators, under the names the rest of the pipeline uses.
    this.trackers = this.est.trackers
    this.calibrator = this.est.calibrator
    this.scanCalibrator = this.est.scanCalibrator
    this.reportLagMs = this.est.reportLagMs
    this.occupancy = new OccupancyStage(o, sink, this.people, this.footfall, this.randomized, presence)
    for (const r of [...REJECT_REASONS, ...PIPELINE_REASONS]) this.m.rejected.inc({ reason: r }, 0)
    collectPipelineMetrics(metrics, this.m, this.trackers, this.clock, this.calibrator, this.scanCalibrator, this.people, this.est)
  }

  /** Last message time per sensor (for health checks). */
  readonly sensorLastSeen = new Map<string, number>()
  /** Messages taken in and not yet worked through (see `work`), in arrival order. */
  private readonly inbox: Taken[] = []
  /** The message being worked through: its ticks before it may be cut into slices. */
  private current: Work | null = null
  /** Event mode: which messages may move the clock, and which sensors run ahead (clock-guard.ts). */
  readonly clockGuard: ClockGuard<Taken>
  /** Ticks that threw (logged, counted, skipped), and when the last one did (wall time). */
  tickErrors = 0
  lastTickError: { at: number; message: string } | null = null
  /** Messages worked through (for health: readings still being processed). */
  processed = 0
  /** Messages waiting in the inbox (taken, not yet worked through). */
  get backlog(): number {
    return this.inbox.length + (this.current !== null ? 1 : 0)
  }

  /** Stages 1-9 for one MQTT message, all at once: `take` then `work` without a bound. Never throws on bad input. */
  handle(topic: string, payload: Buffer): void {
    this.take(topic, payload)
    this.work(Infinity)
  }

  /**
   * Stage 1 for one MQTT message: ingest (parse, validate, subject) and admit its time. Cheap and
   * bounded by the message size; the ticks and estimates it causes wait for `work`. A message
   * over the inbox bound is refused (counted): the caller should have waited for `work`.
   */
  take(topic: string, payload: Buffer, from?: { client?: string; retained?: boolean; login?: string }): void {
    const t0 = this.stages.now()
    this.takeIn(topic, payload, from)
    this.stages.add('ingest', t0)
  }

  private takeIn(topic: string, payload: Buffer, from?: { client?: string; retained?: boolean; login?: string }): void {
    if (!topic.startsWith(this.o.prefix + '/')) {
      // Stage 0 for foreign sensors: translate to a native batch, then the same path.
      const f = translateForeign(topic, payload, this.o, this.site.storeId, this.aliases, this.m, (reason, detail) => this.rejected(reason, detail, topic))
      if (f === null) return
      topic = f.topic
      payload = f.payload
    }
    const r = ingest(topic, payload, this.ctx, from?.login)
    switch (r.kind) {
      case 'rejected':
        this.rejected(r.reason, r.detail, topic)
        return
      case 'status':
        this.m.messages.inc({ kind: 'status' })
        this.m.sensorOnline.set({ sensor: r.sensor }, r.online ? 1 : 0)
        return
      case 'readings':
        this.m.messages.inc({ kind: r.readings.length === 0 && r.rejected.length === 0 ? 'heartbeat' : 'readings' })
        for (const x of r.rejected) this.rejected(x.reason, x.detail, topic)
        if (r.hashedFps > 0) this.m.hashedFields.inc({ field: 'fp' }, r.hashedFps)
        break
      case 'scans':
        this.m.messages.inc({ kind: 'scans' })
        for (const x of r.rejected) this.rejected(x.reason, x.detail, topic)
        break
    }
    if (this.inbox.length >= (this.o.maxInbox ?? 10_000)) {
      this.rejected('overload', `${this.inbox.length} messages waiting`, topic)
      return
    }
    const m: Taken = { r, topic }
    if (from?.retained === true) this.rejected('retained', 'stored at the broker, replayed on subscribe', topic)
    else if (this.o.clock.mode !== 'event') this.inbox.push(m)
    else {
      const v = this.clockGuard.offer(m, newestTs(r), r.kind === 'readings' ? { sensor: r.sensor } : { device: r.device, client: from?.client })
      for (const x of v.refuse) this.rejected('clock_ahead', `${x.aheadMs} ms ahead of the other sensors`, x.item.topic)
      this.inbox.push(...v.admit)
    }
  }

  /**
   * Works through the inbox and the ticks the clock allows, running at most `maxTicks` ticks (a
   * skipped idle stretch counts as one); true when nothing is left. Cutting the work into slices
   * changes nothing in the output: the order of ticks and readings is fixed by the messages.
   * Before a message's readings are taken in, the clock runs the ticks that end before them (so
   * after a gap no device is placed before it was heard); in a steady stream (messages no more
   * than a tick apart) there are none, and the order is the one every figure was measured with.
   * A slice also ends after the tick that brings its positions to `maxPositions`.
   */
  work(maxTicks: number, maxPositions = Infinity): boolean {
    // Positions count too (a burst of Wi-Fi addresses): counts, checked between ticks only, so the slicing never changes the output.
    const budget = { left: maxTicks, positions: maxPositions }
    for (;;) {
      if (this.current === null) {
        const m = this.inbox.shift()
        if (m === undefined) return this.runTicks(this.clock.watermark(), budget)
        this.current = this.begin(m)
      }
      const c = this.current
      if (!c.ingested) {
        if (!this.runTicks(Math.min(c.preTarget, this.clock.watermark()), budget)) return false
        this.stages.time('ingest', () => this.ingestTaken(c))
        c.ingested = true
      }
      if (!this.runTicks(this.clock.watermark(), budget)) return false
      this.current = null
      this.processed++
    }
  }

  /** Runs every tick the clock allows, without a bound (wall mode's timer uses `work` with one). */
  advance(): void {
    this.work(Infinity)
  }
  /** At a stop: runs the ticks the clock allows, saves today's counts, stops the solver pool's workers (later ticks solve inline). */
  close(): void {
    this.work(Infinity)
    this.people.flushDay()
    this.est.close()
  }
  /** Moves the clock to a message's time; returns its work item with the ticks due before its readings. */
  private begin(m: Taken): Work {
    const r = m.r
    const batchTs = this.clock.stamp(r.ts)
    if (r.kind === 'readings') {
      this.sensorLastSeen.set(r.sensor, batchTs)
      this.m.sensorSeen.set({ sensor: r.sensor }, batchTs)
    }
    let first = batchTs
    if (r.kind === 'readings') for (const x of r.readings) if (!Number.isNaN(x.ts)) first = Math.min(first, this.clock.peek(x.ts))
    return { m, batchTs, preTarget: first - this.o.clock.latenessMs - this.o.tickMs, ingested: false }
  }

  /** Stages 2-3 for a message whose time has come: time (stamp, lateness) and estimate. */
  private ingestTaken(w: Work): void {
    const r = w.m.r
    const batchTs = w.batchTs
    if (r.kind === 'readings') {
      // Sources that deliver late (Meraki): readings wait in time order for their tick.
      if (this.reordered !== null) for (const reading of r.readings) this.est.hold(reading, batchTs)
      else this.est.estimateAll(r.readings, batchTs)
    } else if (r.kind === 'scans' && r.beacons.length > 0 && this.clock.watermark() - batchTs > this.trackers.scan.o.window.windowMs) {
      this.rejected('late_scan', `${this.clock.watermark() - batchTs} ms behind`, w.m.topic)
    } else if (r.kind === 'scans') {
      const device = scanDevice(r, batchTs, this.est.scanIds, this.ctx.hasher, this.randomized)
      for (const b of r.beacons) this.trackers.scan.addReading(device, b.id, batchTs, b.rssi)
      if (r.beacons.length > 0) this.m.readings.inc({ source: 'scan' }, r.beacons.length)
    }
  }

  /** Called once a tick's positions are out, before its zone stage (the throughput benchmark's latency). */
  afterPositions: ((t: number) => void) | null = null
  /** Positions published since start: what a slice of `work` has spent of its budget. */
  private positionsOut = 0
  /** Readings waiting for their tick (only with `reorder`). */
  private readonly reordered: ReorderBuffer<Reading> | null
  /** Positions a source estimated itself (Meraki where its APs are not placed). */
  private readonly external = new ExternalFixes()
  /** Takes a position a source estimated itself (estimate-stage.ts), its id checked as a reading's is. */
  placeExternal(f: ExternalEstimate): ReturnType<EstimateStage['placeExternal']> {
    return this.est.placeExternal(f, this.ctx)
  }

  /** Subjects behind randomized MACs (BLE too): positions and footfall, no visits (an address is not a person over time). */
  private readonly randomized = new Set<string>()
  private rejected(reason: DropReason, detail: Detail, topic: string): void {
    this.m.rejected.inc({ reason })
    if (reason === 'late') this.clockGuard.noteLate()
    // Topics and details can carry a MAC (OpenMQTTGateway topics, ids): never log one raw.
    this.logLimited(reason, () => this.log.warn('dropped', { reason, detail: shownDetail(detail), topic: logDetail(topic, 200) }))
  }

  /**
   * Runs the ticks up to `target` within the budget; true when it got there. A stretch with no device tracked is skipped in one step, whatever its
   * length; a wall clock stepped back moves the schedule back (clock-steps.ts). A tick that throws is logged, counted and skipped, never retried.
   */
  private runTicks(target: number, budget: { left: number; positions: number }): boolean {
    if (!Number.isFinite(target)) return true
    this.nextTick = this.clock.schedule(this.nextTick, target, this.o.tickMs, () => this.sink.events(this.presence?.closeAll() ?? []))
    while (this.nextTick <= target) {
      if (budget.left <= 0 || budget.positions <= 0) return false
      budget.left--
      const before = this.positionsOut
      // Nothing tracked: jump straight to the latest tick (nights, multi-day traces).
      if (this.trackers.ble.size + this.trackers.wifi.size + this.trackers.scan.size === 0 && this.latest.size === 0 && this.external.size === 0) {
        this.nextTick = Math.max(this.nextTick, Math.floor(Math.min(target, this.reordered?.earliest ?? Infinity) / this.o.tickMs) * this.o.tickMs)
      }
      const t = this.nextTick
      if (this.reordered !== null) this.est.releaseHeld(t + (this.o.reorder?.aheadMs ?? 0))
      this.nextTick += this.o.tickMs
      try {
        this.tick(t)
      } catch (err) {
        this.tickErrors++
        this.lastTickError = { at: Date.now(), message: (err as Error).message }
        this.m.tickErrors.inc()
        this.logLimited('tick', () => this.log.error('tick failed; skipped', { t, err: (err as Error).message }))
      }
      budget.positions -= this.positionsOut - before
    }
    return true
  }

  /**
   * Stages 4-9 at tick time t: smooth → locate → publish → zone diff → events → occupancy. What
   * the tick estimates is published for `at`, the time it describes best (tracker `reportLagMs`),
   * and zones, events and counts follow that time.
   */
  tick(t: number): void {
    const s = this.stages
    let t0 = s.now()
    this.m.ticks.inc()
    const at = t - this.reportLagMs
    const fresh = this.est.positions(t, this.latest)
    placeDue(t, this.external, this.site, this.o, this.latest, fresh)
    if (this.o.selfCalibration && ++this.ticksSinceModels >= 10) {
      this.ticksSinceModels = 0
      this.est.applyCorrections()
    }
    t0 = s.add('fixes', t0)
    // Positions first: they need nothing of the zone stage, whose tests are most of a busy tick.
    const { placed, published } = publishPositions(t, at, this.latest, this.o, this.sink, this.m)
    this.positionsOut += published
    s.add('publish', t0)
    this.afterPositions?.(t)
    t0 = s.now()
    if (this.presence) {
      const tests = s.ms.entryTests + s.ms.walkTests // timed on their own (estimate-stage.ts)
      const events = this.presence.tick(at, fresh, this.est.evidence)
      if (events.length > 0) this.sink.events(events)
      t0 = s.add('zones', t0)
      s.ms.zones -= s.ms.entryTests + s.ms.walkTests - tests
    }
    this.occupancy.run(t, at, placed)
    s.add('occupancy', t0)
  }

  /** Forgets a subject everywhere the pipeline holds it (erasure, consent withdrawn); returns where it was found (for callers and tests). */
  forget(subject: string): string[] {
    const found = this.holds(subject)
    for (const s of ['ble', 'wifi', 'scan'] as const) this.trackers[s].forget(subject)
    this.latest.delete(subject)
    this.randomized.delete(subject)
    this.footfall.forget(subject)
    this.people.forget(subject)
    this.ctx.hasher.forget()
    return found
  }

  /** The places the pipeline holds a subject in memory (debug accessor for erasure tests). */
  holds(subject: string): string[] {
    const found: string[] = []
    for (const s of ['ble', 'wifi', 'scan'] as const) if (this.trackers[s].has(subject)) found.push(`tracker:${s}`)
    if (this.latest.has(subject)) found.push('latest')
    if (this.randomized.has(subject)) found.push('randomized')
    if (this.footfall.has(subject)) found.push('footfall')
    if (this.people.holds(subject)) found.push('people')
    if (this.ctx.hasher.holds(subject)) found.push('id-cache')
    return found
  }

  /** Latest position of every present subject (for the live dashboard). */
  positions(): PositionMessageT[] {
    return [...this.latest.values()].map(l => l.pos)
  }
  get trackedDevices(): number {
    return this.trackers.ble.size + this.trackers.wifi.size + this.trackers.scan.size
  }
  get corrections(): Record<string, number> {
    return this.calibrator.corrections()
  }

  /** Self-calibration evidence, sensitivity floors and the site's phone offset. */
  learned(): LearnedRadio {
    return this.est.learned()
  }
  /** Takes up what an earlier run learned (see `radioKey` for when that still applies). */
  restoreLearned(l: LearnedRadio): void {
    this.est.restoreLearned(l)
  }
}
