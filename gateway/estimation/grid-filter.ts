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
import { layerScratch, mixModes, modeChanges } from './grid-modes.ts'
import type { Observation, Silence, SolverOptions } from './solver-types.ts'

export { defaultGridFilterOptions, type GridFilterOptions } from './grid-layout.ts'

/** A position from a grid: the posterior mean and its 1-sigma horizontal radius, m. */
export interface GridPosition {
  x: number
  y: number
  accuracy: number
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

  /** Motion layers: standing, walking, and strolling where `strollMps` is set. */
  private readonly layers: number

  constructor(
    private readonly g: GridLayout,
    readonly floor: number,
    /** Steps kept: enough to reach `lagMs` back at the slowest tick rate expected. */
    private readonly capacity: number
  ) {
    this.layers = g.o.strollMps > 0 ? 3 : 2
  }

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
    const layers = this.layers
    const a = this.spare.pop() ?? new Float32Array(layers * n)
    const prev = this.alpha.length === 0 ? null : this.alpha[this.alpha.length - 1]
    let sum = 0
    if (prev !== null) {
      this.predict(prev, (t - this.t) / 1000, a)
      for (let j = 0; j < layers; j++)
        for (let k = 0, i = j * n; k < n; k++, i++) {
          a[i] *= L[k]
          sum += a[i]
        }
    }
    if (!(sum > 0)) {
      // A new track, or nothing predicted where the readings point (a numeric underflow): start from them.
      sum = 0
      for (let j = 0; j < layers; j++)
        for (let k = 0; k < n; k++) {
          a[j * n + k] = (mask[k] * L[k]) / layers
          sum += a[j * n + k]
        }
    }
    for (let k = 0; k < layers * n; k++) a[k] /= sum
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

  /**
   * Each layer's kernel over dt seconds (a stand, a walk, and a stroll where `strollMps` is set),
   * the chance of keeping one's mode (a device leaving it goes to either other mode alike), and
   * the lost-track share.
   */
  private motion(dt: number): { kernels: Float64Array[]; stay: number; lost: number } {
    const o = this.g.o
    const d = Math.max(dt, 0.1)
    const kernels = [this.g.kernel(o.driftM * Math.sqrt(d)), this.g.kernel(o.walkMps * d)]
    if (this.layers === 3) kernels.push(this.g.kernel(o.strollMps * d))
    return { kernels, stay: o.stayProbability ** d, lost: Math.min(0.5, o.lostPerS * d) }
  }

  /** `out` (every layer) = the floor's prior × (each mode's kernel over dt seconds applied to the mixed layers, plus the lost-track share). */
  private predict(v: Float32Array, dt: number, out: Float32Array): void {
    const g = this.g
    const n = g.size
    const mask = g.mask(this.floor)
    const { mixed, blurred, tmp } = layerScratch(n, this.layers)
    const { kernels, stay, lost } = this.motion(dt)
    // The layers in double precision first: `mix` and the blurs see one kind of typed array.
    for (let j = 0; j < this.layers; j++) for (let k = 0; k < n; k++) blurred[j][k] = v[j * n + k]
    mixModes(blurred, modeChanges(stay, this.layers), mixed, n)
    const m = g.maskSum(this.floor)
    for (let j = 0; j < this.layers; j++) {
      let s = 0
      for (let k = 0; k < n; k++) s += mixed[j][k]
      g.blur(mixed[j], kernels[j], blurred[j], tmp)
      for (let k = 0; k < n; k++) out[j * n + k] = mask[k] * ((1 - lost) * blurred[j][k] + (lost * s) / m)
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
    const layers = this.layers
    const { mixed: b, blurred: wl, tmp } = layerScratch(n, layers)
    for (const v of b) v.fill(1)
    const w = this.spare.pop() ?? new Float32Array(layers * n)
    let after = this.moments(this.alpha[last])
    for (let i = last; i > 0; i--) {
      // β_{i-1} = Tᵀ (L_i ⊙ β_i): the prediction's transition transposed (symmetric kernels, floor prior, lost share, mode mixing).
      const L = this.lik[i]
      const { kernels, stay, lost } = this.motion((this.times[i] - this.times[i - 1]) / 1000)
      for (let j = 0; j < layers; j++) {
        let t = 0
        for (let k = 0; k < n; k++) {
          wl[j][k] = mask[k] * L[k] * b[j][k]
          t += wl[j][k]
        }
        g.blur(wl[j], kernels[j], b[j], tmp)
        for (let k = 0; k < n; k++) wl[j][k] = (1 - lost) * b[j][k] + (lost * t) / m
      }
      mixModes(wl, modeChanges(stay, layers), b, n, true)
      let max = 0
      for (const v of b) for (let k = 0; k < n; k++) max = Math.max(max, v[k])
      if (max > 0) for (const v of b) for (let k = 0; k < n; k++) v[k] /= max
      const a = this.alpha[i - 1]
      for (let j = 0; j < layers; j++) for (let k = 0; k < n; k++) w[j * n + k] = a[j * n + k] * b[j][k]
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

  /** Mean and spread of a layered weight vector over the cells. */
  private moments(v: Float32Array): GridPosition {
    const g = this.g
    const n = g.size
    const layers = Math.round(v.length / n)
    const p = layerScratch(n, layers).tmp
    let s = 0
    let mx = 0
    let my = 0
    for (let k = 0; k < n; k++) {
      p[k] = v[k]
      for (let j = 1; j < layers; j++) p[k] += v[j * n + k]
      s += p[k]
      mx += p[k] * g.xs[k]
      my += p[k] * g.ys[k]
    }
    if (!(s > 0)) return { x: NaN, y: NaN, accuracy: Infinity }
    mx /= s
    my /= s
    let vv = 0
    for (let k = 0; k < n; k++) vv += p[k] * ((g.xs[k] - mx) ** 2 + (g.ys[k] - my) ** 2)
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
    // The solver's cost at every cell, the offset prior no tighter than `offsetFloorSdDb`; fewer
    // than three receivers cannot tell the offset from a distance (as in the solver).
    options = loosened(options, this.layout.o.offsetFloorSdDb, this.layout.o.huberK)
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

/**
 * `o` with the grid's Huber threshold and its offset prior no tighter than `floorSdDb`; one pinned
 * on purpose (sd 0: tracker option `offsetSdDb` 0) stays pinned.
 */
function loosened(o: SolverOptions, floorSdDb: number, huberK: number): SolverOptions {
  const p = o.offsetPrior
  const k = { ...o, huberK }
  return p === undefined || p.sd <= 0 || p.sd >= floorSdDb ? k : { ...k, offsetPrior: { mean: p.mean, sd: floorSdDb } }
}
