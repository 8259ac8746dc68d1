// Wi-Fi probe requests → devices. A phone probes in bursts (a few frames within ~100 ms, every
// 30 s to a few minutes) and, with MAC randomization, often from a new address every burst, so
// an address is not a device. Stages per burst: assemble (frames of one address until it is quiet
// for `burstGapMs`) → locate (solver on the burst's per-sensor RSSI) → link (continue the device
// this new address most likely belongs to: 802.11 sequence continuity, the probe's capability
// fingerprint, timing and place) → classify (fixture, passer-by, visitor). A wrong link between
// two present phones swaps their histories but leaves the count alone: what the count needs is
// the decision "continues some present device" against "a new device".
import type { Site } from '../../shared/site.ts'
import type { SensorModel } from '../estimation/radio-model.ts'
import { NewcomerLimit, NEWCOMER_WINDOW_MS } from './newcomers.ts'
import { continuation } from './wifi-device-link.ts'
import { FixtureSpots } from './wifi-device-spots.ts'
import { ModelSpots } from './model-spots.ts'
import { locate } from '../../shared/site.ts'
import { locateBurst, type Pending } from './wifi-burst-locate.ts'
import { SLOT_MS, DAY_MS, RATE_WINDOW_MS, newWifiDevice, type WifiObservation, type Burst, type WifiDevice, type WifiDeviceOptions } from './wifi-device-types.ts'
export { RATE_WINDOW_MS, defaultWifiDeviceOptions, type WifiObservation, type Burst, type WifiDevice, type WifiDeviceOptions } from './wifi-device-types.ts'

/** Fixtures `/metrics` lists by address at most (a store has a few dozen always-on devices). */
export const MAX_FIXTURE_LABELS = 100

/** Durable place for learned fixtures' addresses (GatewayStore). */
export interface FixtureKeeper {
  keepFixture: (subject: string, until: number, now: number) => void
  fixtures: () => Array<{ subject: string; until: number }>
}

/** Present app phones' positions at the time of a burst (for pairing a Wi-Fi phone with its app). */
export type AppPositions = () => Iterable<{ subject: string; x: number; y: number; floor: number }>

export class WifiDevices {
  readonly devices = new Set<WifiDevice>()
  /** Devices dropped because `maxDevices` was reached. */
  evicted = 0
  private readonly byAddress = new Map<string, WifiDevice>()
  private readonly pending = new Map<string, Pending>()
  private readonly bounds: [number, number, number, number]
  /** Addresses the site file names as fixtures, and addresses learned to be (kept a week). */
  private readonly fixtureAddresses = new Map<string, number>()
  addresses = 0
  /** Learned rotating fixtures' models and spots: their later pieces are taken for them (wifi-device-spots.ts). */
  readonly spots: FixtureSpots
  /** Spots where a model is heard day and night whatever the address (model-spots.ts): fixture spots too. */
  readonly modelSpots: ModelSpots
  /** Called when a device is first classed a fixture. */
  onFixture: ((d: WifiDevice) => void) | null = null
  /** Called when devices made just before their sensor was flooded are taken for the sender's. */
  onSuspect: ((d: WifiDevice) => void) | null = null
  /** New devices per sensor and minute (newcomers.ts), and the device standing for each flooded sensor's newcomers. */
  readonly newcomers: NewcomerLimit<WifiDevice>
  private readonly floods = new Map<string, WifiDevice>()
  /** Suspect devices, with when their sensor's flood made them suspect. */
  private readonly suspected = new Map<WifiDevice, number>()
  /** Called when a device is dropped (idle, evicted at the bound, erased): whoever holds it lets it go. */
  onDrop: ((d: WifiDevice) => void) | null = null
  /** Where learned fixtures' addresses are kept across restarts (the gateway's state). */
  private keeper: FixtureKeeper | null = null

  constructor(
    private readonly site: Site,
    private readonly models: Map<string, SensorModel>,
    readonly o: WifiDeviceOptions,
    private readonly apps: AppPositions = () => [],
    fixed: Iterable<string> = [],
    private readonly notFixtures: ReadonlySet<string> = new Set()
  ) {
    const [x0, y0, x1, y1] = site.bbox
    this.bounds = [x0 - 10, y0 - 10, x1 + 10, y1 + 10]
    for (const a of fixed) this.fixtureAddresses.set(a, Infinity)
    this.newcomers = new NewcomerLimit(o.newDevicesPerSensorMin)
    this.spots = new FixtureSpots(o.maxLinkDistanceM / 2)
    this.modelSpots = new ModelSpots(o.maxLinkDistanceM / 2, o.fixtureCoverage, (x, y, floor) => locate(site, x, y, floor).shop !== null, this.spots)
  }

