// Per-device tracking: recent RSSI per sensor → multilateration fix → Kalman smoothing → a
// published position placed in the site (placement.ts).
// State expires when a device goes quiet (phones rotate addresses), so memory stays bounded.
import type { Site, Zone } from '../../shared/site.ts'
import { solve, type Observation, type Fix, type Silence, type SolverOptions } from './solver.ts'
import { MotionFilter } from './kalman.ts'
import type { SensorModel } from './radio-model.ts'
import { SensitivityFloors } from './sensitivity.ts'
import { place } from './placement.ts'
import { insideWalls } from './geometry-prior.ts'
import { zoneCosts, type ZoneCosts } from './zone-odds.ts'
import { AdvertisedPower } from './advertised-power.ts'
import { packListening, sensorTable, type WalkModel, type Listening, type SensorTable } from './street-walk.ts'
import { Device, type TrackerOptions, type TrackerLearned, type Estimate, type Question } from './tracker-types.ts'
import type { ScanGrid } from './scan-grid.ts'
import { GridFilters } from './grid-filter.ts'

export { trackerOptions, type TrackerOptions, type TrackerLearned, type Estimate, type Question } from './tracker-types.ts'

/** Fixes after which a phone's own offset has settled: the site's, where it started, weighs 0.9^30 = 4% in it. */
const SETTLED_FIXES = 30

export class Tracker {
  private readonly devices = new Map<string, Device>()
  readonly floors = new SensitivityFloors()
  private readonly bounds: [number, number, number, number]
  /** What the shop-entry radio test needs of the solver's options (one object, not one per fix). */
  private readonly costOptions: { tagHeight: number; huberK: number; bounds: [number, number, number, number] }
  fixes = 0
  gated = 0
  expired = 0
  /**
   * Typical transmit offset of the phones seen here, dB, learned from every fix. A site whose
   * rssiAt1m is off (other phones, other receivers, a default never calibrated) reads as a common
   * offset of all phones; without it every new device would start from 0 dB and place itself
   * too far from (or too close to) every sensor until its own offset had settled.
   */
  siteOffset = 0
  private siteOffsetFixes = 0
  /** Devices created so far (each device's `serial`). */
  private serials = 0
  /** How far phones' advertised power (`tx`) predicts their offset here, learned from settled phones. */
  private readonly power: AdvertisedPower
  /** Whether the site's sensors sit on more than one floor (each fix then picks one). */
  private readonly multiFloor: boolean
  private listeningAt: { t: number; list: Silence[]; packed: Listening | null } = { t: NaN, list: [], packed: null }
  /** The heard sensors' floors and spreads shared by the walk histories' fixes of one tick (street-walk.ts). */
  private tableAt: { t: number; table: SensorTable | null } = { t: NaN, table: null }
  /** Receivers by a fixed index (the walk history packs indices, not objects), and the index. */
  private readonly sensorIndex: Map<string, number>
  private sensorList: SensorModel[]
  /** A number per sensor id for the devices' windows (the receivers' indices first, then any other id heard), and the ids by number. */
  private readonly windowKey: Map<string, number>
  private readonly windowIds: string[]
  /** Called with every fix and the observations behind it (online self-calibration listens here). */
  onFix: ((obs: Observation[], fix: Fix) => void) | null = null
  /** Phone-scan mode: each phone's grid posterior over its scan reports (scan-grid.ts) makes its fixes. */
  scanGrid: ScanGrid | null = null
  /** Tracker option `filter: 'grid'`: each device's grid posterior (grid-filter.ts). */
  private readonly grids: GridFilters | null

