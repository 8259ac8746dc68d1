// The pipeline's estimate stage (pipeline.ts): readings into the trackers, in time order where a
// source delivers late, and per tick each tracked device's smoothed, located position with the
// evidence the presence stage weighs. It owns the trackers and what self-calibration learns, and
// answers the presence stage's questions about that evidence (`evidence`).
import type { Site } from '../shared/site.ts'
import type { PositionMessageT } from '../shared/messages.ts'
import type { Reading } from './ingest/ingest.ts'
import type { SubjectHasher } from './ingest/subjects.ts'
import type { GatewayClock } from './ingest/clock.ts'
import { defaultClockOptions } from './ingest/clock.ts'
import type { ReorderBuffer } from './ingest/reorder.ts'
import { type ExternalEstimate, externalPlace, type ExternalFixes } from './ingest/external-fixes.ts'
import { sourcedSubject, type IngestContext } from './ingest/ingest.ts'
import { Tracker, trackerOptions, type Estimate, type Question } from './estimation/tracker.ts'
import { SolverPool } from './estimation/pool.ts'
import { TestPool } from './estimation/test-pool.ts'
import { WorkerGroup } from './estimation/worker-group.ts'
import { walkTest } from './estimation/street-walk.ts'
import { sensorModels, beaconModels } from './estimation/radio-model.ts'
import { SelfCalibrator, beaconSelfCalibrationOptions } from './estimation/self-calibration.ts'
import { ScanGrid } from './estimation/scan-grid.ts'
import type { Evidence, EvidenceSource } from './presence/zones.ts'
import type { Footfall } from './presence/footfall.ts'
import { peopleOptions, type People } from './presence/people.ts'
import { StableIdGate, STABLE_ID_SENDER } from './presence/stable-ids.ts'
import type { StageClock } from './stage-clock.ts'
import { radioKey, shiftModels, type DropReason, type LearnedRadio, type PipelineOptions, type pipelineMetrics } from './pipeline-io.ts'

export type Source = 'ble' | 'wifi' | 'scan'

/** A subject's last published position and when it was last heard (tick time). */
export interface Latest {
  pos: PositionMessageT
  lastHeard: number
}

/** What the stage shares with the rest of the pipeline (the pipeline keeps them; the stage fills them). */
export interface EstimateParts {
  site: Site
  o: PipelineOptions
  clock: GatewayClock
  hasher: SubjectHasher
  /** Readings waiting for their tick (only with `reorder`). */
  reordered: ReorderBuffer<Reading> | null
  /** Positions a source estimated itself (Meraki where its APs are not placed). */
  external: ExternalFixes
  /** Subjects behind randomized MACs (pipeline.ts says why they open no visits). */
  randomized: Set<string>
  footfall: Footfall
  people: People
  m: ReturnType<typeof pipelineMetrics>
  /** Main-thread time per stage: the stage times its radio tests there. */
  stages: StageClock
  rejected: (reason: DropReason, detail: string, topic: string) => void
}

export class EstimateStage {
  readonly trackers: Record<Source, Tracker>
  readonly calibrator: SelfCalibrator
  /** Phone-scan mode: the beacons' transmit offsets, learned from fixes as the sensors' are. */
  readonly scanCalibrator: SelfCalibrator
  readonly reportLagMs: number
  /** New stable BLE ids per sensor and minute (stable-ids.ts): past the bound, an id is an anonymous device. */
  readonly stableIds: StableIdGate
  /** The same bound on the new device ids of the site's phone scans (one place: a scan has no sensor). */
  readonly scanIds: StableIdGate
  /** Solves each tick's fixes beside the main thread (`workers` > 0), and how many restarts the metric has counted. */
  private readonly pool: SolverPool | null
  private restartsSeen = 0
  /** Works the shop-entry tests out beside the main thread (`workers` > 0; test-pool.ts), and what the metrics have counted of it. */
  private readonly testPool: TestPool | null
  private readonly testSeen = { unplanned: 0, failures: 0 }
  private readonly site: Site
  private readonly o: PipelineOptions
  private readonly clock: GatewayClock
  private readonly hasher: SubjectHasher
  private readonly reordered: ReorderBuffer<Reading> | null
  private readonly external: ExternalFixes
  private readonly randomized: Set<string>
  private readonly footfall: Footfall
  private readonly people: People
  private readonly m: ReturnType<typeof pipelineMetrics>
  private readonly stages: StageClock
  private readonly rejected: (reason: DropReason, detail: string, topic: string) => void

