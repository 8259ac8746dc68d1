// The day's visitors (people.ts): how many by source, per local hour of arrival, and the dwell of
// Wi-Fi visitors, kept by the store's local day. They are saved in the gateway's state (the
// `learned` table, keyed by the day) as they change, so that a gateway restarted during the day
// continues today's counts instead of starting them again from zero. Who was counted (app
// subjects, Wi-Fi and anonymous BLE addresses, hashed) is kept beside them (the store's
// `people_counted` table, erased with its subject, other days' rows dropped), so that a device
// present across the restart is not counted again.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { localTime } from '../../shared/local-time.ts'
import { dwellSummary, type Visitors, type BleChain } from './people-types.ts'

const MAX_DWELLS = 100_000
const NAME = 'people-day'

/** Where the day's counts are kept across restarts (GatewayStore's learned state), and who was counted. */
export interface DayKeeper {
  saveLearned: (name: string, key: string, state: string, ts: number) => void
  loadLearned: (name: string) => { key: string; state: string; ts: number } | null
  /** A subject counted as a visitor on a day (erased with its subject), and those of a day (the others' go). */
  keepCounted?: (subject: string, day: string) => void
  counted?: (day: string, max: number) => string[]
  /** The day's counts with who was counted and taken back since the last save, in one transaction. */
  saveDay?: (name: string, key: string, state: string, ts: number, day: string, counted: string[], uncounted: string[]) => void
}

/** Subjects kept as counted today at most (a hypermarket's day of app phones, Wi-Fi and BLE addresses). */
const MAX_COUNTED = 200_000

const Count = Type.Integer({ minimum: 0, maximum: 1e9 })
/** What is kept of a day: counts only, no subject (nothing in it to erase). */
export const PeopleDayState = Type.Object(
  {
    v: Type.Literal(1),
    wifi: Count,
    ble: Count,
    app: Count,
    byHour: Type.Record(Type.String({ pattern: '^[0-2][0-9]$' }), Type.Number({ minimum: 0, maximum: 1e9 }), { additionalProperties: false }),
    dwellsS: Type.Array(Type.Number({ minimum: 0, maximum: 1e7 }), { maxItems: MAX_DWELLS })
  },
  { additionalProperties: false }
)
export type PeopleDayStateT = Static<typeof PeopleDayState>
const check = TypeCompiler.Compile(PeopleDayState)

export class PeopleDay {
  date = ''
  wifi = 0
  ble = 0
  /** App subjects counted today, and app visitors counted before a restart (their subjects are taken up in `before`). */
  readonly apps = new Set<string>()
  /**
   * Subjects (app phones, Wi-Fi and anonymous BLE addresses) counted as visitors today by an earlier
   * run: one present across a restart is not counted again. A Wi-Fi phone that rotates its address
   * is known again only by an address it used before the restart.
   */
  readonly before = new Set<string>()
  private kept = 0
  /**
   * Counted and taken back since the last save: written with the counts in one save, so that after
   * a crash the kept rows and the kept counts agree (a visitor in neither is counted again).
   */
  private readonly pendingCounted = new Set<string>()
  private readonly pendingUncounted = new Set<string>()
  private appsBefore = 0
  private readonly byHour = new Map<string, number>()
  private dwellsS: number[] = []
  private dirty = false
  private savedAt = -Infinity
  /** Whether the counts were taken up from an earlier run today (for tests and logs). */
  restored = false
  /**
   * The store whose days these are (set by the pipeline): a kept day is taken up only when saved
   * for this store, so a data folder started with another site never inherits its visitors.
   */
  place = ''
  /** Told when a kept day of another store (or saved before days carried their store) is dropped. */
  onMisfit: ((saved: string, wanted: string) => void) | null = null

  /** Keeps the days as the store's, warning of a kept day that is another store's. */
  keep(place: string, log: { warn: (msg: string, fields: Record<string, unknown>) => void }): void {
    this.place = place
    this.onMisfit = (saved, wanted) => log.warn("today's visitors kept for another store: dropped, counting from zero", { saved, wanted })
  }

  constructor(
    private readonly timezone: string,
    private readonly keeper: DayKeeper | null = null,
    /** Saved at most this often while they change, ms of event time. */
    private readonly saveEveryMs = 10_000
  ) {}

  /** Moves to the local day of t: a new day starts from zero, or from what an earlier run kept of it. */
  roll(t: number): void {
    const d = localTime(t, this.timezone).date
    if (d === this.date) return
    this.date = d
    this.wifi = 0
    this.ble = 0
    this.apps.clear()
    this.before.clear()
    this.kept = 0
    this.appsBefore = 0
    this.byHour.clear()
    this.dwellsS = []
    this.dirty = false
    this.pendingCounted.clear()
    this.pendingUncounted.clear()
    this.restored = this.restore(d)
    // Who an earlier run counted today, if its counts are today's too (else they would be left out of both).
    if (this.restored) for (const s of this.keeper?.counted?.(this.key(d), MAX_COUNTED) ?? []) this.before.add(s)
    else this.keeper?.counted?.('', 0)
    this.kept = this.before.size
  }

  /** Whether an earlier run today counted this subject as a visitor. */
  countedBefore(subject: string): boolean {
    return this.before.has(subject)
  }

  /** A subject counted as a visitor today: kept, so that a restart today does not count it again. */
  markCounted(subject: string): void {
    if (this.keeper?.keepCounted === undefined || this.kept >= MAX_COUNTED || this.date === '') return
    this.kept++
    this.pendingUncounted.delete(subject)
    this.pendingCounted.add(subject)
    this.dirty = true
  }