  constructor(
    private readonly site: Site,
    private models: Map<string, SensorModel>,
    readonly o: TrackerOptions
  ) {
    const [x0, y0, x1, y1] = site.bbox
    // Slack around the site, m: passers-by on the street are heard too, and a search box that
    // cannot hold them would pull their estimates inside. None where nobody is heard outside
    // (site radio `outsideHeard: false`): a fix outside the walls is impossible there, and the
    // best fit inside them is a better answer than the nearest edge to the best fit outside.
    const m = site.radio.outsideHeard ? 10 : 0
    this.bounds = [x0 - m, y0 - m, x1 + m, y1 + m]
    this.costOptions = { tagHeight: o.tagHeight, huberK: o.huberK, bounds: this.bounds }
    this.multiFloor = new Set([...models.values()].map(s => s.floor)).size > 1
    this.power = new AdvertisedPower(site.radio.rssiAt1m, o.offsetSdDb)
    this.sensorIndex = new Map([...models.keys()].map((id, i) => [id, i]))
    this.sensorList = [...models.values()]
    this.windowKey = new Map(this.sensorIndex)
    this.windowIds = [...this.sensorIndex.keys()]
    this.grids = GridFilters.create(site, this.bounds, o.grid, o.reportLagMs, o.filter)
  }

  get size(): number {
    return this.devices.size
  }

  /** What this tracker learned about the site (not about devices), for saving across restarts. */
  learned(): TrackerLearned {
    return { siteOffset: this.siteOffset, siteOffsetFixes: this.siteOffsetFixes, sensitivityFloors: this.floors.snapshot(), advertisedPower: this.power.snapshot() }
  }

  restoreLearned(l: TrackerLearned): void {
    if (Number.isFinite(l.siteOffset) && Number.isFinite(l.siteOffsetFixes)) {
      this.siteOffset = l.siteOffset
      this.siteOffsetFixes = l.siteOffsetFixes
    }
    this.floors.restore(l.sensitivityFloors, new Set(this.models.keys()))
    this.power.restore(l.advertisedPower)
  }

  setModels(models: Map<string, SensorModel>): void {
    this.models = models
    this.listeningAt = { t: NaN, list: [], packed: null }
    this.tableAt = { t: NaN, table: null }
    // A receiver the new models lack leaves a hole, and a walk test over fixes it heard says nothing.
    this.sensorList = [...this.sensorIndex.keys()].map(id => models.get(id)) as SensorModel[]
  }

  addReading(subject: string, sensor: string, ts: number, rssi: number, tx?: number): void {
    let d = this.devices.get(subject)
    if (d === undefined) {
      if (this.devices.size >= this.o.maxDevices) this.evictOldest()
      d = new Device(this.o.kalman, this.o.window)
      d.serial = this.serials++ & 0x7fffffff
      d.offset = this.siteOffset
      this.devices.set(subject, d)
    } else if (ts - d.movedAt >= 1000) {
      // Map order doubles as recency order (to a second): move the device to the end, at most
      // once a second, not on every one of its readings.
      this.devices.delete(subject)
      this.devices.set(subject, d)
      d.movedAt = ts
    }
    let key = this.windowKey.get(sensor)
    if (key === undefined) {
      key = this.windowIds.length
      this.windowKey.set(sensor, key)
      this.windowIds.push(sensor)
    }
    d.windows.add(key, ts, rssi)
    this.scanGrid?.add(subject, sensor, ts, rssi, this.models, this.o.scanGrid)
    this.floors.add(sensor, rssi, d.serial, ts)
    if (ts > d.lastSeen) d.lastSeen = ts
    if (ts < d.firstHeard) d.firstHeard = ts
    if (tx !== undefined) d.tx = tx
  }

  /** Forgets a subject at once (erasure, consent withdrawn). */
  forget(subject: string): boolean {
    this.scanGrid?.forget(subject)
    this.grids?.forget(this.devices.get(subject))
    return this.devices.delete(subject)
  }

  has(subject: string): boolean {
    return this.devices.has(subject)
  }

  /**
   * Subjects dropped by the size cap since the last expire(): reported with the expired ones so
   * the pipeline's per-subject structures forget them too (address churn would grow them unbounded).
   */
  private evicted: string[] = []