  constructor(parts: EstimateParts) {
    const { site, o } = parts
    this.site = site
    this.o = o
    this.clock = parts.clock
    this.hasher = parts.hasher
    this.reordered = parts.reordered
    this.external = parts.external
    this.randomized = parts.randomized
    this.stages = parts.stages
    this.footfall = parts.footfall
    this.people = parts.people
    this.m = parts.m
    this.rejected = parts.rejected
    this.stableIds = new StableIdGate(peopleOptions(site).newBleDevicesPerSectorMin, site.file.people?.knownIrks)
    this.scanIds = new StableIdGate(peopleOptions(site).newBleDevicesPerSectorMin)
    const workers = o.workers ?? 0
    const mapped = [...site.sensors.values()].filter(x => x.radioMap !== undefined)
    const mapTable = { ids: mapped.map(x => x.id), data: mapped.map(x => x.radioMap as NonNullable<typeof x.radioMap>) }
    // One set of threads for both pools (worker-group.ts): they never run a round at once.
    const group = workers > 0 ? new WorkerGroup(workers, mapTable) : null
    this.pool = group === null ? null : new SolverPool(group, mapTable)
    this.testPool = group === null ? null : new TestPool(group, mapTable, site.shops)
    group?.start()
    if (this.testPool !== null) {
      const pool = this.testPool
      this.evidence.prefetch = plan =>
        pool.prefetch(
          plan,
          from => this.trackerOf(from).entryOptions,
          from => this.trackerOf(from).walkModel
        )
      this.evidence.settle = () => {
        pool.settle()
        this.m.testWorkers.set({}, pool.live)
        const c = pool.counts
        for (const k of ['unplanned', 'failures'] as const) {
          if (c[k] > this.testSeen[k]) this.m.testInline.inc({ reason: k === 'failures' ? 'failed' : 'unplanned' }, c[k] - this.testSeen[k])
          this.testSeen[k] = c[k]
        }
      }
    }
    const base = sensorModels(site)
    const beacons = beaconModels(site)
    this.calibrator = new SelfCalibrator(base)
    this.scanCalibrator = new SelfCalibrator(beacons, beaconSelfCalibrationOptions)
    const topts = trackerOptions(site, o.tracker)
    this.reportLagMs = topts.reportLagMs
    // Wi-Fi probes carry more power and are rarer and noisier than BLE adverts.
    const wifiDelta = site.radio.wifiRssiAt1m - site.radio.rssiAt1m
    this.trackers = {
      ble: new Tracker(site, base, topts),
      // Wi-Fi positions count in footfall, not in visits: no walk history.
      wifi: new Tracker(site, shiftModels(base, wifiDelta), {
        ...topts,
        window: { ...topts.window, windowMs: 10_000, rawSigmaDb: topts.window.rawSigmaDb + 2 },
        ttlMs: 300_000,
        walkHistory: false
      }),
      scan: new Tracker(site, beacons, topts)
    }
    if (topts.scanGrid !== 'off') this.trackers.scan.scanGrid = new ScanGrid(site)
    if (o.selfCalibration) {
      this.trackers.ble.onFix = (obs, fix) => this.calibrator.observeFix(obs, fix, topts.tagHeight)
      this.trackers.scan.onFix = (obs, fix) => this.scanCalibrator.observeFix(obs, fix, topts.tagHeight)
    }
  }

  hold(reading: Reading, batchTs: number): void {
    // An access point's record (Meraki: site sensors with a MAC) is judged against the late window.
    const late = !Number.isNaN(reading.ts) && this.site.sensors.get(reading.sensor)?.mac !== undefined
    const ts = Number.isNaN(reading.ts) ? batchTs : late ? this.lateSourceTs(reading.ts) : this.clock.stamp(reading.ts)
    if (ts === null) return
    if (ts < this.clock.watermark() - this.trackers.ble.o.window.windowMs) {
      this.rejected('late', `${this.clock.watermark() - ts} ms behind`, '')
      return
    }
    this.reordered?.push({ ...reading, ts })
  }

  /**
   * A record from a source that delivers late, in wall mode: kept at its own time when within the
   * late window, dropped as `late` when older, refused as `bad_ts` when ahead of the wall clock by
   * more than ordinary skew. Never re-stamped to its arrival: a minute-old record placed "now" would
   * shift the device by a minute.
   */
  private lateSourceTs(ts: number): number | null {
    if (this.clock.o.mode !== 'wall') return this.clock.stamp(ts)
    const now = this.clock.now()
    if (ts > now + defaultClockOptions.maxSkewMs) {
      this.rejected('bad_ts', `${ts - now} ms ahead`, '')
      return null
    }
    return ts
  }

