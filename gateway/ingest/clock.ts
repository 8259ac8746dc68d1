// Gateway time (contract §3). Event mode: time is the largest reading or heartbeat timestamp
// let through (clock-guard.ts decides which), so output depends only on the trace. Wall mode:
// time is the wall clock, and a reading stamped far from it is clock skew: counted, and
// re-stamped with its arrival time.

import { ClockSteps } from './clock-steps.ts'

export interface ClockOptions {
  mode: 'wall' | 'event'
  /** Ticks run this far behind the newest time, ms, so slightly late batches still count. */
  latenessMs: number
  /**
   * Wall mode: a reading further than this from the wall clock is skewed, ms. Keep it below the
   * lateness plus the RSSI window (3.5 s by default): a sensor whose clock ran between the two
   * behind would otherwise have every reading dropped as late.
   */
  maxSkewMs: number
  /**
   * Event mode: a message stamped further than this past the other sensors' clocks is held until
   * the messages after it show whether the store moved on or one sensor's clock runs ahead (see
   * clock-guard.ts), ms. Keep it below the lateness plus the RSSI window (3.5 s by default): a
   * sensor ahead by less is let through and drags the clock by as much.
   */
  maxLeadMs: number
  /** Event mode: before anything was let through, a first message this far past the wall clock waits for a quorum, ms. */
  maxAheadMs: number
  /**
   * Event mode: the share of the sensors heard in the last 15 minutes of event time that must
   * agree to move the clock past the others (at least 2; clock-guard.ts).
   */
  quorumShare: number
  /** Injected wall clock (ms since the epoch). */
  wall: () => number
}

export const defaultClockOptions: ClockOptions = { mode: 'wall', latenessMs: 500, maxSkewMs: 2000, maxLeadMs: 2000, maxAheadMs: 10 * 60_000, quorumShare: 0.2, wall: Date.now }

export class GatewayClock {
  private eventMax = -Infinity
  skewed = 0
  /** Wall mode: steps of the wall clock, and the tick schedule moved back after one (clock-steps.ts). */
  readonly steps: ClockSteps | null

  constructor(readonly o: ClockOptions) {
    this.steps = o.mode === 'wall' ? new ClockSteps(o.wall) : null
  }

  /**
   * Takes a timestamp from a sensor (or null when it sent none) and returns the time to use:
   * in event mode the timestamp as it is (missing: the current event time); in wall mode the
   * arrival time when missing or skewed.
   */
  stamp(ts: number | null): number {
    if (this.o.mode === 'event') {
      const t = ts ?? this.eventMax
      if (t > this.eventMax) this.eventMax = t
      return t
    }
    const now = this.o.wall()
    if (ts === null) return now
    if (Math.abs(ts - now) > this.o.maxSkewMs) {
      this.skewed++
      return now
    }
    return ts
  }

  /** Event mode: the time a stamp would give, without moving the clock. */
  peek(ts: number | null): number {
    if (this.o.mode === 'event') return ts ?? this.eventMax
    const now = this.o.wall()
    return ts === null || Math.abs(ts - now) > this.o.maxSkewMs ? now : ts
  }

  /**
   * The time at which an EID heard now resolves (gateway/ingest/identity.ts), without moving the clock:
   * in wall mode the arrival time whatever the sensor claims (a replayed EID stamped with its
   * original time must not resolve now); in event mode the reading's time as stamp() admits it
   * (the trace is the only time there is), the current event time when it has none.
   */
  identityTime(ts: number | null): number {
    if (this.o.mode === 'wall') return this.o.wall()
    return ts ?? this.eventMax
  }

  /** Ticks up to this time (ms) may run; -Infinity before anything was heard in event mode. */
  watermark(): number {
    const now = this.o.mode === 'event' ? this.eventMax : this.o.wall()
    return now - this.o.latenessMs
  }

  /**
   * The next tick to run for a schedule at `next` (-Infinity: none yet) and ticks allowed up to
   * `target`. Wall mode: moved back to the clock after a step back, `stepBack` called first (state
   * stamped in the future, such as open visits, is closed at its last evidence, not carried back).
   */
  schedule(next: number, target: number, tickMs: number, stepBack: () => void = () => {}): number {
    if (next === -Infinity) return Math.ceil(target / tickMs) * tickMs
    const moved = this.steps?.schedule(next, target, tickMs) ?? next
    if (moved < next) stepBack()
    return moved
  }

  now(): number {
    return this.o.mode === 'event' ? this.eventMax : this.o.wall()
  }
}
