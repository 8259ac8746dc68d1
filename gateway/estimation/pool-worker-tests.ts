// The test pool's part of a worker (pool-worker.ts, test-pool.ts): on each new round it draws
// tests from the back of the list until none is left, each worked out by the very code the main thread runs (zone-odds.ts `zoneCosts`, street-walk.ts `walkGaps`) on the very
// numbers: a walk's fixes as packed (walk-ask-codec.ts); for an entry test the fix as packed,
// the zone, and the traffic map rebuilt as the main thread's stood when the test was asked (the
// map before the tick and the cells counted before the test). It never posts a message.
import type { Zone } from '../../shared/site.ts'
import { zoneCosts } from './zone-odds.ts'
import { OutsideTraffic, type TrafficZone } from './outside-traffic.ts'
import { unpackQuestion, type buildMaps } from './pool-codec.ts'
import type { Part } from './pool-worker-part.ts'
import { ANSWER, ASK_HEAD, DONE, FAILED, KIND, POSTED, STATE_BITS, STEPS, TAKEN, TCTRL, WALK_TEST, type TestPoolBuffers } from './test-pool-layout.ts'
import { walkGaps } from './street-walk.ts'
import { unpackWalk } from './walk-ask-codec.ts'

function views_(x: TestPoolBuffers) {
  return {
    ctrl: new Int32Array(x.ctrl),
    input: new Float64Array(x.input),
    index: new Int32Array(x.index),
    status: new Int32Array(x.status),
    log: new Int32Array(x.log),
    output: new Float64Array(x.output)
  }
}

export function testsPart(start: { shops: Zone[]; buffers: TestPoolBuffers }, maps: ReturnType<typeof buildMaps>): Part {
  const traffic = new OutsideTraffic()
  const views: TrafficZone[] = start.shops.map(z => ({ ...z, traffic }))
  let b = views_(start.buffers)

  function answer(j: number): void {
    const at = b.index[j]
    const q = b.input
    const zone = views[q[at]]
    if (q[at + KIND] === WALK_TEST) {
      const { placed, sensed, o } = unpackWalk(q, at + ASK_HEAD, q[at + 4], maps)
      const gaps = walkGaps(placed, sensed, zone, o, { mean: q[at + 2], sd: q[at + 3] }, q[at + 1])
      b.output[j * ANSWER] = gaps.line
      b.output[j * ANSWER + 1] = gaps.stop
      return
    }
    const mapAt = q[at + 4]
    traffic.load(zone, mapAt < 0 ? null : q.subarray(mapAt, mapAt + traffic.cellsOf(zone)), q[at + 5], q[at + 6], b.log, q[at + 7], q[at + 8])
    const { obs, o } = unpackQuestion(q, at + ASK_HEAD, maps)
    const c = zoneCosts(obs, o.silent ?? [], { tagHeight: o.tagHeight, huberK: o.huberK, bounds: o.bounds }, zone, q[at + 2], q[at + 3], q[at + 1])
    const k = j * ANSWER
    for (let i = 0; i < STEPS; i++) {
      b.output[k + i] = c.inside[i]
      b.output[k + STEPS + i] = c.outside[i]
    }
  }

  /** Draws this round's tests from the back until none is left (or the round is over). */
  function work(seq: number): void {
    const round = seq << STATE_BITS
    Atomics.add(b.ctrl, TCTRL.inflight, 1)
    try {
      for (;;) {
        if (Atomics.load(b.ctrl, TCTRL.seq) !== seq || Atomics.load(b.ctrl, TCTRL.stop) !== 0) return
        const n = Atomics.load(b.ctrl, TCTRL.count)
        const k = Atomics.add(b.ctrl, TCTRL.next, 1)
        if (k >= n) return
        const j = n - 1 - k
        if (Atomics.compareExchange(b.status, j, round | POSTED, round | TAKEN) !== (round | POSTED)) continue
        let state = DONE
        try {
          answer(j)
        } catch {
          state = FAILED
        }
        Atomics.store(b.status, j, round | state)
        Atomics.add(b.ctrl, TCTRL.done, 1)
        Atomics.notify(b.ctrl, TCTRL.done)
      }
    } finally {
      Atomics.sub(b.ctrl, TCTRL.inflight, 1)
      Atomics.notify(b.ctrl, TCTRL.inflight)
    }
  }

  return {
    seq: () => Atomics.load(b.ctrl, TCTRL.seq),
    stopped: () => Atomics.load(b.ctrl, TCTRL.stop) !== 0,
    grown: x => {
      b = views_(x as TestPoolBuffers)
    },
    work
  }
}
