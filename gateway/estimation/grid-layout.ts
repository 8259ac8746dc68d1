// The cells of a grid filter (grid-filter.ts): where they are on the site, how likely each is
// before any reading (the site's shops), and the walk kernels that move weight between them.
import type { Site } from '../../shared/site.ts'
import { pointInPolygon } from '../../shared/geometry.ts'
import type { OnlineMapOptions } from './grid-filter-maps.ts'

export interface GridFilterOptions extends OnlineMapOptions {
  /** Cell side, m, on a site small enough; larger where the site would need more than `maxCells`. */
  cellM: number
  /** Most cells per device grid: bounds the cost of a tick and the memory of a device. */
  maxCells: number
  /**
   * Spread of a walk per second, m (σ of the Gaussian motion kernel per second of elapsed time):
   * people walk at most about 2 m/s, two sigmas of it.
   */
  walkMps: number
  /**
   * Spread of a stroll per second, m, a third motion mode between standing and walking (0: none):
   * a slow, steady mover (browsing along a shelf, a robot) is neither standing nor walking at
   * `walkMps`, and each of those follows it late or loosely.
   */
  strollMps: number
  /** Share of the predicted weight spread over the whole floor per second: how fast a lost track is found again. */
  lostPerS: number
  /**
   * Likelihood temperature: successive ticks' RSSI windows share most of their readings (the
   * window's time constant is longer than a tick), so each tick carries less than its own cost
   * says; 1 takes each tick as independent evidence.
   */
  temperature: number
  /**
   * Least spread of the device's transmit offset prior in the grid's likelihood, dB, however many
   * fixes have agreed on the offset (the tracker tightens it to a third of the phones' spread,
   * `offsetSdDb` / 3, for the solver's fix). A device's level wanders from tick to tick (its
   * orientation, the body carrying it, the room's diffuse level where it is): pinned tighter than
   * that, the grid turns a level change into a move towards or away from every receiver at once.
   * The solver's fix keeps the tighter prior: zone decisions (the street-walk test's starts) were
   * set on its fixes, and loosened there they flip for passers-by (docs/positioning.md).
   */
  offsetFloorSdDb: number
  /**
   * Huber threshold of the grid's likelihood, in sigmas of each reading (the solver's fix keeps
   * tracker option `huberK`). Real receivers depart from any path-loss model by place, by ±10 dB
   * over tens of seconds (walls, furniture, a receiver's mounting): residuals with tails far
   * heavier than a Gaussian's. Past one sigma a residual counts linearly (a Laplace tail), so
   * one or two receivers off at a place pull the grid's weight less. The solver keeps its own:
   * zone decisions (the street-walk test's starts) were set on its fixes.
   */
  huberK: number
  /** How far a standing device's position drifts, m per √s (browsing, turning round). */
  driftM: number
  /** Probability per second of staying in the same motion mode, standing or walking (as kalman.ts's). */
  stayProbability: number
  /** Most devices with a grid at once, per tracker (the others are placed by the Kalman filter). */
  maxTracks: number
  /**
   * Most likelihood terms (cells x the site's receivers) all grids of a tracker may weigh in one
   * tick: lowers `maxTracks` on a site with many cells and receivers, so that a crowd (or a sender
   * inventing addresses) costs a tick a bounded amount, the devices past it on the Kalman filter.
   */
  tickTerms: number
  /** Prior weight of a cell outside every shop on a site nobody is heard outside of. */
  outsideWeight: number
  /**
   * Share of the readings' mean age by which a tick's evidence is dated before the tick: a window's
   * weighted mean describes the device at its readings' weighted mean time.
   */
  ageShare: number
  /**
   * Whether each receiver's radio map is learned online from the grid's smoothed posterior
   * (grid-filter-maps.ts) and used by the grid's likelihood.
   */
  learnMaps: boolean
}

export const defaultGridFilterOptions: GridFilterOptions = {
  cellM: 0.25,
  maxCells: 4096,
  walkMps: 1,
  strollMps: 0.5,
  driftM: 0.2,
  stayProbability: 0.95,
  maxTracks: 256,
  tickTerms: 250_000,
  lostPerS: 0.001,
  temperature: 1.5,
  offsetFloorSdDb: 2.5,
  huberK: 1,
  outsideWeight: 0.01,
  ageShare: 1,
  learnMaps: false,
  mapCellM: 2,
  mapPrior: 50,
  mapMaxDb: 6,
  mapTightM: 1,
  mapMemory: 20_000
}

/** The cells of a site's floors: where they are and how likely each is before any reading. */
export class GridLayout {
  readonly nx: number
  readonly ny: number
  readonly cell: number
  readonly xs: Float64Array
  readonly ys: Float64Array
  /** Prior weight of each cell per floor (1 inside a shop). */
  private readonly masks = new Map<number, Float64Array>()

