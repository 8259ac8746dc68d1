// A bound on new stable BLE ids per sensor and minute (limits.md, "One transmitter can invent stable
// ids"). A stable id (an iBeacon, an alias, a public or static address) is taken for one person who
// may open visits, and nothing proves it is one: a single transmitter advertising a new iBeacon id
// every second looks like a stream of shoppers walking in. People walk in at a bounded rate, so a
// sensor hearing more new stable ids than newcomers.ts allows a place is flooded, and the ids it gives
// while flooded are taken for one anonymous device, the sender (a position and a count, never a
// visit): the flood is reported, and a shopper already admitted keeps their visit. Ids the gateway can prove are exempt: `app:`
// subjects (an EID the gateway resolved; a reading may not name itself `app:`, ingest.ts) and `irk:`
// (ESPresense resolved the phone with an identity key its operator configured).
import { NewcomerLimit } from './newcomers.ts'

/** What the ids taken for a flooding transmitter's are hashed as: one anonymous device for all of them. */
export const STABLE_ID_SENDER = 'stable-id-flood'
/** How long an id's verdict outlives its last reading, ms: past it, the id is new again. */
export const STABLE_ID_MEMORY_MS = 10 * 60_000
/** While this young, ms, every sensor that hears an id counts it as its newcomer (the first to hear it is luck of arrival order). */
const YOUNG_MS = 5_000
/** Most ids remembered: a transmitter inventing ids must not grow the map without bound. */
const MAX_IDS = 50_000
const PROVEN = /^(app|irk):/

interface Verdict {
  ok: boolean
  first: number
  last: number
  /** Sensors that counted the id as their newcomer (while young). */
  sensors: string[]
}

export class StableIdGate {
  readonly newcomers: NewcomerLimit<string>
  private readonly ids = new Map<string, Verdict>()
  private lastTs = 0

  /** `perMin`: new stable ids one sensor may give in a minute (people.newBleDevicesPerSectorMin). */
  constructor(perMin: number) {
    this.newcomers = new NewcomerLimit(perMin)
  }

  /** Whether a stable `subject` heard by `sensor` at `ts` may be one person (open visits); false: an anonymous device. */
  admit(subject: string, sensor: string, ts: number): boolean {
    if (PROVEN.test(subject)) return true
    if (ts > this.lastTs) this.lastTs = ts
    let v = this.ids.get(subject)
    if (v === undefined) {
      this.prune(ts)
      v = { ok: true, first: ts, last: ts, sensors: [] }
      this.ids.set(subject, v)
    }
    if (ts > v.last) v.last = ts
    if (ts - v.first <= YOUNG_MS && !v.sensors.includes(sensor)) {
      v.sensors.push(sensor)
      // Refused at one sensor: a young id is the flood's, wherever it was heard first.
      if (this.newcomers.admit(sensor, ts, () => {})) this.newcomers.made(sensor, ts, subject)
      else v.ok = false
    }
    return v.ok
  }

  /** New stable ids taken for a flooding transmitter's since start. */
  get refused(): number {
    return this.newcomers.refused
  }

  /** Sensors flooded with new stable ids at the newest reading's time. */
  flooded(): string[] {
    return this.newcomers.flooded(this.lastTs)
  }

  get size(): number {
    return this.ids.size
  }

  /** Forgets ids silent past the memory, oldest first; a few per call, and the oldest past the bound. */
  private prune(ts: number): void {
    let n = 0
    for (const [k, v] of this.ids) {
      if (n++ >= 4 && this.ids.size < MAX_IDS) break
      this.ids.delete(k)
      // Heard since: to the back of the line, verdict kept.
      if (ts - v.last <= STABLE_ID_MEMORY_MS && this.ids.size < MAX_IDS - 1) this.ids.set(k, v)
    }
  }
}
