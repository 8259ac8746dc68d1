// One worker thread of the pools (worker-group.ts): the solver pool's part and the test pool's
// (pool-worker-solver.ts, pool-worker-tests.ts), whichever its group serves, in one isolate. It
// sleeps on the group's bell; on each ring it works any part whose round counter moved. A pool
// bumps its counter before it rings, and posts grown memory before that: so the bell is read
// before the counters, and the counters before the messages.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads'
import type { Zone } from '../../shared/site.ts'
import { buildMaps, type MapTable } from './pool-codec.ts'
import type { PoolBuffers } from './pool-layout.ts'
import type { Part } from './pool-worker-part.ts'
import { solverPart } from './pool-worker-solver.ts'
import { testsPart } from './pool-worker-tests.ts'
import type { TestPoolBuffers } from './test-pool-layout.ts'

const start = workerData as {
  bell: SharedArrayBuffer
  maps: MapTable
  solver?: { buffers: PoolBuffers }
  tests?: { shops: Zone[]; buffers: TestPoolBuffers }
}
const maps = buildMaps(start.maps)
const bell = new Int32Array(start.bell)
const parts = new Map<string, Part>()
if (start.solver !== undefined) parts.set('solver', solverPart(start.solver, maps))
if (start.tests !== undefined) parts.set('tests', testsPart(start.tests, maps))
const list = [...parts.values()]
const seen = list.map(() => 0)

/** Memory a pool grew since the last ring (posted before the round that uses it). */
function takeMessages(): void {
  if (parentPort === null) return
  for (let m = receiveMessageOnPort(parentPort); m !== undefined; m = receiveMessageOnPort(parentPort)) {
    const msg = m.message as { to?: string; buffers?: unknown }
    if (msg.to !== undefined && msg.buffers !== undefined) parts.get(msg.to)?.grown(msg.buffers)
  }
}

for (;;) {
  const ring = Atomics.load(bell, 0)
  if (list.some(p => p.stopped())) break
  const seqs = list.map(p => p.seq())
  takeMessages()
  for (let i = 0; i < list.length; i++) {
    if (seqs[i] === seen[i]) continue
    seen[i] = seqs[i]
    list[i].work(seqs[i])
  }
  Atomics.wait(bell, 0, ring)
}
