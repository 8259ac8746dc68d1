// A bound on new stable BLE ids per sensor and minute (limits.md, "One transmitter can invent stable
// ids"). A stable id (an iBeacon, an alias, a public or static address) is taken for one person who
// may open visits, and nothing proves it is one: a single transmitter advertising a new iBeacon id
// every second looks like a stream of shoppers walking in. People walk in at a bounded rate, so a
// sensor hearing more new stable ids than newcomers.ts allows a place is flooded, and the ids it gives
// while flooded are taken for one anonymous device, the sender (a position and a count, never a
// visit): the flood is reported, and a shopper already admitted keeps their visit. Ids the gateway can prove are exempt: `app:`
// subjects (an EID the gateway resolved; a reading may not name itself `app:`, ingest.ts) and the
// `irk:` ids the site lists (`people.knownIrks`: ESPresense resolves a phone only with an identity key
// its operator configured, and names it `irk:<key>`). Any sender may write `irk:` in a reading, so an
// `irk:` id the store does not know is a stable id like any other.
import { NewcomerLimit } from './newcomers.ts'

/** What the ids taken for a flooding transmitter's are hashed as: one anonymous device for all of them. */
export const STABLE_ID_SENDER = 'stable-id-flood'
/** The same for the device ids a site's phone scans invent (a scan has no sensor: the site is one place). */
export const SCAN_ID_SENDER = 'scan-id-flood'
/** The place a site's phone scans count their new device ids at (newcomers.ts). */
export const SCAN_PLACE = 'phone-scans'
/** How long an id's verdict outlives its last reading, ms: past it, the id is new again. */
export const STABLE_ID_MEMORY_MS = 10 * 60_000
/** While this young, ms, every sensor that hears an id counts it as its newcomer (the first to hear it is luck of arrival order). */
const YOUNG_MS = 5_000
/** Most ids remembered: a transmitter inventing ids must not grow the map without bound. */
const MAX_IDS = 50_000

/** How often a refused id heard again is re-examined, ms. */
const RETRY_MS = 1_000

interface Verdict {
  ok: boolean
  first: number
  last: number
  /** Sensors that counted the id as their newcomer (while young). */
  sensors: string[]
  /** Of them, those that admitted it: the id is one person if most of the sensors hearing it do. */
  yes: number
  /** When a refused id was last re-examined, ms. */
  retried: number
}

export class StableIdGate {
  readonly newcomers: NewcomerLimit<string>
  private readonly ids = new Map<string, Verdict>()
  private lastTs = 0
  private readonly knownIrks: ReadonlySet<string>

  /**
   * `perMin`: new stable ids one sensor (or the site's phone scans) may give in a minute
   * (people.newBleDevicesPerSectorMin); `knownIrks`: the `irk:` ids the store configured (people.knownIrks).
   */
  constructor(perMin: number, knownIrks: readonly string[] = []) {
    this.newcomers = new NewcomerLimit(perMin)
    this.knownIrks = new Set(knownIrks.map(k => k.toLowerCase()))
  }

  /** Whether the gateway can prove `subject` is one person: an EID it resolved, or a phone of a key the store configured. */
  proven(subject: string): boolean {
    return subject.startsWith('app:') || (subject.startsWith('irk:') && this.knownIrks.has(subject.toLowerCase()))
  }

  /** Whether a stable `subject` heard by `sensor` at `ts` may be one person (open visits); false: an anonymous device. */
  admit(subject: string, sensor: string, ts: number): boolean {
    if (this.proven(subject)) return true
    if (ts > this.lastTs) this.lastTs = ts
    let v = this.ids.get(subject)
    if (v === undefined) {
      this.prune(ts)
      v = { ok: true, first: ts, last: ts, sensors: [], yes: 0, retried: ts }
      this.ids.set(subject, v)
    }
    if (ts > v.last) v.last = ts
    if (ts - v.first <= YOUNG_MS && !v.sensors.includes(sensor)) {
      v.sensors.push(sensor)
      // By the majority of the sensors that hear it: a shopper heard by all of them is not the flood's
      // because one sensor beside a flooding transmitter refuses every new id.
      if (this.newcomers.admit(sensor, ts, () => {})) {
        this.newcomers.made(sensor, ts, subject)
        v.yes++
      }
      v.ok = 2 * v.yes > v.sensors.length
    } else if (!v.ok && ts - v.retried >= RETRY_MS && !this.newcomers.busy(sensor, ts)) {
      // Refused, still heard, and the sensor hearing it is no longer flooded: a newcomer again, within
      // the normal rate (every re-examination counts as an attempt, so a flood heard again stays bounded).
      v.retried = ts
      if (this.newcomers.admit(sensor, ts, () => {})) {
        this.newcomers.made(sensor, ts, subject)
        v.ok = true
      }
    }
    return v.ok
  }

  /** New stable ids taken for a flooding transmitter's since start. */
  get refused(): number {
    return this.newcomers.refused
  }

  /**
   * Sensors flooded with new stable ids at `now` (the gateway's clock), or at the newest reading's
   * time if that is later. Not at the newest reading's alone: when a flood stops at once and only
   * app phones or nothing is heard after it, that time stands still and the flood would be reported
   * for as long.
   */
  flooded(now = -Infinity): string[] {
    return this.newcomers.flooded(Math.max(this.lastTs, now))
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

/**
 * The subject a phone scan's beacons are taken for: its device, unless the device id is new while the
 * site's scans are flooded (one MQTT client naming a new device each second is not a stream of
 * shoppers): then the one anonymous device standing for the sender. A randomized device is anonymous
 * already, an `app:` device proven.
 */
export function scanDevice(
  r: { device: string; randomized: boolean; beacons: readonly unknown[] },
  ts: number,
  gate: StableIdGate,
  hasher: { anonymous(id: string): string },
  randomized: Set<string>
): string {
  if (r.beacons.length === 0) return r.device
  if (r.randomized) randomized.add(r.device)
  if (r.randomized || gate.admit(r.device, SCAN_PLACE, ts)) return r.device
  const sender = hasher.anonymous(SCAN_ID_SENDER)
  randomized.add(sender)
  return sender
}
