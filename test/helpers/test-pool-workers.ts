// Misbehaving test-pool workers for test/unit/test-pool.test.ts, chosen by TEST_POOL_WORKER:
// `hang` takes a test of the first round it sees and never answers it (nor leaves its work); `fail` takes every test and
// marks it failed (a worker whose code threw); `exit` ends at once.
import { workerData } from 'node:worker_threads'
import { FAILED, POSTED, STATE_BITS, TAKEN, TCTRL, type TestPoolBuffers } from '../../gateway/estimation/test-pool-layout.ts'

const mode = process.env.TEST_POOL_WORKER
const { buffers } = (workerData as { tests: { buffers: TestPoolBuffers } }).tests
const ctrl = new Int32Array(buffers.ctrl)
const status = new Int32Array(buffers.status)
if (mode === 'exit') process.exit(1)
let seen = 0
for (;;) {
  Atomics.wait(ctrl, TCTRL.seq, seen, 50)
  const seq = Atomics.load(ctrl, TCTRL.seq)
  if (seq === seen) continue
  seen = seq
  const round = seq << STATE_BITS
  const n = Atomics.load(ctrl, TCTRL.count)
  for (let j = n - 1; j >= 0; j--) {
    if (Atomics.compareExchange(status, j, round | POSTED, round | TAKEN) !== (round | POSTED)) continue
    // Holds the test for good, as a worker stuck in a loop would (at work, as the real one counts it).
    if (mode === 'hang') {
      Atomics.add(ctrl, TCTRL.inflight, 1)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)
    }
    Atomics.store(status, j, round | FAILED)
    Atomics.add(ctrl, TCTRL.done, 1)
    Atomics.notify(ctrl, TCTRL.done)
  }
}
