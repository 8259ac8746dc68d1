// The store simulator: turns a scenario into a time-ordered stream of trace lines (contract §7)
// plus the truth visits and sector stays. Same scenario and seed, same bytes.
import { createHash } from 'node:crypto'
import { Rng } from '../shared/rng.ts'
import { DEFAULT_K } from '../shared/eid.ts'
import type { DevicesFileT } from '../gateway/ingest/identity.ts'
import { locate, type SensorInfo } from '../shared/site.ts'
import type { TraceLine } from '../shared/trace.ts'
import type { LoadedScenario } from './scenario.ts'
import { RadioModel } from './radio.ts'
import { makePerson, makeFixture, planVisit, planPassBy, planFixture, positionAt, randomMac, type Person, type Trip, type WifiRadio } from './people.ts'

export interface TruthVisit {
  subject: string | null
  person: string
  kind: string
  shop: string
  enter: number
  exit: number
}
export interface TruthStay {
  subject: string | null
  person: string
  shop: string
  sector: string
  enter: number
  exit: number
}
export interface Truth {
  storeId: string
  windows: Array<[number, number]>
  visits: TruthVisit[]
  stays: TruthStay[]
  /** Phones whose Wi-Fi probes some sensor heard, per day (date of the window start, UTC). */
  wifiPhones: Record<string, number>
}

const TICK_MS = 50
const DAY_MS = 86_400_000

/** One probing radio's state during a trip. */
interface Probing {
  radio: WifiRadio
  nextProbe: number
  mac: string | null
  seq: number
  macRng: Rng
}

interface Active {
  trip: Trip
  hint: { i: number }
  nextAdv: number
  probes: Probing[]
}

export class Simulator {
  readonly truth: Truth
  private readonly rng: Rng
  private readonly radio: RadioModel
  private readonly bleSensors: SensorInfo[]
  private readonly wifiSensors: SensorInfo[]
  private readonly people = new Map<string, Person[]>()
  private personSeq = 0
  private readonly wifiHeard = new Set<string>()
  /** App phones that took part so far (their subjects), for `devices()`. */
  private readonly apps = new Set<string>()
  private readonly fixtures: Person[]

  constructor(private readonly loaded: LoadedScenario) {
    const { scenario, site } = loaded
    this.rng = new Rng(scenario.seed)
    this.radio = new RadioModel(loaded.radio, this.rng.fork('radio'), site.sensors.values())
    this.bleSensors = [...site.sensors.values()].filter(s => s.radios.includes('ble'))
    this.wifiSensors = [...site.sensors.values()].filter(s => s.radios.includes('wifi'))
    this.truth = { storeId: site.storeId, windows: [], visits: [], stays: [], wifiPhones: {} }
    for (const kind of ['regular', 'occasional'] as const) {
      const n = scenario.classes[kind].people
      this.people.set(
        kind,
        Array.from({ length: n }, (_, i) => makePerson(this.rng, `${kind}-${i}`, kind, scenario, site))
      )
    }
    this.fixtures = Array.from({ length: scenario.wifiDevices?.fixtures ?? 0 }, (_, i) => makeFixture(this.rng, `fixture-${i}`, scenario))
  }

  /**
   * The identities of the app phones simulated so far, as the server would have issued them: a
   * 16-byte identity key each (derived from the seed and subject, so the same scenario gives the
   * same keys and draws nothing from the simulation's random streams), K, and consent (all given).
   * Written beside the trace as `TRACE.devices.json`; replay turns each `app:` id into the EID
   * its phone advertises at that moment, and a standalone gateway resolves them with `--devices`.
   */
  devices(): DevicesFileT {
    const seed = String(this.loaded.scenario.seed)
    return [...this.apps].sort().map(subject => ({
      subject,
      key: createHash('sha256').update(`instore-sim-eid\0${seed}\0${subject}`).digest('hex').slice(0, 32),
      k: DEFAULT_K,
      consent: { presence: true, marketing: true }
    }))
  }

  /** Total simulated milliseconds, for progress reports. */
  get totalMs(): number {
    return this.loaded.scenario.days * this.loaded.scenario.durationS * 1000
  }

  *lines(): Generator<TraceLine> {
    const sc = this.loaded.scenario
    const t0 = Date.parse(sc.start)
    if (!Number.isFinite(t0)) throw new Error(`scenario start '${sc.start}' is not an ISO date-time`)
    for (let day = 0; day < sc.days; day++) {
      const w0 = t0 + day * DAY_MS
      const w1 = w0 + sc.durationS * 1000
      this.truth.windows.push([w0, w1])
      this.wifiHeard.clear()
      yield* this.window(day, w0, w1)
      this.truth.wifiPhones[new Date(w0).toISOString().slice(0, 10)] = this.wifiHeard.size
    }
  }

