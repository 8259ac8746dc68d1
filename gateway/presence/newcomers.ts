// A bound on new devices per place and minute, against a sender that invents addresses (limits.md,
// "One sender can inflate people counts"). An address is not a device: a transmitter that sends
// each probe or advert from a new address (and a new capability fingerprint) looks like a stream
// of newcomers. Real newcomers are bounded where one sensor hears them (people walk in at a
// bounded rate, and a sensor's neighbourhood holds a bounded number of phones): past that rate,
// a place is flooded, and its newcomers are taken for one device, the sender.

/** The window new devices are counted over, ms. */
export const NEWCOMER_WINDOW_MS = 60_000

interface Place<T> {
  /** Attempts per second (new devices asked for, admitted or not), oldest first: at most one a second of the window. */
  seconds: Array<[number, number]>
  /** Devices admitted within the window (while not flooded: at most the limit). */
  made: Array<{ ts: number; item: T }>
  flooded: boolean
}

export class NewcomerLimit<T> {
  private readonly places = new Map<string, Place<T>>()
  /** New devices refused (taken for a flooding sender) in all. */
  refused = 0
  /** The most new devices one place asked for within a minute so far (how near honest crowds come to the limit). */
  peak = 0

  /** `perMin`: new devices one place may give in a minute. */
  constructor(private readonly perMin: number) {}

  /**
   * A new device asked for at `place` at `ts`: true if it may be made (then tell `made`), false
   * while the place has asked for more than the limit over the last minute (every attempt counts,
   * refused ones too, so a sender that keeps on keeps it flooded). When a flood starts,
   * `onFlood` gets the devices admitted there within the window: most of them were the sender's.
   */
  admit(place: string, ts: number, onFlood: (recent: T[]) => void): boolean {
    let p = this.places.get(place)
    if (!p) {
      p = { seconds: [], made: [], flooded: false }
      this.places.set(place, p)
    }
    this.prune(p, ts)
    const s = Math.floor(ts / 1000)
    const lastSecond = p.seconds[p.seconds.length - 1]
    if (lastSecond !== undefined && lastSecond[0] >= s) lastSecond[1]++
    else p.seconds.push([s, 1])
    const n = p.seconds.reduce((a, [, c]) => a + c, 0)
    this.peak = Math.max(this.peak, n)
    if (n <= this.perMin) {
      p.flooded = false
      return true
    }
    if (!p.flooded) {
      p.flooded = true
      onFlood(p.made.map(m => m.item))
      p.made = []
    }
    this.refused++
    return false
  }

  /** A device admitted at `place` was made. */
  made(place: string, ts: number, item: T): void {
    const p = this.places.get(place)
    if (p && p.made.length <= this.perMin) p.made.push({ ts, item })
  }

  /** Whether `place` is flooded at `t`, asking for nothing (an attempt would keep it flooded). */
  busy(place: string, t: number): boolean {
    const p = this.places.get(place)
    if (!p) return false
    this.prune(p, t)
    return p.seconds.reduce((a, [, c]) => a + c, 0) > this.perMin
  }

  /** Places flooded at `t` (more attempts over the last minute than the limit). */
  flooded(t: number): string[] {
    const out: string[] = []
    for (const [k, p] of this.places) {
      this.prune(p, t)
      if (p.seconds.length === 0) this.places.delete(k)
      else if (p.seconds.reduce((a, [, c]) => a + c, 0) > this.perMin) out.push(k)
    }
    return out
  }

  private prune(p: Place<T>, ts: number): void {
    const from = Math.floor((ts - NEWCOMER_WINDOW_MS) / 1000)
    while (p.seconds.length > 0 && p.seconds[0][0] <= from) p.seconds.shift()
    while (p.made.length > 0 && p.made[0].ts <= ts - NEWCOMER_WINDOW_MS) p.made.shift()
  }
}
