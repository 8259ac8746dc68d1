// Radio maps learned online from traffic (grid filter option `learnMaps`): per receiver, a coarse
// grid of RSSI corrections on top of its path-loss model, learned from the grid filter's smoothed
// posterior the way a calibration walk's maps are learned from its known positions
// (radio-map.ts), and used by the grid's likelihood as the walk's maps are. A receiver's radio
// departs from any path-loss model by place (walls, furniture, multipath): one offset and one
// exponent per receiver cannot hold that, a map can.
//
// The danger is a map that learns whatever the filter believes, and then makes the filter believe
// it more. The guards: a receiver's residual is taken at the posterior the OTHER receivers give
// that step (its own reading left out: leave one out), only where that posterior is tight, and
// spread over the map's nodes by that posterior's weight; each node's value is shrunk towards 0
// by a prior count, capped, and old evidence fades.
import type { Problem } from './likelihood.ts'
import { RadioMap } from './radio-map.ts'
import { MIN_DISTANCE_M } from './radio-model.ts'
import type { Observation } from './solver-types.ts'

export interface OnlineMapOptions {
  /** Node spacing of each receiver's map, m (the walk's maps use 1 m; traffic is sparser). */
  mapCellM: number
  /** Prior count of zero-correction evidence at every node (in posterior-weighted steps). */
  mapPrior: number
  /** Largest correction, dB. */
  mapMaxDb: number
  /** A step teaches only where the others' posterior is this tight (1-sigma radius, m). */
  mapTightM: number
  /** Forgetting: a receiver's evidence older than about this many teaching steps fades. */
  mapMemory: number
}

/** One receiver's evidence: weight and weighted residual per node. */
interface Evidence {
  sum: Float64Array
  weight: Float64Array
  map: RadioMap | null
}

/** Every receiver's learned map of one tracker, shared by all its devices' grids. */
export class OnlineMaps {
  readonly nx: number
  readonly ny: number
  private readonly evidence = new Map<string, Evidence>()
  /** Teaching steps taken, per receiver. */
  readonly taught = new Map<string, number>()

  constructor(
    private readonly bbox: readonly [number, number, number, number],
    private readonly o: OnlineMapOptions
  ) {
    this.nx = Math.max(2, Math.ceil((bbox[2] - bbox[0]) / o.mapCellM) + 1)
    this.ny = Math.max(2, Math.ceil((bbox[3] - bbox[1]) / o.mapCellM) + 1)
  }

  private get(sensor: string): Evidence {
    let e = this.evidence.get(sensor)
    if (e === undefined) {
      e = { sum: new Float64Array(this.nx * this.ny), weight: new Float64Array(this.nx * this.ny), map: null }
      this.evidence.set(sensor, e)
    }
    return e
  }

  /**
   * One teaching step for `sensor`: residuals `r` (dB, against its model without the map) at
   * cells (xs, ys) with posterior weights `w` (summing to 1), spread bilinearly over the nodes.
   */
  learn(sensor: string, xs: Float64Array, ys: Float64Array, w: Float64Array, r: Float64Array): void {
    const e = this.get(sensor)
    const keep = 1 - 1 / this.o.mapMemory
    for (let k = 0; k < e.sum.length; k++) {
      e.sum[k] *= keep
      e.weight[k] *= keep
    }
    const { nx, ny } = this
    const cell = this.o.mapCellM
    for (let k = 0; k < w.length; k++) {
      if (!(w[k] > 1e-6)) continue
      const fx = Math.min(nx - 1.000001, Math.max(0, (xs[k] - this.bbox[0]) / cell))
      const fy = Math.min(ny - 1.000001, Math.max(0, (ys[k] - this.bbox[1]) / cell))
      const i = Math.floor(fx)
      const j = Math.floor(fy)
      const tx = fx - i
      const ty = fy - j
      const corners: Array<[number, number]> = [
        [j * nx + i, (1 - tx) * (1 - ty)],
        [j * nx + i + 1, tx * (1 - ty)],
        [(j + 1) * nx + i, (1 - tx) * ty],
        [(j + 1) * nx + i + 1, tx * ty]
      ]
      for (const [node, share] of corners) {
        e.sum[node] += w[k] * share * r[k]
        e.weight[node] += w[k] * share
      }
    }
    e.map = null
    this.taught.set(sensor, (this.taught.get(sensor) ?? 0) + 1)
  }

