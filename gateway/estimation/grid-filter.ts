// A grid Bayes filter for a device heard by fixed receivers (tracker option `filter: 'grid'`): the
// posterior over the cells of the site's floor carried from tick to tick, instead of one Gaussian
// fix per tick smoothed by the Kalman filter. A Gaussian fix has one place to be; when a near
// receiver drops out or fades, the fit jumps to the next basin and the Kalman filter follows it
// (or gates it, then restarts on it). The grid keeps every basin with its weight, and a walk can
// only move the weight as far as people walk in the time between ticks, so a basin far from the
// track has to win over several ticks before the estimate goes there.
//
// Each tick: predict (the posterior blurred by a walking-speed kernel, plus a small share spread
// over the whole floor, so that a track that was wrong can be found again), weigh by the
// likelihood of what was heard and not heard (the solver's own cost, likelihood.ts, with the
// receivers' learned corrections in their models), and keep the cells inside the site's shops
// (outside them the floor is unlikely where nobody is heard outside). The published position,
// for a moment `lagMs` before the tick, comes from a fixed-lag forward-backward pass over the
// steps kept since then: the readings after that moment count too.
// With option `learnMaps` each receiver's radio map is learned from traffic as well
// (grid-filter-maps.ts): each device then also keeps one grid per receiver, without it.
//
// Cost per tick: cells × (receivers heard + receivers silent) for the likelihood, cells × kernel
// width for the blur, and steps × that blur for the smoother; `maxCells` bounds the cells (a
// larger site gets larger cells).
import type { Site } from '../../shared/site.ts'
import { GridLayout, type GridFilterOptions } from './grid-layout.ts'
import { Problem } from './likelihood.ts'
import { OnlineMaps, teachOne } from './grid-filter-maps.ts'
import type { Observation, Silence, SolverOptions } from './solver-types.ts'

export { defaultGridFilterOptions, type GridFilterOptions } from './grid-layout.ts'

/** A position from a grid: the posterior mean and its 1-sigma horizontal radius, m. */
export interface GridPosition {
  x: number
  y: number
  accuracy: number
}

// Scratch shared by every device's filter: a tick is synchronous and overwrites it.
let scratchPool: Float64Array[] = []

let scratchViews: Float64Array[] = []

/**
 * Five scratch vectors of n cells each, in double precision: the kernels only ever see one kind
 * of typed array (a function fed both kinds runs several times slower).
 */
function scratch(n: number): Float64Array[] {
  if (scratchPool.length === 0 || scratchPool[0].length < n) scratchPool = [0, 1, 2, 3, 4].map(() => new Float64Array(n))
  if (scratchViews.length === 0 || scratchViews[0].length !== n) scratchViews = scratchPool.map(v => v.subarray(0, n))
  return scratchViews
}

/**
 * One device's grid posterior and the steps kept for the fixed-lag smoother. The posterior has
 * two layers, as the Kalman filter has two models (kalman.ts): the device standing (it drifts a
 * little: browsing, turning round) or walking (the walk kernel); each tick it stays in its mode
 * with `stayProbability` per second, and the readings tell the modes apart by how well each
 * predicted them. Without the standing layer a shopper at a shelf is averaged over a second or
 * two only; without the walking one a shopper who walks off is followed late.
 */
export class GridTrack {
  /** Filtered posterior (standing cells, then walking cells) and likelihood per kept step, newest last, with each step's time (ms). */
  private readonly alpha: Float32Array[] = []
  private readonly lik: Float32Array[] = []
  private readonly times: number[] = []
  /** Each kept step's cost function (teaching the learned maps, grid-filter-maps.ts). */
  private readonly problems: Problem[] = []
  /** Each kept step's reading this grid was not given (a leave-one-out grid teaching that receiver's map), if any. */
  private readonly heldOut: (Observation | undefined)[] = []
  /** Time of the newest step that taught the maps. */
  private taughtT = -Infinity
  private readonly spare: Float32Array[] = []
  private readonly spareLik: Float32Array[] = []

  constructor(
    private readonly g: GridLayout,
    readonly floor: number,
    /** Steps kept: enough to reach `lagMs` back at the slowest tick rate expected. */
    private readonly capacity: number
  ) {}

  get t(): number {
    return this.times.length === 0 ? -Infinity : this.times[this.times.length - 1]
  }

