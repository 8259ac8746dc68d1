// The solver's questions and answers packed into flat typed arrays for the solver pool (pool.ts,
// pool-worker-solver.ts): no object crosses between threads, and every number crosses as the same 64-bit
// float, so a question solved in a worker gets the very answer it gets on the main thread.
//
// A question, from its offset in the input: a header (HEADER numbers), then per heard sensor its
// model and reading (READING numbers), then per silent sensor its model and floor (one number).
// A model is MODEL numbers, or with a sensor table (pool-sensor-table.ts, the solver pool's) one:
// its place in the table, which holds each model a round's questions name once.
// An answer: ANSWER numbers per question, at its index.
import type { Fix, Observation, Silence, SolverOptions } from './solver.ts'
import type { SensorModel } from './radio-model.ts'
import { RadioMap } from './radio-map.ts'
import type { RadioMapData } from '../../shared/site-schema.ts'

export const MODEL = 9
export const HEADER = 16
const READING = 6
export const ANSWER = 10
const METHODS: Array<Fix['method']> = ['lm', 'pair', 'proximity', 'grid']

/** Numbers a question takes in the input; `model` numbers a model (1 when they are in a sensor table). */
export function questionSize(obs: number, silent: number, model = MODEL): number {
  return HEADER + obs * (model + READING) + silent * (model + 1)
}

/** Where a question's models go: each written in place (MODEL numbers), or named by its place in a table. */
export interface ModelSink {
  /** The model's place in the table, or -1 when the workers cannot be given it (an unknown radio map). */
  ref(m: SensorModel): number
}

/**
 * The radio maps a worker knows, by index (sent once, when it starts). A model whose map is not
 * one of them cannot be packed: its question is solved on the main thread.
 */
export interface MapTable {
  ids: string[]
  data: RadioMapData[]
}

/** Packs one question at `at`; false when a model cannot be packed (its map is unknown to the workers). */
export function packQuestion(out: Float64Array, at: number, obs: Observation[], o: SolverOptions, maps: MapTable, table?: ModelSink): boolean {
  const width = table === undefined ? MODEL : 1
  const silent = o.silent ?? []
  let flags = 0
  if (o.prior !== undefined) flags |= 1
  if (o.offsetPrior !== undefined) flags |= 2
  if (o.gridTemperature !== undefined) flags |= 4
  if (o.minSupport !== undefined) flags |= 8
  if (o.offMapPenalty !== undefined) flags |= 16
  if (o.silent !== undefined) flags |= 32
  out[at] = obs.length
  out[at + 1] = silent.length
  out[at + 2] = flags
  out[at + 3] = o.prior?.x ?? 0
  out[at + 4] = o.prior?.y ?? 0
  out[at + 5] = o.offsetPrior?.mean ?? 0
  out[at + 6] = o.offsetPrior?.sd ?? 0
  out[at + 7] = o.tagHeight
  out.set(o.bounds, at + 8)
  out[at + 12] = o.huberK
  out[at + 13] = o.gridTemperature ?? 0
  out[at + 14] = o.minSupport ?? 0
  out[at + 15] = o.offMapPenalty ?? 0
  let k = at + HEADER
  for (const ob of obs) {
    if (!putModel(out, k, ob.sensor, maps, table)) return false
    k += width
    out[k] = ob.rssi
    out[k + 1] = ob.sigma
    out[k + 2] = ob.ageMs ?? 0
    out[k + 3] = ob.floorDbm ?? 0
    out[k + 4] = ob.rawSigmaDb ?? 0
    out[k + 5] = (ob.ageMs !== undefined ? 1 : 0) | (ob.floorDbm !== undefined ? 2 : 0) | (ob.rawSigmaDb !== undefined ? 4 : 0)
    k += READING
  }
  for (const s of silent) {
    if (!putModel(out, k, s.sensor, maps, table)) return false
    out[k + width] = s.floorDbm
    k += width + 1
  }
  return true
}

function putModel(out: Float64Array, k: number, m: SensorModel, maps: MapTable, table: ModelSink | undefined): boolean {
  if (table === undefined) return packModel(out, k, m, maps)
  out[k] = table.ref(m)
  return out[k] >= 0
}