  private pickPerson(r: Rng, day: number): Person {
    const sc = this.loaded.scenario
    const u = r.next()
    const c = sc.classes
    const total = c.regular.visitShare + c.occasional.visitShare + c.oneTime.visitShare
    let kind: 'regular' | 'occasional' | 'oneTime' = 'oneTime'
    if (u * total < c.regular.visitShare) kind = 'regular'
    else if (u * total < c.regular.visitShare + c.occasional.visitShare) kind = 'occasional'
    const pool = this.people.get(kind)
    if (pool !== undefined && pool.length > 0) return r.pick(pool)
    return makePerson(this.rng, `one-${day}-${this.personSeq++}`, 'oneTime', sc, this.loaded.site)
  }

  private planTrips(day: number, w0: number, w1: number): Trip[] {
    const sc = this.loaded.scenario
    const site = this.loaded.site
    const r = this.rng.fork('day:' + day)
    const warm = sc.warmStart ? 3_600_000 : 0
    const trips: Trip[] = []
    const busyUntil = new Map<string, number>()
    if (sc.arrivalsPerHour > 0) {
      // A day's shape: arrivals at the peak rate, each kept with its hour's share of the peak.
      const profile = sc.arrivalProfile
      const peak = profile ? Math.max(...profile) : 1
      const rate = sc.arrivalsPerHour * peak
      for (let t = w0 - warm + r.exponential(3_600_000 / rate); t < w1; t += r.exponential(3_600_000 / rate)) {
        if (profile && !r.chance(profile[Math.max(0, Math.min(profile.length - 1, Math.floor((t - w0) / 3_600_000)))] / peak)) continue
        const person = this.pickPerson(r, day)
        // One person, one trip at a time: a regular already in the store does not arrive again.
        if ((busyUntil.get(person.id) ?? -Infinity) > t) continue
        const trip = planVisit(r, person, Math.round(t), sc, site)
        busyUntil.set(person.id, trip.end + 60_000)
        if (trip.end > w0) trips.push(trip)
      }
    }
    if (sc.passersByPerHour > 0) {
      for (let t = w0 - 600_000 + r.exponential(3_600_000 / sc.passersByPerHour); t < w1; t += r.exponential(3_600_000 / sc.passersByPerHour)) {
        const person = makePerson(this.rng, `pass-${day}-${this.personSeq++}`, 'passerBy', sc, site)
        const trip = planPassBy(r, person, Math.round(t), sc)
        if (trip.end > w0) trips.push(trip)
      }
    }
    for (const f of this.fixtures) trips.push(planFixture(f, w0, w1, site))
    trips.sort((a, b) => a.start - b.start || (a.person.id < b.person.id ? -1 : 1))
    for (const trip of trips) {
      this.recordTruth(trip)
      if (trip.person.bleId !== undefined) this.apps.add(trip.person.bleId)
    }
    return trips
  }

  /** Visits and sector stays from the path sampled at the truth interval. */
  private recordTruth(trip: Trip): void {
    const { person } = trip
    if (person.kind === 'passerBy' || person.kind === 'fixture') return
    const site = this.loaded.site
    const step = this.loaded.scenario.truthIntervalMs
    const subject = person.bleId ?? null
    let visit: { shop: string; enter: number } | null = null
    let stay: { shop: string; sector: string; enter: number } | null = null
    const hint = { i: 0 }
    // Whole trip, even the part outside the window: evaluation decides what a window can show.
    const from = Math.ceil(trip.start / step) * step
    const until = trip.end
    for (let t = from; t <= until + step; t += step) {
      const pos = t <= until ? positionAt(trip, t, hint) : null
      const here = pos ? locate(site, pos[0], pos[1], pos[2]) : { shop: null, sector: null }
      if (stay && (here.sector !== stay.sector || here.shop !== stay.shop)) {
        this.truth.stays.push({ subject, person: person.id, shop: stay.shop, sector: stay.sector, enter: stay.enter, exit: t })
        stay = null
      }
      if (visit && here.shop !== visit.shop) {
        this.truth.visits.push({ subject, person: person.id, kind: person.kind, shop: visit.shop, enter: visit.enter, exit: t })
        visit = null
      }
      if (!visit && here.shop) visit = { shop: here.shop, enter: t }
      if (!stay && here.shop && here.sector) stay = { shop: here.shop, sector: here.sector, enter: t }
    }
  }

