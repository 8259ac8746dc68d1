// Event mode: which messages may move the clock (contract §3: time comes from the messages alone).
// One sensor must not be able to move it: not with a first message years ahead, not by repeating
// itself, not by running a few minutes ahead of the others. The evidence is in the arrival order:
// a message that arrives after another one but is stamped well before it says that two clocks
// disagree, and the sensors that agree with each other outvote the one that does not.
//
// A message stamped more than `maxLeadMs` past the newest time let through is held. What happens
// to the held messages is decided by the messages that follow, never by how far the work has got:
// - other sensors (a quorum of distinct site sensors, not phones, not one sensor's repeats) go
//   ahead too: the store has moved on (a new day, a quiet spell). The held messages that agree
//   with the quorum's time (its lower median, so one outlier cannot pull it) are let through, in
//   order; the others are refused as running ahead.
// - another sensor speaks at the old time: the held messages were one sensor's clock running
//   ahead. They are refused (`clock_ahead`), and the sensor is reported.
// - a lead of less than `maxAheadMs` while no other sensor has spoken lately: nothing to compare
//   with (one sensor hears the only device in the store), let through once a few messages show no
//   other sensor is speaking. A jump further than `maxAheadMs` always waits for a quorum.

export interface GuardOptions {
  /** A message stamped more than this past the newest time let through is held, ms. */
  maxLeadMs: number
  /** A lead past this is a jump (a night, a clock years ahead): only a quorum of sensors takes it, ms. */
  maxAheadMs: number
  /** Injected wall clock: before anything was let through, a time this far past it is a jump; and when a refusal happened. */
  wall: () => number
}

/** What `offer` decided: messages to take in (in arrival order), and messages refused as running ahead. */
export interface Verdict<T> {
  admit: T[]
  refuse: Array<{ item: T; aheadMs: number }>
}

interface Held<T> {
  item: T
  ts: number | null
  voter: string | null
}

/** Messages held at most while a jump waits; past it the oldest is refused. Bounds memory, not time. */
export const MAX_HELD = 1024
/** A sensor whose last message is among this many is speaking now; also how many messages a lone sensor waits. */
const CURRENT_MESSAGES = 16
/** Voters remembered at most (a site without sensors lets phones vote, and phones come and go). */
const MAX_VOTERS = 4096
/** Sensors heard this long before the jump size its quorum, ms of event time. */
const RECENT_MS = 15 * 60_000

export class ClockGuard<T> {
  /** The newest time let through (the event clock follows it). */
  private admitted = -Infinity
  private arrivals = 0
  /** Per voting sensor: its newest time let through, and the arrival number of its last message. */
  private readonly voters = new Map<string, { ts: number; at: number }>()
  private held: Array<Held<T>> = []
  /** Sensors with held messages, and the newest time each claims. */
  private readonly heldVoters = new Map<string, number>()
  private heldSince = 0
  private far = false
  /** Sensors refused for running ahead: by how much, and when (wall ms). */
  readonly ahead = new Map<string, { aheadMs: number; at: number }>()

  /**
   * `siteSensors`: how many sensors the site has. A site without sensors (phones scanning beacons)
   * lets phones vote; otherwise only sensors do.
   */
  constructor(
    private readonly o: GuardOptions,
    private readonly siteSensors: number
  ) {}

  /** Whether messages are held, waiting for the messages that decide them. */
  get pending(): boolean {
    return this.held.length > 0
  }
  /** Messages held now, and since when (wall ms): /healthz reports a hold that lasts. */
  get heldCount(): number {
    return this.held.length
  }
  heldSinceWall = 0

  /**
   * Takes a message stamped `ts` (its newest time; null: none) from a site sensor (`sensor`) or a
   * phone (`device`), and says what may be taken in now and what is refused.
   */
  offer(item: T, ts: number | null, from: { sensor: string } | { device: string }): Verdict<T> {
    this.arrivals++
    const voter = 'sensor' in from ? from.sensor : this.siteSensors === 0 ? 'device:' + from.device : null
    const out: Verdict<T> = { admit: [], refuse: [] }
    if (this.held.length === 0) {
      if (ts === null || !this.isAhead(ts)) {
        this.let(item, ts, voter, out)
        return out
      }
      const far = this.isFar(ts)
      if (!far && !this.othersSpeaking(voter)) {
        this.let(item, ts, voter, out)
        return out
      }
      this.far = far
      this.heldSince = this.arrivals
      this.heldSinceWall = this.o.wall()
      this.hold(item, ts, voter, out)
      return this.decide(out)
    }
    const current = ts !== null && voter !== null && !this.heldVoters.has(voter) && !this.isAhead(ts) && ts >= this.admitted - this.o.maxLeadMs
    if (current) {
      // Another sensor at the old time, after the held messages: they were one clock running ahead.
      this.resolve(Math.max(this.admitted, ts), out)
      this.let(item, ts, voter, out)
      return out
    }
    if (ts !== null && this.isFar(ts)) this.far = true
    this.hold(item, ts, voter, out)
    return this.decide(out)
  }