  /**
   * One tick at time t (ms): predict, weigh by the cost `problem` gives each cell (plus what the
   * silent receivers say), keep the floor's prior. Returns the filtered position.
   */
  step(t: number, problem: Problem, silent: readonly Silence[], heldOut?: Observation): GridPosition {
    // Evidence older than the newest step's (windows whose readings aged unevenly) counts at that step's time.
    t = Math.max(t, this.t)
    const g = this.g
    const n = g.size
    const mask = g.mask(this.floor)
    const L = this.spareLik.pop() ?? new Float32Array(n)
    let best = -Infinity
    const temp = 2 * g.o.temperature
    for (let k = 0; k < n; k++) {
      const x = g.xs[k]
      const y = g.ys[k]
      let cost = problem.evaluate(x, y)
      if (silent.length > 0) cost += problem.silenceAt(silent as Silence[], x, y, problem.lastOffset)
      const l = -cost / temp
      L[k] = l
      if (l > best) best = l
    }
    for (let k = 0; k < n; k++) L[k] = Math.exp(L[k] - best)
    const a = this.spare.pop() ?? new Float32Array(2 * n)
    const prev = this.alpha.length === 0 ? null : this.alpha[this.alpha.length - 1]
    let sum = 0
    if (prev !== null) {
      this.predict(prev, (t - this.t) / 1000, a)
      for (let k = 0; k < n; k++) {
        a[k] *= L[k]
        a[n + k] *= L[k]
        sum += a[k] + a[n + k]
      }
    }
    if (!(sum > 0)) {
      // A new track, or nothing predicted where the readings point (a numeric underflow): start from them.
      sum = 0
      for (let k = 0; k < n; k++) {
        a[k] = a[n + k] = 0.5 * mask[k] * L[k]
        sum += 2 * a[k]
      }
    }
    for (let k = 0; k < 2 * n; k++) a[k] /= sum
    // A tick at the time of the newest replaces it (a second question in the same tick).
    if (this.times.length > 0 && t <= this.t) this.drop(this.times.length - 1)
    this.alpha.push(a)
    this.lik.push(L)
    this.times.push(t)
    this.problems.push(problem)
    this.heldOut.push(heldOut)
    while (this.times.length > this.capacity) this.drop(0)
    return this.moments(a)
  }

  private drop(i: number): void {
    this.spare.push(this.alpha[i])
    this.spareLik.push(this.lik[i])
    this.alpha.splice(i, 1)
    this.lik.splice(i, 1)
    this.times.splice(i, 1)
    this.problems.splice(i, 1)
    this.heldOut.splice(i, 1)
  }

  /** The spreads of a stand and of a walk over dt seconds, m, and the chance of keeping one's mode. */
  private motion(dt: number): { still: Float64Array; walk: Float64Array; stay: number; lost: number } {
    const o = this.g.o
    const d = Math.max(dt, 0.1)
    return { still: this.g.kernel(o.driftM * Math.sqrt(d)), walk: this.g.kernel(o.walkMps * d), stay: o.stayProbability ** d, lost: Math.min(0.5, o.lostPerS * d) }
  }

  /** `out` (both layers) = the floor's prior × (each mode's kernel over dt seconds applied to the mixed layers, plus the lost-track share). */
  private predict(v: Float32Array, dt: number, out: Float32Array): void {
    const g = this.g
    const n = g.size
    const mask = g.mask(this.floor)
    const [mixS, mixW, tmp, outS, outW] = scratch(n)
    const { still, walk, stay, lost } = this.motion(dt)
    let sS = 0
    let sW = 0
    for (let k = 0; k < n; k++) {
      mixS[k] = stay * v[k] + (1 - stay) * v[n + k]
      mixW[k] = (1 - stay) * v[k] + stay * v[n + k]
      sS += mixS[k]
      sW += mixW[k]
    }
    g.blur(mixS, still, outS, tmp)
    g.blur(mixW, walk, outW, tmp)
    const m = g.maskSum(this.floor)
    for (let k = 0; k < n; k++) {
      out[k] = mask[k] * ((1 - lost) * outS[k] + (lost * sS) / m)
      out[n + k] = mask[k] * ((1 - lost) * outW[k] + (lost * sW) / m)
    }
  }

