// Scenario files: a site plus who comes, when, how they move and what their phones transmit.
// Every default below is documented with its unit; `radio` constants cite their source.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { schemaProblems, formatProblems } from '../shared/schema-errors.ts'
import { loadSiteFile, type Site } from '../shared/site.ts'

const Range = Type.Tuple([Type.Number({ minimum: 0 }), Type.Number({ minimum: 0 })])
const Point = Type.Tuple([Type.Number(), Type.Number()])

export const ShopperClass = Type.Object({
  /** Share of all visits made by this class (0..1). */
  visitShare: Type.Number({ minimum: 0, maximum: 1 }),
  /** How many distinct people make those visits; 0 = a new person every visit (one-timers). */
  people: Type.Integer({ minimum: 0 })
})

export const RadioParams = Type.Object({
  /** Log-distance exponent of the simulated world (indoor retail: 2-3). */
  pathLossExponent: Type.Number({ default: 2.2 }),
  /** BLE RSSI at 1 m of an average phone, dBm (iBeacon-style calibration, about -59). */
  rssiAt1m: Type.Number({ default: -59 }),
  /** Wi-Fi probe RSSI at 1 m, dBm (phones transmit ~15 dBm on Wi-Fi vs ~0 dBm on BLE). */
  wifiRssiAt1m: Type.Number({ default: -45 }),
  /** Per-phone transmit offset spread, dB (model-to-model spread is about 3-5 dB). */
  txSdDb: Type.Number({ default: 3 }),
  /**
   * App phones advertise their measured power at 1 m (contract §2 `tx`), off from their real
   * offset by this much, dB (a per-model calibration table knows the model, not the case or the
   * pocket); absent: adverts carry no `tx`.
   */
  txReportSdDb: Type.Optional(Type.Number({ minimum: 0 })),
  /** Per-sensor receive offset spread, dB (antenna and enclosure differences). */
  sensorSdDb: Type.Number({ default: 2 }),
  /** Slow fading (body shadowing, multipath at walking pace), dB, correlated over fadingTauS. */
  fadingSdDb: Type.Number({ default: 4 }),
  fadingTauS: Type.Number({ default: 2 }),
  /** Independent per-reading noise, dB. With fading this gives ~6.4 dB raw (real data: 6-10 dB). */
  noiseSdDb: Type.Number({ default: 5 }),
  /** Weakest RSSI a sensor reports, dBm (ESP32 scanners: about -95 to -100). */
  sensitivityDbm: Type.Number({ default: -98 }),
  /** Share of adverts lost at the receiver even when strong enough (collisions, scan windows). */
  lossProb: Type.Number({ default: 0.15 }),
  /** BLE advertising rate of an app phone, Hz (foreground apps 2-10, background ~1). */
  advHz: Type.Number({ default: 2 }),
  /**
   * Phone-scan mode: app phones scan the site's beacons at this rate, Hz, and report what they
   * heard (iOS ranging: 1 Hz), instead of advertising to the sensors; 0 = off.
   */
  phoneScanHz: Type.Number({ default: 0 }),
  /** Adverts a site beacon sends per second; a phone's scan reports the mean of those it caught (iOS ranging averages over its interval). */
  beaconHz: Type.Number({ default: 10 }),
  /** Seconds between Wi-Fi probe bursts (uniform range; real phones: every 30 s to a few minutes). */
  probeIntervalS: Range,
  /** Height of a carried phone, m. */
  phoneHeightM: Type.Number({ default: 1.2 }),
  /** Multi-floor sites: storey height, m, and the loss through one floor slab, dB (ITU-R P.1238: about 15 dB for one floor of a commercial building at 2.4 GHz). */
  floorHeightM: Type.Number({ default: 4 }),
  slabDb: Type.Number({ default: 15 })
})
export type RadioParamsT = Static<typeof RadioParams>

/** What real Wi-Fi probing adds beyond one phone per shopper (all optional; absent = none of it). */
export const WifiDevicesParams = Type.Object({
  /**
   * Phone models with distinct probe fingerprints (contract §2 extension `fp`); model popularity
   * falls as 1/rank (a few models make most phones, as in any street). 0 or absent: no `fp`.
   */
  fingerprintModels: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Share of shoppers whose second device (watch, tablet, second phone) probes too. */
  extraDeviceShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  /** Always-on devices (desktops, tills, printers) somewhere in the first shop, probing all day. */
  fixtures: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Share of those that probe from randomized, rotating addresses. */
  fixtureRandomizedShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  /** Seconds between a fixture's probe bursts (uniform range). */
  fixtureProbeS: Type.Optional(Range)
})
export type WifiDevicesParamsT = Static<typeof WifiDevicesParams>

/**
 * What a store's sensors do around closed hours (nothing at all between two windows: no
 * heartbeat, no reading) and during the day. Absent members count as 0 (no such outage).
 */
export const QuietParams = Type.Object({
  /** Heartbeats start this long after the window opens, s: the morning's first lines are readings. */
  heartbeatDelayS: Type.Optional(Type.Number({ minimum: 0 })),
  /** Share of sensors switched off with the lights: each comes on at a random time within `onWithinS` of opening, silent until then. */
  offShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  onWithinS: Type.Optional(Type.Number({ minimum: 0 })),
  /** Outages per day, each silencing one random sensor (no heartbeat, no reading) for a time in `dropoutS`, s. */
  dropoutsPerDay: Type.Optional(Type.Number({ minimum: 0 })),
  dropoutS: Type.Optional(Range)
})
export type QuietParamsT = Static<typeof QuietParams>

