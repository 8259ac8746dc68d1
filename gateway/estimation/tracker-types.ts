// What the tracker (tracker.ts) is told and what it answers: its options with their defaults, what it
// learns about a site and keeps across restarts, and the estimate it makes per device per tick.
import type { Site } from '../../shared/site.ts'
import { defaultWindowOptions, RssiWindows, type WindowOptions } from './rssi-window.ts'
import type { Observation, Fix, Silence, SolverOptions } from './solver.ts'
import { defaultKalmanOptions, MotionFilter, type KalmanOptions } from './kalman.ts'
import type { AdvertisedPowerState, OffsetPrior } from './advertised-power.ts'
import { WalkHistory, type WalkFix } from './walk-history.ts'
import { defaultGridFilterOptions, type GridFilterOptions } from './grid-layout.ts'
import type { FloorBin } from './sensitivity.ts'

export interface TrackerOptions {
  window: WindowOptions
  kalman: KalmanOptions
  /** Forget a device after this long without readings, ms. */
  ttlMs: number
  /** Most devices tracked at once; the longest-quiet one is dropped beyond it. */
  maxDevices: number
  /**
   * Share of the readings' mean age taken as the fix's lag behind the device. 1 would be exact
   * for steady walking; less keeps noisy velocity estimates (stop-and-go shoppers, sensors that
   * already average upstream) from throwing the track forward.
   */
  lagFactor: number
  /**
   * How long before its tick an estimate is published for, ms: a position's `ts` (contract §4:
   * the time it is estimated for). The estimate made at tick t rests on RSSI windows whose
   * readings are on average 1.5 s old (their time constant) and on a motion filter that smooths
   * further, so it describes where the device was about 2 s earlier better than where it is (1 s and
   * 3 s were tried: `npm run bench -- accuracy`). Zones take the evidence at the same time.
   */
  reportLagMs: number
  /**
   * Most sensors used per fix: the strongest ones. A bound on the solver's cost on very large
   * sites, not a filter: with the sensitivity-floor correction even far sensors, heard only when
   * they fade up, still carry information (`npm run bench -- accuracy`, hypermarket, with 24 and 32).
   */
  maxSensors: number
  /** Huber threshold of the solver, in sigmas. */
  huberK: number
  /** Phone height, m. */
  tagHeight: number
  /** A position outside every shop stays outside only if it is this many sigmas past the wall. */
  outsideSigmas: number
  /**
   * Share of a fix's uncertainty that persists from fix to fix (bias) and is added back to the
   * filter's accuracy, so that accuracyM holds about 63% of errors (`npm run bench -- accuracy`).
   */
  biasShare: number
  /** Spread of phones' transmit offsets, dB (model-to-model spread is ~3-5 dB); 0 disables. */
  offsetSdDb: number
  /** Weight of a new fix in the device's running offset estimate (0..1). */
  offsetLearningRate: number
  /**
   * Weight of a new fix in the site's running offset (0..1; 0 disables): what phones here
   * typically read against the site's rssiAt1m, the starting point of every new device's offset.
   */
  siteOffsetRate: number
  /** Whether working sensors that did not hear a device count as evidence (where their floor is known). */
  silence: boolean
  /**
   * Phone-scan mode: place phones by a grid posterior over their scan reports (scan-grid.ts)
   * instead of the solver and motion filter. `auto` (the default) uses the grid once the traffic
   * shows that a scan reports fewer beacons than a fix from ranges has unknowns plus one (x, y and
   * the phone's offset): there the solver guesses and what a scan left out says more. Where scans
   * hear many beacons the filter stays: the grid learns no per-beacon correction (a beacon sending
   * hot stays hot) and has no velocity. A scan's cost is bounded whatever the site (the strongest
   * heard beacons, the nearest not heard, the cells the readings allow), and so is the work per
   * second: a scan past it leaves its phone to the solver until the next (counted in /metrics).
   */
  scanGrid: 'auto' | 'on' | 'off'
  /** Multi-floor sites: how much stronger (dB) another floor's nearest sensor must sound to move a device there. */
  floorSwitchDb: number
  /** Radio-map grid posterior: likelihood temperature, walked-area support threshold, off-walk penalty (nats). */
  gridTemperature: number
  minSupport: number
  offMapPenalty: number
  /** Whether devices keep their recent fixes for the street-walk test (street-walk.ts: about 6 KB each). */
  walkHistory: boolean
  /**
   * What carries a device's position from tick to tick: `kalman`, the solver's fix per tick
   * smoothed by the motion filter (kalman.ts), or `grid`, a posterior over the site's cells with a
   * walking-speed motion kernel and the site's shops as a prior (grid-filter.ts); `auto` the grid
   * where the floor fits `grid.maxCells` cells of `grid.cellM` (a flat, a small shop nobody is
   * heard outside of) and no receiver has a radio map, the Kalman filter elsewhere (`npm run bench
   * -- accuracy`, docs/benchmarks.md).
   */
  filter: 'kalman' | 'grid' | 'auto'
  grid: GridFilterOptions
}