  constructor(
    private readonly site: Site,
    readonly bounds: readonly [number, number, number, number],
    readonly o: GridFilterOptions
  ) {
    const [x0, y0, x1, y1] = bounds
    const w = Math.max(x1 - x0, 1e-3)
    const h = Math.max(y1 - y0, 1e-3)
    this.cell = Math.max(o.cellM, Math.sqrt((w * h) / o.maxCells))
    // Rounding up may add a row or column: a cell more than asked, never an unbounded number.
    this.nx = Math.max(1, Math.min(Math.ceil(w / this.cell), Math.floor(o.maxCells / Math.max(1, Math.ceil(h / this.cell)))))
    this.ny = Math.max(1, Math.ceil(h / this.cell))
    const n = this.nx * this.ny
    this.xs = new Float64Array(n)
    this.ys = new Float64Array(n)
    for (let j = 0; j < this.ny; j++)
      for (let i = 0; i < this.nx; i++) {
        this.xs[j * this.nx + i] = x0 + ((i + 0.5) * w) / this.nx
        this.ys[j * this.nx + i] = y0 + ((j + 0.5) * h) / this.ny
      }
  }

  get size(): number {
    return this.nx * this.ny
  }

  /** The floor's prior: cells inside its shops 1, others `outsideWeight` (1 where passers-by are heard outside). */
  mask(floor: number): Float64Array {
    let m = this.masks.get(floor)
    if (m !== undefined) return m
    m = new Float64Array(this.size)
    const shops = this.site.shops.filter(s => s.floor === floor)
    const outside = this.site.radio.outsideHeard || shops.length === 0 ? 1 : this.o.outsideWeight
    for (let k = 0; k < m.length; k++) m[k] = shops.some(s => pointInPolygon(this.xs[k], this.ys[k], s)) ? 1 : outside
    this.masks.set(floor, m)
    return m
  }

  private readonly kernels = new Map<number, Float64Array>()
  private readonly maskSums = new Map<number, number>()

  /** Sum of the floor's prior over its cells. */
  maskSum(floor: number): number {
    let m = this.maskSums.get(floor)
    if (m === undefined) {
      m = 0
      for (const v of this.mask(floor)) m += v
      this.maskSums.set(floor, Math.max(m, 1e-12))
    }
    return m
  }

  /** Half of a symmetric Gaussian kernel (centre first) of spread `sigmaM` metres, in cells. */
  kernel(sigmaM: number): Float64Array {
    // Ticks come at about the same interval: kernels are cached by centimetres of spread.
    const key = Math.max(1, Math.round(sigmaM * 100))
    let k = this.kernels.get(key)
    if (k !== undefined) return k
    const sigma = key / 100 / this.cellW()
    const r = Math.max(1, Math.min(Math.ceil(3 * sigma), Math.max(this.nx, this.ny)))
    k = new Float64Array(r + 1)
    let sum = 0
    for (let i = 0; i <= r; i++) {
      k[i] = Math.exp((-0.5 * i * i) / (sigma * sigma))
      sum += i === 0 ? k[i] : 2 * k[i]
    }
    for (let i = 0; i <= r; i++) k[i] /= sum
    if (this.kernels.size > 64) this.kernels.clear()
    this.kernels.set(key, k)
    return k
  }

  /** The cells' actual side (the bounds divided evenly), m. */
  private cellW(): number {
    return (this.bounds[2] - this.bounds[0]) / this.nx
  }

  /** `out` = the kernel applied to `v` along both axes (cells off the grid hold nothing). `tmp` is scratch of the same size. */
  blur(v: Float64Array, k: Float64Array, out: Float64Array, tmp: Float64Array): void {
    const { nx, ny } = this
    const r = k.length - 1
    for (let j = 0; j < ny; j++) {
      const row = j * nx
      for (let i = 0; i < nx; i++) {
        let s = k[0] * v[row + i]
        const lo = Math.min(r, i)
        const hi = Math.min(r, nx - 1 - i)
        for (let d = 1; d <= lo; d++) s += k[d] * v[row + i - d]
        for (let d = 1; d <= hi; d++) s += k[d] * v[row + i + d]
        tmp[row + i] = s
      }
    }
    for (let j = 0; j < ny; j++) {
      const lo = Math.min(r, j)
      const hi = Math.min(r, ny - 1 - j)
      for (let i = 0; i < nx; i++) {
        let s = k[0] * tmp[j * nx + i]
        for (let d = 1; d <= lo; d++) s += k[d] * tmp[(j - d) * nx + i]
        for (let d = 1; d <= hi; d++) s += k[d] * tmp[(j + d) * nx + i]
        out[j * nx + i] = s
      }
    }
  }
}