  /** One frame heard by one sensor. Bursts close on `flush`. */
  observe(w: WifiObservation): void {
    let p = this.pending.get(w.subject)
    if (p && w.ts - p.last > this.o.burstGapMs) {
      this.finish(w.subject, p)
      p = undefined
    }
    if (!p) {
      p = { first: w.ts, last: w.ts, randomized: w.randomized, seq: null, fp: null, sum: new Map() }
      this.pending.set(w.subject, p)
    }
    p.last = Math.max(p.last, w.ts)
    if (w.seq !== undefined) p.seq = w.seq
    if (w.fp !== undefined) p.fp = w.fp
    const s = p.sum.get(w.sensor) ?? { s: 0, n: 0, max: -Infinity }
    s.s += w.rssi
    s.n++
    s.max = Math.max(s.max, w.rssi)
    p.sum.set(w.sensor, s)
  }

  /** Closes the bursts quiet since `t - burstGapMs`, oldest first, and forgets idle devices. */
  flush(t: number): void {
    const done = [...this.pending].filter(([, p]) => t - p.last > this.o.burstGapMs).sort((a, b) => a[1].first - b[1].first)
    for (const [subject, p] of done) this.finish(subject, p)
    for (const d of this.devices) {
      const idle = t - d.lastTs
      if (idle > this.o.forgetMs + (d.fixture ? DAY_MS : 0)) this.drop(d)
    }
    for (const [a, d] of this.byAddress) if (!this.devices.has(d)) this.byAddress.delete(a)
    for (const [a, until] of this.fixtureAddresses) if (until < t) this.fixtureAddresses.delete(a)
    this.spots.forgetBefore(t)
    this.modelSpots.flush(t)
  }

  /** Present devices that are a learned rotating fixture's pieces (wifi-device-spots.ts): its learned piece, if present, and those following it. */
  spotRadios(t: number): Set<WifiDevice> {
    const present: WifiDevice[] = []
    for (const d of this.devices) if (this.present(d, t)) present.push(d)
    return this.spots.radios(present)
  }

  /**
   * Takes up the fixtures an earlier run learned and keeps those learned from now on. A fixture
   * with a stable address is known again from its first burst; one that rotates its address is
   * learned anew (its address then is not one kept).
   */
  keepFixturesIn(keeper: FixtureKeeper): void {
    this.keeper = keeper
    for (const f of keeper.fixtures()) if (!this.notFixtures.has(f.subject) && (this.fixtureAddresses.get(f.subject) ?? 0) < f.until) this.fixtureAddresses.set(f.subject, f.until)
  }

  /**
   * Whether no fixture was learned (kept from an earlier run) and no spot: a cold start (people-cold.ts).
   * Fixtures the site file names (kept without end) say nothing of the other always-on devices.
   */
  learnedNothing(): boolean {
    for (const until of this.fixtureAddresses.values()) if (until !== Infinity) return false
    return this.spots.spots.length === 0
  }

  /** The device a subject (an address, or an app subject it was paired with) is held in, if any. */
  holds(subject: string): boolean {
    if (this.pending.has(subject) || this.byAddress.has(subject) || this.fixtureAddresses.has(subject)) return true
    for (const d of this.devices) if (d.address === subject || d.pairedWith === subject || d.votes.has(subject)) return true
    return false
  }

  /**
   * Forgets a subject (erasure, consent withdrawn): its pending burst, the device it is the address
   * of, its learned fixture address and fixture spot, and any pairing with it as an app subject. Returns
   * whether a fixture spot learned from it went (the kept state changed); the devices dropped leave through onDrop.
   */
  forget(subject: string): boolean {
    this.pending.delete(subject)
    this.fixtureAddresses.delete(subject)
    const spot = this.spots.forgetSubject(subject)
    const dropped: WifiDevice[] = []
    for (const d of this.devices) {
      if (d.address === subject || this.byAddress.get(subject) === d) {
        dropped.push(d)
        continue
      }
      d.votes.delete(subject)
      if (d.pairedWith === subject) d.pairedWith = null
    }
    for (const d of dropped) this.drop(d)
    this.byAddress.delete(subject)
    return spot
  }

