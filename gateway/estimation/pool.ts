// The solver pool (issue 28): a tick's solver questions (tracker.ts `question`, one per device) are
// solved by the main thread and `size` workers together, and answered on the main thread in the
// order they were asked, so the output is the inline run's byte for byte.
//
// Why synchronous: the tick runs inside the pipeline's work loop, which must not yield mid-tick
// (slices change nothing in the output only because a tick is whole). So the main thread packs
// the questions into shared memory, wakes the workers, claims questions itself from the same
// counter, and then sleeps on the answer counter (Atomics.wait) for the ones the workers took.
// A worker that dies or hangs holding a question is noticed by a deadline: the main thread
// answers what is missing itself and the workers are replaced on fresh memory (a stale worker can
// then write only where nobody reads). Shutdown sets the stop slot and ends the workers. The
// threads are a WorkerGroup's (worker-group.ts), shared with the test pool in the gateway.
import { solve, type Fix, type Observation, type SolverOptions } from './solver.ts'
import { ANSWER, packQuestion, questionSize, unpackAnswer, type MapTable } from './pool-codec.ts'
import { SensorTable } from './pool-sensor-table.ts'
import { grown } from './worker-spawn.ts'
import { WorkerGroup } from './worker-group.ts'
import { CTRL, CTRL_SLOTS, INDEX_MASK, ROUND_BITS, ROUND_MASK, type PoolBuffers } from './pool-layout.ts'

/** How long the main thread waits for an answer a worker claimed before it answers itself, ms. */
export const ANSWER_DEADLINE_MS = 1000

/** One question as the tracker asks it. */
export interface PoolQuestion {
  obs: Observation[]
  options: SolverOptions
}

export class SolverPool {
  /** Workers started again after one died or hung; questions answered inline after a deadline. */
  restarts = 0
  lateAnswers = 0
  /** Answers the workers gave (the rest were solved on the main thread). */
  workerAnswers = 0
  private readonly group: WorkerGroup
  private b!: PoolBuffers
  private ctrl!: Int32Array
  private input!: Float64Array
  private models!: Float64Array
  private index!: Int32Array
  private status!: Int32Array
  private output!: Float64Array
  private seq = 0
  private closed = false
  private readonly table: SensorTable

  /**
   * `workers`: a group to share (started by its owner once every pool has joined), or how many
   * threads of its own to start. `script`: the worker's module of its own group (tests give one
   * that misbehaves).
   */
  constructor(
    workers: number | WorkerGroup,
    private readonly maps: MapTable,
    private readonly deadlineMs = ANSWER_DEADLINE_MS,
    script?: URL
  ) {
    this.group = typeof workers === 'number' ? new WorkerGroup(workers, maps, script) : workers
    if (this.group.maps !== maps) throw new Error('the solver pool and its workers must know the same radio maps')
    this.table = new SensorTable(maps)
    this.fresh(1 << 16, 1 << 12, 256)
    this.group.join('solver', { fresh: () => this.fresh(this.input.length, this.models.length, this.index.length), halt: () => this.halt() })
    if (typeof workers === 'number') this.group.start()
  }

  get size(): number {
    return this.group.size
  }

  /** Bytes of shared memory the pool holds now (its buffers only grow). */
  get sharedBytes(): number {
    return Object.values(this.b).reduce((n, x: SharedArrayBuffer) => n + x.byteLength, 0)
  }

  /** Live workers (0 once closed or given up). */
  get live(): number {
    return this.group.live
  }

  /** Fresh memory (for fresh workers: what they start the solver's part with). */
  private fresh(floats: number, models: number, questions: number): { buffers: PoolBuffers } {
    this.b = {
      ctrl: new SharedArrayBuffer(CTRL_SLOTS * 4),
      input: new SharedArrayBuffer(floats * 8),
      models: new SharedArrayBuffer(models * 8),
      index: new SharedArrayBuffer(questions * 4),
      status: new SharedArrayBuffer(questions * 4),
      output: new SharedArrayBuffer(questions * ANSWER * 8)
    }
    this.views()
    this.seq = 0
    return { buffers: this.b }
  }

  private views(): void {
    this.ctrl = new Int32Array(this.b.ctrl)
    this.input = new Float64Array(this.b.input)
    this.models = new Float64Array(this.b.models)
    this.index = new Int32Array(this.b.index)
    this.status = new Int32Array(this.b.status)
    this.output = new Float64Array(this.b.output)
  }

