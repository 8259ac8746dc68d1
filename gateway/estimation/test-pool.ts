// The test pool (issue 28): a tick's shop-entry radio tests worked out by worker threads beside
// the main thread, which runs the tick's zone steps meanwhile and takes each answer when its step
// asks for it, so every decision is made in the same order, on the same answers, as inline.
//
// How: presence runs the tick's steps once ahead on copies (entry-plan.ts) and lists the tests
// they ask; those are packed into shared memory (the fix's readings and silent sensors as the
// solver pool packs them, the zone, the traffic map before the tick and the cells the tick counts
// before each test) and the workers are woken. They take tests from the back of the list, the
// main thread from the front as its steps ask: a test no worker has begun is worked out on the
// main thread; one begun is waited for (Atomics.wait, so the tick stays one synchronous step). A
// step that asks a test the plan did not list, or on a traffic map other than planned, works it
// out itself. A worker that fails a test, or is late with one past the deadline, costs that test
// being worked out on the main thread, counted; one that failed, exited, or is still at work when
// the next round begins is replaced, all workers on fresh memory (a stale one can write only where
// nobody reads), and after the group's MAX_RESTARTS everything is worked out inline. The threads
// are a WorkerGroup's (worker-group.ts), shared with the solver pool in the gateway.
import type { Zone } from '../../shared/site.ts'
import type { EntryPlan, EvidenceRadio, WalkAsk, WalkEvidence } from '../presence/zone-types.ts'
import type { TrafficZone } from './outside-traffic.ts'
import { packQuestion, questionSize, type MapTable } from './pool-codec.ts'
import type { ZoneCostOptions, ZoneCosts } from './zone-costs.ts'
import { grown } from './worker-spawn.ts'
import { WorkerGroup } from './worker-group.ts'
import {
  ANSWER,
  ASK_HEAD,
  DONE,
  ENTRY_TEST,
  FAILED,
  MAIN,
  POSTED,
  ROUND_LIMIT,
  STATE_BITS,
  STEPS,
  TCTRL,
  TCTRL_SLOTS,
  WALK_TEST,
  type TestPoolBuffers
} from './test-pool-layout.ts'
import { walkSensors, type WalkGaps, type WalkModel, type WalkFix } from './street-walk.ts'
import { packWalk, walkSize } from './walk-ask-codec.ts'

/** How long the main thread waits for a test a worker began before it works it out itself, ms. */
export const TEST_DEADLINE_MS = 1000

/** What the pool counts (the gateway's metrics read them). */
export interface TestPoolCounts {
  /** Tests the plans listed. */
  planned: number
  /** Answers a worker gave. */
  workerAnswers: number
  /** Street-walk tests the plans listed (in `planned` too), and their answers a worker gave (in `workerAnswers` too). */
  plannedWalks: number
  walkAnswers: number
  /** Tests asked that no plan listed (or on another traffic map): worked out on the main thread. */
  unplanned: number
  /** Tests a worker failed or was late with, and workers that exited: worked out on the main thread. */
  failures: number
  restarts: number
}

export class TestPool {
  readonly counts: TestPoolCounts = { planned: 0, workerAnswers: 0, plannedWalks: 0, walkAnswers: 0, unplanned: 0, failures: 0, restarts: 0 }
  private readonly group: WorkerGroup
  private b!: TestPoolBuffers
  private ctrl!: Int32Array
  private input!: Float64Array
  private index!: Int32Array
  private status!: Int32Array
  private log!: Int32Array
  private output!: Float64Array
  private seq = 0
  private closed = false
  private broken = false
  /** This round's asks by their evidence (a step asks at most one test of a fix). */
  private asks = new Map<EvidenceRadio, number>()
  /** This round's walk tests by their kept fixes (one walk, one test), and where each is in the list. */
  private walks = new Map<readonly WalkFix[], { j: number; ask: WalkAsk }>()
  private plan: EntryPlan | null = null
  private n = 0

