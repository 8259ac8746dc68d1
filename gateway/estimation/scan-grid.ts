// Phone-scan positions (contract §2: a phone reports the fixed beacons it heard) as a grid
// posterior per phone, updated once per scan report. A scan hears few beacons (often two or three
// of a floor's dozen), too few for a least-squares fix from ranges: what the report leaves out says
// as much as what it holds (a beacon not heard is probably far), and the answer is often two-humped
// (either side of a beacon), which a Gaussian fix averages into a place nobody stood. The grid keeps
// both humps, and the phone's recent scans, until a scan tells them apart.
//
// Learned from the traffic alone (the gateway never gets a survey): the phones' common offset
// against the site's rssiAt1m, each phone's own, the chance that a scan reports a beacon it could
// hear (scans are short and miss many), and the reporting floor under which nothing is reported.
// Each scan's unknown body and orientation loss is marginalised as a common offset of that scan.
import type { Site } from '../../shared/site.ts'
import type { SensorModel } from './radio-model.ts'
import { MIN_DISTANCE_M } from './radio-model.ts'
import { normalUpperTail } from './sensitivity.ts'
import type { Fix } from './solver.ts'
import { blur, blurWork, moments } from './scan-grid-kernels.ts'
import { OFFSETS, ScanWeigher } from './scan-grid-weigh.ts'
import { newPhoneOffset, PhoneOffsets, type PhoneOffset } from './scan-grid-offset.ts'
import { defaultScanGridOptions, SCAN_READING_REASONS, SCAN_RESULTS, type ScanGridOptions, type ScanReadingReason, type ScanResult } from './scan-grid-options.ts'

export { defaultScanGridOptions, SCAN_READING_REASONS, SCAN_RESULTS, type ScanGridOptions } from './scan-grid-options.ts'

/** Quantile of the heard readings taken as the reporting floor: the weakest few are what faded up. */
const FLOOR_QUANTILE = 0.05
/** Heard readings before the floor is taken from them (until then: the weakest possible reading). */
const FLOOR_MIN_READINGS = 20
/** Running means over readings keep at least this weight on a new one, so the learned values follow a changed site. */
const MIN_RATE = 0.001
/** Unknowns of a fix from one scan's ranges: x, y and the phone's offset. */
const RANGE_UNKNOWNS = 3
/** Scans seen before `auto` judges how many beacons a scan reports. */
const AUTO_MIN_SCANS = 3
interface PhoneGrid {
  p: Float32Array
  /** Time of the last scan folded in, ms. */
  at: number
  /** The scan being gathered (readings of one report share its time): beacons by index and their readings. */
  pendingTs: number
  ids: Int32Array
  rssi: Float32Array
  count: number
  offset: PhoneOffset
  lastSeen: number
  /** Whether the grid holds the phone's latest scan (a scan left out over budget: the solver places the phone until one is folded in). */
  current: boolean
}

export class ScanGrid {
  readonly nx: number
  readonly ny: number
  readonly x0: number
  readonly y0: number
  readonly step: number
  private readonly phones = new Map<string, PhoneGrid>()
  /** Phones' offsets against the beacons' models (their common one, and each phone's own). */
  readonly offsets: PhoneOffsets
  /** Chance that a scan reports a beacon whose reading is above the floor: heard and expected counts. */
  private heardN: number
  private expectedN: number
  /** Moves the scans pointed to (each scan's chance that its phone walked), and the seconds they cover. */
  private movesN: number
  private movesS: number
  /** Heard readings by whole dBm (-127..0), for the reporting floor. */
  private readonly histogram = new Float64Array(128)
  private histogramN = 0
  scans = 0
  /** Beacons a scan reports, running mean over scans. */
  reportedPerScan = 0
  /** Readings left out, by reason, and scans by what became of them. */
  readonly refused: Record<ScanReadingReason, number> = Object.fromEntries(SCAN_READING_REASONS.map(r => [r, 0])) as Record<ScanReadingReason, number>
  readonly results: Record<ScanResult, number> = Object.fromEntries(SCAN_RESULTS.map(r => [r, 0])) as Record<ScanResult, number>
  /** Work done (likelihood terms, blurred cells), in all, and the most one scan took. */
  work = 0
  maxWorkPerScan = 0
  /** The newest second of event time the budget is spent in (older scans are charged to it), and what is spent. */
  private budgetSecond = -Infinity
  private spent = 0
  /** The phone's height, m. */
  private readonly z: number
  /** The beacons each scan is weighed on. */
  private readonly weigh: ScanWeigher
  /** Scratch, reused by every scan (nothing is allocated per scan). */
  private readonly walked: Float32Array
  private readonly tmp: Float32Array
  private readonly ll: Float64Array
  private readonly kernel = new Float64Array(13)
  /** The posterior's moments, as last worked out: mean x, y (m), covariance xx, yy, xy (m²). */
  private readonly m = new Float64Array(5)

