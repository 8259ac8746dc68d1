// Follows a trace as the gateway does on the event clock, for offline scoring and calibration:
// readings into a tracker in trace order, an estimate per active subject each second of trace time.
import { isReading, isScan, isTruth, type TraceLine } from '../shared/trace.ts'
import type { Tracker } from '../gateway/estimation/tracker.ts'

/** One position made for a subject at a tick of trace time. */
export interface Placed {
  subject: string
  ts: number
  x: number
  y: number
  accuracyM: number /** default 0 */
  floor?: number
}

/** What following a trace turns up: an estimate, or a truth line (for scoring). */
export type Followed = { estimate: Required<Placed> } | { truth: { subject: string; ts: number; x: number; y: number; floor: number } }

/**
 * Runs a tracker over a trace as the gateway does on the event clock: BLE readings (or, with a
 * tracker of beacon models, phone scans) in trace order, an estimate per active subject each
 * second of trace time, expiry. Lines are pushed in one at a time, so files of any size stream
 * through. `place` may stand in for the tracker's own estimate (the benchmark's naive baseline does).
 */
export class TraceFollower {
  private nextTick = -Infinity

  constructor(
    readonly tracker: Tracker,
    private readonly place: (subject: string, t: number) => Placed | null = (subject, t) => tracker.estimate(subject, t)
  ) {}

  *feed(line: TraceLine): Generator<Followed> {
    while (line.ts >= this.nextTick) {
      if (this.nextTick > -Infinity) {
        const t = this.nextTick
        for (const subject of [...this.tracker.active(t)]) {
          const p = this.place(subject, t)
          if (p) yield { estimate: { subject, ts: p.ts, x: p.x, y: p.y, accuracyM: p.accuracyM, floor: p.floor ?? 0 } }
        }
        this.tracker.expire(t)
      }
      this.nextTick = this.nextTick === -Infinity ? Math.ceil(line.ts / 1000) * 1000 : this.nextTick + 1000
    }
    if (isReading(line) && line.t === 'ble' && line.id !== undefined) this.tracker.addReading(line.id, line.sensor, line.ts, line.rssi, line.tx)
    else if (isScan(line)) for (const b of line.beacons) this.tracker.addReading(line.device, b.id, line.ts, b.rssi)
    else if (isTruth(line)) yield { truth: { subject: line.truth.subject, ts: line.ts, x: line.truth.x, y: line.truth.y, floor: line.truth.floor ?? 0 } }
  }
}