  /**
   * `workers`: a group to share (started by its owner once every pool has joined), or how many
   * threads of its own to start. `script`: the worker's module of its own group (tests give one
   * that misbehaves).
   */
  constructor(
    workers: number | WorkerGroup,
    private readonly maps: MapTable,
    private readonly shops: readonly Zone[],
    private readonly deadlineMs = TEST_DEADLINE_MS,
    script?: URL
  ) {
    this.group = typeof workers === 'number' ? new WorkerGroup(workers, maps, script) : workers
    if (this.group.maps !== maps) throw new Error('the test pool and its workers must know the same radio maps')
    this.fresh(1 << 16, 1 << 12, 64)
    this.group.join('tests', { fresh: () => this.fresh(this.input.length, this.log.length, this.index.length), halt: () => this.halt() })
    if (typeof workers === 'number') this.group.start()
  }

  get size(): number {
    return this.group.size
  }

  get live(): number {
    return this.group.live
  }

  /** Fresh memory (for fresh workers: what they start the tests' part with). */
  private fresh(floats: number, cells: number, asks: number): { shops: readonly Zone[]; buffers: TestPoolBuffers } {
    this.b = {
      ctrl: new SharedArrayBuffer(TCTRL_SLOTS * 4),
      input: new SharedArrayBuffer(floats * 8),
      index: new SharedArrayBuffer(asks * 4),
      status: new SharedArrayBuffer(asks * 4),
      log: new SharedArrayBuffer(cells * 4),
      output: new SharedArrayBuffer(asks * ANSWER * 8)
    }
    this.views()
    this.seq = 0
    this.broken = false
    this.forget()
    return { shops: this.shops, buffers: this.b }
  }

  private views(): void {
    this.ctrl = new Int32Array(this.b.ctrl)
    this.input = new Float64Array(this.b.input)
    this.index = new Int32Array(this.b.index)
    this.status = new Int32Array(this.b.status)
    this.log = new Int32Array(this.b.log)
    this.output = new Float64Array(this.b.output)
  }

  private ensure(floats: number, cells: number, asks: number): void {
    if (floats <= this.input.length && cells <= this.log.length && asks <= this.index.length) return
    const q = grown(this.index.length, asks)
    this.b = {
      ctrl: this.b.ctrl,
      input: new SharedArrayBuffer(grown(this.input.length, floats) * 8),
      index: new SharedArrayBuffer(q * 4),
      status: new SharedArrayBuffer(q * 4),
      log: new SharedArrayBuffer(grown(this.log.length, cells) * 4),
      output: new SharedArrayBuffer(q * ANSWER * 8)
    }
    this.views()
    this.group.post('tests', this.b)
  }