  /** Room for `questions` questions of `floats` numbers in all and `models` numbers of models; the workers are told before the round. */
  private ensure(floats: number, models: number, questions: number): void {
    if (floats <= this.input.length && models <= this.models.length && questions <= this.index.length) return
    const q = grown(this.index.length, questions)
    this.b = {
      ctrl: this.b.ctrl,
      input: floats <= this.input.length ? this.b.input : new SharedArrayBuffer(grown(this.input.length, floats) * 8),
      models: models <= this.models.length ? this.b.models : new SharedArrayBuffer(grown(this.models.length, models) * 8),
      index: new SharedArrayBuffer(q * 4),
      status: new SharedArrayBuffer(q * 4),
      output: new SharedArrayBuffer(q * ANSWER * 8)
    }
    this.views()
    this.group.post('solver', this.b)
  }

  /** The fixes for the questions, in their order: what `solve` would answer to each. */
  solveAll(qs: PoolQuestion[]): Array<Fix | null> {
    const n = Math.min(qs.length, INDEX_MASK - 1)
    if (this.group.exited && !this.closed) this.restart()
    if (this.group.live === 0 || n < 2) return qs.map(q => solve(q.obs, q.options))
    // The models first (their places), then the questions naming them: both sizes known before packing.
    const table = this.table
    table.clear()
    let floats = 0
    for (let j = 0; j < n; j++) {
      const { obs, options } = qs[j]
      for (const ob of obs) table.ref(ob.sensor)
      for (const s of options.silent ?? []) table.ref(s.sensor)
      floats += questionSize(obs.length, options.silent?.length ?? 0, 1)
    }
    this.ensure(floats, table.floats(), n)
    table.pack(this.models)
    // A question that cannot be packed (a radio map the workers do not know) is marked so that a
    // worker claiming it skips it: it is answered here.
    const mine = new Uint8Array(n)
    let at = 0
    for (let j = 0; j < n; j++) {
      this.index[j] = at
      if (!packQuestion(this.input, at, qs[j].obs, qs[j].options, this.maps, table)) {
        mine[j] = 1
        this.input[at] = -1
      }
      at += questionSize(qs[j].obs.length, qs[j].options.silent?.length ?? 0, 1)
    }
    const seq = ++this.seq
    const round = seq & ROUND_MASK
    Atomics.store(this.ctrl, CTRL.count, n)
    Atomics.store(this.ctrl, CTRL.next, round << ROUND_BITS)
    Atomics.store(this.ctrl, CTRL.seq, seq)
    Atomics.notify(this.ctrl, CTRL.seq)
    this.group.ring()
    const out: Array<Fix | null> = new Array(qs.length).fill(null)
    // Claimed from the same counter as the workers: which thread answers what decides nothing.
    const here = new Uint8Array(n)
    for (;;) {
      const cur = Atomics.load(this.ctrl, CTRL.next)
      const j = cur & INDEX_MASK
      if (j >= n) break
      if (Atomics.compareExchange(this.ctrl, CTRL.next, cur, cur + 1) !== cur) continue
      out[j] = solve(qs[j].obs, qs[j].options)
      here[j] = 1
    }
    const deadline = performance.now() + this.deadlineMs
    let late = false
    for (let j = 0; j < n; j++) {
      if (here[j] === 1) continue
      if (mine[j] === 1 || !this.answered(j, seq, deadline)) {
        if (mine[j] === 0) {
          late = true
          this.lateAnswers++
        }
        out[j] = solve(qs[j].obs, qs[j].options)
      } else {
        out[j] = unpackAnswer(this.output, j)
        this.workerAnswers++
      }
    }
    // The round is over: a worker that wakes late finds nothing to claim.
    Atomics.store(this.ctrl, CTRL.next, (round << ROUND_BITS) | INDEX_MASK)
    for (let j = n; j < qs.length; j++) out[j] = solve(qs[j].obs, qs[j].options)
    if (late) this.restart()
    return out
  }

  /** Waits (sleeping on the answer counter) until question j is answered in round `seq`, or the deadline. */
  private answered(j: number, seq: number, deadline: number): boolean {
    for (;;) {
      const d = Atomics.load(this.ctrl, CTRL.done)
      if (Atomics.load(this.status, j) === seq) return true
      const left = deadline - performance.now()
      if (left <= 0) return false
      Atomics.wait(this.ctrl, CTRL.done, d, left)
    }
  }

  /** Replaces every worker of the group on fresh memory (the group gives up after its MAX_RESTARTS: inline for good). */
  private restart(): void {
    if (this.closed) return
    this.restarts++
    this.group.restart()
  }

  /** The stop slot, for workers about to end. */
  private halt(): void {
    Atomics.store(this.ctrl, CTRL.stop, 1)
    Atomics.add(this.ctrl, CTRL.seq, 1)
    Atomics.notify(this.ctrl, CTRL.seq)
  }

  /** Stops the workers (the group's: a shared group's owner closes it too); questions asked after this are solved inline. */
  close(): void {
    this.closed = true
    this.group.close()
  }
}
