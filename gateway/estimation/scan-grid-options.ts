// The scan grid's options (scan-grid.ts) and the reasons it counts readings and scans by.

export interface ScanGridOptions {
  /** Cell side, m; coarsened on large sites so a phone's grid holds at most `maxCells`. */
  cellM: number
  maxCells: number
  /** Spread of one reading around the path-loss model, dB. */
  sigmaDb: number
  /**
   * Spread of the per-scan offset (the body, the phone's orientation), dB: the slow fading the
   * simulator gives a carried phone (simulators/scenario.ts `fadingSdDb`).
   */
  scanOffsetSdDb: number
  /** How far a phone's position drifts while its holder stays, m per √s (browsing, turning round). */
  driftM: number
  /** How far a phone that moves goes, m per s (a walk). */
  walkMps: number
  /**
   * Moves a phone makes per second, the site's starting guess; learned from the traffic (each
   * scan weighs whether the phone stayed or walked) with the guess counting as `moveRateWeightS` seconds.
   */
  moveRate: number
  moveRateWeightS: number
  /** The detection chance a new site starts from, and how many beacon-scans it counts as. */
  detectPrior: number
  detectPriorWeight: number
  /** A phone's own offset leans on the phones' common one as if it had this many readings. */
  phoneOffsetWeight: number
  /** How far a phone's offset may stand from the phones' common one, dB (phones differ by a few dB; a case or a hand by a few more). */
  maxPhoneOffsetDb: number
  /** How far the phones' common offset may stand from the site's rssiAt1m, dB (a site file's radio left at its defaults). */
  maxCommonOffsetDb: number
  /** A reading's residual moves an offset by at most this many `sigmaDb`. */
  clipSigmas: number
  /**
   * Heard beacons a scan is placed by, at most: the strongest (a report of hundreds costs what one
   * of this many does; the weakest say least about where the phone is).
   */
  maxHeard: number
  /** Beacons not heard that count against a place, at most: the nearest to the heard ones (farther ones would not have been heard anyway). */
  maxUnheard: number
  /** Cells a scan's likelihood is worked out on, at most: past it, over blocks of cells (coarser where the scan allows many places). */
  maxScanCells: number
  /**
   * Work (likelihood terms and blurred cells) all phones' scans may cost per second of event
   * time. A scan past it is left out of its phone's grid (counted: `over_budget`), and the solver
   * places the phone until a later scan is folded in.
   */
  workPerSecond: number
  /**
   * A phone's grid is kept this long after its last scan, ms: longer than the tracker keeps a
   * device (an app scans in bursts; one quiet for a minute is still near where it was, and its
   * own offset is still its own). Forgotten at once on erasure.
   */
  phoneTtlMs: number
  /** Phones kept at most (the least recently heard go first): a grid is `maxCells` floats. */
  maxPhones: number
}

export const defaultScanGridOptions: ScanGridOptions = {
  cellM: 1,
  maxCells: 4096,
  sigmaDb: 6,
  scanOffsetSdDb: 4,
  driftM: 0.5,
  walkMps: 1,
  moveRate: 0.02,
  moveRateWeightS: 600,
  detectPrior: 0.5,
  detectPriorWeight: 20,
  phoneOffsetWeight: 20,
  maxPhoneOffsetDb: 12,
  maxCommonOffsetDb: 20,
  clipSigmas: 2.5,
  maxHeard: 12,
  maxUnheard: 12,
  maxScanCells: 1600,
  workPerSecond: 8_000_000,
  phoneTtlMs: 300_000,
  maxPhones: 2000
}

/**
 * Readings the grid leaves out (each also counted): not a number, outside the contract's -127..0,
 * louder than any phone could read that beacon (its model at the nearest distance, the largest
 * offsets allowed and three sigmas), of a beacon the site does not hold, and past `maxHeard` in one scan.
 */
export const SCAN_READING_REASONS = ['not_finite', 'out_of_range', 'too_loud', 'unknown_beacon', 'past_max_heard'] as const
export type ScanReadingReason = (typeof SCAN_READING_REASONS)[number]

/** What became of a scan: folded into its phone's grid, left out over the work budget, or not worked out (`auto` keeps the solver on this site). */
export const SCAN_RESULTS = ['folded', 'over_budget', 'not_needed'] as const
export type ScanResult = (typeof SCAN_RESULTS)[number]