/** Writes a model at `k` (MODEL numbers); false when its radio map is not one the workers know. */
export function packModel(out: Float64Array, k: number, m: SensorModel, maps: MapTable): boolean {
  let map = -1
  if (m.map !== undefined) {
    map = maps.ids.indexOf(m.id)
    if (map < 0 || maps.data[map] !== m.map.d) return false
  }
  out[k] = map
  out[k + 1] = m.x
  out[k + 2] = m.y
  out[k + 3] = m.z
  out[k + 4] = m.floor
  out[k + 5] = m.a
  out[k + 6] = m.n
  out[k + 7] = m.spreadScale ?? 0
  out[k + 8] = m.spreadScale !== undefined ? 1 : 0
  return true
}

/** A worker's maps, built once from the table it was given. */
export function buildMaps(t: MapTable): Array<{ id: string; map: RadioMap }> {
  return t.ids.map((id, i) => ({ id, map: new RadioMap(t.data[i]) }))
}

/**
 * Unpacks the question at `at` into the solver's inputs; `table`: the round's models, when the
 * question names them by place (a place outside it, read from a round already over, gives a model
 * of NaNs: that answer is never read).
 */
export function unpackQuestion(q: Float64Array, at: number, maps: Array<{ id: string; map: RadioMap }>, table?: SensorModel[]): { obs: Observation[]; o: SolverOptions } {
  const width = table === undefined ? MODEL : 1
  const model = (k: number): SensorModel => (table === undefined ? unpackModel(q, k, maps) : (table[q[k]] ?? STALE))
  const nObs = q[at]
  const nSilent = q[at + 1]
  const flags = q[at + 2]
  const obs: Observation[] = []
  let k = at + HEADER
  for (let i = 0; i < nObs; i++) {
    const sensor = model(k)
    k += width
    const ob: Observation = { sensor, rssi: q[k], sigma: q[k + 1] }
    const f = q[k + 5]
    if (f & 1) ob.ageMs = q[k + 2]
    if (f & 2) ob.floorDbm = q[k + 3]
    if (f & 4) ob.rawSigmaDb = q[k + 4]
    obs.push(ob)
    k += READING
  }
  const silent: Silence[] = []
  for (let i = 0; i < nSilent; i++) {
    silent.push({ sensor: model(k), floorDbm: q[k + width] })
    k += width + 1
  }
  // The keys in the order the tracker writes them (tracker.ts `question`).
  const o: SolverOptions = {
    tagHeight: q[at + 7],
    bounds: [q[at + 8], q[at + 9], q[at + 10], q[at + 11]],
    huberK: q[at + 12]
  }
  if (flags & 32) o.silent = silent
  if (flags & 4) o.gridTemperature = q[at + 13]
  if (flags & 8) o.minSupport = q[at + 14]
  if (flags & 16) o.offMapPenalty = q[at + 15]
  o.prior = flags & 1 ? { x: q[at + 3], y: q[at + 4] } : undefined
  if (flags & 2) o.offsetPrior = { mean: q[at + 5], sd: q[at + 6] }
  return { obs, o }
}

const STALE: SensorModel = Object.freeze({ id: '', x: Number.NaN, y: Number.NaN, z: Number.NaN, floor: Number.NaN, a: Number.NaN, n: Number.NaN })

/** The model written at `k` by packModel. */
export function unpackModel(q: Float64Array, k: number, maps: Array<{ id: string; map: RadioMap }>): SensorModel {
  const map = q[k] >= 0 ? maps[q[k]] : undefined
  const m: SensorModel = { id: map?.id ?? '', x: q[k + 1], y: q[k + 2], z: q[k + 3], floor: q[k + 4], a: q[k + 5], n: q[k + 6] }
  if (q[k + 8] === 1) m.spreadScale = q[k + 7]
  if (map !== undefined) m.map = map.map
  return m
}

/** Writes a fix (or none) as the answer at index j. */
export function packAnswer(out: Float64Array, j: number, f: Fix | null): void {
  const k = j * ANSWER
  if (f === null) {
    out[k + 9] = 1
    return
  }
  out[k] = f.x
  out[k + 1] = f.y
  out[k + 2] = f.cxx
  out[k + 3] = f.cyy
  out[k + 4] = f.cxy
  out[k + 5] = f.accuracyM
  out[k + 6] = METHODS.indexOf(f.method)
  out[k + 7] = f.cost
  out[k + 8] = f.offsetDb
  out[k + 9] = 0
}

export function unpackAnswer(a: Float64Array, j: number): Fix | null {
  const k = j * ANSWER
  if (a[k + 9] === 1) return null
  return { x: a[k], y: a[k + 1], cxx: a[k + 2], cyy: a[k + 3], cxy: a[k + 4], accuracyM: a[k + 5], method: METHODS[a[k + 6]], cost: a[k + 7], offsetDb: a[k + 8] }
}