  private *window(day: number, w0: number, w1: number): Generator<TraceLine> {
    const sc = this.loaded.scenario
    const storeId = this.loaded.site.storeId
    const trips = this.planTrips(day, w0, w1)
    const r = this.rng.fork('signals:' + day)
    const active: Active[] = []
    let next = 0
    const sensorIds = [...this.loaded.site.sensors.keys()]
    // In phone-scan mode an app phone's period is its scan interval, not its advertising interval.
    const scanning = this.loaded.radio.phoneScanHz > 0
    const advMs = 1000 / (scanning ? this.loaded.radio.phoneScanHz : this.loaded.radio.advHz)
    const [pLo, pHi] = this.loaded.radio.probeIntervalS
    let nextTruth = Math.ceil(w0 / sc.truthIntervalMs) * sc.truthIntervalMs
    const quiet = sc.quiet ? this.silences(day, w0, w1, sensorIds) : null
    let nextBeat = w0 + 1000 * (sc.quiet?.heartbeatDelayS ?? 0)
    // Frames of a burst and per-sensor delays spill past a tick: hold lines until no later
    // tick can produce an earlier timestamp, so the trace stays ordered by ts.
    let held: TraceLine[] = []
    for (let t = w0; t < w1; t += TICK_MS) {
      const tEnd = Math.min(t + TICK_MS, w1)
      while (next < trips.length && trips[next].start < tEnd) {
        const trip = trips[next++]
        const first = Math.max(trip.start, t)
        const p = trip.person
        const nextAdv = first + r.uniform(0, advMs)
        const probes: Probing[] = []
        if (p.wifi)
          probes.push({
            radio: p.wifi,
            nextProbe: first + 1000 * r.uniform(0, p.wifi.probeS?.[1] ?? pHi),
            mac: null,
            seq: r.int(0, 4096),
            macRng: r.fork('mac:' + p.id + ':' + trip.start)
          })
        else {
          r.uniform(0, pHi)
          r.int(0, 4096)
          r.fork('')
        } // the same draws as a probing phone: later trips stay as they were
        if (p.extraWifi)
          probes.push({ radio: p.extraWifi, nextProbe: first + 1000 * r.uniform(0, pHi), mac: null, seq: r.int(0, 4096), macRng: r.fork('mac2:' + p.id + ':' + trip.start) })
        active.push({ trip, hint: { i: 0 }, nextAdv, probes })
      }
      const out: TraceLine[] = []
      for (let i = active.length - 1; i >= 0; i--) {
        const a = active[i]
        if (a.trip.end < t) {
          this.radio.forget(a.trip.person.id, sensorIds)
          active.splice(i, 1)
          continue
        }
        const p = a.trip.person
        if (p.bleId !== undefined) {
          for (; a.nextAdv < tEnd; a.nextAdv += advMs * r.uniform(0.9, 1.1)) {
            if (scanning) this.scan(a, a.nextAdv, storeId, out)
            else this.advert(a, a.nextAdv, storeId, out)
          }
        }
        for (const w of a.probes) {
          const [lo, hi] = w.radio.probeS ?? [pLo, pHi]
          for (; w.nextProbe < tEnd; w.nextProbe += 1000 * r.uniform(lo, hi)) this.probeBurst(a, w, w.nextProbe, storeId, out, r)
        }
      }
      for (; nextTruth < tEnd; nextTruth += sc.truthIntervalMs) {
        for (const a of active) {
          const person = a.trip.person
          if (person.kind === 'passerBy' || person.kind === 'fixture') continue
          const pos = positionAt(a.trip, nextTruth, a.hint)
          if (pos === null) continue
          const subject = person.bleId ?? 'person:' + person.id
          out.push({ ts: nextTruth, truth: { subject, x: round2(pos[0]), y: round2(pos[1]), floor: pos[2], person: person.id } })
        }
      }
      for (; nextBeat < tEnd; nextBeat += sc.heartbeatMs) {
        for (const s of sensorIds) out.push({ ts: nextBeat, store: storeId, sensor: s, heartbeat: true })
      }
      held = held.concat(quiet ? out.filter(l => !('sensor' in l) || !silent(quiet.get(l.sensor), l.ts)) : out).sort((a, b) => a.ts - b.ts)
      let k = 0
      while (k < held.length && held[k].ts < tEnd) k++
      yield* held.slice(0, k)
      held = held.slice(k)
    }
    yield* held
  }

