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

export interface ScanGridOptions {
  /** Cell side, m; coarsened on large sites so a phone's grid holds at most `maxCells`. */
  cellM: number
  maxCells: number
  /** Spread of one reading around the path-loss model, dB. */
  sigmaDb: number
  /** Spread of the per-scan offset (the body, the phone's orientation), dB. */
  scanOffsetSdDb: number
  /** How far a phone's position drifts while its holder stays, m per √s (browsing, turning round). */
  driftM: number
  /** How far a phone that moves goes, m per s (a walk). */
  walkMps: number
  /**
   * Moves a phone makes per second, the site's starting guess; learned from the traffic (each
   * scan weighs whether the phone stayed or walked) with the guess counting as `moveRateWeightS` seconds.
   */
  moveRate: number
  moveRateWeightS: number
  /** The detection chance a new site starts from, and how many beacon-scans it counts as. */
  detectPrior: number
  detectPriorWeight: number
  /** A phone's own offset leans on the site's as if it had this many readings. */
  phoneOffsetWeight: number
  /**
   * A phone's grid is kept this long after its last scan, ms: longer than the tracker keeps a
   * device (an app scans in bursts; one quiet for a minute is still near where it was, and its
   * own offset is still its own). Forgotten at once on erasure.
   */
  phoneTtlMs: number
  /** Phones kept at most (the least recently heard go first): a grid is `maxCells` floats. */
  maxPhones: number
}

export const defaultScanGridOptions: ScanGridOptions = {
  cellM: 1,
  maxCells: 4096,
  sigmaDb: 6,
  scanOffsetSdDb: 3,
  driftM: 0.5,
  walkMps: 1,
  moveRate: 0.02,
  moveRateWeightS: 600,
  detectPrior: 0.5,
  detectPriorWeight: 20,
  phoneOffsetWeight: 20,
  phoneTtlMs: 300_000,
  maxPhones: 2000
}

/** The per-scan offsets the likelihood is summed over, in units of `scanOffsetSdDb`. */
const SCAN_OFFSETS = [-2, -1, 0, 1, 2]
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
  /** The scan being gathered (readings of one report share its time). */
  pendingTs: number
  pending: Map<string, number>
  /** Sum of this phone's residuals against the site's offset, and their count. */
  offSum: number
  offN: number
  lastSeen: number
}

export class ScanGrid {
  readonly nx: number
  readonly ny: number
  readonly x0: number
  readonly y0: number
  readonly step: number
  private readonly phones = new Map<string, PhoneGrid>()
  /** Phones' common offset against the beacons' models, dB, and the readings behind it. */
  offset = 0
  private offsetN = 0
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
  /** The phone's height, m. */
  private readonly z: number

  constructor(
    site: Site,
    readonly o: ScanGridOptions = defaultScanGridOptions
  ) {
    const xs = [site.bbox[0], site.bbox[2], ...[...site.beacons.values()].map(b => b.x)]
    const ys = [site.bbox[1], site.bbox[3], ...[...site.beacons.values()].map(b => b.y)]
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
  }

