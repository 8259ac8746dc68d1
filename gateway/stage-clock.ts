// Where the gateway's main thread spends its time, per stage of the pipeline: milliseconds summed
// over every call, and how many calls. By default wall time (`performance.now()`, two clock reads a
// call: a message, a tick or a radio test, never a reading), so it is always on; wall time of
// synchronous work is its CPU time only while the machine has a core free for it, so the CPU
// benchmark (bench/cpu-cost.ts) switches to the process's CPU time (`cpuClock`), which a shared
// machine hardly moves but costs a system call a read.

/** The stages timed: a message's ingest, a tick's fixes, publishing, its zone stage less the radio tests in it, those tests, and occupancy. */
export const STAGES = ['ingest', 'fixes', 'publish', 'zones', 'entryTests', 'walkTests', 'occupancy'] as const
export type Stage = (typeof STAGES)[number]

/** The process's CPU time, user and system, every thread, ms. */
export function cpuClock(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

export class StageClock {
  /** What a stage is timed with, ms: wall time unless set to `cpuClock`. */
  now: () => number = () => performance.now()
  /** Milliseconds spent per stage since start. */
  readonly ms: Record<Stage, number> = { ingest: 0, fixes: 0, publish: 0, zones: 0, entryTests: 0, walkTests: 0, occupancy: 0 }
  /** Calls per stage since start (messages, ticks, tests). */
  readonly calls: Record<Stage, number> = { ingest: 0, fixes: 0, publish: 0, zones: 0, entryTests: 0, walkTests: 0, occupancy: 0 }

  /** Adds the time since `since` (a `performance.now()`) to `stage`; returns now, to time the next stage from. */
  add(stage: Stage, since: number): number {
    const now = this.now()
    this.ms[stage] += now - since
    this.calls[stage]++
    return now
  }

  /** Runs `fn` as one call of `stage`. */
  time<T>(stage: Stage, fn: () => T): T {
    const t0 = this.now()
    try {
      return fn()
    } finally {
      this.add(stage, t0)
    }
  }
}