  private evictOldest(): void {
    const first = this.devices.keys().next()
    if (!first.done) {
      this.grids?.forget(this.devices.get(first.value))
      this.devices.delete(first.value)
      this.expired++
      this.evicted.push(first.value)
    }
  }

  /** Subjects heard within the window at time t. */
  *active(t: number): Generator<string> {
    for (const [subject, d] of this.devices) if (t - d.lastSeen <= this.o.window.windowMs) yield subject
  }

  /** Drops devices quiet for longer than the TTL; returns the dropped subjects. */
  expire(t: number): string[] {
    const gone: string[] = []
    for (const [subject, d] of this.devices) {
      if (t - d.lastSeen > this.o.ttlMs) {
        this.grids?.forget(d)
        this.devices.delete(subject)
        gone.push(subject)
      }
    }
    this.expired += gone.length
    // A phone's scan grid outlives its device here (scan-grid.ts `phoneTtlMs`).
    this.scanGrid?.expire(t)
    if (this.evicted.length > 0) {
      gone.push(...this.evicted.filter(s => !this.devices.has(s)))
      this.evicted = []
    }
    return gone
  }

  observations(subject: string, t: number): Observation[] {
    const d = this.devices.get(subject)
    if (!d) return []
    const obs: Observation[] = []
    for (let i = 0; i < d.windows.size; i++) {
      const sensor = this.windowIds[d.windows.key(i)]
      const model = this.models.get(sensor)
      if (model === undefined) continue
      const ob = d.windows.observation(i, t, model)
      if (ob === null) continue
      ob.floorDbm = this.floors.floor(sensor)
      obs.push(ob)
    }
    if (obs.length <= this.o.maxSensors) return obs
    // Past the bound, keep the strongest: they carry the most information per sensor.
    obs.sort((a, b) => b.rssi - b.sensor.a - (a.rssi - a.sensor.a))
    return obs.slice(0, this.o.maxSensors)
  }

  /** A smoothed position for `subject` at time t, or null when nothing recent was heard. */
  estimate(subject: string, t: number): Estimate | null {
    const q = this.question(subject, t)
    return q === null ? null : this.answer(q, q.known ?? solve(q.obs, q.options))
  }

  /**
   * The solver's question for `subject` at time t (null: nothing to ask). The questions of one
   * tick depend on no answer of it: they may be solved anywhere, in any order, and answered in turn.
   */
  question(subject: string, t: number): Question | null {
    const d = this.devices.get(subject)
    if (!d || t < d.firstHeard - this.o.window.windowMs) return null
    const heard = this.observations(subject, t)
    if (heard.length === 0) return null
    const obs = this.multiFloor ? this.onFloor(d, heard) : heard
    const kf = d.kf
    const prior = kf.initialized ? kf.predicted(t) : null
    const silent = this.silentSensors(d, t)
    const options: SolverOptions = {
      tagHeight: this.o.tagHeight,
      bounds: this.bounds,
      huberK: this.o.huberK,
      // Every key always present: one options shape for the solver's inner loop (`npm run bench -- accuracy`).
      silent,
      gridTemperature: this.o.gridTemperature,
      minSupport: this.o.minSupport,
      offMapPenalty: this.o.offMapPenalty,
      prior: prior ?? undefined,
      // The offset prior tightens as fixes agree on it, down to a third of the population spread.
      offsetPrior: { mean: d.offset, sd: this.o.offsetSdDb / Math.sqrt(1 + Math.min(8, d.offsetFixes)) }
    }
    // The grid is one floor: on a site of several, the solver on the device's floor's beacons places it.
    const known = this.multiFloor || !this.scanGrid?.chosen(this.o.scanGrid) ? null : (this.scanGrid?.fix(subject, t, this.models, this.o.scanGrid) ?? null)
    return known === null ? { subject, t, d, obs, silent, options } : { subject, t, d, obs, silent, options, known }
  }