  get size(): number {
    return this.phones.size
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
   * Whether the grid places phones: always (`on`), or (`auto`) once scans report fewer beacons than
   * a fix from ranges needs to be more than a guess.
   */
  chosen(mode: 'auto' | 'on' | 'off'): boolean {
    if (mode !== 'auto') return mode === 'on'
    return this.scans >= AUTO_MIN_SCANS && this.reportedPerScan < RANGE_UNKNOWNS + 1
  }

  /** One reading of a scan report; readings of one report share its time. */
  add(phone: string, beacon: string, ts: number, rssi: number, models: ReadonlyMap<string, SensorModel>): void {
    let g = this.phones.get(phone)
    if (g === undefined) {
      if (this.phones.size >= this.o.maxPhones) this.phones.delete(this.phones.keys().next().value as string)
      g = { p: new Float32Array(this.nx * this.ny).fill(1 / (this.nx * this.ny)), at: ts, pendingTs: ts, pending: new Map(), offSum: 0, offN: 0, lastSeen: ts }
    } else this.phones.delete(phone)
    // Map order is recency order: the phone goes to the end.
    this.phones.set(phone, g)
    g.lastSeen = Math.max(g.lastSeen, ts)
    if (ts !== g.pendingTs) this.flush(g, models)
    g.pendingTs = ts
    g.pending.set(beacon, rssi)
  }

  forget(phone: string): void {
    this.phones.delete(phone)
  }

  /** Drops the phones quiet for longer than `phoneTtlMs` at time t. */
  expire(t: number): void {
    for (const [phone, g] of this.phones) if (t - g.lastSeen > this.o.phoneTtlMs) this.phones.delete(phone)
  }

  /** The phone's position at time t (every scan before t folded in) as a fix, or null when it has none. */
  fix(phone: string, t: number, models: ReadonlyMap<string, SensorModel>): Fix | null {
    const g = this.phones.get(phone)
    if (g === undefined) return null
    if (g.pending.size > 0 && g.pendingTs < t) this.flush(g, models)
    if (this.scans === 0) return null
    const m = this.moments(g.p)
    return { x: m.x, y: m.y, cxx: m.cxx, cyy: m.cyy, cxy: m.cxy, accuracyM: Math.sqrt(m.cxx + m.cyy), method: 'grid', cost: 0, offsetDb: this.offset + this.phoneOffset(g) }
  }

  private phoneOffset(g: PhoneGrid): number {
    return g.offSum / (g.offN + this.o.phoneOffsetWeight)
  }

  /** Folds the gathered scan into the phone's posterior: drift since the last scan, then the scan's likelihood. */
  private flush(g: PhoneGrid, models: ReadonlyMap<string, SensorModel>): void {
    const heard = g.pending
    g.pending = new Map()
    const beacons = [...models.values()]
    if (![...heard.keys()].some(id => models.has(id))) return
    const dt = Math.max(0, (g.pendingTs - g.at) / 1000)
    g.at = g.pendingTs
    // Where the phone is now if its holder stayed, and if they walked.
    const walked = Float32Array.from(g.p)
    this.blur(g.p, this.o.driftM * Math.sqrt(dt))
    this.blur(walked, this.o.walkMps * dt)
    const moved = 1 - Math.exp(-this.moveRate * dt)
    const offset = this.offset + this.phoneOffset(g)
    const ll = this.logLikelihood(heard, beacons, offset)
    let top = -Infinity
    for (let c = 0; c < ll.length; c++) if (ll[c] > top) top = ll[c]
    let went = 0
    let z = 0
    for (let c = 0; c < ll.length; c++) {
      const l = Math.exp(ll[c] - top)
      went += l * walked[c]
      z += g.p[c] = l * ((1 - moved) * g.p[c] + moved * walked[c])
    }
    for (let c = 0; c < ll.length; c++) g.p[c] /= z
    // The chance this scan's phone walked since its last: the moves the site's phones make.
    if (dt > 0 && z > 0) {
      this.movesN += (moved * went) / z
      this.movesS += dt
      if (this.movesS > this.o.moveRateWeightS / MIN_RATE) {
        this.movesN /= 2
        this.movesS /= 2
      }
    }
    this.scans++
    let reported = 0
    for (const id of heard.keys()) if (models.has(id)) reported++
    this.reportedPerScan += Math.max(MIN_RATE, 1 / this.scans) * (reported - this.reportedPerScan)
    this.learn(g, heard, beacons, offset)
  }

  private cellX(c: number): number {
    return this.x0 + (c % this.nx) * this.step
  }

  private cellY(c: number): number {
    return this.y0 + Math.floor(c / this.nx) * this.step
  }

  /** Expected reading of `b` at cell c for offset 0, dBm. */
  private expected(b: SensorModel, x: number, y: number, z: number): number {
    const d = Math.max(MIN_DISTANCE_M, Math.hypot(x - b.x, y - b.y, z - b.z))
    return b.a - 10 * b.n * Math.log10(d)
  }

  /**
   * ln P(scan | cell), the scan's own offset summed out: a heard beacon is a reading around the
   * model (and was reported: the detection chance); one not heard either faded under the floor or
   * was missed by the scan.
   */
  private logLikelihood(heard: ReadonlyMap<string, number>, beacons: SensorModel[], offset: number): Float64Array {
    const n = this.nx * this.ny
    const out = new Float64Array(n)
    const { sigmaDb, scanOffsetSdDb } = this.o
    const detect = this.detect
    const floor = this.floor
    const z = this.z
    const per = new Float64Array(SCAN_OFFSETS.length)
    for (let c = 0; c < n; c++) {
      const x = this.cellX(c)
      const y = this.cellY(c)
      let top = -Infinity
      for (let k = 0; k < SCAN_OFFSETS.length; k++) {
        const s = SCAN_OFFSETS[k] * scanOffsetSdDb
        let l = -0.5 * SCAN_OFFSETS[k] * SCAN_OFFSETS[k]
        for (const b of beacons) {
          const e = this.expected(b, x, y, z) + offset + s
          const r = heard.get(b.id)
          if (r !== undefined) {
            const u = (r - e) / sigmaDb
            l += Math.log(detect) - 0.5 * u * u
          } else l += Math.log(1 - detect * normalUpperTail((floor - e) / sigmaDb))
        }
        per[k] = l
        if (l > top) top = l
      }
      let sum = 0
      for (let k = 0; k < per.length; k++) sum += Math.exp(per[k] - top)
      out[c] = top + Math.log(sum)
    }
    return out
  }

  /** The posterior spread by a random walk of `sigma` m (a separable Gaussian blur; nobody leaves through the grid's edge). */
  private blur(p: Float32Array, sigma: number): void {
    if (sigma < 0.1 * this.step) return
    const { nx, ny } = this
    const r = Math.min(Math.max(nx, ny), Math.ceil((3 * sigma) / this.step))
    const kernel = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-0.5 * (((i - r) * this.step) / sigma) ** 2))
    const tmp = new Float32Array(p.length)
    for (let pass = 0; pass < 2; pass++) {
      const [src, dst] = pass === 0 ? [p, tmp] : [tmp, p]
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          let s = 0
          let w = 0
          for (let i = -r; i <= r; i++) {
            const xx = pass === 0 ? x + i : x
            const yy = pass === 0 ? y : y + i
            if (xx < 0 || xx >= nx || yy < 0 || yy >= ny) continue
            s += kernel[i + r] * src[yy * nx + xx]
            w += kernel[i + r]
          }
          dst[y * nx + x] = s / w
        }
      }
    }
  }

  private moments(p: Float32Array): { x: number; y: number; cxx: number; cyy: number; cxy: number } {
    let mx = 0
    let my = 0
    for (let c = 0; c < p.length; c++) {
      mx += p[c] * this.cellX(c)
      my += p[c] * this.cellY(c)
    }
    let cxx = 0
    let cyy = 0
    let cxy = 0
    for (let c = 0; c < p.length; c++) {
      const dx = this.cellX(c) - mx
      const dy = this.cellY(c) - my
      cxx += p[c] * dx * dx
      cyy += p[c] * dy * dy
      cxy += p[c] * dx * dy
    }
    // A cell's own width is the least a grid can claim.
    const cell = (this.step * this.step) / 12
    return { x: mx, y: my, cxx: cxx + cell, cyy: cyy + cell, cxy }
  }

  /**
   * What the scan teaches about the radio, at the posterior mean: the residuals of the heard
   * beacons (the phones' common offset and this phone's), which beacons a scan there could have
   * reported against those it did (the detection chance), and the heard readings (the floor).
   */
  private learn(g: PhoneGrid, heard: ReadonlyMap<string, number>, beacons: SensorModel[], offset: number): void {
    const m = this.moments(g.p)
    const floor = this.floor
    for (const b of beacons) {
      const e = this.expected(b, m.x, m.y, this.z)
      const r = heard.get(b.id)
      this.expectedN += normalUpperTail((floor - e - offset) / this.o.sigmaDb)
      if (r === undefined) continue
      this.heardN++
      const res = r - e
      this.offset += Math.max(MIN_RATE, 1 / ++this.offsetN) * (res - this.phoneOffset(g) - this.offset)
      g.offSum += res - this.offset
      g.offN++
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