  /**
   * Starts a round on a tick's plan; `options` gives the cost options of the tracker a fix came
   * from, `walkModel` what its street-walk test takes (none: the plan's walk tests stay inline).
   */
  prefetch(plan: EntryPlan, options: (from: string) => ZoneCostOptions, walkModel?: (from: string) => WalkModel): void {
    this.plan = null
    this.asks.clear()
    this.walks.clear()
    if ((this.broken || this.group.exited) && !this.closed) this.restart()
    const walks = walkModel === undefined ? [] : (plan.walks ?? [])
    if (this.group.live === 0 || plan.asks.length + walks.length === 0) return
    // Nobody may still be writing an answer of the last round into memory this one reuses.
    if (!this.idle()) {
      this.counts.failures++
      this.restart()
      if (this.group.live === 0) return
    }
    const shopIndex = new Map(this.shops.map((z, i) => [z.id, i]))
    const zones = new Map<string, { zone: Zone; mapAt: number; logAt: number }>()
    let floats = 0
    let cells = 0
    for (const a of plan.asks) {
      if (!zones.has(a.zone.id)) {
        const g = plan.traffic.state(a.zone.id)
        zones.set(a.zone.id, { zone: a.zone, mapAt: g === undefined ? -1 : floats, logAt: cells })
        floats += g?.counts.length ?? 0
        cells += plan.log.get(a.zone.id)?.length ?? 0
      }
    }
    const mapsEnd = floats
    for (const a of plan.asks) floats += ASK_HEAD + questionSize(a.radio.fix.obs.length, a.radio.fix.silent.length)
    // The walk tests go last: the workers take from the back, and one is worth dozens of entry tests.
    const walked = walks.map(w => {
      const m = (walkModel as (from: string) => WalkModel)(w.walk.from)
      const sensed = walkSensors(w.walk.fixes, m.sensors)
      floats += ASK_HEAD + (sensed === null ? 0 : walkSize(sensed))
      return { m, sensed }
    })
    const n = plan.asks.length + walks.length
    this.ensure(floats, cells, n)
    for (const [id, z] of zones) {
      const g = plan.traffic.state(id)
      if (g !== undefined) this.input.set(g.counts, z.mapAt)
      const l = plan.log.get(id)
      if (l !== undefined) this.log.set(l, z.logAt)
    }
    const seq = (this.seq = (this.seq + 1) % ROUND_LIMIT || 1)
    const round = seq << STATE_BITS
    let at = mapsEnd
    for (let j = 0; j < plan.asks.length; j++) {
      const a = plan.asks[j]
      const z = zones.get(a.zone.id) as { mapAt: number; logAt: number }
      const zi = shopIndex.get(a.zone.id)
      const o = options(a.radio.from)
      const fix = a.radio.fix
      this.index[j] = at
      const packed =
        zi !== undefined && packQuestion(this.input, at + ASK_HEAD, fix.obs, { tagHeight: o.tagHeight, huberK: o.huberK, bounds: o.bounds, silent: fix.silent }, this.maps)
      const g = plan.traffic.state(a.zone.id)
      this.input.set([zi ?? -1, a.base, fix.x, fix.y, z.mapAt, g?.total ?? 0, g?.cells ?? 0, z.logAt, a.logged, ENTRY_TEST], at)
      // A test a worker cannot be given (a radio map it does not know) is the main thread's.
      Atomics.store(this.status, j, round | (packed ? POSTED : MAIN))
      if (!this.asks.has(a.radio)) this.asks.set(a.radio, j)
      at += ASK_HEAD + questionSize(fix.obs.length, fix.silent.length)
    }
    for (let i = 0; i < walks.length; i++) {
      const w = walks[i]
      const j = plan.asks.length + i
      const { m, sensed } = walked[i]
      const zi = shopIndex.get(w.zone.id)
      this.index[j] = at
      this.input.set([zi ?? -1, w.enough, m.prior.mean, m.prior.sd, w.walk.fixes.length, 0, 0, 0, 0, WALK_TEST], at)
      // Too little to tell (worked out at once) or a radio map the workers do not know: the main thread's.
      const packed = zi !== undefined && sensed !== null && packWalk(this.input, at + ASK_HEAD, w.walk.fixes, sensed, m.o, this.maps)
      Atomics.store(this.status, j, round | (packed ? POSTED : MAIN))
      if (!this.walks.has(w.walk.fixes)) this.walks.set(w.walk.fixes, { j, ask: w })
      at += ASK_HEAD + (sensed === null ? 0 : walkSize(sensed))
    }
    this.counts.planned += n
    this.counts.plannedWalks += walks.length
    this.plan = plan
    this.n = n
    Atomics.store(this.ctrl, TCTRL.count, n)
    Atomics.store(this.ctrl, TCTRL.next, 0)
    Atomics.store(this.ctrl, TCTRL.seq, seq)
    Atomics.notify(this.ctrl, TCTRL.seq)
    this.group.ring()
  }

  /**
   * The costs of the test a step asks: a worker's answer when the plan listed this very test,
   * else `work()` (the test worked out here).
   */
  answer(radio: EvidenceRadio, zone: Zone, base: number, work: () => ZoneCosts): ZoneCosts {
    const j = this.plan === null ? undefined : this.asks.get(radio)
    if (j === undefined || this.plan === null) {
      if (this.plan !== null) this.counts.unplanned++
      return work()
    }
    this.asks.delete(radio)
    const a = this.plan.asks[j]
    const g = (zone as TrafficZone).traffic?.state(zone.id)
    const round = this.seq << STATE_BITS
    if (a.zone.id !== zone.id || a.base !== base || (g?.total ?? 0) !== a.total || (g?.cells ?? 0) !== a.cells) {
      this.counts.unplanned++
      this.drop(j, round)
      return work()
    }
    const k = this.wait(j, round)
    if (k < 0) return work()
    return { inside: Array.from(this.output.subarray(k, k + STEPS)), outside: Array.from(this.output.subarray(k + STEPS, k + ANSWER)) }
  }

