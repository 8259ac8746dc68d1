// Which beacons a phone's scan is weighed on, where its readings allow the phone to be, and its
// likelihood over those cells (scan-grid.ts): each bounded by the options, never by the site's
// beacon count or the scan's length.
import type { SensorModel } from './radio-model.ts'
import { MIN_DISTANCE_M } from './radio-model.ts'
import { nearestNeighbours, UnheardTable } from './scan-grid-kernels.ts'
import type { ScanGridOptions } from './scan-grid-options.ts'

/** The per-scan offsets the likelihood is summed over, in units of `scanOffsetSdDb`. */
export const SCAN_OFFSETS = [-2, -1, 0, 1, 2]
/** Cells' likelihood terms per beacon: one per scan offset for a beacon not heard, one for a heard one. */
export const OFFSETS = SCAN_OFFSETS.length
/** A heard beacon's reading places the phone within the distance where the model falls this many sigmas under it (and the scan's largest offset). */
const WINDOW_SIGMAS = 3.5

/** The grid's cells: the corner cell's centre, the cell side (m), the cells across and down, and the phone's height (m). */
export interface GridShape {
  x0: number
  y0: number
  step: number
  nx: number
  ny: number
  z: number
}

/** The beacons one scan is weighed on, in scratch arrays reused by every scan: heard first (`heard` of them), then not heard, `considered` in all. */
export class ScanWeigher {
  heard = 0
  considered = 0
  /** Spread of a scan's own offset, dB (learned by the grid: scan-grid.ts). */
  scanSd: number
  readonly bx: Float64Array
  readonly by: Float64Array
  readonly bz: Float64Array
  readonly ba: Float64Array
  readonly bn: Float64Array
  /** The heard beacons' readings, dBm. */
  readonly br: Float64Array
  private readonly bi: Int32Array
  private readonly ue: Float64Array
  private readonly per = new Float64Array(OFFSETS)
  private readonly mark: Int32Array
  private markStamp = 0
  /** The site's beacons by index, and each one's nearest others. */
  private readonly beaconIds: string[]
  private readonly beaconIndex: Map<string, number>
  private readonly neighbours: Int32Array[]
  readonly table: UnheardTable

  constructor(
    beacons: ReadonlyArray<{ id: string; x: number; y: number }>,
    private readonly o: ScanGridOptions,
    readonly g: GridShape
  ) {
    this.beaconIds = beacons.map(b => b.id)
    this.beaconIndex = new Map(this.beaconIds.map((id, i) => [id, i]))
    this.neighbours = nearestNeighbours(
      Float64Array.from(beacons, b => b.x),
      Float64Array.from(beacons, b => b.y),
      o.maxHeard + o.maxUnheard
    )
    this.mark = new Int32Array(beacons.length)
    const most = o.maxHeard + o.maxUnheard
    this.bx = new Float64Array(most)
    this.by = new Float64Array(most)
    this.bz = new Float64Array(most)
    this.ba = new Float64Array(most)
    this.bn = new Float64Array(most)
    this.br = new Float64Array(most)
    this.bi = new Int32Array(most)
    this.ue = new Float64Array(o.maxUnheard)
    this.table = new UnheardTable(o.sigmaDb)
    this.scanSd = o.scanOffsetSdDb
  }

  /** A beacon's index, or undefined when the site does not hold it. */
  index(id: string): number | undefined {
    return this.beaconIndex.get(id)
  }

  /**
   * The beacons the scan is weighed on, into the scratch arrays: the heard ones the models hold,
   * then the nearest not heard (round the heard ones' neighbour lists, nearest first), at most `maxUnheard`.
   */
  choose(ids: Int32Array, rssi: Float32Array, count: number, models: ReadonlyMap<string, SensorModel>): void {
    const stamp = ++this.markStamp
    let k = 0
    for (let i = 0; i < count; i++) {
      const m = models.get(this.beaconIds[ids[i]])
      if (m === undefined) continue
      this.mark[ids[i]] = stamp
      this.put(k++, ids[i], m, rssi[i])
    }
    this.heard = k
    const most = k + this.o.maxUnheard
    for (let rank = 0; k < most && rank < this.o.maxHeard + this.o.maxUnheard; rank++) {
      let listed = false
      for (let h = 0; h < this.heard && k < most; h++) {
        const list = this.neighbours[this.bi[h]]
        if (rank >= list.length) continue
        listed = true
        const j = list[rank]
        if (this.mark[j] === stamp) continue
        this.mark[j] = stamp
        const m = models.get(this.beaconIds[j])
        if (m !== undefined) this.put(k++, j, m, Number.NaN)
      }
      if (!listed) break
    }
    this.considered = k
  }

  private put(k: number, index: number, m: SensorModel, rssi: number): void {
    this.bi[k] = index
    this.bx[k] = m.x
    this.by[k] = m.y
    this.bz[k] = m.z
    this.ba[k] = m.a
    this.bn[k] = m.n
    this.br[k] = rssi
  }