  /**
   * Takes a position a source estimated itself, for a device heard as `id` (BLE) or `mac` (Wi-Fi).
   * The id passes every check a sensor's reading does (ingest.ts `sourcedSubject`: refusals counted
   * with the readings'), the site's own beacons are never shoppers, and new stable ids count against
   * the same flood bound, at the place the estimate lands (the source has no sensor). Says what became of it.
   */
  placeExternal(f: ExternalEstimate, ctx: IngestContext): 'placed' | 'site_beacon' | 'refused' {
    const ts = this.lateSourceTs(f.ts)
    if (ts === null) return 'refused'
    if (ts < this.clock.watermark() - this.trackers.ble.o.window.windowMs) {
      this.rejected('late', `${this.clock.watermark() - ts} ms behind`, '')
      return 'refused'
    }
    const who = sourcedSubject(f.t, f.id, ts, ctx)
    if ('reason' in who) {
      this.rejected(who.reason, who.detail, '')
      return 'refused'
    }
    // No sensor heard it, so there is no known distance for self-calibration: only never a shopper.
    if (who.beacon !== undefined) return 'site_beacon'
    const flood = f.t === 'ble' && !who.randomized && !this.stableIds.admit(who.subject, externalPlace(this.site, f.x, f.y, f.floor), ts)
    const subject = flood ? this.hasher.anonymous(STABLE_ID_SENDER) : who.subject
    this.external.push({ subject, source: f.t, ts, x: f.x, y: f.y, floor: f.floor, accuracyM: f.accuracyM, anonymous: who.randomized || flood })
    return 'placed'
  }

  estimateAll(readings: Reading[], batchTs: number, held = false): void {
    let ble = 0
    let wifi = 0
    for (const reading of readings) {
      if (this.estimate(reading, batchTs, held)) {
        if (reading.source === 'wifi') wifi++
        else ble++
      }
    }
    if (ble > 0) this.m.readings.inc({ source: 'ble' }, ble)
    if (wifi > 0) this.m.readings.inc({ source: 'wifi' }, wifi)
  }

  /** Returns whether the reading was taken (counted per batch by the caller: labels cost). */
  private estimate(reading: Reading, batchTs: number, held = false): boolean {
    // A held reading was judged (stamped, skew and lateness) on arrival and keeps that time: judged
    // again at release it would be as old as the late window and taken for clock skew.
    const ts = held ? reading.ts : Number.isNaN(reading.ts) ? batchTs : this.clock.stamp(reading.ts)
    if (!held && ts < this.clock.watermark() - this.trackers.ble.o.window.windowMs) {
      this.rejected('late', `${this.clock.watermark() - ts} ms behind`, '')
      return false
    }
    if (reading.beacon !== undefined) {
      // A fixed beacon heard by a sensor: a known distance, evidence for self-calibration.
      const b = this.site.beacons.get(reading.beacon)
      const s = this.site.sensors.get(reading.sensor)
      if (b && s && this.o.selfCalibration)
        this.calibrator.observeKnown(s.id, Math.hypot(b.x - s.x, b.y - s.y, b.z - s.z), reading.rssi, b.rssiAt1m, this.site.radio.rssiAt1m, b.id, ts)
      return true
    }
    // Every stable id taken for a flooding transmitter's is that one anonymous device, wherever heard.
    const flood = !reading.randomized && reading.source === 'ble' && !this.stableIds.admit(reading.subject, reading.sensor, ts)
    const anonymous = reading.randomized || flood
    const subject = flood ? this.hasher.anonymous(STABLE_ID_SENDER) : reading.subject
    this.trackers[reading.source].addReading(subject, reading.sensor, ts, reading.rssi, reading.tx)
    if (anonymous) this.randomized.add(subject)
    if (reading.source === 'wifi') {
      this.footfall.observeWifi(reading.subject, reading.randomized, reading.seq, reading.sensor, reading.rssi, ts)
      this.people.observeWifi({
        subject: reading.subject,
        randomized: reading.randomized,
        sensor: reading.sensor,
        rssi: reading.rssi,
        ts,
        ...(reading.seq !== undefined ? { seq: reading.seq } : {}),
        ...(reading.fp !== undefined ? { fp: reading.fp } : {})
      })
    } else if (!anonymous) this.footfall.observeBle(reading.subject, ts)
    return true
  }

  releaseHeld(t: number): void {
    const out: Reading[] = []
    this.reordered?.release(t, r => out.push(r))
    if (out.length > 0) this.estimateAll(out, t, true)
  }