  /** The estimate from a question of this tick and the solver's fix for it, taken in the order the questions were asked. */
  answer(q: Question, fix: Fix | null): Estimate | null {
    const { subject, t, d, obs, silent } = q
    const kf = d.kf
    if (fix === null) return null
    // The tick's listening sensors are packed once for every device's fix of this tick.
    if (this.o.walkHistory)
      d.walk.add(
        t,
        fix.x,
        fix.y,
        obs,
        silent,
        this.sensorIndex,
        this.o.silence && this.listeningAt.t === t ? (this.listeningAt.packed ??= packListening(this.listeningAt.list, this.sensorIndex)) : null,
        this.sensorTable(t)
      )
    this.fixes++
    let age = 0
    for (const ob of obs) age += ob.ageMs ?? 0
    // The grid filter (tracker option `filter`) weighs the same cost the solver minimised at every cell.
    const g = this.grids?.step(d, d.floor ?? 0, t, t - (this.o.grid.ageShare * age) / obs.length, obs, q.options, silent) ?? null
    this.onFix?.(obs, fix)
    if (obs.length >= 3 && this.o.offsetSdDb > 0) {
      d.offset += this.o.offsetLearningRate * (fix.offsetDb - d.offset)
      d.offsetFixes++
      // A plain mean over the first fixes (a fresh gateway knows nothing yet), then a running one.
      if (this.o.siteOffsetRate > 0) this.siteOffset += Math.max(this.o.siteOffsetRate, 1 / ++this.siteOffsetFixes) * (fix.offsetDb - this.siteOffset)
      // Once its own fixes have settled the offset (the solver's prior no longer leans on the
      // site's), a phone's advertised power can be checked against it. The solver never uses
      // that power itself: its offsets would then confirm the very figure they are checked against.
      if (d.tx !== undefined && d.offsetFixes === SETTLED_FIXES) this.power.observe(d.tx, d.offset, this.siteOffset)
    }
    const [fx, fy] = insideWalls(this.site, fix.x, fix.y, fix.accuracyM, d.floor ?? 0, this.o.outsideSigmas)
    // A scan grid's posterior has the phone's motion in it already: the filter restarts on it.
    if (q.known !== undefined) kf.init(t, fx, fy, fix.cxx, fix.cyy, fix.cxy)
    else if (!kf.update(t, fx, fy, fix.cxx, fix.cyy, fix.cxy, (this.o.lagFactor * age) / obs.length / 1000)) this.gated++
    // The filter averages fixes as if their errors were independent, but part of a fix's error is
    // bias that stays while the device stays (multipath at that spot, the body, the phone's
    // orientation): smoothing cannot remove it, so the published accuracy adds that share back.
    const accuracyM = Math.hypot(g?.published.accuracy ?? kf.accuracy(), this.o.biasShare * fix.accuracyM) * this.site.radio.accuracyScale
    // Mixtures of both motion models, computed on each read; kept within the search box (a track
    // whose velocity ran away on wild fixes must not publish a place no fix could be).
    const [bx0, by0, bx1, by1] = this.bounds
    const rawX = Math.min(bx1, Math.max(bx0, g?.now.x ?? kf.x))
    const rawY = Math.min(by1, Math.max(by0, g?.now.y ?? kf.y))
    const floor = d.floor ?? 0
    // Published: the smoothed position for the moment it is published for (smoother.ts). Zones
    // keep the filter's own, which their margins and dwell times were set on.
    const at = g?.published ?? kf.smoothed(t - this.o.reportLagMs)
    const sx = Math.min(bx1, Math.max(bx0, at.x))
    const sy = Math.min(by1, Math.max(by0, at.y))
    const { x, y, shop, sector } = place(this.site, sx, sy, accuracyM, floor, this.o.outsideSigmas)
    return {
      subject,
      ts: t - this.o.reportLagMs,
      x,
      y,
      floor,
      shop,
      sector,
      rawX,
      rawY,
      accuracyM,
      sensors: obs.length,
      fix,
      obs,
      silent,
      offsetPrior: this.power.prior(d.tx, this.siteOffset) ?? { mean: this.siteOffset, sd: this.o.offsetSdDb },
      walk: d.walk.fixes.slice()
    }
  }