  /**
   * The position at time tq (ms): each kept step weighed by every kept step after it (backward
   * pass: each later step's likelihood carried back through the motion), between the two steps
   * around tq in proportion to time.
   */
  smoothed(tq: number, maps: OnlineMaps | null = null): GridPosition {
    const g = this.g
    const n = g.size
    const last = this.times.length - 1
    if (tq >= this.times[last]) return this.moments(this.alpha[last])
    const mask = g.mask(this.floor)
    const m = g.maskSum(this.floor)
    const [bS, bW, wS, wW, tmp] = scratch(n)
    bS.fill(1)
    bW.fill(1)
    const w = this.spare.pop() ?? new Float32Array(2 * n)
    let after = this.moments(this.alpha[last])
    for (let i = last; i > 0; i--) {
      // β_{i-1} = Tᵀ (L_i ⊙ β_i): the prediction's transition transposed (symmetric kernels, floor prior, lost share, mode mixing).
      const L = this.lik[i]
      let tS = 0
      let tW = 0
      for (let k = 0; k < n; k++) {
        wS[k] = mask[k] * L[k] * bS[k]
        wW[k] = mask[k] * L[k] * bW[k]
        tS += wS[k]
        tW += wW[k]
      }
      const { still, walk, stay, lost } = this.motion((this.times[i] - this.times[i - 1]) / 1000)
      g.blur(wS, still, bS, tmp)
      g.blur(wW, walk, bW, tmp)
      let max = 0
      for (let k = 0; k < n; k++) {
        const s = (1 - lost) * bS[k] + (lost * tS) / m
        const wk = (1 - lost) * bW[k] + (lost * tW) / m
        bS[k] = stay * s + (1 - stay) * wk
        bW[k] = (1 - stay) * s + stay * wk
        max = Math.max(max, bS[k], bW[k])
      }
      if (max > 0)
        for (let k = 0; k < n; k++) {
          bS[k] /= max
          bW[k] /= max
        }
      const a = this.alpha[i - 1]
      for (let k = 0; k < n; k++) {
        w[k] = a[k] * bS[k]
        w[n + k] = a[n + k] * bW[k]
      }
      const before = this.moments(w)
      if (this.times[i - 1] <= tq || i === 1) {
        const held = this.heldOut[i - 1]
        if (maps !== null && held !== undefined && this.times[i - 1] > this.taughtT) {
          // Each step teaches once, when the readings after it have weighed it.
          this.taughtT = this.times[i - 1]
          teachOne(maps, g, w, held, this.problems[i - 1], g.o)
        }
        this.spare.push(w)
        const f = Math.min(1, Math.max(0, (tq - this.times[i - 1]) / Math.max(1, this.times[i] - this.times[i - 1])))
        return { x: before.x + f * (after.x - before.x), y: before.y + f * (after.y - before.y), accuracy: before.accuracy + f * (after.accuracy - before.accuracy) }
      }
      after = before
    }
    this.spare.push(w)
    return after
  }

  /** Mean and spread of a two-layer weight vector over the cells. */
  private moments(v: Float32Array): GridPosition {
    const g = this.g
    const n = g.size
    let s = 0
    let mx = 0
    let my = 0
    for (let k = 0; k < n; k++) {
      const p = v[k] + v[n + k]
      s += p
      mx += p * g.xs[k]
      my += p * g.ys[k]
    }
    if (!(s > 0)) return { x: NaN, y: NaN, accuracy: Infinity }
    mx /= s
    my /= s
    let vv = 0
    for (let k = 0; k < n; k++) vv += (v[k] + v[n + k]) * ((g.xs[k] - mx) ** 2 + (g.ys[k] - my) ** 2)
    // The grid cannot resolve better than its own cell.
    return { x: mx, y: my, accuracy: Math.sqrt(vv / s + (g.cell * g.cell) / 6) }
  }
}

/**
 * Every device's grid filter of one tracker. At most `maxTracks` devices have one (a grid is
 * steps × three vectors of the cells), fewer where `tickTerms` says so: a device beyond them is
 * placed by the Kalman filter until a tracked one is forgotten.
 */
export class GridFilters {
  readonly layout: GridLayout
  private readonly tracks = new Map<object, GridTrack>()
  /** Each device's leave-one-out grids by receiver (option `learnMaps`). */
  private readonly loo = new Map<object, Map<string, GridTrack>>()
  private readonly capacity: number
  /** Each receiver's radio map learned from the grids' posteriors (option `learnMaps`), or null. */
  readonly maps: OnlineMaps | null
  /** `maxTracks`, lowered to what `tickTerms` allows on this site. */
  readonly maxTracks: number

  private constructor(
    site: Site,
    bounds: readonly [number, number, number, number],
    o: GridFilterOptions,
    private readonly lagMs: number
  ) {
    this.layout = new GridLayout(site, bounds, o)
    const terms = this.layout.nx * this.layout.ny * Math.max(1, site.sensors.size)
    this.maxTracks = Math.max(1, Math.min(o.maxTracks, Math.floor(o.tickTerms / terms)))
    // Ticks come once a second: the steps back to `lagMs` before the newest evidence, and the one before.
    this.capacity = Math.ceil(lagMs / 1000) + 2
    this.maps = o.learnMaps ? new OnlineMaps(bounds, o) : null
  }

