// Misbehaving solver-pool workers for test/unit/solver-pool.test.ts, chosen by `workerData.mode`
// beside the pool's own data: `hang` claims a question of the first round and never answers it;
// `exit` ends at once.
import { workerData } from 'node:worker_threads'
import { CTRL, INDEX_MASK, ROUND_BITS } from '../../gateway/estimation/pool-layout.ts'
import type { PoolBuffers } from '../../gateway/estimation/pool-layout.ts'

const mode = process.env.POOL_TEST_WORKER
const { buffers } = (workerData as { solver: { buffers: PoolBuffers } }).solver
const ctrl = new Int32Array(buffers.ctrl)
if (mode === 'hang') {
  for (;;) {
    const seq = Atomics.load(ctrl, CTRL.seq)
    const cur = Atomics.load(ctrl, CTRL.next)
    if (seq > 0 && cur >>> ROUND_BITS === seq && (cur & INDEX_MASK) < Atomics.load(ctrl, CTRL.count) && Atomics.compareExchange(ctrl, CTRL.next, cur, cur + 1) === cur) break
    Atomics.wait(ctrl, CTRL.seq, seq, 50)
  }
  // Holds the claimed question for good, as a worker stuck in a loop would.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)
}
