// The grid filter's motion modes (grid-filter.ts): how weight moves between the layers of a
// device's posterior (standing, walking, strolling) from one step to the next, and the scratch
// vectors the filter's steps share.

// Scratch shared by every device's filter: a tick is synchronous and overwrites it.
let scratchPool: Float64Array[] = []

let scratchViews: Float64Array[] = []

/**
 * Scratch vectors of n cells each, in double precision (the kernels only ever see one kind of
 * typed array: a function fed both kinds runs several times slower): two per motion layer and one more.
 */
export function layerScratch(n: number, layers: number): { mixed: Float64Array[]; blurred: Float64Array[]; tmp: Float64Array } {
  const count = 2 * layers + 1
  if (scratchPool.length < count || scratchPool[0].length < n)
    scratchPool = Array.from({ length: Math.max(count, 7) }, () => new Float64Array(Math.max(n, scratchPool[0]?.length ?? 0)))
  if (scratchViews.length !== scratchPool.length || scratchViews[0].length !== n) scratchViews = scratchPool.map(v => v.subarray(0, n))
  return { mixed: scratchViews.slice(0, layers), blurred: scratchViews.slice(layers, 2 * layers), tmp: scratchViews[2 * layers] }
}

/**
 * The chance of each mode change over a step, `m[from][to]`: a device keeps its mode with `stay`
 * and otherwise goes to any other mode alike. (A stroll entered only from standing and left only
 * to it keeps standing's long-run share at a half, as with two modes: on the Kolakowski robot
 * track that did no better for simulated shoppers and worse for the robot, docs/positioning.md.)
 */
export function modeChanges(stay: number, layers: number): number[][] {
  const leave = (1 - stay) / (layers - 1)
  return Array.from({ length: layers }, (_, from) => Array.from({ length: layers }, (_, to) => (from === to ? stay : leave)))
}

/**
 * `mixed` = `v`'s layers after one step's mode changes `m` (forward: weight moves from → to), or
 * the backward pass's (`backward`: a layer's future weighed over the modes it may go to).
 */
export function mixModes(v: Float64Array[], m: number[][], mixed: Float64Array[], n: number, backward = false): void {
  const layers = v.length
  for (let to = 0; to < layers; to++) {
    const out = mixed[to]
    out.fill(0)
    for (let j = 0; j < layers; j++) {
      const c = backward ? m[to][j] : m[j][to]
      if (c === 0) continue
      const from = v[j]
      for (let k = 0; k < n; k++) out[k] += c * from[k]
    }
  }
}
