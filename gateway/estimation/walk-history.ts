// How a device's recent fixes are kept for the street-walk test (street-walk.ts): one packed
// buffer a device, its fixes pointing into it, and what the fixes of one tick share packed once.
// A device's largest state by far: the one structure here that grows with its history.
import type { Observation, Silence } from './solver.ts'
import type { SensorModel } from './radio-model.ts'

/** How far back a device's fixes are kept for the test, ms. */
export const WALK_HISTORY_MS = 30_000
/**
 * One fix kept every this often, ms: the RSSI windows (3 s, time constant 1.5 s) overlap from
 * one fix to the next, so the fixes between add little, and the memory stays small.
 */
export const WALK_SAMPLE_MS = 2000
/** The loudest this many heard sensors of a fix are kept (against their 1 m reference): the test's cost and memory grow with them. */
export const WALK_SENSORS = 16

/**
 * The sensors listening at one tick (tracker.ts `listening`), packed once for every device's fix
 * of that tick: each one's index and reporting floor. A fix names its silent sensors among them
 * by a bit each, instead of two numbers each.
 */
export interface Listening {
  list: Silence[]
  ids: Float32Array
  floors: Float32Array
}

export function packListening(list: Silence[], index: Map<string, number>): Listening {
  return { list, ids: Float32Array.from(list, q => index.get(q.sensor.id) ?? -1), floors: Float32Array.from(list, q => q.floorDbm) }
}

/**
 * What the fixes of one tick share about a heard sensor, by index: its reporting floor and raw
 * spread (NaN until a fix heard it). A fix that agrees keeps per heard sensor three numbers, not five.
 */
export interface SensorTable {
  floors: Float32Array
  raw: Float32Array
}

export function sensorTable(sensors: number): SensorTable {
  return { floors: new Float32Array(sensors).fill(NaN), raw: new Float32Array(sensors).fill(NaN) }
}

/** Whether the table holds (or now takes) the floor and raw spread of every kept sensor, as float32. */
function agrees(table: SensorTable, kept: Observation[], index: Map<string, number>): boolean {
  for (const ob of kept) {
    const i = index.get(ob.sensor.id)
    if (i === undefined || i >= table.floors.length) return false
    const floor = Math.fround(ob.floorDbm ?? -Infinity)
    const raw = Math.fround(ob.rawSigmaDb ?? 6)
    if (Number.isNaN(table.floors[i]) && Number.isNaN(table.raw[i])) {
      table.floors[i] = floor
      table.raw[i] = raw
    } else if (table.floors[i] !== floor || table.raw[i] !== raw) return false
  }
  return true
}

/** Bits of a silence mask held by one number of the buffer (a float32 holds integers to 2^24 exactly). */
const MASK_BITS = 24

/**
 * One kept fix, packed into its device's buffer `data` from `at` to `end`: per heard sensor its
 * index, mean RSSI and sigma, then its reporting floor and raw spread unless its tick's `table`
 * holds them; then its silent sensors, either as a
 * mask over the tick's `listening` sensors or (none given) per sensor its index and floor. One
 * buffer a device, not one a fix: a typed array costs its own objects on the heap and its own
 * allocation beside them, more than the few dozen numbers a fix keeps.
 */
export interface WalkFix {
  t: number
  x: number
  y: number
  heard: number
  data: Float32Array
  at: number
  end: number
  listening: Listening | null
  /** Always set by WalkHistory (absent: as null). */
  table?: SensorTable | null
}

/** Numbers a new device's buffer has room for before it first grows. */
const INITIAL_FLOATS = 128

/** A device's fixes over the last WALK_HISTORY_MS, one every WALK_SAMPLE_MS. */
export class WalkHistory {
  readonly fixes: WalkFix[] = []
  private data = EMPTY
  /** Where the next fix goes in `data`. */
  private end = 0

