// People now, from every source (contract §4, amended): app phones with zone state, anonymous BLE
// devices (rotating addresses, unresolvable EIDs) by their positions, and Wi-Fi phones as devices
// (wifi-devices.ts) with fixtures left out, passers-by counted apart, and a phone that walks with
// an app phone counted once, under the app. Also the day's visitors, per hour, and the dwell of
// Wi-Fi visitors, from the same classification. See docs/people-counting.md for the method.
import type { Site } from '../../shared/site.ts'
import { WifiDevices, RATE_WINDOW_MS, type WifiDevice, type WifiObservation, type AppPositions, type FixtureKeeper } from './wifi-devices.ts'
import type { SensorModel } from '../estimation/radio-model.ts'
import { type PeopleSource, type Counts, type PeopleNow, type Placed, type Visitors, type PeopleOptions, type Suspicious, plausibleStay } from './people-types.ts'
import { BleChains } from './ble-chains.ts'
import { capacities, boundShares, type Capacities, type Share } from './people-capacity.ts'
import { PeopleDay, type DayKeeper } from './people-day.ts'
import { SingleOdds } from './people-singles.ts'
import { BeyondOdds } from './people-beyond.ts'
import { InsideOdds } from './people-inside.ts'
import { DayPieces } from './people-pieces.ts'
import { LongStay } from './people-stays.ts'
import { ColdStart } from './people-cold.ts'
import { deviceState, chainPhones } from './people-classify.ts'
import { LearnedKeeping, learnedKey, type LearnedParts } from './people-learned.ts'
import { VisitDwell } from './people-dwell.ts'

export {
  peopleOptions,
  wifiModels,
  dwellSummary,
  type PeopleSource,
  type Counts,
  type PeopleNow,
  type Placed,
  type DwellSummary,
  type Visitors,
  type PeopleOptions
} from './people-types.ts'

const MAX_DWELLS = 100_000
/** `countedDay` of a device not counted as a visitor that day because its place was full. */
const EXCESS = 'excess '
/** `countedDay` of a device an earlier run counted as a visitor that day (before a restart). */
const BEFORE = 'before '

export class People {
  readonly wifi: WifiDevices
  /** Today's visitors by source and hour, and Wi-Fi visitors' dwell (kept across restarts). */
  readonly day: PeopleDay
  /** Anonymous BLE devices chained across their addresses. */
  readonly ble: BleChains
  /** The longest plausible visit, learned from completed stays of Wi-Fi devices (people-stays.ts). */
  private readonly stay: LongStay
  /** Devices counted in a shop whose stay is not learned yet (it is when no burst can continue them). */
  private readonly staying = new Set<WifiDevice>()
  /** Wi-Fi devices counted in a shop and not yet gone. */
  private readonly inside = new Set<WifiDevice>()
  /** Wi-Fi visitors' visits, one dwell entry each (people-dwell.ts). */
  private readonly dwell: VisitDwell
  private appPositions: Array<{ subject: string; x: number; y: number; floor: number }> = []
  private readonly zero: () => Counts
  /** The time of the last count. */
  private lastNow = 0
  /** What each place can hold (people-capacity.ts), the excess each held at the last count, and the sensors full then. */
  private readonly cap: Capacities
  private excess: Array<{ level: 'sensor' | 'shop' | 'sector'; place: string; n: number }> = []
  private full = new Set<string>()
  /** What one burst inside is worth now, learned from what followed the recent ones (people-singles.ts). */
  readonly singles: SingleOdds
  /** What a burst placed just outside a shop is worth now, learned per patch of ground (people-beyond.ts). */
  readonly outside: BeyondOdds
  /** Where one loud burst inside is evidence of a visit, learned per patch of ground (people-inside.ts). */
  readonly entered: InsideOdds
  /** Today's visitors that may be a rotating fixture's pieces: taken back when its spot is learned (people-pieces.ts). */
  private readonly pieces = new DayPieces()
  /** Devices not counted as visitors because their sensor's neighbourhood was full, since start. */
  excessVisitors = 0
  /** After a start with nothing learned: the devices heard from the start weigh what the store's being open does (people-cold.ts). */
  readonly cold: ColdStart
  /** Fixture spots, places heard day and night and stays, kept across restarts (people-learned.ts). */
  readonly learned: LearnedKeeping