  /** Per sensor, the stretches of one day's window in which it sends nothing (switched off, dropped out). */
  private silences(day: number, w0: number, w1: number, sensorIds: string[]): Map<string, Array<[number, number]>> {
    const q = this.loaded.scenario.quiet ?? {}
    const r = this.rng.fork('quiet:' + day)
    const out = new Map<string, Array<[number, number]>>()
    const add = (id: string, from: number, to: number): void => {
      out.set(id, [...(out.get(id) ?? []), [from, to]])
    }
    for (const id of sensorIds) if (r.next() < (q.offShare ?? 0)) add(id, w0, w0 + 1000 * r.uniform(0, q.onWithinS ?? 0))
    const [lo, hi] = q.dropoutS ?? [0, 0]
    const n = q.dropoutsPerDay ?? 0
    for (let k = 0; k < Math.floor(n) + (r.next() < n % 1 ? 1 : 0); k++) {
      const from = r.uniform(w0, w1)
      add(r.pick(sensorIds), from, from + 1000 * r.uniform(lo, hi))
    }
    return out
  }

  private advert(a: Active, t: number, storeId: string, out: TraceLine[]): void {
    const pos = positionAt(a.trip, t, a.hint)
    if (pos === null) return
    const p = a.trip.person
    const radio = this.loaded.radio
    const tx = radio.txSdDb * p.txZ
    const report = radio.txReportSdDb !== undefined ? { tx: Math.round(radio.rssiAt1m + tx + radio.txReportSdDb * p.txErrZ) } : {}
    for (const s of this.bleSensors) {
      const rssi = this.radio.receive(p.id + '|' + s.id, s, pos[0], pos[1], t, radio.rssiAt1m, tx, pos[2])
      if (rssi === null) continue
      out.push({ ts: Math.round(t) + (s.id.length % 7), store: storeId, sensor: s.id, t: 'ble', id: p.bleId as string, rssi, ...report })
    }
  }

  /**
   * Phone-scan mode: the phone hears the site's beacons (each at its own 1 m power) and reports,
   * per beacon, the mean of the adverts it caught since its last scan, in one message.
   */
  private scan(a: Active, t: number, storeId: string, out: TraceLine[]): void {
    const pos = positionAt(a.trip, t, a.hint)
    if (pos === null) return
    const p = a.trip.person
    // The phone's own receive gain differs from model to model as its transmit power does.
    const gain = this.loaded.radio.txSdDb * p.txZ
    const beacons: Array<{ id: string; rssi: number }> = []
    // The adverts of one scan interval share the slow fading and differ in fast noise and loss.
    const adverts = Math.max(1, Math.round(this.loaded.radio.beaconHz / this.loaded.radio.phoneScanHz))
    for (const b of this.loaded.site.beacons.values()) {
      let sum = 0
      let n = 0
      for (let k = 0; k < adverts; k++) {
        const rssi = this.radio.receive(p.id + '|' + b.id, b, pos[0], pos[1], t, b.rssiAt1m, gain, pos[2])
        if (rssi !== null) {
          sum += rssi
          n++
        }
      }
      if (n > 0) beacons.push({ id: b.id, rssi: Math.round(sum / n) })
    }
    if (beacons.length > 0) out.push({ ts: Math.round(t), store: storeId, device: p.bleId as string, beacons })
  }

  private probeBurst(a: Active, w: Probing, t: number, storeId: string, out: TraceLine[], r: Rng): void {
    const p = a.trip.person
    const wifi = w.radio
    // A randomized phone picks a fresh address per burst; some also restart the sequence counter.
    if (wifi.stable) w.mac = wifi.globalMac
    else {
      w.mac = randomMac(w.macRng)
      if (!wifi.seqContinues) w.seq = w.macRng.int(0, 4096)
    }
    const fp = wifi.fp !== undefined ? { fp: wifi.fp } : {}
    const frames = r.int(2, 5)
    const tx = this.loaded.radio.txSdDb * p.txZ
    for (let k = 0; k < frames; k++) {
      const tf = t + k * 20
      const pos = positionAt(a.trip, tf, a.hint)
      if (pos === null) return
      w.seq = (w.seq + 1) % 4096
      const ch = [1, 6, 11][k % 3]
      for (const s of this.wifiSensors) {
        const rssi = this.radio.receive(p.id + '|' + s.id, s, pos[0], pos[1], tf, this.loaded.radio.wifiRssiAt1m, tx, pos[2])
        if (rssi === null) continue
        out.push({ ts: Math.round(tf), store: storeId, sensor: s.id, t: 'wifi', mac: w.mac, rssi, seq: w.seq, ch, ...fp })
        this.wifiHeard.add(p.id)
      }
    }
  }
}

function silent(stretches: Array<[number, number]> | undefined, t: number): boolean {
  return stretches !== undefined && stretches.some(([a, b]) => t >= a && t < b)
}

function round2(v: number): number {
  return Math.round(v * 100) / 100
}