  /** A subject counted today taken back (a fixture, a flooding sender's): its row goes with the next save. */
  unmarkCounted(subject: string): void {
    if (this.keeper?.keepCounted === undefined || this.date === '') return
    this.kept = Math.max(0, this.kept - 1)
    if (!this.pendingCounted.delete(subject)) this.pendingUncounted.add(subject)
    this.dirty = true
  }

  /** An anonymous BLE device placed in a shop: a visitor the first time today. Hours hold Wi-Fi devices (scaled to people when read): it weighs `perPerson` of them. */
  countBle(c: BleChain, t: number, perPerson: number): void {
    if (c.shop === null || c.countedDay === this.date || this.countedBefore(c.address)) return
    c.countedDay = this.date
    this.markCounted(c.address)
    c.countedTs = t
    this.ble++
    this.addHour(t, perPerson)
  }

  /** A chain counted a visitor today taken for a flooding sender's after all. */
  uncountBle(c: BleChain, perPerson: number): void {
    if (c.countedDay !== this.date) return
    c.countedDay = ''
    this.unmarkCounted(c.address)
    this.ble = Math.max(0, this.ble - 1)
    this.addHour(c.countedTs, -perPerson)
  }

  /** Forgets a subject (erasure; the store erases its row, and a row not written yet never is). */
  forget(subject: string): void {
    this.before.delete(subject)
    this.pendingCounted.delete(subject)
    this.pendingUncounted.delete(subject)
  }

  hour(ts: number): string {
    return String(Math.floor(localTime(ts, this.timezone).minutes / 60)).padStart(2, '0')
  }

  /** Adds `by` (negative: takes back, never below zero) to the hour of ts. */
  addHour(ts: number, by: number): void {
    const h = this.hour(ts)
    this.byHour.set(h, Math.max(0, (this.byHour.get(h) ?? 0) + by))
    this.dirty = true
  }

  addDwell(s: number): void {
    if (this.dwellsS.length < MAX_DWELLS) this.dwellsS.push(s)
    this.dirty = true
  }

  /** Takes back one dwell entry of s (a visitor taken back); none such: nothing. */
  removeDwell(s: number): void {
    const i = this.dwellsS.lastIndexOf(s)
    if (i < 0) return
    this.dwellsS.splice(i, 1)
    this.dirty = true
  }

  changed(): void {
    this.dirty = true
  }

  /** At a stop: what changed since the last save is saved now (a restart the same day continues it). */
  flush(): void {
    if (Number.isFinite(this.lastT)) this.save(this.lastT, true)
  }

  appVisitors(): number {
    return this.appsBefore + this.apps.size
  }

  /** The event time of the last count, for a save at stop. */
  private lastT = -Infinity

  /**
   * Saves the day's counts when they changed, at most every `saveEveryMs` unless `now` (a stop).
   * A clock stepped back is no reason to wait: the throttle holds only within saveEveryMs either side.
   */
  save(t: number, now = false): void {
    this.lastT = Math.max(this.lastT, t)
    if (this.keeper === null || !this.dirty || (!now && Math.abs(t - this.savedAt) < this.saveEveryMs) || this.date === '') return
    this.savedAt = t
    this.dirty = false
    const s: PeopleDayStateT = {
      v: 1,
      wifi: this.wifi,
      ble: this.ble,
      app: this.appVisitors(),
      byHour: Object.fromEntries(this.byHour),
      dwellsS: this.dwellsS.map(x => Math.round(x))
    }
    const counted = [...this.pendingCounted]
    const uncounted = [...this.pendingUncounted]
    this.pendingCounted.clear()
    this.pendingUncounted.clear()
    const k = this.keeper
    if (k.saveDay) k.saveDay(NAME, this.key(this.date), JSON.stringify(s), t, this.key(this.date), counted, uncounted)
    else {
      for (const c of counted) k.keepCounted?.(c, this.key(this.date))
      k.saveLearned(NAME, this.key(this.date), JSON.stringify(s), t)
    }
  }

  /** The day's visitors, Wi-Fi devices scaled by `k` people a device. */
  visitors(k: number): Visitors {
    const wifi = Math.round(this.wifi * k)
    const byHour: Record<string, number> = {}
    for (const [h, n] of [...this.byHour].sort()) if (n > 0) byHour[h] = Math.round(n * k)
    const app = this.appVisitors()
    return { visitors: wifi + app + this.ble, visitorsByHour: byHour, wifiVisitors: wifi, appVisitors: app, bleVisitors: this.ble, dwell: dwellSummary(this.dwellsS) }
  }

  /** What a day is kept under: the store and its local date. */
  private key(d: string): string {
    return `${this.place}/${d}`
  }

  /** Takes up what an earlier run kept of day d; anything that does not read as a day's counts is left (start from zero). */
  private restore(d: string): boolean {
    const saved = this.keeper?.loadLearned(NAME)
    if (!saved) return false
    if (saved.key !== this.key(d)) {
      // Another day of this store is simply over; a day kept for another store (or without one) is not ours.
      if (!saved.key.startsWith(`${this.place}/`)) this.onMisfit?.(saved.key, this.key(d))
      return false
    }
    let s: unknown
    try {
      s = JSON.parse(saved.state)
    } catch {
      return false
    }
    if (!check.Check(s)) return false
    this.wifi = s.wifi
    this.ble = s.ble
    this.appsBefore = s.app
    for (const [h, n] of Object.entries(s.byHour)) this.byHour.set(h, n)
    this.dwellsS = [...s.dwellsS]
    // The save throttle runs on this run's own saves: a kept day stamped later than this run's
    // clock (a clock set back, a replay) must not hold every periodic save off until then.
    this.savedAt = -Infinity
    return true
  }
}
