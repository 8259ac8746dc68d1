// Gateway time (contract §3). Event mode: time is the largest reading or heartbeat timestamp
// seen, so output depends only on the trace. Wall mode: time is the wall clock, and a reading
// stamped far from it is clock skew: counted, and re-stamped with its arrival time.

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
   * Event mode: a message stamped further than this ahead of the event time is a jump. A store
   * that opens after a silent night jumps too, so a jump is taken once it is confirmed (see
   * `GatewayClock.admit`); a lone sensor whose clock runs ahead is refused instead of dragging
   * every other sensor's readings into lateness.
   */
  maxAheadMs: number
  /** Injected wall clock (ms since the epoch). */
  wall: () => number
}

export const defaultClockOptions: ClockOptions = { mode: 'wall', latenessMs: 500, maxSkewMs: 2000, maxAheadMs: 10 * 60_000, wall: Date.now }

/** What `admit` says about a message's time: take it, hold it until a jump is decided, or take it as a confirmed jump. */
export type Admission = 'ok' | 'hold' | 'jump'

/** Messages from this many sensors, or this many messages in a row, confirm a jump ahead. */
const JUMP_SENSORS = 2
const JUMP_MESSAGES = 8

export class GatewayClock {
  private eventMax = -Infinity
  skewed = 0
  /** A jump ahead waiting for confirmation: the sensors that made it, and how many messages. */
  private jump: { sensors: Set<string>, messages: number } | null = null
  /** Event mode: the newest time `admit` let through. */
  private admitted = -Infinity

  constructor (readonly o: ClockOptions, private readonly sensorCount = Infinity) {}

  /**
   * Event mode: whether a message from `sensor` stamped `ts` may move the clock. A time far ahead
   * is held until another sensor, or several messages in a row with nothing at the old time
   * between them, confirm it (the store woke up: 'jump'); a message at the old time in between
   * means the jump was one sensor's clock: 'ok' for it, and the caller refuses what it held.
   */
  admit (ts: number | null, sensor: string): Admission {
    // Against the newest time admitted, not the clock: messages wait before they move the clock,
    // and what is admitted must depend on the messages alone, not on how far the work has got.
    if (this.o.mode !== 'event' || ts === null || !Number.isFinite(this.admitted) || ts <= this.admitted + this.o.maxAheadMs) {
      this.jump = null
      if (ts !== null && ts > this.admitted) this.admitted = ts
      return 'ok'
    }
    const j = this.jump ?? { sensors: new Set<string>(), messages: 0 }
    j.sensors.add(sensor); j.messages++
    this.jump = j
    if (j.sensors.size >= Math.min(JUMP_SENSORS, this.sensorCount) || j.messages >= JUMP_MESSAGES) {
      this.jump = null
      this.admitted = ts
      return 'jump'
    }
    return 'hold'
  }

  /** Whether a jump is waiting for confirmation (held messages are pending). */
  get jumpPending (): boolean { return this.jump !== null }

  /**
   * Takes a timestamp from a sensor (or null when it sent none) and returns the time to use:
   * in event mode the timestamp as it is (missing: the current event time); in wall mode the
   * arrival time when missing or skewed.
   */
  stamp (ts: number | null): number {
    if (this.o.mode === 'event') {
      const t = ts ?? this.eventMax
      if (t > this.eventMax) this.eventMax = t
      return t
    }
    const now = this.o.wall()
    if (ts === null) return now
    if (Math.abs(ts - now) > this.o.maxSkewMs) { this.skewed++; return now }
    return ts
  }

  /** Event mode: the time a stamp would give, without moving the clock. */
  peek (ts: number | null): number {
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
  identityTime (ts: number | null): number {
    if (this.o.mode === 'wall') return this.o.wall()
    return ts ?? this.eventMax
  }

  /** Ticks up to this time (ms) may run; -Infinity before anything was heard in event mode. */
  watermark (): number {
    const now = this.o.mode === 'event' ? this.eventMax : this.o.wall()
    return now - this.o.latenessMs
  }

  now (): number { return this.o.mode === 'event' ? this.eventMax : this.o.wall() }
}
