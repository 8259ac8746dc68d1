// One worker of the solver pool (pool.ts): it sleeps on the round counter, and on each new round
// claims questions one at a time from the shared counter (the main thread claims from it too),
// solves them and writes the answers. It never posts a message: everything goes through the
// shared arrays, so the main thread can wait for answers without returning to its event loop.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads'
import { solve } from './solver.ts'
import { buildMaps, packAnswer, unpackQuestion, type MapTable } from './pool-codec.ts'
import { CTRL, ROUND_BITS, ROUND_MASK, INDEX_MASK, type PoolBuffers } from './pool-layout.ts'

const start = workerData as { maps: MapTable; buffers: PoolBuffers }
const maps = buildMaps(start.maps)
let b = views(start.buffers)

function views(x: PoolBuffers) {
  return { ctrl: new Int32Array(x.ctrl), input: new Float64Array(x.input), index: new Int32Array(x.index), status: new Int32Array(x.status), output: new Float64Array(x.output) }
}

/** Buffers grown since the last round (posted before the round began). */
function takeMessages(): void {
  if (parentPort === null) return
  for (let m = receiveMessageOnPort(parentPort); m !== undefined; m = receiveMessageOnPort(parentPort)) {
    const msg = m.message as { buffers?: PoolBuffers }
    if (msg.buffers !== undefined) b = views(msg.buffers)
  }
}

/** Claims and answers this round's questions until none is left (or the round is over). */
function work(seq: number): void {
  const round = seq & ROUND_MASK
  for (;;) {
    const cur = Atomics.load(b.ctrl, CTRL.next)
    if (cur >>> ROUND_BITS !== round) return
    const j = cur & INDEX_MASK
    if (j >= Atomics.load(b.ctrl, CTRL.count)) return
    if (Atomics.compareExchange(b.ctrl, CTRL.next, cur, cur + 1) !== cur) continue
    // Marked for the main thread (a radio map this worker does not know): skipped.
    if (b.input[b.index[j]] >= 0) {
      const { obs, o } = unpackQuestion(b.input, b.index[j], maps)
      packAnswer(b.output, j, solve(obs, o))
    }
    Atomics.store(b.status, j, seq)
    Atomics.add(b.ctrl, CTRL.done, 1)
    Atomics.notify(b.ctrl, CTRL.done)
  }
}

// The round is read before the messages: memory grown for it was posted before it began.
let seen = Atomics.load(b.ctrl, CTRL.seq)
takeMessages()
work(seen)
for (;;) {
  Atomics.wait(b.ctrl, CTRL.seq, seen)
  if (Atomics.load(b.ctrl, CTRL.stop) !== 0) break
  seen = Atomics.load(b.ctrl, CTRL.seq)
  takeMessages()
  work(seen)
}