  private isAhead(ts: number): boolean {
    return Number.isFinite(this.admitted) ? ts > this.admitted + this.o.maxLeadMs : ts > this.o.wall() + this.o.maxAheadMs
  }

  private isFar(ts: number): boolean {
    return Number.isFinite(this.admitted) ? ts > this.admitted + this.o.maxAheadMs : ts > this.o.wall() + this.o.maxAheadMs
  }

  /** Whether a sensor other than `voter` has spoken within the last few messages. */
  private othersSpeaking(voter: string | null): boolean {
    for (const [id, v] of this.voters) if (id !== voter && v.at > this.arrivals - CURRENT_MESSAGES) return true
    return false
  }

  /** Distinct sensors that must agree to move the clock past the held messages' lead. */
  private quorum(): number {
    const max = this.siteSensors === 0 ? 2 : Math.min(2, this.siteSensors)
    if (!this.far) return max
    let recent = 0
    for (const v of this.voters.values()) if (v.ts >= this.admitted - RECENT_MS) recent++
    return Math.max(max, Math.min(3, Math.ceil(recent / 2)))
  }

  private hold(item: T, ts: number | null, voter: string | null, out: Verdict<T>): void {
    if (this.held.length >= MAX_HELD) {
      const old = this.held.shift() as Held<T>
      out.refuse.push({ item: old.item, aheadMs: (old.ts ?? this.admitted) - this.admitted })
    }
    this.held.push({ item, ts, voter })
    if (voter !== null && ts !== null) this.heldVoters.set(voter, Math.max(ts, this.heldVoters.get(voter) ?? -Infinity))
  }

  /** A quorum of sensors ahead takes the jump; a lone sensor's short lead is taken after a few messages. */
  private decide(out: Verdict<T>): Verdict<T> {
    if (this.heldVoters.size >= this.quorum()) {
      // The lower median of what the sensors claim: a sensor far ahead cannot pull it.
      const times = [...this.heldVoters.values()].sort((a, b) => a - b)
      this.resolve(times[Math.floor((times.length - 1) / 2)], out)
    } else if (!this.far && this.heldVoters.size <= 1 && this.arrivals - this.heldSince >= CURRENT_MESSAGES) {
      this.resolve(Infinity, out)
    }
    return out
  }

  /** Lets through the held messages up to `to` (plus the lead), in order; refuses the rest as running ahead of `to`. */
  private resolve(to: number, out: Verdict<T>): void {
    const held = this.held
    this.held = []
    this.heldVoters.clear()
    this.far = false
    const ref = Number.isFinite(to) ? to : this.admitted
    for (const h of held) {
      if (h.ts === null || h.ts <= to + this.o.maxLeadMs) this.let(h.item, h.ts, h.voter, out)
      else {
        const aheadMs = Number.isFinite(ref) ? h.ts - ref : h.ts - this.o.wall()
        out.refuse.push({ item: h.item, aheadMs })
        if (h.voter !== null) {
          this.ahead.delete(h.voter)
          this.ahead.set(h.voter, { aheadMs, at: this.o.wall() })
          if (this.ahead.size > MAX_VOTERS) this.ahead.delete(this.ahead.keys().next().value as string)
        }
      }
    }
  }

  private let(item: T, ts: number | null, voter: string | null, out: Verdict<T>): void {
    out.admit.push(item)
    if (ts === null) return
    if (ts > this.admitted) this.admitted = ts
    if (voter !== null) {
      const v = this.voters.get(voter)
      // Kept in order of last message, so the oldest goes first when phones vote (rotating ids).
      this.voters.delete(voter)
      this.voters.set(voter, { ts: Math.max(ts, v?.ts ?? -Infinity), at: this.arrivals })
      if (this.voters.size > MAX_VOTERS) this.voters.delete(this.voters.keys().next().value as string)
    }
  }
}