export function trackerOptions(site: Site, over: Partial<TrackerOptions> = {}): TrackerOptions {
  return {
    window: { ...defaultWindowOptions, rawSigmaDb: site.radio.shadowingDb },
    kalman: defaultKalmanOptions,
    ttlMs: 30_000,
    maxDevices: 20_000,
    lagFactor: 0.5,
    reportLagMs: 2000,
    maxSensors: 48,
    huberK: 2,
    tagHeight: site.radio.tagHeightM,
    outsideSigmas: 2,
    biasShare: 0.5,
    offsetSdDb: 4,
    offsetLearningRate: 0.1,
    siteOffsetRate: 0.005,
    floorSwitchDb: 6,
    silence: true,
    scanGrid: 'auto',
    gridTemperature: 1,
    minSupport: 1,
    offMapPenalty: 4,
    walkHistory: true,
    filter: 'auto',
    grid: defaultGridFilterOptions,
    ...over
  }
}

export interface TrackerLearned {
  siteOffset: number
  siteOffsetFixes: number
  sensitivityFloors: Record<string, FloorBin[]>
  advertisedPower?: AdvertisedPowerState
}

export interface Estimate {
  subject: string
  ts: number
  /** Published position (placement.ts): kept inside the shops unless the evidence says outside, in the likeliest sector. */
  x: number
  y: number
  /** The floor it is on (0 where the site has one). */
  floor: number
  /** The shop and sector the published position is in (null: none). */
  shop: string | null
  sector: string | null
  /** The filter's own estimate, before that: zone decisions use this. */
  rawX: number
  rawY: number
  accuracyM: number
  sensors: number
  fix: Fix
  /** What the fix heard, and the working sensors that did not hear it: the shop-entry radio test's input (`zoneCosts`). */
  obs: Observation[]
  silent: Silence[]
  /** A new phone's offset, dB: the site's phones', or its advertised power's where that proved to say more. */
  offsetPrior: OffsetPrior
  /** The device's fixes of its last half minute kept for the street-walk test (`walkGaps`): a copy as of this fix. */
  walk: readonly WalkFix[]
}

/** What the solver is asked for one device at one tick (`Tracker.question`), and what its answer is applied to. */
export interface Question {
  subject: string
  t: number
  d: Device
  obs: Observation[]
  silent: Silence[]
  options: SolverOptions
  /** A fix found without the solver (the phone-scan grid): nothing for the pool to solve. */
  known?: Fix
}

/** A tracked device: its RSSI windows, motion filter, kept fixes and what is learned of its phone. */
export class Device {
  /** Recent fixes, for the street-walk test. */
  readonly walk = new WalkHistory()
  /** Its RSSI windows, one per sensor heard (keyed by the tracker's `windowKey`). */
  readonly windows: RssiWindows
  kf: MotionFilter
  /** The floor the device is on (multi-floor sites), or null before its first fix. */
  floor: number | null = null
  lastSeen = -Infinity
  /**
   * Its earliest reading: no estimate more than a window before it. A steady stream has readings
   * up to about a window ahead of the tick (lateness, sensor skew), and the first fixes have always
   * used them; a reading stamped minutes ahead of its batch must not be back-dated over those minutes.
   */
  firstHeard = Infinity
  /** When the device last moved to the end of the recency order. */
  movedAt = -Infinity
  /** Running estimate of this phone's transmit offset, dB, and how many fixes it rests on. */
  offset = 0
  offsetFixes = 0
  /** The measured power at 1 m its adverts claim (contract §2 `tx`), dBm, when they do. */
  tx: number | undefined = undefined
  /** A number its tracker gave it, told apart from the other devices' (sensitivity.ts counts devices by it). */
  serial = 0
  constructor(kalman: KalmanOptions, window: WindowOptions) {
    this.kf = new MotionFilter(kalman)
    this.windows = new RssiWindows(window)
  }
}