export const ScenarioSchema = Type.Object({
  name: Type.String(),
  /** Site file, relative to the scenario file. */
  site: Type.String(),
  seed: Type.Integer({ default: 1 }),
  /** First day, ISO date-time (UTC) when the simulated window opens. */
  start: Type.String(),
  days: Type.Integer({ minimum: 1, default: 1 }),
  /** Simulated seconds per day (the window starts at `start`'s time of day). */
  durationS: Type.Number({ minimum: 1 }),
  /** Start the window with the store already busy (shoppers mid-visit). */
  warmStart: Type.Boolean({ default: true }),
  arrivalsPerHour: Type.Number({ minimum: 0 }),
  /** Arrival-rate factor per hour since the window opens (a day's shape: 0 while closed); absent: flat. */
  arrivalProfile: Type.Optional(Type.Array(Type.Number({ minimum: 0 }), { minItems: 1 })),
  wifiDevices: Type.Optional(WifiDevicesParams),
  passersByPerHour: Type.Number({ minimum: 0, default: 0 }),
  /** Where shoppers come from and go to, outside (street), and the door they use. */
  street: Type.Array(Point, { minItems: 2 }),
  door: Point,
  /** Multi-floor sites: where shoppers change floors (the same spot on every floor). */
  stairs: Type.Optional(Point),
  classes: Type.Object({ regular: ShopperClass, occasional: ShopperClass, oneTime: ShopperClass }),
  /** Share of phones with the retailer's app (BLE id `app:…`). */
  appShare: Type.Number({ minimum: 0, maximum: 1 }),
  /** Share of phones that send Wi-Fi probes; of those, share with a stable (global) MAC. */
  wifiShare: Type.Number({ minimum: 0, maximum: 1 }),
  stableMacShare: Type.Number({ minimum: 0, maximum: 1 }),
  /** Number of sectors visited per visit, and seconds spent per sector stay. */
  sectorsPerVisit: Range,
  browseS: Range,
  dwellS: Range,
  /** Share of sector stays that are long dwells rather than browses. */
  dwellShare: Type.Number({ minimum: 0, maximum: 1 }),
  walkSpeed: Range,
  truthIntervalMs: Type.Integer({ minimum: 100, default: 1000 }),
  heartbeatMs: Type.Integer({ minimum: 100, default: 1000 }),
  /** Nights and outages of the sensors; absent: every sensor sends from the window's first second to its last. */
  quiet: Type.Optional(QuietParams),
  radio: Type.Partial(RadioParams)
})
export type Scenario = Static<typeof ScenarioSchema>

export const defaultRadioParams: RadioParamsT = {
  pathLossExponent: 2.2,
  rssiAt1m: -59,
  wifiRssiAt1m: -45,
  txSdDb: 3,
  sensorSdDb: 2,
  fadingSdDb: 4,
  fadingTauS: 2,
  noiseSdDb: 5,
  sensitivityDbm: -98,
  lossProb: 0.15,
  advHz: 2,
  phoneScanHz: 0,
  beaconHz: 10,
  probeIntervalS: [30, 180],
  phoneHeightM: 1.2,
  floorHeightM: 4,
  slabDb: 15
}

export interface LoadedScenario {
  scenario: Scenario
  radio: RadioParamsT
  site: Site
  sitePath: string
}

export function loadScenario(path: string, overrides: Partial<Pick<Scenario, 'seed' | 'durationS' | 'days' | 'start' | 'quiet'>> = {}): LoadedScenario {
  const raw = readScenario(path, new Set())
  const withDefaults = Value.Default(ScenarioSchema, raw)
  const problems = schemaProblems(ScenarioSchema, withDefaults)
  if (problems.length > 0) throw new Error(`invalid scenario ${path}:\n${formatProblems(problems)}`)
  const scenario = { ...(withDefaults as Scenario), ...definedOnly(overrides) }
  const sitePath = resolve(dirname(path), scenario.site)
  return { scenario, radio: { ...defaultRadioParams, ...scenario.radio }, site: loadSiteFile(sitePath), sitePath }
}

/**
 * A scenario file's JSON, with what it `extends` (another scenario file, relative to it) filled
 * in: its own members win, `radio` member by member, and an inherited `site` stays relative to
 * the file that named it.
 */
function readScenario(path: string, seen: Set<string>): unknown {
  const full = resolve(path)
  if (seen.has(full)) throw new Error(`invalid scenario ${path}: it extends itself`)
  seen.add(full)
  const raw: unknown = JSON.parse(readFileSync(full, 'utf8'))
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !('extends' in raw)) return raw
  const { extends: from, ...own } = raw as Record<string, unknown>
  if (typeof from !== 'string') throw new Error(`invalid scenario ${path}: extends must name a scenario file`)
  const basePath = resolve(dirname(full), from)
  const base = readScenario(basePath, seen)
  if (typeof base !== 'object' || base === null || Array.isArray(base)) throw new Error(`invalid scenario ${path}: ${from} is not a scenario`)
  const b = base as Record<string, unknown>
  const site = typeof b.site === 'string' ? { site: resolve(dirname(basePath), b.site) } : {}
  const radio = { ...(b.radio as object | undefined), ...(own.radio as object | undefined) }
  return { ...b, ...site, ...own, radio }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
