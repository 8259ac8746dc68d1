// The solver pool's part of a worker (pool-worker.ts, pool.ts): on each new round it claims
// questions one at a time from the shared counter (the main thread claims from it too), solves
// them and writes the answers. It never posts a message: everything goes through the shared
// arrays, so the main thread can wait for answers without returning to its event loop.
import { solve } from './solver.ts'
import { packAnswer, unpackQuestion } from './pool-codec.ts'
import { CTRL, ROUND_BITS, ROUND_MASK, INDEX_MASK, type PoolBuffers } from './pool-layout.ts'
import type { Part } from './pool-worker-part.ts'
import type { buildMaps } from './pool-codec.ts'
import { unpackTable } from './pool-sensor-table.ts'

function views(x: PoolBuffers) {
  return {
    ctrl: new Int32Array(x.ctrl),
    input: new Float64Array(x.input),
    models: new Float64Array(x.models),
    index: new Int32Array(x.index),
    status: new Int32Array(x.status),
    output: new Float64Array(x.output)
  }
}

export function solverPart(start: { buffers: PoolBuffers }, maps: ReturnType<typeof buildMaps>): Part {
  let b = views(start.buffers)
  /** Claims and answers this round's questions until none is left (or the round is over). */
  function work(seq: number): void {
    const round = seq & ROUND_MASK
    // The round's models, read once (the pool packs them before it bumps the round).
    const table = unpackTable(b.models, maps)
    for (;;) {
      const cur = Atomics.load(b.ctrl, CTRL.next)
      if (cur >>> ROUND_BITS !== round) return
      const j = cur & INDEX_MASK
      if (j >= Atomics.load(b.ctrl, CTRL.count)) return
      if (Atomics.compareExchange(b.ctrl, CTRL.next, cur, cur + 1) !== cur) continue
      // Marked for the main thread (a radio map this worker does not know): skipped.
      if (b.input[b.index[j]] >= 0) {
        const { obs, o } = unpackQuestion(b.input, b.index[j], maps, table)
        packAnswer(b.output, j, solve(obs, o))
      }
      Atomics.store(b.status, j, seq)
      Atomics.add(b.ctrl, CTRL.done, 1)
      Atomics.notify(b.ctrl, CTRL.done)
    }
  }
  return {
    seq: () => Atomics.load(b.ctrl, CTRL.seq),
    stopped: () => Atomics.load(b.ctrl, CTRL.stop) !== 0,
    grown: x => {
      b = views(x as PoolBuffers)
    },
    work
  }
}