  constructor(
    site: Site,
    readonly o: ScanGridOptions = defaultScanGridOptions
  ) {
    const beacons = [...site.beacons.values()]
    const xs = [site.bbox[0], site.bbox[2], ...beacons.map(b => b.x)]
    const ys = [site.bbox[1], site.bbox[3], ...beacons.map(b => b.y)]
    this.x0 = Math.min(...xs)
    this.y0 = Math.min(...ys)
    const w = Math.max(...xs) - this.x0
    const h = Math.max(...ys) - this.y0
    this.step = Math.max(o.cellM, Math.sqrt((w * h) / o.maxCells))
    this.nx = Math.floor(w / this.step) + 1
    this.ny = Math.floor(h / this.step) + 1
    this.z = site.radio.tagHeightM
    this.heardN = o.detectPrior * o.detectPriorWeight
    this.movesN = o.moveRate * o.moveRateWeightS
    this.movesS = o.moveRateWeightS
    this.expectedN = o.detectPriorWeight
    this.offsets = new PhoneOffsets({
      maxPhoneOffsetDb: o.maxPhoneOffsetDb,
      maxCommonOffsetDb: o.maxCommonOffsetDb,
      clipDb: o.clipSigmas * o.sigmaDb,
      priorWeight: o.phoneOffsetWeight
    })
    this.weigh = new ScanWeigher(beacons, o, { x0: this.x0, y0: this.y0, step: this.step, nx: this.nx, ny: this.ny, z: this.z })
    const cells = this.nx * this.ny
    this.walked = new Float32Array(cells)
    this.tmp = new Float32Array(cells)
    this.ll = new Float64Array(cells)
  }

  get size(): number {
    return this.phones.size
  }

  /** The phones' common offset against the beacons' models, dB. */
  get offset(): number {
    return this.offsets.common
  }

  /** The learned detection chance of a beacon a scan could hear. */
  get detect(): number {
    return Math.min(0.95, this.heardN / this.expectedN)
  }

  /** Moves a phone makes per second, as learned. */
  get moveRate(): number {
    return this.movesN / this.movesS
  }

  /** The reporting floor, dBm: the low quantile of the heard readings. */
  get floor(): number {
    if (this.histogramN < FLOOR_MIN_READINGS) return -127
    let seen = 0
    for (let i = 0; i < 128; i++) {
      seen += this.histogram[i]
      if (seen >= FLOOR_QUANTILE * this.histogramN) return i - 127
    }
    return 0
  }

  /**
   * The most work one scan can cost whatever the site and the scan: the two blurs of the whole
   * grid, the likelihood on at most `maxScanCells` cells, the not-heard table.
   */
  get maxScanWork(): number {
    const o = this.o
    return 2 * 26 * this.nx * this.ny + this.scanWork(this.nx * this.ny, o.maxScanCells, o.maxHeard, o.maxHeard + o.maxUnheard)
  }

  /**
   * Whether the grid places phones: always (`on`), or (`auto`) once scans report fewer beacons than
   * a fix from ranges needs to be more than a guess.
   */
  chosen(mode: 'auto' | 'on' | 'off'): boolean {
    if (mode !== 'auto') return mode === 'on'
    return this.scans >= AUTO_MIN_SCANS && this.reportedPerScan < RANGE_UNKNOWNS + 1
  }

  /** Whether scans are worth folding in: `auto` folds them from the start and while the choice is near (a scan more or less). */
  private folds(mode: 'auto' | 'on' | 'off'): boolean {
    return mode === 'on' || (mode === 'auto' && (this.scans < AUTO_MIN_SCANS || this.reportedPerScan < RANGE_UNKNOWNS + 2))
  }

  /** One reading of a scan report; readings of one report share its time. Returns the reason it was left out, or null. */
  add(phone: string, beacon: string, ts: number, rssi: number, models: ReadonlyMap<string, SensorModel>, mode: 'auto' | 'on' | 'off' = 'on'): ScanReadingReason | null {
    const b = this.weigh.index(beacon)
    const m = models.get(beacon)
    const why = !Number.isFinite(rssi)
      ? 'not_finite'
      : rssi < -127 || rssi > 0
        ? 'out_of_range'
        : b === undefined || m === undefined
          ? 'unknown_beacon'
          : rssi > this.loudest(m)
            ? 'too_loud'
            : null
    if (why !== null || b === undefined) {
      this.refused[why ?? 'unknown_beacon']++
      return why
    }
    let g = this.phones.get(phone)
    if (g === undefined) {
      if (this.phones.size >= this.o.maxPhones) this.forget(this.phones.keys().next().value as string)
      const cells = this.nx * this.ny
      g = {
        p: new Float32Array(cells).fill(1 / cells),
        at: ts,
        pendingTs: ts,
        ids: new Int32Array(this.o.maxHeard),
        rssi: new Float32Array(this.o.maxHeard),
        count: 0,
        offset: newPhoneOffset(),
        lastSeen: ts,
        current: false
      }
    } else this.phones.delete(phone)
    // Map order is recency order: the phone goes to the end.
    this.phones.set(phone, g)
    g.lastSeen = Math.max(g.lastSeen, ts)
    if (ts !== g.pendingTs) this.flush(g, models, mode)
    g.pendingTs = ts
    return this.gather(g, b, rssi)
  }