  /**
   * Smooth and locate at tick time t: each active device's position goes into `latest`, and the
   * evidence of those that can make visits is returned for the presence stage.
   */
  positions(t: number, latest: Map<string, Latest>): Map<string, Evidence> {
    const fresh = new Map<string, Evidence>()
    for (const source of ['ble', 'scan', 'wifi'] as const) {
      const tracker = this.trackers[source]
      for (const e of this.estimates(tracker, t)) {
        const subject = e.subject
        const pos: PositionMessageT = {
          subject,
          ts: e.ts,
          x: round2(e.x),
          y: round2(e.y),
          floor: e.floor,
          accuracyM: round2(e.accuracyM),
          shop: e.shop,
          sector: e.sector,
          source: source === 'wifi' ? 'wifi' : 'ble'
        }
        latest.set(subject, { pos, lastHeard: t })
        // Visits and stays need a device heard every second or so: BLE and phone scans. A Wi-Fi
        // phone probes every 30-180 s, too sparse to time a stay; it counts in footfall instead.
        // Zones judge the unclamped estimate: a position pulled onto the wall is not evidence of staying.
        if (source !== 'wifi' && !this.randomized.has(subject)) {
          // Consecutive fixes share most of their readings: a reading counts in about window/tick of them.
          const overlap = Math.max(1, tracker.o.window.windowMs / this.o.tickMs)
          const radio = { from: source, fix: { obs: e.obs, silent: e.silent, x: e.fix.x, y: e.fix.y }, offsetPrior: e.offsetPrior, overlap, walk: e.walk }
          fresh.set(subject, { x: e.rawX, y: e.rawY, accuracyM: e.accuracyM, floor: e.floor, radio })
        }
      }
      for (const gone of tracker.expire(t)) {
        latest.delete(gone)
        this.randomized.delete(gone)
      }
    }
    return fresh
  }

  /** The tracker's estimates of its active devices at tick t, in their order; fixes solved by the pool when there is one. */
  private estimates(tracker: Tracker, t: number): Estimate[] {
    const out: Estimate[] = []
    const subjects = [...tracker.active(t)]
    if (this.pool === null) {
      for (const subject of subjects) {
        const e = tracker.estimate(subject, t)
        if (e !== null) out.push(e)
      }
      return out
    }
    const asked: Question[] = []
    for (const subject of subjects) {
      const q = tracker.question(subject, t)
      if (q !== null) asked.push(q)
    }
    const solved = this.pool.solveAll(asked.filter(q => q.known === undefined))
    let next = 0
    for (const q of asked) {
      const e = tracker.answer(q, q.known ?? solved[next++])
      if (e !== null) out.push(e)
    }
    this.m.solverWorkers.set({}, this.pool.live)
    if (this.pool.restarts > this.restartsSeen) this.m.solverRestarts.inc({}, this.pool.restarts - this.restartsSeen)
    this.restartsSeen = this.pool.restarts
    return out
  }

  /** Stops the pools' workers (the gateway's stop); later ticks solve and test inline. */
  close(): void {
    this.pool?.close()
    this.testPool?.close()
  }

  /** The test pool's counts (null: no pool). */
  get testPoolCounts(): TestPool['counts'] | null {
    return this.testPool?.counts ?? null
  }

  /** What the presence stage asks about the radio behind the evidence, answered by the tracker that made it. */
  readonly evidence: EvidenceSource = {
    zoneCosts: (radio, zone, base) =>
      this.stages.time('entryTests', () => {
        const work = () => this.trackerOf(radio.from).zoneCosts(radio.fix, zone, base)
        return this.testPool === null ? work() : this.testPool.answer(radio, zone, base, work)
      }),
    walkGaps: (walk, zone, enough) =>
      this.stages.time('walkTests', () => {
        const work = () => walkTest(this.trackerOf(walk.from).walkModel, walk.fixes, zone, enough)
        return this.testPool === null ? work() : this.testPool.answerWalk(walk, zone, enough, work)
      })
  }

  private trackerOf(from: string): Tracker {
    if (from !== 'ble' && from !== 'scan' && from !== 'wifi') throw new Error(`evidence from an unknown tracker '${from}'`)
    return this.trackers[from]
  }

  /** Self-calibration evidence, sensitivity floors and the site's phone offset. */
  learned(): LearnedRadio {
    return { calibrator: this.calibrator.snapshot(), ble: this.trackers.ble.learned(), scan: { key: radioKey(this.site, 'beacon'), calibrator: this.scanCalibrator.snapshot() } }
  }

  /** Takes up what an earlier run learned (see `radioKey` for when that still applies). */
  restoreLearned(l: LearnedRadio): void {
    this.calibrator.restore(l.calibrator)
    this.trackers.ble.restoreLearned(l.ble)
    // The beacons' corrections only while the beacons are where and what they were.
    if (l.scan?.key === radioKey(this.site, 'beacon')) this.scanCalibrator.restore(l.scan.calibrator)
    if (this.o.selfCalibration) this.applyCorrections()
  }

  /** Hands the trackers their receivers' models with what self-calibration has learned so far. */
  applyCorrections(): void {
    this.trackers.ble.setModels(this.calibrator.models())
    this.trackers.scan.setModels(this.scanCalibrator.models())
  }
}

export function round2(v: number): number {
  return Math.round(v * 100) / 100
}
