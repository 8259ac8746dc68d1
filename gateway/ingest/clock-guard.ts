// Event mode: which messages may move the clock (contract §3: time comes from the messages alone).
// While the other senders speak, no single sender may move it further than `maxLeadMs` past what
// they say. Each voter (a site sensor; on a site without sensors, a phone's MQTT client where the
// broker names it, else its phone id) has a clock of its
// own: the newest time let through from it. A message is judged against the OTHER voters' clocks,
// never against the clock it may have raised itself, so a sender that repeats itself a little
// ahead each time cannot creep forward.
//
// - The others' clock is, of the other voters heard recently in event time (within `RECENT_MS`
//   before the event clock), the k-th newest time, k the quorum less one (fewer voters than the
//   quorum cannot leapfrog it by stamping in turn). A message stamped no more than `maxLeadMs` past
//   it is let through. Recency is event time, never a count of arrivals: a burst of one sender's messages
//   does not make the others absent.
// - A message further ahead is held; the messages that follow decide, never how far the work got:
//   - a quorum of distinct voters goes ahead too (a new day, a quiet spell): the clock moves to
//     the lower median of the times they claim (one voter far ahead cannot pull it), the held
//     messages up to it (plus the lead) are let through in order, the others refused;
//   - another voter speaks at the old time: the held messages ahead were one clock running
//     ahead. They are refused (`clock_ahead`) and the voter is reported.
//   The quorum is `quorumShare` of the voters heard recently (at least 2; 1 on a site with one
//   voter), so a morning after a silent night goes on as soon as that share of sensors is back.
//   - nothing else comes: after `LONE_MESSAGES` messages with no other voter among them, a lead
//     of less than `maxAheadMs` is taken (the others are quiet: one sensor hears the only device
//     and the others send no heartbeat), and the sender goes on alone until another voter speaks,
//     `LONE_STEP_MS` a message at most; a longer lead is held again.
//     A lead past `maxAheadMs` (a night) is taken after `LONE_FAR_MESSAGES`: the only sensor
//     working after a night (the others off, or dead) must not stop the store for good.
// - No other voter heard recently, though some were before (sensors that did not come back after
//   a night): the sender goes on as one taken alone, `LONE_STEP_MS` a message. A site with one
//   sensor: its quorum is 1, every jump is taken.
// - Before anything was let through there is no clock. A first message stamped well before the
//   wall clock (a replay of a recorded trace) sets it. One stamped within `maxAheadMs` of the wall
//   clock (a message retained from a live run, a trace that claims to be live) waits for a second
//   voter to agree (or to refuse it), or for `LONE_MESSAGES` messages with no other voter among
//   them; one more than `maxAheadMs` past the wall clock waits for a quorum.

import type { Metrics } from '../io/metrics.ts'

export interface GuardOptions {
  /** A message stamped more than this past the other voters' clocks is held, ms. */
  maxLeadMs: number
  /** Before anything was let through, a first message within this of the wall clock waits for a second voter, and one further past it for a quorum, ms. */
  maxAheadMs: number
  /** The share of the voters heard recently that must agree to move the clock past the others (at least 2). */
  quorumShare?: number
  /** Injected wall clock: the first message's plausibility, and when a refusal happened. */
  wall: () => number
}

export const DEFAULT_QUORUM_SHARE = 0.2

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
/** How far one message of a sender alone may move the clock at once, ms: a sensor's heartbeats are seconds apart. */
const LONE_STEP_MS = 60_000
/** The messages a sender ahead waits, with no other voter among them, before it is taken as the only one speaking. */
const LONE_MESSAGES = 16
/** The same for a lead past `maxAheadMs`: more, since such a jump moves the clock further. */
const LONE_FAR_MESSAGES = 64
/**
 * On a site without sensors phones vote: at least this share of those heard must agree to a jump,
 * since any client can be a phone (a few with a wrong time zone must not move everyone).
 */
const PHONE_QUORUM_SHARE = 0.5
/** Voters remembered at most (phones come and go). */
const MAX_VOTERS = 4096
/** Characters of an MQTT client id kept as a voter's key: MQTT allows 64 KiB ids, and a longer key only costs memory. */
const CLIENT_KEY_CHARS = 64
/** A voter whose clock is this close behind the event clock is heard recently, ms of event time. */
export const RECENT_MS = 15 * 60_000

/**
 * A sensor whose messages arrive this far behind the event clock has its readings refused as late
 * (longer than any reading window), ms of event time: tracked so /healthz can name it.
 */
export const BEHIND_MS = 60_000

/** How /healthz and /metrics name a voter: a sensor by its id; a phone never by its client or phone id (either may be a MAC or a name). */
export function senderLabel(voter: string | null): string {
  return voter === null || voter.startsWith('device:') || voter.startsWith('client:') ? 'a phone' : `sensor ${voter}`
}