  constructor(
    site: Site,
    wifiModels: Map<string, SensorModel>,
    private readonly o: PeopleOptions,
    hashAddress: (mac: string) => string,
    keeper?: FixtureKeeper & DayKeeper,
    fps?: LearnedParts['fps']
  ) {
    this.day = new PeopleDay(site.timezone, keeper ?? null)
    this.dwell = new VisitDwell(this.day, o.presenceMs + o.maxLinkGapMs, o.meanProbeIntervalMs)
    const p = site.file.people ?? {}
    const subject = (s: string) => (s.startsWith('h:') ? s : hashAddress(s))
    const apps: AppPositions = () => this.appPositions
    this.wifi = new WifiDevices(site, wifiModels, o, apps, (p.fixtures ?? []).map(subject), new Set((p.notFixtures ?? []).map(subject)))
    this.wifi.onFixture = d => this.uncount(d)
    // Taken for a flooding sender's (newcomers.ts): never a visitor.
    this.wifi.onSuspect = d => this.uncount(d)
    // A device the linker drops (idle, evicted at its bound, erased) leaves the sets here too: each
    // is told once, so these stay within the linker's bound without a scan per call.
    this.wifi.onDrop = d => {
      this.inside.delete(d)
      this.dwell.drop(d)
      this.staying.delete(d)
      this.singles.drop(d)
      this.outside.drop(d)
      this.entered.drop(d)
      this.pieces.drop(d)
    }
    this.singles = new SingleOdds({ strong: 1, weak: o.singleWeight }, o.presenceMs)
    this.outside = new BeyondOdds(site, o.maxLinkDistanceM, o.presenceMs)
    this.entered = new InsideOdds(
      o.presenceMs,
      site.shops.map(s => s.id)
    )
    this.wifi.spots.onLearn = s => this.pieces.of(s, this.wifi.spots.radiusM, this.day.date).forEach(this.uncount, this)
    if (keeper) this.wifi.keepFixturesIn(keeper)
    this.ble = new BleChains(
      o,
      (c, t) => this.day.countBle(c, t, this.o.devicesPerPerson),
      c => this.day.uncountBle(c, this.o.devicesPerPerson)
    )
    this.stay = new LongStay(o.longStayPriorMs, o.longStayMinStays, o.longStayFactor, o.longStayFloorMs)
    this.learned = new LearnedKeeping(keeper ?? null, learnedKey(site), { spots: this.wifi.spots, places: this.wifi.modelSpots, stay: this.stay, fps, inside: this.entered })
    // A first start: no earlier run kept a state (one left unread, or with too few stays, still says the gateway ran before, most likely in open hours), nothing learned.
    this.cold = new ColdStart(!this.learned.found && this.wifi.learnedNothing() && !this.stay.learned(), o.maxLinkGapMs, o.coldQuietMs)
    this.cap = capacities(site, o.maxPeoplePerM2)
    this.zero = () => ({ shops: Object.fromEntries(site.shops.map(s => [s.id, 0])), sectors: Object.fromEntries(site.sectors.map(s => [s.id, 0])) })
  }

  observeWifi(w: WifiObservation): void {
    this.cold.seen(w.ts)
    this.wifi.observe(w)
  }

  /** Whether people counting holds a subject (a Wi-Fi address, an anonymous BLE address, an app). */
  holds(subject: string): boolean {
    return (
      this.wifi.holds(subject) || this.day.apps.has(subject) || this.day.countedBefore(subject) || this.appPositions.some(a => a.subject === subject) || this.ble.holds(subject)
    )
  }

  /**
   * Forgets a subject everywhere people counting holds it (erasure, consent withdrawn). A spot learned
   * from its addresses goes from the kept state at `saveErased()`, once for a slice of erasures.
   */
  forget(subject: string): void {
    // The devices dropped leave this side's sets through onDrop (today's pieces too, and one dropped before by its address).
    this.pieces.erase(subject, () => this.wifi.forget(subject) && this.learned.forgot())
    this.day.apps.delete(subject)
    this.day.forget(subject)
    this.appPositions = this.appPositions.filter(a => a.subject !== subject)
    this.ble.forget(subject)
  }