  /**
   * The filters for a tracker's option `filter` on this site: none for `kalman`, and none for
   * `auto` where the site's floor needs more than `maxCells` cells of `cellM` (the grid would be
   * coarser than the fixes it replaces, and its cost grows with the floor) or where the receivers
   * have radio maps from a calibration walk.
   */
  static create(site: Site, bounds: readonly [number, number, number, number], o: GridFilterOptions, lagMs: number, filter: 'kalman' | 'grid' | 'auto'): GridFilters | null {
    if (filter === 'kalman') return null
    const cells = Math.ceil((bounds[2] - bounds[0]) / o.cellM) * Math.ceil((bounds[3] - bounds[1]) / o.cellM)
    // With the walk's radio maps the solver's own posterior over the walked area places better (docs/benchmarks.md).
    const mapped = [...site.sensors.values()].some(x => x.radioMap !== undefined)
    return filter === 'auto' && (cells > o.maxCells || mapped) ? null : new GridFilters(site, bounds, o, lagMs)
  }

  get size(): number {
    return this.tracks.size
  }

  /**
   * One tick (at t, ms) of `device`'s filter, restarted on another floor: its filtered position
   * and its smoothed one `lagMs` before t; null for a device beyond `maxTracks`. The readings of a
   * tick are weighed at `evidenceT`, the time they describe (their windows' mean age before t).
   */
  step(
    device: object,
    floor: number,
    t: number,
    evidenceT: number,
    obs: Observation[],
    options: SolverOptions,
    silent: readonly Silence[]
  ): { now: GridPosition; published: GridPosition } | null {
    let track = this.tracks.get(device)
    if (track === undefined || track.floor !== floor || evidenceT < track.t - this.lagMs) {
      if (track === undefined && this.tracks.size >= this.maxTracks) return null
      track = new GridTrack(this.layout, floor, this.capacity)
      this.tracks.set(device, track)
    }
    // The solver's cost at every cell; fewer than three receivers cannot tell the offset from a distance (as in the solver).
    const maps = this.maps
    const heard = maps === null ? obs : obs.map(ob => ({ ...ob, sensor: { ...ob.sensor, map: maps.map(ob.sensor.id) } }))
    const quiet = maps === null ? silent : silent.map(q => ({ ...q, sensor: { ...q.sensor, map: maps.map(q.sensor.id) } }))
    const problem = new Problem(heard, obs.length >= 3 ? options : { ...options, offsetPrior: { mean: options.offsetPrior?.mean ?? 0, sd: 0 } })
    const now = track.step(evidenceT, problem, quiet)
    if (maps !== null) this.teach(device, floor, t, evidenceT, heard, options, quiet, maps)
    return { now, published: track.smoothed(t - this.lagMs) }
  }

  /**
   * The device's leave-one-out grids, one per receiver it has been heard by, each weighing every
   * reading but that receiver's: once the readings after a step have weighed it, a receiver's
   * grid says where the others put the device, and its held-out reading there teaches its map.
   */
  private teach(device: object, floor: number, t: number, evidenceT: number, heard: Observation[], options: SolverOptions, quiet: readonly Silence[], maps: OnlineMaps): void {
    let loo = this.loo.get(device)
    if (loo === undefined) {
      loo = new Map()
      this.loo.set(device, loo)
    }
    for (const ob of heard) if (!loo.has(ob.sensor.id)) loo.set(ob.sensor.id, new GridTrack(this.layout, floor, this.capacity))
    for (const [id, track] of loo) {
      let g = track
      if (g.floor !== floor || evidenceT < g.t - this.lagMs) {
        g = new GridTrack(this.layout, floor, this.capacity)
        loo.set(id, g)
      }
      const i = heard.findIndex(ob => ob.sensor.id === id)
      const others = i < 0 ? heard : heard.filter((_, j) => j !== i)
      const o = others.length >= 3 ? options : { ...options, offsetPrior: { mean: options.offsetPrior?.mean ?? 0, sd: 0 } }
      // Only a step placed by at least three others teaches (fewer cannot tell the offset from a distance).
      g.step(
        evidenceT,
        new Problem(others, o),
        quiet.filter(q => q.sensor.id !== id),
        i >= 0 && others.length >= 3 ? heard[i] : undefined
      )
      g.smoothed(t - this.lagMs, maps)
    }
  }

  /** Drops a device's grid (the tracker forgot or expired it). */
  forget(device: object | undefined): void {
    if (device === undefined) return
    this.tracks.delete(device)
    this.loo.delete(device)
  }
}