  /** Present: heard within `presenceMs`. */
  present(d: WifiDevice, t: number): boolean {
    return t - d.lastTs <= this.o.presenceMs
  }

  fixtures(): WifiDevice[] {
    return [...this.devices].filter(d => d.fixture)
  }

  /**
   * The fixtures `/metrics` lists by address (`instore_people_fixtures{subject}`): the `max` heard
   * last, and how many more there are (listed as `subject="other"`), so that the labels stay bounded
   * whatever a sender keeping many addresses alive for hours makes of them.
   */
  fixtureLabels(max = MAX_FIXTURE_LABELS): { listed: Array<{ subject: string }>; other: number } {
    const all = this.fixtures().sort((a, b) => b.lastTs - a.lastTs)
    return { listed: all.slice(0, max).map(d => ({ subject: d.address })), other: Math.max(0, all.length - max) }
  }

  private finish(subject: string, p: Pending): void {
    this.pending.delete(subject)
    const b = locateBurst(p, this.models, this.site, this.bounds)
    if (b === null) return
    let d = this.byAddress.get(subject)
    // An address heard again is the same radio: only a burst from a new address can be another phone's.
    const fresh = !d
    if (!d) {
      this.addresses++
      const link = p.randomized ? continuation(this.devices, b, this.o) : null
      d = link?.d ?? this.newcomer(subject, b, !p.randomized)
      if (link) {
        d.links++
        if (link.bySeq) {
          d.seqLinks++
          if (b.seq !== null && d.lastSeq !== null) d.seqJump = Math.max(d.seqJump, (b.seq - d.lastSeq + 4096) % 4096)
          d.recentBySeq.push(b.ts)
        }
        d.carries = d.seqLinks >= 2 && 2 * d.seqLinks > d.links
      }
      if (this.byAddress.get(d.address) === d) this.byAddress.delete(d.address)
      d.address = subject
      this.byAddress.set(subject, d)
    }
    if (d.suspect && !fresh) this.clearSuspect(d, b)
    this.add(d, b, fresh)
  }

  /** Heard again carrying its counter on, or past the flood's minute: not a sender's one-off (kept alive, capacity bounds them). */
  private clearSuspect(d: WifiDevice, b: Burst): void {
    const step = b.seq !== null && d.lastSeq !== null ? (b.seq - d.lastSeq + 4096) % 4096 : 0
    const since = this.suspected.get(d) ?? b.ts
    if (!(b.ts > d.lastTs && step > 0 && step <= this.o.maxSeqJump) && b.ts - since < NEWCOMER_WINDOW_MS) return
    d.suspect = false
    this.suspected.delete(d)
  }

  /** A new device, unless its sensor is flooded: then the device standing for that sensor's newcomers. */
  private newcomer(address: string, b: Burst, stable: boolean): WifiDevice {
    if (this.newcomers.admit(b.sensor, b.ts, recent => this.suspect(recent, b.ts))) {
      const d = this.newDevice(address, b, stable)
      this.newcomers.made(b.sensor, b.ts, d)
      return d
    }
    let f = this.floods.get(b.sensor)
    if (!f || !this.devices.has(f)) {
      // Stable: no other address continues it by linking, only by the flood.
      f = this.newDevice(address, b, true)
      f.flood = true
      this.floods.set(b.sensor, f)
    }
    return f
  }

  /** Devices its sensor gave within the minute before a flood and heard once: the sender's, most likely. A global address never is. */
  private suspect(recent: WifiDevice[], ts: number): void {
    for (const d of recent) {
      if (d.bursts > 1 || d.stable || d.fixture || d.suspect || !this.devices.has(d)) continue
      d.suspect = true
      this.suspected.set(d, ts)
      this.onSuspect?.(d)
    }
  }

  private newDevice(address: string, b: Burst, stable: boolean): WifiDevice {
    const before = stable ? null : this.stayBefore(b)
    const d = newWifiDevice(address, stable, b, before?.stayFrom ?? b.ts, before)
    this.devices.add(d)
    // Bounded whatever one sender does with rotating addresses: the oldest device goes first.
    if (this.devices.size > this.o.maxDevices) {
      this.drop(this.devices.values().next().value as WifiDevice)
      this.evicted++
    }
    return d
  }

  private drop(d: WifiDevice): void {
    this.devices.delete(d)
    this.suspected.delete(d)
    if (this.byAddress.get(d.address) === d) this.byAddress.delete(d.address)
    this.onDrop?.(d)
  }