  /** After erasures (GatewayStore.erase, inside its transaction): the kept state rewritten if they changed it. */
  saveErased(): void {
    this.learned.saveErased(this.lastNow)
  }

  /** App phones' positions now, for pairing Wi-Fi phones with them. */
  setAppPositions(p: Array<{ subject: string; x: number; y: number; floor: number }>): void {
    this.appPositions = p
  }

  /** Places flooded at the last count (newcomers.ts), and the new addresses taken for a sender in all, by source. */
  suspicious(): Suspicious {
    const t = this.lastNow
    return {
      overCapacity: this.excess,
      excessVisitors: this.excessVisitors,
      flooded: [
        ...this.wifi.newcomers.flooded(t).map(place => ({ source: 'wifi' as const, place })),
        ...this.ble.newcomers.flooded(t).map(place => ({ source: 'ble' as const, place }))
      ],
      refused: { wifi: this.wifi.newcomers.refused, ble: this.ble.newcomers.refused }
    }
  }

  /** People now at time t: `apps` from zone state, `anonymous` BLE devices by position, Wi-Fi devices. */
  now(t: number, apps: Placed[], anonymous: Placed[], passersBy: number): PeopleNow {
    this.lastNow = t
    this.cold.seen(t)
    this.day.roll(t)
    this.wifi.flush(t)
    const src: Record<PeopleSource, Counts> = { app: this.zero(), ble: this.zero(), wifi: this.zero() }
    const sure = this.zero()
    const maybe = this.zero()
    const add = (c: Counts, p: { shop: string | null; sector: string | null }, by = 1) => {
      if (p.shop !== null && p.shop in c.shops) c.shops[p.shop] += by
      if (p.sector !== null && p.sector in c.sectors) c.sectors[p.sector] += by
    }
    let passers = passersBy
    for (const a of apps) {
      add(src.app, a)
      add(sure, a)
      if (a.shop !== null && !this.day.apps.has(a.subject) && this.day.apps.size < 1_000_000 && !this.day.countedBefore(a.subject)) {
        this.day.apps.add(a.subject)
        this.day.markCounted(a.subject)
        // Hours hold Wi-Fi devices (scaled to people when read): an app visitor weighs one person.
        this.day.addHour(t, this.o.devicesPerPerson)
      }
    }
    for (const a of this.ble.step(t, anonymous)) {
      if (a.shop === null) {
        passers++
        continue
      }
      add(src.ble, a)
      add(sure, a)
    }
    let fixtures = 0
    const k = 1 / this.o.devicesPerPerson
    // Each counted device's share, by the sensor loudest for its last burst (bounded below).
    const bySensor = new Map<string, Share[]>()
    const share = (at: NonNullable<WifiDevice['lastInShop']>, n: number, sure: number, maybe: number) => {
      const list = bySensor.get(at.sensor) ?? []
      list.push({ at, n, sure, maybe })
      bySensor.set(at.sensor, list)
    }
    // A learned rotating fixture's later pieces, left out as it is (not the phones of its model beside it).
    const spots = this.wifi.spotRadios(t)
    this.singles.settle(t)
    this.entered.settle(t)
    for (const d of this.wifi.devices) {
      const present = this.wifi.present(d, t)
      const state = !present ? 'gone' : spots.has(d) ? 'fixture' : deviceState(d, this.o)
      if (state === 'gone') this.inside.delete(d)
      // Over when no new address can continue it any more: a lapse in presence is not the end of a stay.
      if (t - d.lastTs > this.o.maxLinkGapMs && this.staying.delete(d) && plausibleStay(d, this.o)) this.stay.learn(d.lastTs - d.firstTs)
      if (!present || d.suspect) continue
      if (state === 'fixture') {
        // A piece counted in before it was known for the fixture's: no visit of its own to time.
        if (this.inside.delete(d)) this.staying.delete(d)
        this.dwell.takeBack(d)
        fixtures++
        // Unless a phone of its model beside it feeds its chain too: that phone counts.
        const extra = spots.has(d) && d.last === d.lastInShop ? this.wifi.spots.extraPhones(d, t, RATE_WINDOW_MS, this.o.meanProbeIntervalMs) : 0
        if (extra > 0 && d.lastInShop !== null) share(d.lastInShop, k * extra, 0, k * extra)
        continue
      }
      if (state === 'passer') {
        // On the street, leaving, or a shopper placed beyond a wall: what its patch's newcomers turned out to be (people-beyond.ts).
        const o = d.flood || d.pairedWith !== null ? null : this.outside.count(d, t, this.cold.weight(d, t))
        if (o !== null) share(o.at, k * o.w, 0, k)
        else passers++
        continue
      }
      // Counted under its app: the same person.
      if (d.pairedWith !== null) continue
      const at = d.lastInShop as NonNullable<WifiDevice['lastInShop']>
      // A counted visitor's visit goes on (a burst placed outside now and then is noise or the way out, not an exit).
      if (d.countedDay === this.day.date || d.countedDay === BEFORE + this.day.date) this.dwell.inShop(d, t)
      if (state === 'single') {
        // One burst taking over the stay of a device of its model gone quiet at its spot, a stay
        // longer than visits last: that one's next address (a fixture's, or a common model's that
        // passers-by keep bringing past the front), not a shopper just in. In the range only.
        if (t - this.wifi.stayStart(d, t) > this.stay.ms) {
          share(at, 0, 0, k)
          continue
        }
        // A single burst inside is a shopper just in (their second comes) or a passer-by placed
        // inside: it weighs the share of recent ones a second burst followed, by kind (a strong
        // one is most often a shopper at the door). At the wall, most likely a passer-by outside: in the range only.
        const kind = at.maxRssi >= this.o.strongDbm ? 'strong' : 'weak'
        if (at.depth >= this.o.edgeM) this.singles.watch(d, kind)
        const cw = this.cold.weight(d, t)
        share(at, at.depth < this.o.edgeM ? 0 : k * cw * this.singles.weight(kind), 0, k)
        // A short visit may give one burst only: a strong one inside counts as a visitor, not as here
        // now (at the wall too: a short visit's one burst is often at the door), where newcomers
        // placed there come in: not at the edge the street's or corridor's passers-by are placed at.
        if (at.maxRssi >= this.o.visitorSingleDbm) {
          this.entered.watch(d, at)
          if (cw === 1 && this.entered.evidence(at)) this.countVisitor(d, t)
        }
        continue
      }
      // Heard from a cold start, before the store was seen open: most likely always on, in the range
      // and not a visitor until the store is (people-cold.ts).
      const cw = this.cold.weight(d, t)
      if (!this.inside.has(d)) {
        this.cold.settled(d)
        this.arrived(d, t, cw === 1)
      } else if (cw === 1 && d.countedDay === '' && t - this.wifi.stayStart(d, t) <= this.stay.ms) this.countVisitor(d, t)
      // Here longer than visits last: most likely a fixture not learned yet (always on since the
      // gateway started, or a rotating one whose chain keeps breaking). In the range only. Unless its
      // bursts come faster than one phone's: then its chain has taken in several shoppers in
      // turn (same model, same place), and one of them at least is here.
      if (t - this.wifi.stayStart(d, t) > this.stay.ms && d.bursts * this.o.meanProbeIntervalMs <= t - d.firstTs) {
        share(at, 0, 0, k)
        continue
      }
      // The device standing for a flooded sensor's new addresses is one sender, however fast it sends.
      // A stable (global) address is one phone: its chain takes in no one else, however often it probes.
      const m = d.flood || d.stable ? 1 : chainPhones(d, t, this.o)
      // Heard within half the presence time: still here for sure; older, perhaps gone already.
      const recent = t - d.lastTs <= this.o.presenceMs / 2
      if (cw < 1) share(at, k * m * cw, 0, k * m)
      else share(at, k * m, recent ? k * m : 0, recent ? 0 : k * m)
    }
    this.dwell.settle(t)
    // No neighbourhood holds more than its floor can: beyond it, the excess (a sender keeping its addresses alive).
    const bounded = boundShares(bySensor, this.cap.sensors, this.cap.otherSensor)
    for (const s of bounded.shares) {
      add(src.wifi, s.at, s.n)
      add(sure, s.at, s.sure)
      add(maybe, s.at, s.maybe)
    }
    this.excess = [...bounded.excess].map(([place, n]) => ({ level: 'sensor' as const, place, n }))
    this.full = bounded.full
    const total = this.zero()
    const low = this.zero()
    const high = this.zero()
    const bySource = { app: this.zero(), ble: this.zero(), wifi: this.zero() }
    for (const level of ['shops', 'sectors'] as const) {
      for (const id of Object.keys(total[level])) {
        const n = src.app[level][id] + src.ble[level][id] + src.wifi[level][id]
        // Every source together, and each alone, no more than the place's floor can hold.
        const c = this.cap[level].get(id) ?? Infinity
        const over = Math.max(n, sure[level][id] + maybe[level][id]) - c
        if (over > 0) this.excess.push({ level: level === 'shops' ? 'shop' : 'sector', place: id, n: over })
        total[level][id] = Math.min(c, Math.round(n))
        low[level][id] = Math.min(total[level][id], Math.floor(sure[level][id]))
        high[level][id] = Math.min(c, Math.max(total[level][id], Math.ceil(sure[level][id] + maybe[level][id])))
        for (const s of ['app', 'ble', 'wifi'] as const) bySource[s][level][id] = Math.min(c, Math.round(src[s][level][id]))
      }
    }
    this.day.save(t)
    this.learned.save(t)
    return { ...total, low, high, bySource, passersBy: passers, fixtures }
  }