/** Voters ranked by clock: bounds how many others a message must keep within `maxLeadMs` of. */
const TOP = 16

export class ClockGuard<T> {
  /** The newest time let through (the event clock follows it). */
  private admitted = -Infinity
  private arrivals = 0
  /** Per voter: its newest time let through (its clock), kept in order of last message. */
  private readonly voters = new Map<string, number>()
  /** The voters with the newest clocks, newest first (at most `TOP`). */
  private top: Array<{ id: string; ts: number }> = []
  /** Which of the other voters' clocks a message is judged against (1: the newest; see `othersClock`). */
  private rank = 1
  /** The event second `rank` was last worked out in. */
  private rankedAt = -Infinity
  private held: Array<Held<T>> = []
  /** Voters with held messages, and the newest time each claims. */
  private readonly heldVoters = new Map<string, number>()
  private heldSince = 0
  private far = false
  /** After a lone sender was taken: it goes on alone until another voter speaks (`null` voter: phones). */
  private lone: { voter: string | null } | null = null
  /**
   * The last sender taken alone, and the readings of others refused as late since: "quiet" is
   * counted in arrivals, so a burst of one sender can pass for a night (docs/limits.md); /healthz
   * says so when the others turn out to be behind it.
   */
  lastLone: { voter: string | null; late: number; lateAt: number } | null = null

  /** A reading was refused as late (behind the clock). */
  noteLate(): void {
    if (this.lastLone === null) return
    this.lastLone.late++
    this.lastLone.lateAt = Date.now()
  }
  /** Voters refused for running ahead: by how much, and when (wall ms). */
  readonly ahead = new Map<string, { aheadMs: number; at: number }>()
  /**
   * Site sensors whose last message arrived more than `BEHIND_MS` behind the event clock (a clock
   * that lags: every reading refused as late): by how much, how many such messages in a row, and
   * when the last came (wall ms). Bounded by the site's sensors; a message in time clears it.
   */
  readonly behind = new Map<string, { behindMs: number; messages: number; at: number }>()
  /** When the current hold began (wall ms): /healthz reports a hold that lasts. */
  heldSinceWall = 0

  /** `siteSensors`: how many sensors the site has. Without sensors phones vote; otherwise only sensors do. */
  constructor(
    private readonly o: GuardOptions,
    private readonly siteSensors: number
  ) {}

  /** Whether messages are held, waiting for the messages that decide them. */
  get pending(): boolean {
    return this.held.length > 0
  }
  /** Messages held now. */
  get heldCount(): number {
    return this.held.length
  }
  /** How long the current hold has lasted (wall ms); 0 when nothing is held. */
  get heldForMs(): number {
    return this.held.length === 0 ? 0 : this.o.wall() - this.heldSinceWall
  }

  /** /metrics: what is held and for how long, and by how much each refused voter ran ahead. */
  expose(metrics: Metrics): void {
    const held = metrics.gauge('instore_clock_held_messages', 'event mode: messages held until other sensors confirm or refuse their time')
    const since = metrics.gauge('instore_clock_held_seconds', 'event mode: how long the current hold has lasted (wall time)')
    const ahead = metrics.gauge('instore_clock_ahead_seconds', 'event mode: how far ahead of the other sensors a refused sender ran, last time')
    const behind = metrics.gauge('instore_clock_behind_seconds', 'event mode: how far behind the event clock a sensor sends (its readings refused as late), last time')
    metrics.onCollect(() => {
      held.set({}, this.held.length)
      since.set({}, Math.round(this.heldForMs / 1000))
      // Phone ids (a site without sensors) are many and come and go: one series for all of them.
      for (const [id, a] of this.ahead) ahead.set({ sender: id.startsWith('device:') || id.startsWith('client:') ? 'phones' : id }, Math.round(a.aheadMs / 1000))
      behind.values.clear()
      for (const [id, b] of this.behind) behind.set({ sender: id }, Math.round(b.behindMs / 1000))
    })
  }

  /**
   * Takes a message stamped `ts` (its newest time; null: none) from a site sensor (`sensor`) or a
   * phone (`device`), and says what may be taken in now and what is refused.
   */
  offer(item: T, ts: number | null, from: { sensor: string } | { device: string; client?: string }): Verdict<T> {
    this.arrivals++
    const voter = this.voterOf(from)
    if ('sensor' in from && ts !== null) this.noteBehind(from.sensor, ts)
    const out: Verdict<T> = { admit: [], refuse: [] }
    if (this.held.length === 0) {
      if (ts === null || this.fits(ts, voter)) {
        this.let(item, ts, voter, out)
        return out
      }
      this.far = this.isFar(ts, voter)
      this.heldSince = this.arrivals
      this.heldSinceWall = this.o.wall()
      this.hold(item, ts, voter, out)
      return this.decide(out)
    }
    if (ts !== null && voter !== null && !this.heldVoters.has(voter) && ts <= this.admitted + this.o.maxLeadMs) {
      // Another voter at the old time, after the held messages: they were one clock running ahead,
      // judged against the voters that are not held (a held voter may have raised the clock itself).
      this.resolve(Math.max(ts, this.clockOutside()), out)
      this.let(item, ts, voter, out)
      return out
    }
    if (ts !== null && this.isFar(ts, voter)) this.far = true
    this.hold(item, ts, voter, out)
    return this.decide(out)
  }

