// What people counting (people.ts) answers and is told: the counts now and the day's visitors by
// source, a subject placed in a shop, an anonymous BLE device's chain of addresses, and the options
// with their defaults (the site file's `people` section over them).
import type { Site } from '../../shared/site.ts'
import type { PeopleParams } from '../../shared/site-schema.ts'
import { defaultWifiDeviceOptions, type WifiDeviceOptions } from './wifi-devices.ts'
import type { WifiDevice } from './wifi-device-types.ts'
import { sensorModels, type SensorModel } from '../estimation/radio-model.ts'

export type PeopleSource = 'app' | 'ble' | 'wifi'
export interface Counts {
  shops: Record<string, number>
  sectors: Record<string, number>
}
export interface PeopleNow extends Counts {
  low: Counts
  high: Counts
  bySource: Record<PeopleSource, Counts>
  passersBy: number
  /** Fixtures heard now (left out of every count). */
  fixtures: number
}
/** A subject placed in a shop (app: confirmed zone state; ble: an anonymous device's position). */
export interface Placed {
  subject: string
  shop: string | null
  sector: string | null
}

export interface DwellSummary {
  n: number
  medianS: number | null
  p90S: number | null
  buckets: Record<string, number>
}
/** Places flooded at the last count, new addresses taken for a sender, and what places held beyond their floor (people.ts `suspicious`). */
export interface Suspicious {
  flooded: Array<{ source: 'wifi' | 'ble'; place: string }>
  refused: { wifi: number; ble: number }
  overCapacity: Array<{ level: 'sensor' | 'shop' | 'sector'; place: string; n: number }>
  excessVisitors: number
}

export interface Visitors {
  visitors: number
  visitorsByHour: Record<string, number>
  wifiVisitors: number
  appVisitors: number
  bleVisitors: number
  dwell: DwellSummary
}

/** An anonymous BLE device as far as can be told: its rotating addresses, chained. */
export interface BleChain {
  address: string
  firstTs: number
  lastTs: number
  shop: string | null
  sector: string | null
  countedDay: string
  /** When it was counted a visitor (its hour is taken back if it turns out a sender's). */
  countedTs: number
  young: boolean
  quiet: boolean
  /** Made just before its place was flooded (ble-chains.ts): most likely the sender's, not counted. */
  suspect: boolean
}

export interface BleChainOptions {
  /** A new anonymous BLE address continues a device whose address went quiet at most this long before, ms. */
  bleLinkGapMs: number
  /** Chains (and addresses taken for a flood) quiet longer are forgotten, ms. */
  forgetMs: number
  /** New anonymous BLE devices one place (shop and sector) may give in a minute; past it the place is flooded. */
  newBleDevicesPerSectorMin: number
}

export interface PeopleOptions extends WifiDeviceOptions, BleChainOptions {
  /** Wi-Fi devices a visitor carries on average (a phone and a watch or tablet count once), ≥ 1. */
  devicesPerPerson: number
  /** Mean time between probe bursts of a phone, ms: a dwell timed from first to last burst misses about this much. */
  meanProbeIntervalMs: number
  /** A device's bursts inside must span this long before it counts as here (a walk past the front is shorter), ms. */
  minInShopSpanMs: number
  /** Weight of a device heard in one weak burst inside (just arrived, or a passer-by at the edge) in the count now, 0..1. */
  singleWeight: number
  /** A device heard in one burst only, this strong inside, is counted a visitor (not here now), dBm. */
  visitorSingleDbm: number
  /** A chain whose bursts come this many times as often as one phone's holds several phones (see `phones`). */
  multiPhoneRate: number
  /** Longest plausible visit until enough stays have been seen to learn it (`longStay`), ms. */
  longStayPriorMs: number
  /** Completed stays needed before the longest plausible visit is learned from them. */
  longStayMinStays: number
  /** The longest plausible visit is this many times the 95th percentile of completed stays. */
  longStayFactor: number
  /** The longest plausible visit is never learned shorter than this, ms (see `peopleOptions`). */
  longStayFloorMs: number
  /**
   * A single burst placed within this of its shop's wall, m, is what a passer-by just outside gives
   * (the solver pulls a loud burst from the street just inside): in the range only, never a visitor.
   */
  edgeM: number
  /** People a square metre of shop floor holds at most (people-capacity.ts). */
  maxPeoplePerM2: number
  /**
   * After a start with nothing learned, an open store's mean time between newcomers at its quietest,
   * ms: the devices heard from the start weigh in `n` the chance an open store gave none for so long
   * (people-cold.ts). 0: no cold-start rule.
   */
  coldQuietMs: number
}

