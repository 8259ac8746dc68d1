// Shoppers and their paths: who visits, which sectors they browse or dwell in, and where they are
// at any instant (piecewise-linear legs, so positions are exact and cheap to sample).
import { Rng } from '../shared/rng.ts'
import type { Site, Zone } from '../shared/site.ts'
import { randomPointIn } from '../shared/geometry.ts'
import type { Scenario } from './scenario.ts'

export type ShopperKind = 'regular' | 'occasional' | 'oneTime' | 'passerBy' | 'fixture'

/** One probing Wi-Fi radio: its vendor address, whether it keeps it, its counter habit and probe fingerprint. */
export interface WifiRadio {
  stable: boolean
  globalMac: string
  seqContinues: boolean
  fp?: string
  probeS?: [number, number]
}

export interface Person {
  id: string
  kind: ShopperKind
  /** App-issued BLE id when the phone runs the retailer's app. */
  bleId?: string
  wifi?: WifiRadio
  /** A second probing device (watch, tablet) carried along. */
  extraWifi?: WifiRadio
  /** Standard-normal draw; the radio model scales it by txSdDb into a transmit offset. */
  txZ: number
  /** Standard-normal draw: the error of the measured power the phone's app advertises (radio `txReportSdDb`). */
  txErrZ: number
  /** Sectors this person tends to visit first (regulars have habits). */
  favourites: string[]
}

export interface Leg {
  t0: number
  t1: number
  x0: number
  y0: number
  x1: number
  y1: number
  floor: number
}
export interface Trip {
  person: Person
  start: number
  end: number
  legs: Leg[]
}

export function makePerson(rng: Rng, id: string, kind: ShopperKind, sc: Scenario, site: Site): Person {
  const r = rng.fork('person:' + id)
  const hasApp = r.chance(sc.appShare)
  const hasWifi = r.chance(sc.wifiShare)
  const sectors = site.sectors.map(s => s.id)
  const favourites = sectors.length > 0 ? [r.pick(sectors), r.pick(sectors)] : []
  const person = {
    id,
    kind,
    favourites,
    txZ: r.normal(0, 1),
    ...(hasApp ? { bleId: 'app:' + r.hex(8) } : {}),
    ...(hasWifi ? { wifi: { stable: r.chance(sc.stableMacShare), globalMac: globalMac(r), seqContinues: r.chance(0.5) } } : {})
  }
  // Drawn last, so the draws before it (and every earlier trace) stay as they were.
  const txErrZ = r.normal(0, 1)
  const wd = sc.wifiDevices
  if (wd === undefined || person.wifi === undefined) return { ...person, txErrZ }
  // Scenarios with Wi-Fi device detail draw it from their own stream, after everything above.
  const w = r.fork('wifi-devices')
  const models = wd.fingerprintModels ?? 0
  const wifi = { ...person.wifi, ...(models > 0 ? { fp: fingerprint(w, models) } : {}) }
  const extra = w.chance(wd.extraDeviceShare ?? 0)
    ? { extraWifi: { stable: w.chance(sc.stableMacShare), globalMac: globalMac(w), seqContinues: w.chance(0.5), ...(models > 0 ? { fp: fingerprint(w, models) } : {}) } }
    : {}
  return { ...person, wifi, ...extra, txErrZ }
}

/** An always-on device at a fixed spot: probes all day, visits nothing. */
export function makeFixture(rng: Rng, id: string, sc: Scenario): Person {
  const r = rng.fork('fixture:' + id)
  const wd = sc.wifiDevices ?? {}
  const models = wd.fingerprintModels ?? 0
  return {
    id,
    kind: 'fixture',
    favourites: [],
    txZ: r.normal(0, 1),
    txErrZ: 0,
    wifi: {
      stable: !r.chance(wd.fixtureRandomizedShare ?? 0.3),
      globalMac: globalMac(r),
      seqContinues: r.chance(0.5),
      ...(models > 0 ? { fp: fingerprint(r, models) } : {}),
      probeS: wd.fixtureProbeS ?? [60, 300]
    }
  }
}

/** A phone model's probe fingerprint: model k (1-based) drawn with weight 1/k. */
function fingerprint(r: Rng, models: number): string {
  let total = 0
  for (let k = 1; k <= models; k++) total += 1 / k
  let u = r.next() * total
  let k = 1
  for (; k < models; k++) {
    u -= 1 / k
    if (u < 0) break
  }
  return 'ie' + k.toString(16).padStart(4, '0')
}

/** A MAC with the locally-administered bit clear (a real, vendor-assigned address). */
function globalMac(r: Rng): string {
  return macFrom(r, false)
}
/** A randomized MAC: locally-administered bit set, multicast bit clear (IEEE 802 rules). */
export function randomMac(r: Rng): string {
  return macFrom(r, true)
}

function macFrom(r: Rng, local: boolean): string {
  const bytes = Array.from({ length: 6 }, () => r.int(0, 256))
  bytes[0] = local ? (bytes[0] | 0x02) & 0xfe : bytes[0] & 0xfc
  return bytes.map(b => b.toString(16).padStart(2, '0')).join(':')
}

class PathBuilder {
  legs: Leg[] = []
  floor = 0
  constructor(
    public t: number,
    public x: number,
    public y: number
  ) {}
  walkTo(x: number, y: number, speed: number): void {
    const d = Math.hypot(x - this.x, y - this.y)
    const dt = Math.max(1, Math.round((1000 * d) / speed))
    this.legs.push({ t0: this.t, t1: this.t + dt, x0: this.x, y0: this.y, x1: x, y1: y, floor: this.floor })
    this.t += dt
    this.x = x
    this.y = y
  }