  /** The table of heard sensors the walk histories' fixes of tick t share (one a tick). */
  private sensorTable(t: number): SensorTable {
    if (this.tableAt.t === t && this.tableAt.table !== null) return this.tableAt.table
    const table = sensorTable(this.sensorIndex.size)
    this.tableAt = { t, table }
    return table
  }

  /** A fix's costs inside and outside `zone` per offset of a grid around `base` (zone-odds.ts), from an estimate's `obs`, `silent` and `fix`. */
  zoneCosts(f: { obs: Observation[]; silent: Silence[]; x: number; y: number }, zone: Zone, base: number): ZoneCosts {
    return zoneCosts(f.obs, f.silent, this.costOptions, zone, f.x, f.y, base)
  }

  /** The options `zoneCosts` works with (the test pool packs them with each test). */
  get entryOptions(): { tagHeight: number; huberK: number; bounds: [number, number, number, number] } {
    return this.costOptions
  }

  /** What the street-walk test (street-walk.ts `walkTest`) takes besides the fixes: the receivers' models and the site's phone offset as they are now. */
  get walkModel(): WalkModel {
    return { sensors: this.sensorList, o: this.costOptions, prior: { mean: this.siteOffset, sd: this.o.offsetSdDb } }
  }

  /**
   * Working sensors on the device's floor (they reported something within the window) whose
   * reporting floor is known, that did not hear this device at all: where they would have heard
   * it, it is not. Sensors with no floor yet (nothing piles up at their bottom: every device is
   * heard well above their sensitivity, as in a small room) say nothing by silence.
   */
  private silentSensors(d: Device, t: number): Silence[] {
    const silent: Silence[] = []
    if (!this.o.silence) return silent
    const floor = d.floor ?? 0
    for (const q of this.listening(t)) {
      if (q.sensor.floor !== floor) continue
      const i = d.windows.indexOf(this.windowKey.get(q.sensor.id) ?? -1)
      if (i < 0 || t - d.windows.last(i) > this.o.window.windowMs) silent.push(q)
    }
    return silent
  }

  /** Sensors working at time t whose reporting floor is known (worked out once per tick). */
  private listening(t: number): Silence[] {
    if (this.listeningAt.t === t) return this.listeningAt.list
    const list: Silence[] = []
    for (const [id, sensor] of this.models) {
      if (t - this.floors.heardAt(id) > this.o.window.windowMs) continue
      const floorDbm = this.floors.floor(id)
      if (floorDbm > -Infinity) list.push({ sensor, floorDbm })
    }
    this.listeningAt = { t, list, packed: null }
    return list
  }

  /**
   * Multi-floor sites: the device is on the floor whose nearest-sounding sensor (RSSI against its
   * 1 m reference) is strongest. A slab costs a signal 10-20 dB, so the floor the device is on
   * leads clearly; a change needs a lead of `floorSwitchDb` over the current floor (stairs and
   * atriums blur it), and restarts the motion filter there. Only that floor's sensors position it.
   */
  private onFloor(d: Device, heard: Observation[]): Observation[] {
    const best = new Map<number, number>()
    for (const ob of heard) best.set(ob.sensor.floor, Math.max(best.get(ob.sensor.floor) ?? -Infinity, ob.rssi - ob.sensor.a))
    let top = 0
    let topScore = -Infinity
    for (const [floor, score] of best)
      if (score > topScore) {
        top = floor
        topScore = score
      }
    const current = d.floor === null ? -Infinity : (best.get(d.floor) ?? -Infinity)
    if (d.floor === null || (top !== d.floor && topScore > current + this.o.floorSwitchDb)) {
      if (d.floor !== null) {
        d.kf = new MotionFilter(this.o.kalman)
        d.walk.clear()
      }
      d.floor = top
    }
    return heard.filter(ob => ob.sensor.floor === d.floor)
  }
}