  /** Keeps today's counts as the store's, and warns of a kept learning left at start (people-learned.ts). */
  keep(place: string, log: { warn: (msg: string, fields: Record<string, unknown>) => void }): void {
    this.day.keep(place, log)
    if (this.learned.problem !== null) log.warn('people counting: what an earlier run learned was left, learning from nothing', { problem: this.learned.problem })
    if (this.learned.insideProblem !== null) log.warn('people counting: where loud single bursts are visits, kept before, was left', { problem: this.learned.insideProblem })
  }

  /** At a stop: today's counts saved now, not at the next save due. */
  flushDay(): void {
    this.day.flush()
    this.learned.save(this.lastNow, true)
  }

  private arrived(d: WifiDevice, t: number, visitor: boolean): void {
    this.inside.add(d)
    if (this.staying.size < MAX_DWELLS) this.staying.add(d)
    if (visitor) this.countVisitor(d, t)
  }

  private countVisitor(d: WifiDevice, t: number): void {
    if (d.countedDay === this.day.date || d.countedDay === EXCESS + this.day.date || d.countedDay === BEFORE + this.day.date) return
    // Counted by the run before a restart today, under the address it still uses.
    if (this.day.countedBefore(d.address)) {
      d.countedDay = BEFORE + this.day.date
      return
    }
    // A newcomer where the floor is full already: the excess, not a visitor (marked apart: nothing to take back).
    if (d.lastInShop !== null && this.full.has(d.lastInShop.sensor)) {
      this.excessVisitors++
      d.countedDay = EXCESS + this.day.date
      return
    }
    d.countedDay = this.day.date
    this.day.markCounted(d.address)
    this.day.wifi++
    this.day.addHour(t, 1)
    this.pieces.counted(d, this.day.date)
  }

  /** How many Wi-Fi devices people counting holds in its own sets (bounded by the linker's `maxDevices`). */
  held(): { inside: number; staying: number } {
    return { inside: this.inside.size, staying: this.staying.size }
  }

  /** The longest plausible visit now, ms (people-stays.ts). */
  longStay(): number {
    return this.stay.ms
  }

  /** A device counted as a visitor today that turns out to be a fixture (or a sender's invention) was never one. */
  private uncount(d: WifiDevice): void {
    this.inside.delete(d)
    this.staying.delete(d)
    this.dwell.takeBack(d)
    if (d.countedDay !== this.day.date || d.firstInShopTs === null) return
    d.countedDay = ''
    this.day.unmarkCounted(d.address)
    this.day.wifi = Math.max(0, this.day.wifi - 1)
    this.day.addHour(d.firstInShopTs, -1)
  }

  /** The day's visitors so far (fixtures and passers-by left out), per local hour, and Wi-Fi visitors' dwell. */
  visitors(t: number): Visitors {
    this.day.roll(t)
    return this.day.visitors(1 / this.o.devicesPerPerson)
  }
}
