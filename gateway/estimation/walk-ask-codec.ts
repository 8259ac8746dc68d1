// A street-walk test packed for the test pool (test-pool.ts, pool-worker-tests.ts): per kept fix
// when and where it was placed, then what it heard and did not as the solver pool packs a
// question (pool-codec.ts), every number the same 64-bit float, so a worker's walk search runs on
// the very numbers the main thread's would, and finds the very gaps.
import { packQuestion, questionSize, unpackQuestion, type MapTable } from './pool-codec.ts'
import type { RadioMap } from './radio-map.ts'
import type { Placed, WalkOptions } from './street-walk.ts'
import type { FixSensors } from './walk-cost.ts'

/** Numbers before a fix's question: t, x, y. */
const FIX_HEAD = 3

/** Numbers the fixes of a test take. */
export function walkSize(sensed: readonly FixSensors[]): number {
  let n = 0
  for (const f of sensed) n += FIX_HEAD + questionSize(f.obs.length, f.silent.length)
  return n
}

/** Packs the fixes at `at`; false when a sensor's model cannot be packed (its radio map is unknown to the workers). */
export function packWalk(out: Float64Array, at: number, fixes: readonly Placed[], sensed: readonly FixSensors[], o: WalkOptions, maps: MapTable): boolean {
  let k = at
  for (let i = 0; i < fixes.length; i++) {
    const f = fixes[i]
    const { obs, silent } = sensed[i]
    out[k] = f.t
    out[k + 1] = f.x
    out[k + 2] = f.y
    if (!packQuestion(out, k + FIX_HEAD, obs, { tagHeight: o.tagHeight, huberK: o.huberK, bounds: o.bounds, silent }, maps)) return false
    k += FIX_HEAD + questionSize(obs.length, silent.length)
  }
  return true
}

/** Unpacks `n` fixes packed at `at`, and the options they were packed with. */
export function unpackWalk(q: Float64Array, at: number, n: number, maps: Array<{ id: string; map: RadioMap }>): { placed: Placed[]; sensed: FixSensors[]; o: WalkOptions } {
  const placed: Placed[] = []
  const sensed: FixSensors[] = []
  let o: WalkOptions = { tagHeight: 0, huberK: 0, bounds: [0, 0, 0, 0] }
  let k = at
  for (let i = 0; i < n; i++) {
    placed.push({ t: q[k], x: q[k + 1], y: q[k + 2] })
    const u = unpackQuestion(q, k + FIX_HEAD, maps)
    const silent = u.o.silent ?? []
    sensed.push({ obs: u.obs, silent })
    o = { tagHeight: u.o.tagHeight, huberK: u.o.huberK, bounds: u.o.bounds }
    k += FIX_HEAD + questionSize(u.obs.length, silent.length)
  }
  return { placed, sensed, o }
}