  /** The loudest reading a phone could give of beacon m: its model at the nearest distance, the largest offsets allowed, three sigmas. */
  private loudest(m: SensorModel): number {
    const near = m.a - 10 * m.n * Math.log10(MIN_DISTANCE_M)
    return near + Math.min(this.o.maxCommonOffsetDb, this.offsets.common + this.o.maxPhoneOffsetDb) + 3 * this.o.sigmaDb
  }

  /** Keeps a reading in the scan being gathered: the strongest `maxHeard` of it (a beacon read twice: its last reading). */
  private gather(g: PhoneGrid, b: number, rssi: number): ScanReadingReason | null {
    let weakest = 0
    for (let i = 0; i < g.count; i++) {
      if (g.ids[i] === b) {
        g.rssi[i] = rssi
        return null
      }
      if (g.rssi[i] < g.rssi[weakest]) weakest = i
    }
    if (g.count < this.o.maxHeard) {
      g.ids[g.count] = b
      g.rssi[g.count++] = rssi
      return null
    }
    this.refused.past_max_heard++
    if (rssi > g.rssi[weakest]) {
      g.ids[weakest] = b
      g.rssi[weakest] = rssi
    }
    return 'past_max_heard'
  }

  /** Forgets a phone (erasure, expiry, eviction): its grid and its vote in the common offset. */
  forget(phone: string): void {
    const g = this.phones.get(phone)
    if (g === undefined) return
    this.offsets.drop(g.offset)
    this.phones.delete(phone)
  }

  /** Drops the phones quiet for longer than `phoneTtlMs` at time t. */
  expire(t: number): void {
    for (const [phone, g] of this.phones) if (t - g.lastSeen > this.o.phoneTtlMs) this.forget(phone)
  }

  /** The phone's position at time t (every scan before t folded in) as a fix, or null when it has none (or its latest scan was left out). */
  fix(phone: string, t: number, models: ReadonlyMap<string, SensorModel>, mode: 'auto' | 'on' | 'off' = 'on'): Fix | null {
    const g = this.phones.get(phone)
    if (g === undefined) return null
    if (g.count > 0 && g.pendingTs < t) this.flush(g, models, mode)
    if (!g.current) return null
    const m = moments(g.p, this.weigh.g, this.m)
    return {
      x: m[0],
      y: m[1],
      cxx: m[2],
      cyy: m[3],
      cxy: m[4],
      accuracyM: Math.sqrt(m[2] + m[3]),
      method: 'grid',
      cost: 0,
      offsetDb: this.offsets.of(g.offset)
    }
  }