  /** The device whose stay a new device's first burst continues (see `stayFrom`): a quiet device of its model, near, the longest staying. */
  private stayBefore(b: Burst): WifiDevice | null {
    let from = b.ts
    let of: WifiDevice | null = null
    if (b.fp === null) return null
    for (const d of this.devices) {
      if (d.stable || d.fp !== b.fp || d.last.floor !== b.floor || d.stayFrom >= from) continue
      const gap = b.ts - d.lastTs
      if (gap < this.o.minLinkGapMs || gap > this.o.stayGapMs) continue
      if (Math.hypot(b.x - d.sumX / d.bursts, b.y - d.sumY / d.bursts) <= this.o.maxLinkDistanceM / 2) {
        from = d.stayFrom
        of = d
      }
    }
    return of
  }

  /**
   * When a device's stay at its spot began, at t: a stay taken over from a device heard again since
   * (not gone: a phone of its model between two bursts) is not one, and the device's own stay begins
   * with its first burst.
   */
  stayStart(d: WifiDevice, t: number): number {
    const of = d.stayOf
    if (of === null) return d.stayFrom
    if (of.lastTs > d.firstTs) {
      d.stayFrom = d.firstTs
      d.stayOf = null
    } else if (t - of.lastTs > this.o.maxLinkGapMs || !this.devices.has(of)) d.stayOf = null
    return d.stayFrom
  }

  private add(d: WifiDevice, b: Burst, fresh: boolean): void {
    if (fresh) d.recent.push(b.ts)
    if (fresh && b.shop === null) d.recentOut.push(b.ts)
    while (d.recent.length > 0 && d.recent[0] < b.ts - RATE_WINDOW_MS) d.recent.shift()
    while (d.recentBySeq.length > 0 && d.recentBySeq[0] < b.ts - RATE_WINDOW_MS) d.recentBySeq.shift()
    while (d.recentOut.length > 0 && d.recentOut[0] < b.ts - RATE_WINDOW_MS) d.recentOut.shift()
    d.lastTs = Math.max(d.lastTs, b.ts)
    d.bursts++
    d.last = b
    d.sumX += b.x
    d.sumY += b.y
    if (b.seq !== null) d.lastSeq = b.seq
    if (b.fp !== null) d.fp = b.fp
    if (b.shop !== null) {
      d.inShop++
      d.lastInShop = b
      d.firstInShopTs ??= b.ts
      d.outRun = 0
    } else d.outRun++
    const slot = Math.floor(b.ts / SLOT_MS)
    d.slots.add(slot)
    for (const s of d.slots) if (s < slot - DAY_MS / SLOT_MS) d.slots.delete(s)
    if (!d.fixture && this.isFixture(d)) {
      d.fixture = true
      const until = b.ts + 7 * DAY_MS
      this.fixtureAddresses.set(d.address, until)
      this.keeper?.keepFixture(d.address, until, b.ts)
      this.spots.learn(d, until)
      this.onFixture?.(d)
    }
    // A sender's inventions (flooded, suspect) teach no spot.
    if (!d.stable && !d.flood && !d.suspect) this.modelSpots.observe(b)
    this.vote(d, b)
  }

  private isFixture(d: WifiDevice): boolean {
    if (this.notFixtures.has(d.address)) return false
    if (this.fixtureAddresses.has(d.address)) return true
    const span = d.lastTs - d.firstTs
    if (span < this.o.fixtureSpanMs) return false
    const slots = Math.min(span, DAY_MS) / SLOT_MS + 1
    return d.slots.size >= this.o.fixtureCoverage * slots
  }

  /** A burst near an app phone is a vote that both are one person's; a pair needs most bursts to agree. */
  private vote(d: WifiDevice, b: Burst): void {
    let best: string | null = null
    let bestD = this.o.pairRadiusM
    for (const a of this.apps()) {
      if (a.floor !== b.floor) continue
      const dist = Math.hypot(a.x - b.x, a.y - b.y)
      if (dist <= bestD) {
        bestD = dist
        best = a.subject
      }
    }
    if (best !== null) d.votes.set(best, (d.votes.get(best) ?? 0) + 1)
    let top: string | null = null
    let n = 0
    for (const [s, v] of d.votes)
      if (v > n) {
        n = v
        top = s
      }
    d.pairedWith = top !== null && n >= 2 && n >= 0.6 * d.bursts ? top : null
  }
}