  /**
   * The gaps of the street-walk test a step asks: a worker's answer when the plan listed this very
   * test (the same kept fixes, zone and sure gap: nothing else goes into it within a tick), else
   * `work()`.
   */
  answerWalk(walk: WalkEvidence, zone: Zone, enough: number, work: () => WalkGaps): WalkGaps {
    const planned = this.plan === null ? undefined : this.walks.get(walk.fixes)
    if (planned === undefined) {
      if (this.plan !== null) this.counts.unplanned++
      return work()
    }
    this.walks.delete(walk.fixes)
    const round = this.seq << STATE_BITS
    const a = planned.ask
    if (a.walk.from !== walk.from || a.zone.id !== zone.id || a.enough !== enough) {
      this.counts.unplanned++
      this.drop(planned.j, round)
      return work()
    }
    const k = this.wait(planned.j, round)
    if (k < 0) return work()
    this.counts.walkAnswers++
    return { line: this.output[k], stop: this.output[k + 1] }
  }

  /** Ask j's answer's offset in `output` once a worker has written it; -1: the main thread works it out. */
  private wait(j: number, round: number): number {
    if (this.drop(j, round)) return -1
    const deadline = performance.now() + this.deadlineMs
    for (;;) {
      const d = Atomics.load(this.ctrl, TCTRL.done)
      const st = Atomics.load(this.status, j)
      if (st === (round | DONE)) {
        this.counts.workerAnswers++
        return j * ANSWER
      }
      const left = deadline - performance.now()
      if (st === (round | FAILED) || left <= 0 || st === (round | MAIN)) {
        // A worker whose test threw is replaced; one merely late (starved of the CPU, as often as
        // hung) is replaced only if it is still at work when the next round begins (`idle`).
        if (st !== (round | MAIN)) this.counts.failures++
        if (st === (round | FAILED)) this.broken = true
        return -1
      }
      Atomics.wait(this.ctrl, TCTRL.done, d, left)
    }
  }

  /** Takes ask j for the main thread if no worker has begun it (true: taken). */
  private drop(j: number, round: number): boolean {
    return Atomics.compareExchange(this.status, j, round | POSTED, round | MAIN) === (round | POSTED)
  }

  /** The round's end: the asks no step took are dropped (a worker will not begin them). */
  settle(): void {
    if (this.plan === null) return
    const round = this.seq << STATE_BITS
    Atomics.store(this.ctrl, TCTRL.next, this.n)
    for (let j = 0; j < this.n; j++) this.drop(j, round)
    this.plan = null
    this.asks.clear()
    this.walks.clear()
    if (this.broken) this.restart()
  }

  /** Whether no worker is writing an answer (waiting up to the deadline for one that is). */
  private idle(): boolean {
    const deadline = performance.now() + this.deadlineMs
    for (;;) {
      const f = Atomics.load(this.ctrl, TCTRL.inflight)
      if (f === 0) return true
      const left = deadline - performance.now()
      if (left <= 0) return false
      Atomics.wait(this.ctrl, TCTRL.inflight, f, left)
    }
  }

  /** Replaces every worker of the group on fresh memory (the group gives up after its MAX_RESTARTS: inline for good). */
  private restart(): void {
    if (this.closed) return
    this.counts.restarts++
    this.group.restart()
    // Fresh workers or none (the group gave up): either way the failed one is gone.
    this.broken = false
    this.forget()
  }

  /** The stop slot, for workers about to end; the round's asks are the main thread's from now on. */
  private halt(): void {
    Atomics.store(this.ctrl, TCTRL.stop, 1)
    Atomics.add(this.ctrl, TCTRL.seq, 1)
    Atomics.notify(this.ctrl, TCTRL.seq)
    this.forget()
  }

  private forget(): void {
    this.plan = null
    this.asks.clear()
    this.walks.clear()
  }

  /** Stops the workers (the group's: a shared group's owner closes it too); tests asked after this are worked out inline. */
  close(): void {
    this.closed = true
    this.group.close()
  }
}
