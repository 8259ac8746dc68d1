// The sensor models a round of the solver pool's questions name (pool.ts, pool-worker-solver.ts),
// each packed once in a buffer of their own; a question names a model by its place (pool-codec.ts).
// Written in place, a model takes nine numbers in every question that hears it or finds it silent,
// and a question names dozens: with thousands of devices a round's questions filled tens of MiB of
// shared memory, most of it the same few hundred models again and again (issue 28).
//
// Places go by object identity, in the order the round first names them: the site's models are
// shared objects, and a model that differs (another object) gets a place of its own, so a worker
// solves with the very numbers the main thread would.
import { MODEL, packModel, unpackModel, type MapTable, type ModelSink } from './pool-codec.ts'
import type { RadioMap } from './radio-map.ts'
import type { SensorModel } from './radio-model.ts'

export class SensorTable implements ModelSink {
  private readonly place = new Map<SensorModel, number>()
  private readonly models: SensorModel[] = []

  constructor(private readonly maps: MapTable) {}

  /** Forgets the last round's models. */
  clear(): void {
    this.place.clear()
    this.models.length = 0
  }

  /** Models named so far this round. */
  get size(): number {
    return this.models.length
  }

  ref(m: SensorModel): number {
    const p = this.place.get(m)
    if (p !== undefined) return p
    // A model whose radio map the workers do not know has no place: its question is solved here.
    const known = m.map === undefined || this.maps.data[this.maps.ids.indexOf(m.id)] === m.map.d
    const at = known ? this.models.length : -1
    if (known) this.models.push(m)
    this.place.set(m, at)
    return at
  }

  /** Numbers the table takes packed: its count, then MODEL per model. */
  floats(): number {
    return 1 + this.models.length * MODEL
  }

  /** Packs the table at the start of `out` (room for floats() numbers). */
  pack(out: Float64Array): void {
    out[0] = this.models.length
    for (let i = 0; i < this.models.length; i++) packModel(out, 1 + i * MODEL, this.models[i], this.maps)
  }
}

/** A worker's copy of the round's models, from the buffer SensorTable.pack wrote. */
export function unpackTable(q: Float64Array, maps: Array<{ id: string; map: RadioMap }>): SensorModel[] {
  const n = Math.min(q[0], Math.floor((q.length - 1) / MODEL))
  const out: SensorModel[] = []
  for (let i = 0; i < n; i++) out.push(unpackModel(q, 1 + i * MODEL, maps))
  return out
}