  /**
   * Keeps a fix (one every WALK_SAMPLE_MS). `silent` must then be the `listening` sensors that did
   * not hear the device, in their order, when `listening` is given.
   */
  add(
    t: number,
    x: number,
    y: number,
    obs: Observation[],
    silent: Silence[],
    index: Map<string, number>,
    listening: Listening | null = null,
    table: SensorTable | null = null
  ): void {
    const last = this.fixes[this.fixes.length - 1]
    if (last !== undefined && t - last.t < WALK_SAMPLE_MS) return
    while (this.fixes.length > 0 && this.fixes[0].t < t - WALK_HISTORY_MS) this.fixes.shift()
    const kept = obs.length <= WALK_SENSORS ? obs : [...obs].sort((a, b) => b.rssi - b.sensor.a - (a.rssi - a.sensor.a)).slice(0, WALK_SENSORS)
    const masked = listening !== null && isSubsequence(silent, listening.list)
    const shared = table !== null && agrees(table, kept, index) ? table : null
    const stride = shared === null ? 5 : 3
    const data = this.room(stride * kept.length + (masked ? Math.ceil(listening.list.length / MASK_BITS) : 2 * silent.length))
    const at = this.end
    let k = at
    for (const ob of kept) {
      data[k++] = index.get(ob.sensor.id) ?? -1
      data[k++] = ob.rssi
      data[k++] = ob.sigma
      if (shared !== null) continue
      data[k++] = ob.floorDbm ?? -Infinity
      data[k++] = ob.rawSigmaDb ?? 6
    }
    if (masked) {
      const list = listening.list
      const words = Math.ceil(list.length / MASK_BITS)
      for (let w = 0; w < words; w++) data[k + w] = 0
      for (let j = 0, i = 0; j < list.length && i < silent.length; j++) {
        if (list[j] !== silent[i]) continue
        data[k + Math.floor(j / MASK_BITS)] += 2 ** (j % MASK_BITS)
        i++
      }
      k += words
    } else {
      for (const q of silent) {
        data[k++] = index.get(q.sensor.id) ?? -1
        data[k++] = q.floorDbm
      }
    }
    this.end = k
    this.fixes.push({ t, x, y, heard: kept.length, data, at, end: k, listening: masked ? listening : null, table: shared })
  }

  /** Forgets every fix (the device moved to another floor: other sensors, other zones). */
  clear(): void {
    this.fixes.length = 0
    this.data = EMPTY
    this.end = 0
  }

  /** Bytes its buffer holds (for the memory figures). */
  get bytes(): number {
    return this.data.byteLength
  }

  /**
   * The buffer, with room for `n` more numbers after `end`: when full, a new one holding the live
   * fixes (which are re-pointed at it). A buffer is only ever written past its last fix, never
   * over one: an estimate's `walk` (tracker.ts) keeps the fixes as of its time, and the presence
   * stage may test a held visit on them long after they left this history.
   */
  private room(n: number): Float32Array {
    if (this.end + n <= this.data.length) return this.data
    const from = this.fixes.length > 0 ? this.fixes[0].at : this.end
    const live = this.end - from
    // A quarter as much again as needed: a fix a little larger than the last still fits, and a
    // new buffer is needed only every few fixes, while the room a device holds spare stays small
    // beside its fixes (it is kept by every device tracked).
    const data = new Float32Array(Math.max(INITIAL_FLOATS, Math.ceil(1.25 * (live + n))))
    data.set(this.data.subarray(from, this.end))
    for (const f of this.fixes) {
      f.data = data
      f.at -= from
      f.end -= from
    }
    this.data = data
    this.end = live
    return data
  }
}

const EMPTY = new Float32Array(0)

/** Whether every item of `part` is in `all`, in the same order. */
function isSubsequence<T>(part: T[], all: T[]): boolean {
  let i = 0
  for (let j = 0; j < all.length && i < part.length; j++) if (all[j] === part[i]) i++
  return i === part.length
}

/**
 * A kept fix's heard and silent sensors, appended to `obs` and `silent` as the fix had them;
 * false where a sensor is missing from `sensors` (the models no longer have it).
 */
export function unpackFix(f: WalkFix, sensors: SensorModel[], obs: Observation[], silent: Silence[]): boolean {
  let k = f.at
  const table = f.table ?? null
  for (let i = 0; i < f.heard; i++) {
    const j = f.data[k]
    const sensor = sensors[j]
    if (sensor === undefined) return false
    if (table === null) {
      obs.push({ sensor, rssi: f.data[k + 1], sigma: f.data[k + 2], floorDbm: f.data[k + 3], rawSigmaDb: f.data[k + 4] })
      k += 5
    } else {
      obs.push({ sensor, rssi: f.data[k + 1], sigma: f.data[k + 2], floorDbm: table.floors[j], rawSigmaDb: table.raw[j] })
      k += 3
    }
  }
  const l = f.listening
  if (l !== null) {
    for (let j = 0; j < l.list.length; j++) {
      if (Math.floor(f.data[k + Math.floor(j / MASK_BITS)] / 2 ** (j % MASK_BITS)) % 2 === 0) continue
      const sensor = sensors[l.ids[j]]
      if (sensor === undefined) return false
      silent.push({ sensor, floorDbm: l.floors[j] })
    }
  } else {
    for (; k < f.end; k += 2) {
      const sensor = sensors[f.data[k]]
      if (sensor === undefined) return false
      silent.push({ sensor, floorDbm: f.data[k + 1] })
    }
  }
  return true
}