  /** Keeps track of a sensor sending behind the event clock (a message in time forgets it). */
  private noteBehind(sensor: string, ts: number): void {
    const behindMs = this.admitted - ts
    if (!(behindMs > BEHIND_MS)) {
      this.behind.delete(sensor)
      return
    }
    const b = this.behind.get(sensor)
    this.behind.set(sensor, { behindMs, messages: (b?.messages ?? 0) + 1, at: this.o.wall() })
  }

  /** A lead only a quorum takes: past `maxAheadMs` beyond the others (before any clock: beyond the wall clock). */
  private isFar(ts: number, voter: string | null): boolean {
    const others = this.othersClock(voter)
    if (others !== -Infinity) return ts > others + this.o.maxAheadMs
    return Number.isFinite(this.admitted) ? ts > this.admitted + this.o.maxAheadMs : ts > this.o.wall() + this.o.maxAheadMs
  }

  /**
   * A site sensor votes; a phone votes only on a site without sensors, once per MQTT client where
   * the broker says which client published (the embedded broker): one client publishing under
   * several phone ids is one voter. With `--auth` (the client id is not passed) and where the
   * broker does not say (an external broker), each phone id is one voter: sound with `--auth`,
   * where a phone logs in as `phone:<id>` and publishes its own topic only (docs/limits.md).
   */
  private voterOf(from: { sensor: string } | { device: string; client?: string }): string | null {
    if ('sensor' in from) return from.sensor
    if (this.siteSensors !== 0) return null
    return from.client !== undefined ? 'client:' + from.client.slice(0, CLIENT_KEY_CHARS) : 'device:' + from.device
  }

  /** Whether a message stamped `ts` may go in now, with nothing held. */
  private fits(ts: number, voter: string | null): boolean {
    // A sender alone (taken alone, or the others not heard lately) goes on a step at a time: each
    // message no more than `LONE_STEP_MS` past the clock at once (a heartbeat every few seconds),
    // a longer lead held again until `LONE_MESSAGES` messages with no other voter among them (it
    // would otherwise move the clock `maxAheadMs` a message while the others are quiet).
    if (this.lone !== null && this.lone.voter === voter && ts <= this.admitted + LONE_STEP_MS) return true
    const others = this.othersClock(voter)
    if (others !== -Infinity) return ts <= others + this.o.maxLeadMs
    // No clock yet: a first message near the wall clock waits for a second voter, unless it is the only one there can be.
    if (!Number.isFinite(this.admitted)) return ts < this.o.wall() - this.o.maxAheadMs || (ts <= this.o.wall() + this.o.maxAheadMs && this.quorum() <= 1)
    // No other voter heard recently while others were heard before (sensors still off after a
    // night): the sender goes on a step at a time, as one taken alone. No other voter heard yet (a
    // replay's first seconds): nothing says the sender is alone, so its lead is held like any other.
    return ts <= this.admitted + (this.othersKnown(voter) ? LONE_STEP_MS : this.o.maxLeadMs)
  }

  /** Whether a voter other than `voter` was ever heard (and is still remembered). */
  private othersKnown(voter: string | null): boolean {
    return this.voters.size > (voter !== null && this.voters.has(voter) ? 1 : 0)
  }

  /**
   * The clock of the other voters heard within RECENT_MS of the event clock: the `rank`-th newest
   * of them (the oldest of them if fewer), `rank` being the quorum less one. With a quorum of 2 it
   * is the newest other voter; with more, a message must stay within `maxLeadMs` of that many
   * others, so voters fewer than the quorum cannot leapfrog the clock by stamping in turn, each a
   * little past the other. Kept as voters speak: a site where thousands of phones vote costs no
   * scan per message.
   */
  private othersClock(voter: string | null): number {
    let found = -Infinity
    let n = 0
    for (const v of this.top) {
      if (v.ts < this.admitted - RECENT_MS) break
      if (v.id === voter) continue
      found = v.ts
      if (++n >= this.rank) break
    }
    return found
  }