  /** The receiver's correction at every node: shrunk, capped. */
  values(sensor: string): number[] {
    const e = this.evidence.get(sensor)
    if (e === undefined) return new Array<number>(this.nx * this.ny).fill(0)
    const cap = this.o.mapMaxDb
    // Centred on the receiver's mean residual: its offset is self-calibration's to learn (from the
    // solver's fixes, self-calibration.ts); a map holding it too would count it twice.
    let sum = 0
    let weight = 0
    for (let k = 0; k < e.sum.length; k++) {
      sum += e.sum[k]
      weight += e.weight[k]
    }
    const mean = weight > 0 ? sum / weight : 0
    return Array.from(e.sum, (s, k) => Math.max(-cap, Math.min(cap, (s - mean * e.weight[k]) / (e.weight[k] + this.o.mapPrior))))
  }

  /** The receiver's map as the likelihood reads it (no walk support: the solver's walk-map search stays off), or undefined before any evidence. */
  map(sensor: string): RadioMap | undefined {
    const e = this.evidence.get(sensor)
    if (e === undefined) return undefined
    e.map ??= new RadioMap({ x0: this.bbox[0], y0: this.bbox[1], cell: this.o.mapCellM, nx: this.nx, ny: this.ny, values: this.values(sensor) })
    return e.map
  }
}

/** What a teaching step needs of the grid: its cells. */
export interface TeachingGrid {
  readonly xs: Float64Array
  readonly ys: Float64Array
  readonly size: number
}

let post = new Float64Array(0)
let res = new Float64Array(0)

/**
 * Teaches `heldOut`'s receiver from one smoothed step of the grid that never weighed that
 * receiver (`w`, every motion layer; `others` the step's cost function without it): where that posterior
 * is tight, the reading's residual at each cell, the device's offset as the others put it there.
 */
export function teachOne(maps: OnlineMaps, g: TeachingGrid, w: Float32Array, heldOut: Observation, others: Problem, o: OnlineMapOptions): void {
  const n = g.size
  if (post.length < n) {
    post = new Float64Array(n)
    res = new Float64Array(n)
  }
  let s = 0
  let mx = 0
  let my = 0
  const layers = Math.round(w.length / n)
  for (let k = 0; k < n; k++) {
    let v = 0
    for (let j = 0; j < layers; j++) v += w[j * n + k]
    post[k] = v
    s += v
    mx += v * g.xs[k]
    my += v * g.ys[k]
  }
  if (!(s > 0)) return
  mx /= s
  my /= s
  let vv = 0
  for (let k = 0; k < n; k++) {
    post[k] /= s
    vv += post[k] * ((g.xs[k] - mx) ** 2 + (g.ys[k] - my) ** 2)
  }
  if (Math.sqrt(vv) > o.mapTightM) return
  const m = heldOut.sensor
  const cap = 2 * o.mapMaxDb
  const tagHeight = others.o.tagHeight
  for (let k = 0; k < n; k++) {
    if (!(post[k] > 1e-6)) {
      post[k] = 0
      continue
    }
    others.evaluate(g.xs[k], g.ys[k])
    const d2 = Math.max((g.xs[k] - m.x) ** 2 + (g.ys[k] - m.y) ** 2 + (tagHeight - m.z) ** 2, MIN_DISTANCE_M * MIN_DISTANCE_M)
    // Against the receiver's model without its map: the map learns what the model leaves.
    res[k] = Math.max(-cap, Math.min(cap, heldOut.rssi - (m.a - 5 * m.n * Math.log10(d2)) - others.lastOffset))
  }
  maps.learn(m.id, g.xs, g.ys, post.subarray(0, n), res.subarray(0, n))
}
