// Wall mode: the wall clock can step (NTP after a long offline spell, an operator, a VM resumed).
// Ticks are scheduled in wall time; a schedule left ahead after a step back would wait, tickless,
// until wall time caught up with it (hours), while readings keep arriving. A step back moves the
// schedule to the clock; a step ahead is only counted (the ticks of the skipped stretch run in
// bounded slices, idle ones in one step). /healthz reads `lastDueAt` to see ticks that stopped.
import type { Metrics } from '../io/metrics.ts'

/** A tick schedule further than this from the clock means the clock stepped, ms (well past a timer's lateness). */
export const CLOCK_STEP_MS = 10_000

export class ClockSteps {
  readonly counts = { ahead: 0, back: 0 }
  /** When ticks were last due (wall ms): readings arriving long after it mean ticks have stopped. */
  lastDueAt: number

  constructor(private readonly wall: () => number) {
    this.lastDueAt = wall()
  }

  /** The next tick to run for a schedule at `next` with the clock allowing ticks up to `target` (wall mode). */
  schedule(next: number, target: number, tickMs: number): number {
    const back = next - target > CLOCK_STEP_MS
    if (back) {
      this.counts.back++
      next = Math.ceil(target / tickMs) * tickMs
    } else if (Number.isFinite(this.top) && target - this.top > CLOCK_STEP_MS) this.counts.ahead++
    this.top = back ? target : Math.max(this.top, target)
    if (next <= target) this.lastDueAt = this.wall()
    return next
  }

  /** The furthest the clock allowed ticks (since the last step back): a jump past it is a step ahead. */
  private top = -Infinity

  expose(metrics: Metrics): void {
    const steps = metrics.counter('instore_clock_steps_total', 'wall mode: steps of the wall clock, by direction (back: the tick schedule moved back to the clock)')
    metrics.onCollect(() => {
      steps.set({ direction: 'back' }, this.counts.back)
      steps.set({ direction: 'ahead' }, this.counts.ahead)
    })
  }
}
