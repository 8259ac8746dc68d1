// The worker threads the solver pool (pool.ts) and the test pool (test-pool.ts) share (issue 28):
// one set of threads, one V8 isolate each, serving both pools, which never run a round at once
// (the solver's in a tick's fixes, the tests' in its zone stage). Two pools of their own threads
// cost twice the isolates: their heaps, their code compiled and optimized again, their start-up.
//
// A worker (pool-worker.ts) sleeps on the group's bell; a pool starting a round bumps its own
// round counter and then rings the bell, so a worker wakes for whichever pool has work. Each pool
// keeps its own shared memory and protocol; the group only starts, replaces and ends the threads.
// Replacing them (a worker exited, hung or failed, as a pool notices) gives every pool fresh
// memory, so a stale thread can write only where nobody reads.
import type { Worker } from 'node:worker_threads'
import type { MapTable } from './pool-codec.ts'
import { requireWorker, spawnWorker, workerScript } from './worker-spawn.ts'

/** Replacements after which the group gives up: every pool then works inline for good. */
export const MAX_RESTARTS = 20

/** A pool using the group's threads. */
export interface GroupMember {
  /** Fresh shared memory for new threads, and what a worker starts this pool's part with. */
  fresh(): Record<string, unknown>
  /** Sets the pool's stop slot (its threads are about to end). */
  halt(): void
}

export class WorkerGroup {
  /** Rung (bumped and notified) after a pool starts a round or stops. */
  private readonly bell = new Int32Array(new SharedArrayBuffer(4))
  private workers: Worker[] = []
  private readonly members = new Map<string, GroupMember>()
  /** Replacements so far (every pool's). */
  restarts = 0
  /** A worker has exited (noticed between rounds): the next round starts with fresh ones. */
  exited = false
  private closed = false

  /**
   * `maps`: the radio maps every pool's questions name (sent once to each worker). `script`: the
   * worker's module (tests give one that misbehaves), `maxRestarts` how often it is replaced.
   */
  constructor(
    readonly size: number,
    readonly maps: MapTable,
    private readonly script = workerScript('pool-worker'),
    private readonly maxRestarts = MAX_RESTARTS
  ) {
    requireWorker(script, 'worker pool')
  }

  /** Adds a pool under `name` (the part of a worker's data it reads); before `start`. */
  join(name: string, member: GroupMember): void {
    this.members.set(name, member)
  }

  /** Live workers (0 before start, once closed or given up). */
  get live(): number {
    return this.workers.length
  }

  /** Starts the workers, each serving every pool joined so far. */
  start(): void {
    if (this.closed || this.workers.length > 0) return
    const data: Record<string, unknown> = { bell: this.bell.buffer, maps: this.maps }
    for (const [name, m] of this.members) data[name] = m.fresh()
    this.exited = false
    for (let i = 0; i < this.size; i++) {
      const w = spawnWorker(this.script, data)
      w.once('exit', () => {
        if (this.workers.includes(w)) this.exited = true
      })
      this.workers.push(w)
    }
  }

  /** Wakes the workers: call after a pool's round counter moved. */
  ring(): void {
    Atomics.add(this.bell, 0, 1)
    Atomics.notify(this.bell, 0)
  }

  /** Tells every worker pool `name`'s memory grew (before the round that uses it). */
  post(name: string, buffers: unknown): void {
    for (const w of this.workers) w.postMessage({ to: name, buffers })
  }

  /** Ends every worker and starts new ones on fresh memory, up to MAX_RESTARTS; then none for good. */
  restart(): void {
    this.stopWorkers()
    if (this.closed) return
    this.restarts++
    if (this.restarts > this.maxRestarts) return
    this.start()
  }

  private stopWorkers(): void {
    for (const m of this.members.values()) m.halt()
    this.ring()
    for (const w of this.workers) void w.terminate()
    this.workers = []
    // Whatever exited is gone with the rest: a group that gave up is not replaced again every round.
    this.exited = false
  }

  /** Ends the workers; every pool works inline after this. */
  close(): void {
    this.closed = true
    this.stopWorkers()
  }
}