  /** Works out `rank` once per second of event time (a scan of the voters: phones may be thousands). */
  private reRank(): void {
    const second = Math.floor(this.admitted / 1000)
    if (second === this.rankedAt) return
    this.rankedAt = second
    // Phones (a site without sensors) keep the newest other: a phone's clock is judged per phone.
    if (this.siteSensors === 0) return
    let heard = 0
    for (const ts of this.voters.values()) if (ts >= this.admitted - RECENT_MS) heard++
    const share = this.o.quorumShare ?? DEFAULT_QUORUM_SHARE
    this.rank = Math.min(TOP - 1, Math.max(1, Math.max(this.siteSensors === 1 ? 1 : 2, Math.ceil(share * heard)) - 1))
  }

  /** The clock of the voters heard recently that have no message held: the `rank`-th newest, as `othersClock`. */
  private clockOutside(): number {
    const times: number[] = []
    for (const [id, ts] of this.voters) if (!this.heldVoters.has(id) && ts >= this.admitted - RECENT_MS) times.push(ts)
    if (times.length === 0) return -Infinity
    times.sort((a, b) => b - a)
    return times[Math.min(this.rank, times.length) - 1]
  }

  /** Distinct voters that must agree to move the clock past the others. */
  private quorum(): number {
    const heard = new Set<string>(this.heldVoters.keys())
    for (const [id, ts] of this.voters) if (ts >= this.admitted - RECENT_MS) heard.add(id)
    const least = this.siteSensors === 1 ? 1 : 2
    const share = this.o.quorumShare ?? DEFAULT_QUORUM_SHARE
    return Math.max(least, Math.ceil((this.siteSensors === 0 ? Math.max(share, PHONE_QUORUM_SHARE) : share) * heard.size))
  }

  private hold(item: T, ts: number | null, voter: string | null, out: Verdict<T>): void {
    if (this.held.length >= MAX_HELD) {
      const old = this.held.shift() as Held<T>
      out.refuse.push({ item: old.item, aheadMs: (old.ts ?? this.admitted) - this.admitted })
    }
    this.held.push({ item, ts, voter })
    if (voter !== null && ts !== null) this.heldVoters.set(voter, Math.max(ts, this.heldVoters.get(voter) ?? -Infinity))
  }

  /** A quorum of voters ahead takes the jump; a lone sender's short lead after a few messages. */
  private decide(out: Verdict<T>): Verdict<T> {
    if (this.heldVoters.size >= this.quorum()) {
      // The lower median of what the voters claim: a voter far ahead cannot pull it.
      const times = [...this.heldVoters.values()].sort((a, b) => a - b)
      this.resolve(times[Math.floor((times.length - 1) / 2)], out)
    } else if (this.heldVoters.size <= 1 && this.arrivals - this.heldSince >= (this.far ? LONE_FAR_MESSAGES : LONE_MESSAGES)) {
      const voter = this.heldVoters.keys().next().value ?? null
      this.resolve(Infinity, out)
      this.lone = { voter }
      this.lastLone = { voter, late: 0, lateAt: 0 }
    }
    return out
  }

  /** Lets through the held messages up to `to` (plus the lead), in order; refuses the rest as running ahead of `to`. */
  private resolve(to: number, out: Verdict<T>): void {
    const held = this.held
    this.held = []
    this.heldVoters.clear()
    this.far = false
    for (const h of held) {
      if (h.ts === null || h.ts <= to + this.o.maxLeadMs) this.let(h.item, h.ts, h.voter, out)
      else {
        const aheadMs = h.ts - to
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
    if (this.lone !== null && voter !== this.lone.voter && voter !== null) this.lone = null
    if (voter !== null) {
      const clock = Math.max(ts, this.voters.get(voter) ?? -Infinity)
      this.voters.delete(voter)
      this.voters.set(voter, clock)
      this.place(voter, clock)
      if (this.voters.size > MAX_VOTERS) {
        const gone = this.voters.keys().next().value as string
        this.voters.delete(gone)
        if (this.top.some(v => v.id === gone)) this.rankTop()
      }
    }
    this.reRank()
  }

  /** Puts a voter's new clock in its place among the newest (clocks only rise). */
  private place(voter: string, clock: number): void {
    const i = this.top.findIndex(v => v.id === voter)
    if (i >= 0) this.top.splice(i, 1)
    else if (this.top.length >= TOP && clock <= this.top[TOP - 1].ts) return
    let j = 0
    while (j < this.top.length && this.top[j].ts >= clock) j++
    this.top.splice(j, 0, { id: voter, ts: clock })
    if (this.top.length > TOP) this.top.pop()
  }

  /** The newest voters, from scratch (after one of them was forgotten). */
  private rankTop(): void {
    this.top = []
    for (const [id, ts] of this.voters) this.place(id, ts)
  }
}