  stay(ms: number): void {
    this.legs.push({ t0: this.t, t1: this.t + ms, x0: this.x, y0: this.y, x1: this.x, y1: this.y, floor: this.floor })
    this.t += ms
  }

  /** To the stairs, and up or down to `floor` (about 8 s a storey, spent at the stairs' spot). */
  climb(floor: number, stairs: [number, number], speed: number): void {
    if (floor === this.floor) return
    this.walkTo(stairs[0], stairs[1], speed)
    const storeys = Math.abs(floor - this.floor)
    this.floor = floor
    this.stay(8000 * storeys)
  }
}

function pointOnStreet(r: Rng, street: Array<[number, number]>): [number, number] {
  const i = r.int(0, street.length - 1)
  const f = r.next()
  return [street[i][0] + f * (street[i + 1][0] - street[i][0]), street[i][1] + f * (street[i + 1][1] - street[i][1])]
}

/** A store visit: from the street through the door, a few sector stays, and back out. */
export function planVisit(r: Rng, person: Person, start: number, sc: Scenario, site: Site): Trip {
  const speed = r.uniform(sc.walkSpeed[0], sc.walkSpeed[1])
  const [sx, sy] = pointOnStreet(r, sc.street)
  const p = new PathBuilder(start, sx, sy)
  p.walkTo(sc.door[0], sc.door[1], speed)
  const n = site.sectors.length === 0 ? 0 : r.int(Math.round(sc.sectorsPerVisit[0]), Math.round(sc.sectorsPerVisit[1]) + 1)
  const chosen: Zone[] = []
  for (let i = 0; i < n; i++) {
    const wantFav = person.favourites.length > 0 && r.chance(person.kind === 'regular' ? 0.7 : 0.3)
    const id = wantFav ? r.pick(person.favourites) : r.pick(site.sectors).id
    const zone = site.sectors.find(s => s.id === id) as Zone
    if (chosen[chosen.length - 1] !== zone) chosen.push(zone)
  }
  for (const zone of chosen) {
    if (zone.floor !== p.floor && sc.stairs) p.climb(zone.floor, sc.stairs, speed)
    const [x, y] = randomPointIn(zone, () => r.next(), 0.8)
    p.walkTo(x, y, speed)
    const dwell = r.chance(sc.dwellShare)
    const [lo, hi] = dwell ? sc.dwellS : sc.browseS
    let remaining = 1000 * r.uniform(lo, hi)
    // Shoppers shuffle while they look at shelves: small moves around the spot.
    while (remaining > 0) {
      const pause = Math.min(remaining, 1000 * r.uniform(6, 20))
      p.stay(Math.round(pause))
      remaining -= pause
      if (remaining <= 0) break
      const [nx, ny] = randomPointIn(zone, () => r.next(), 0.8)
      const tx = x + 0.3 * (nx - x)
      const ty = y + 0.3 * (ny - y)
      const before = p.t
      p.walkTo(tx, ty, 0.5)
      remaining -= p.t - before
    }
  }
  if (chosen.length === 0) {
    const shop = site.shops[0]
    const [x, y] = randomPointIn(shop, () => r.next(), 1)
    p.walkTo(x, y, speed)
    p.stay(Math.round(1000 * r.uniform(sc.browseS[0], sc.browseS[1])))
  }
  if (sc.stairs) p.climb(0, sc.stairs, speed)
  p.walkTo(sc.door[0], sc.door[1], speed)
  const [ex, ey] = pointOnStreet(r, sc.street)
  p.walkTo(ex, ey, speed)
  return { person, start, end: p.t, legs: p.legs }
}

/** A fixture's day: one spot in the first shop, the whole window. */
export function planFixture(person: Person, start: number, end: number, site: Site): Trip {
  // Its own stream: the same spot every day.
  const r = new Rng('spot:' + person.id)
  const [x, y] = randomPointIn(site.shops[0], () => r.next(), 0.9)
  return { person, start, end, legs: [{ t0: start, t1: end, x0: x, y0: y, x1: x, y1: y, floor: site.shops[0].floor }] }
}

/** Someone walking past on the street: heard by sensors near the front, never inside. */
export function planPassBy(r: Rng, person: Person, start: number, sc: Scenario): Trip {
  const speed = r.uniform(sc.walkSpeed[0], sc.walkSpeed[1])
  const fwd = r.chance(0.5)
  const pts = fwd ? sc.street : [...sc.street].reverse()
  const p = new PathBuilder(start, pts[0][0], pts[0][1])
  for (const [x, y] of pts.slice(1)) p.walkTo(x, y, speed)
  return { person, start, end: p.t, legs: p.legs }
}

/** Position and floor at time t (ms), or null before the trip starts or after it ends. Legs are searched from a hint. */
export function positionAt(trip: Trip, t: number, hint = { i: 0 }): [number, number, number] | null {
  if (t < trip.start || t > trip.end) return null
  const legs = trip.legs
  let i = Math.min(hint.i, legs.length - 1)
  while (i > 0 && legs[i].t0 > t) i--
  while (i < legs.length - 1 && legs[i].t1 < t) i++
  hint.i = i
  const l = legs[i]
  const f = l.t1 === l.t0 ? 0 : Math.max(0, Math.min(1, (t - l.t0) / (l.t1 - l.t0)))
  return [l.x0 + f * (l.x1 - l.x0), l.y0 + f * (l.y1 - l.y0), l.floor]
}