export function peopleOptions(site: Site, over: Partial<PeopleOptions> = {}): PeopleOptions {
  const p: PeopleParams = site.file.people ?? {}
  return {
    ...defaultWifiDeviceOptions,
    devicesPerPerson: p.devicesPerPerson ?? 1,
    meanProbeIntervalMs: 105_000,
    visitorSingleDbm: -55,
    singleWeight: 0.5,
    minInShopSpanMs: 0,
    bleLinkGapMs: 30_000,
    newBleDevicesPerSectorMin: p.newBleDevicesPerSectorMin ?? 30,
    newDevicesPerSensorMin: p.newWifiDevicesPerSensorMin ?? defaultWifiDeviceOptions.newDevicesPerSensorMin,
    multiPhoneRate: 2,
    longStayPriorMs: 1_800_000,
    longStayMinStays: 50,
    longStayFactor: 1.5,
    // The long-stay test stands in for the fixture rule (hours) until it catches an always-on device:
    // too long a figure only delays leaving a fixture out, too short a one drops real shoppers from
    // the count. A quarter of an hour is a visit a shopper trying clothes on or queueing at the till
    // gives routinely (and four times the Wi-Fi presence time, the least over which a slow-probing
    // phone's stay can be told apart from its gaps): no learned figure may call it implausible.
    longStayFloorMs: 900_000,
    maxPeoplePerM2: p.maxPeoplePerM2 ?? 2,
    edgeM: 1,
    coldQuietMs: (p.coldStartQuietS ?? 180) * 1000,
    ...(p.fixtureAfterS !== undefined ? { fixtureSpanMs: p.fixtureAfterS * 1000 } : {}),
    ...(p.presenceS !== undefined ? { presenceMs: p.presenceS * 1000 } : {}),
    ...over
  }
}

/** The sensors' models for Wi-Fi probes: phones send probes with more power than BLE adverts. */
export function wifiModels(site: Site): Map<string, SensorModel> {
  const delta = site.radio.wifiRssiAt1m - site.radio.rssiAt1m
  return new Map([...sensorModels(site)].map(([id, m]) => [id, { ...m, a: m.a + delta, map: undefined }]))
}

/** Bursts inside a stay needs to be learned from: two are what a walk past the front gives too. */
const STAY_MIN_BURSTS = 3

/**
 * Whether a Wi-Fi device's stay that ended is evidence of how long visits last (people.ts learns
 * the longest plausible visit from such stays): bursts inside on several occasions, over at least
 * one probe interval. Two bursts seconds apart are what a passer-by, or a sender inventing
 * addresses, gives at no cost: learned from, they made the longest plausible visit a few seconds,
 * and every shopper present longer a fixture.
 */
export function plausibleStay(d: WifiDevice, o: Pick<PeopleOptions, 'meanProbeIntervalMs'>): boolean {
  return d.inShop >= STAY_MIN_BURSTS && d.lastInShop !== null && d.firstInShopTs !== null && d.lastInShop.ts - d.firstInShopTs >= o.meanProbeIntervalMs
}

/** Dwell histogram edges, minutes (the last bucket is open). */
const DWELL_EDGES_MIN = [5, 15, 30, 60, 120]

export function dwellSummary(s: number[]): DwellSummary {
  const sorted = [...s].sort((a, b) => a - b)
  const q = (p: number) => (sorted.length === 0 ? null : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]))
  const buckets: Record<string, number> = {}
  let lo = 0
  for (const hi of [...DWELL_EDGES_MIN, Infinity]) {
    const key = hi === Infinity ? `${lo}+` : `${lo}-${hi}`
    buckets[key] = sorted.filter(v => v >= lo * 60 && v < hi * 60).length
    lo = hi
  }
  return { n: sorted.length, medianS: q(0.5), p90S: q(0.9), buckets }
}