  /**
   * The cells the heard readings allow, as [ix0, iy0, ix1, iy1]: within the distance of each heard
   * beacon where its model falls `WINDOW_SIGMAS` sigmas (and the scan's largest offset) under its
   * reading. Readings that allow no place together: the union of where each allows.
   */
  window(offset: number): [number, number, number, number] {
    const slack = WINDOW_SIGMAS * this.o.sigmaDb + SCAN_OFFSETS[OFFSETS - 1] * this.scanSd
    let ax0 = -Infinity
    let ay0 = -Infinity
    let ax1 = Infinity
    let ay1 = Infinity
    let ux0 = Infinity
    let uy0 = Infinity
    let ux1 = -Infinity
    let uy1 = -Infinity
    for (let k = 0; k < this.heard; k++) {
      const d = 10 ** ((this.ba[k] + offset + slack - this.br[k]) / (10 * this.bn[k]))
      const dz = this.bz[k] - this.g.z
      const r = Math.sqrt(Math.max(MIN_DISTANCE_M * MIN_DISTANCE_M, d * d - dz * dz))
      ax0 = Math.max(ax0, this.bx[k] - r)
      ay0 = Math.max(ay0, this.by[k] - r)
      ax1 = Math.min(ax1, this.bx[k] + r)
      ay1 = Math.min(ay1, this.by[k] + r)
      ux0 = Math.min(ux0, this.bx[k] - r)
      uy0 = Math.min(uy0, this.by[k] - r)
      ux1 = Math.max(ux1, this.bx[k] + r)
      uy1 = Math.max(uy1, this.by[k] + r)
    }
    const [x0, y0, x1, y1] = ax0 <= ax1 && ay0 <= ay1 ? [ax0, ay0, ax1, ay1] : [ux0, uy0, ux1, uy1]
    const cell = (v: number, v0: number, n: number) => Math.min(n - 1, Math.max(0, Math.round((v - v0) / this.g.step)))
    const ix0 = cell(x0, this.g.x0, this.g.nx)
    const ix1 = cell(x1, this.g.x0, this.g.nx)
    const iy0 = cell(y0, this.g.y0, this.g.ny)
    const iy1 = cell(y1, this.g.y0, this.g.ny)
    return [ix0, iy0, Math.max(ix0, ix1), Math.max(iy0, iy1)]
  }

  /**
   * ln P(scan | cell) on the window's cells, the scan's own offset summed out: a heard beacon is a
   * reading around the model (and was reported: the detection chance); one not heard either faded
   * under the floor or was missed by the scan. Worked out every `stride` cells, each value held
   * by its block. Returns the work done.
   */
  logLikelihood(ll: Float64Array, detect: number, floor: number, offset: number, ix0: number, iy0: number, ix1: number, iy1: number, stride: number): number {
    const { sigmaDb } = this.o
    const scanOffsetSdDb = this.scanSd
    const logDetect = Math.log(detect)
    const H = this.heard
    const K = this.considered
    const inv = 1 / (sigmaDb * sigmaDb)
    const minD2 = MIN_DISTANCE_M * MIN_DISTANCE_M
    const per = this.per
    let evaluated = 0
    for (let by = iy0; by <= iy1; by += stride) {
      for (let bx = ix0; bx <= ix1; bx += stride) {
        // The block's value: at its middle cell inside the window.
        const cx = Math.min(ix1, bx + (stride >> 1))
        const cy = Math.min(iy1, by + (stride >> 1))
        const x = this.g.x0 + cx * this.g.step
        const y = this.g.y0 + cy * this.g.step
        let sd = 0
        let sd2 = 0
        for (let k = 0; k < K; k++) {
          const dx = x - this.bx[k]
          const dy = y - this.by[k]
          const dz = this.g.z - this.bz[k]
          const e = this.ba[k] - 5 * this.bn[k] * Math.log10(Math.max(minD2, dx * dx + dy * dy + dz * dz)) + offset
          if (k < H) {
            const d = this.br[k] - e
            sd += d
            sd2 += d * d
          } else this.ue[k - H] = e - floor
        }
        let top = -Infinity
        for (let j = 0; j < OFFSETS; j++) {
          const s = SCAN_OFFSETS[j] * scanOffsetSdDb
          // Σ over heard beacons of -(r - e - s)² / 2σ², from the sums of the residuals and their squares.
          let l = -0.5 * SCAN_OFFSETS[j] * SCAN_OFFSETS[j] + H * logDetect - 0.5 * inv * (sd2 - 2 * s * sd + H * s * s)
          for (let u = 0; u < K - H; u++) l += this.table.at(this.ue[u] + s)
          per[j] = l
          if (l > top) top = l
        }
        let sum = 0
        for (let j = 0; j < OFFSETS; j++) sum += Math.exp(per[j] - top)
        const v = top + Math.log(sum)
        evaluated++
        for (let yy = by; yy < Math.min(iy1 + 1, by + stride); yy++) for (let xx = bx; xx < Math.min(ix1 + 1, bx + stride); xx++) ll[yy * this.g.nx + xx] = v
      }
    }
    const cells = (ix1 - ix0 + 1) * (iy1 - iy0 + 1)
    return evaluated * (H + OFFSETS * (K - H + 1)) + cells
  }
}