  /** Folds the gathered scan into the phone's posterior: drift since the last scan, then the scan's likelihood. */
  private flush(g: PhoneGrid, models: ReadonlyMap<string, SensorModel>, mode: 'auto' | 'on' | 'off'): void {
    const count = g.count
    g.count = 0
    this.weigh.choose(g.ids, g.rssi, count, models)
    if (this.weigh.heard === 0) return
    this.scans++
    this.reportedPerScan += Math.max(MIN_RATE, 1 / this.scans) * (this.weigh.heard - this.reportedPerScan)
    if (!this.folds(mode)) {
      this.results.not_needed++
      g.current = false
      return
    }
    const offset = this.offsets.of(g.offset)
    const [ix0, iy0, ix1, iy1] = this.weigh.window(offset)
    const wx = ix1 - ix0 + 1
    const wy = iy1 - iy0 + 1
    // Coarser where the readings allow many places: blocks of stride x stride cells, at most maxScanCells of them.
    let stride = Math.max(1, Math.floor(Math.sqrt((wx * wy) / this.o.maxScanCells)))
    while (Math.ceil(wx / stride) * Math.ceil(wy / stride) > this.o.maxScanCells) stride++
    const dt = Math.max(0, (g.pendingTs - g.at) / 1000)
    // Charged before it is done: a scan the second's budget cannot pay is left out whole.
    const blurs = blurWork(this.nx, this.ny, this.step, this.o.driftM * Math.sqrt(dt)) + blurWork(this.nx, this.ny, this.step, this.o.walkMps * dt)
    const cost = blurs + this.scanWork(wx * wy, Math.ceil(wx / stride) * Math.ceil(wy / stride), this.weigh.heard, this.weigh.considered)
    const second = Math.floor(g.pendingTs / 1000)
    if (second > this.budgetSecond) {
      this.budgetSecond = second
      this.spent = 0
    }
    if (this.spent + cost > this.o.workPerSecond) {
      this.results.over_budget++
      g.current = false
      return
    }
    let work = this.weigh.table.set(this.detect)
    g.at = g.pendingTs
    // Where the phone is now if its holder stayed, and if they walked.
    const walked = this.walked
    walked.set(g.p)
    work += blur(g.p, this.nx, this.ny, this.step, this.o.driftM * Math.sqrt(dt), this.tmp, this.kernel)
    work += blur(walked, this.nx, this.ny, this.step, this.o.walkMps * dt, this.tmp, this.kernel)
    const moved = 1 - Math.exp(-this.moveRate * dt)
    work += this.weigh.logLikelihood(this.ll, this.detect, this.floor, offset, ix0, iy0, ix1, iy1, stride)
    const ll = this.ll
    let top = -Infinity
    for (let y = iy0; y <= iy1; y++) for (let x = ix0; x <= ix1; x++) if (ll[y * this.nx + x] > top) top = ll[y * this.nx + x]
    let went = 0
    let z = 0
    const p = g.p
    for (let c = 0; c < p.length; c++) {
      const x = c % this.nx
      const y = (c - x) / this.nx
      if (x < ix0 || x > ix1 || y < iy0 || y > iy1) {
        // Outside the window the scan's readings put the phone nowhere.
        p[c] = 0
        continue
      }
      const l = Math.exp(ll[c] - top)
      went += l * walked[c]
      z += p[c] = l * ((1 - moved) * p[c] + moved * walked[c])
    }
    if (!(z > 0)) {
      // Nowhere the phone could have been fits the scan (it jumped, or the grid was left behind): the scan alone.
      z = 0
      for (let y = iy0; y <= iy1; y++) for (let x = ix0; x <= ix1; x++) z += p[y * this.nx + x] = Math.exp(ll[y * this.nx + x] - top)
    }
    for (let c = 0; c < p.length; c++) p[c] /= z
    // The chance this scan's phone walked since its last: the moves the site's phones make.
    if (dt > 0 && went > 0) {
      this.movesN += (moved * went) / z
      this.movesS += dt
      if (this.movesS > this.o.moveRateWeightS / MIN_RATE) {
        this.movesN /= 2
        this.movesS /= 2
      }
    }
    g.current = true
    this.results.folded++
    this.learn(g, offset)
    work += 3 * p.length
    this.spent += cost
    this.work += work
    if (work > this.maxWorkPerScan) this.maxWorkPerScan = work
  }

  /**
   * What a scan costs at most past its two blurs (at most 2 x 13 taps a cell each), in work units:
   * the posterior's update and moments, the likelihood on `blocks` blocks of a window of `cells`
   * cells with `heard` of `considered` beacons heard, the not-heard table.
   */
  private scanWork(cells: number, blocks: number, heard: number, considered: number): number {
    return 3 * this.nx * this.ny + blocks * (heard + OFFSETS * (considered - heard + 1)) + cells + this.weigh.table.values.length
  }

  /**
   * What the scan teaches about the radio, at the posterior mean: the residuals of the heard
   * beacons (the phone's offset, and through it the phones' common one), which of the beacons
   * weighed a scan there could have reported against those it did (the detection chance), and the
   * heard readings (the floor).
   */
  private learn(g: PhoneGrid, offset: number): void {
    const [mx, my] = moments(g.p, this.weigh.g, this.m)
    const floor = this.floor
    for (let k = 0; k < this.weigh.considered; k++) {
      const d = Math.hypot(mx - this.weigh.bx[k], my - this.weigh.by[k], this.z - this.weigh.bz[k])
      const e = this.weigh.ba[k] - 10 * this.weigh.bn[k] * Math.log10(Math.max(MIN_DISTANCE_M, d))
      this.expectedN += normalUpperTail((floor - e - offset) / this.o.sigmaDb)
      if (k >= this.weigh.heard) continue
      const r = this.weigh.br[k]
      this.heardN++
      this.offsets.learn(g.offset, r - e)
      const bin = Math.min(127, Math.max(0, Math.round(r) + 127))
      this.histogram[bin]++
      this.histogramN++
    }
    // Counts halve now and then: what is learned follows a site whose beacons change.
    if (this.expectedN > 1 / MIN_RATE) {
      this.heardN /= 2
      this.expectedN /= 2
    }
  }
}
