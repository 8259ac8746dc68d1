// The solver's inputs as plain types: what likelihood.ts scores and solver.ts searches over. Kept
// apart from solver.ts so that likelihood.ts needs nothing from the solver it serves (no import cycle).
import type { SensorModel } from './radio-model.ts'

export interface Observation {
  sensor: SensorModel
  /** Mean RSSI over the recent window, dBm. */
  rssi: number
  /** Standard deviation of that mean, dB (smaller with more readings, never below the fading floor). */
  sigma: number
  /** How old, on average, the readings behind the mean are, ms. */
  ageMs?: number
  /** The receiver reports nothing weaker than this, dBm: readings near it are biased high. */
  floorDbm?: number
  /** Spread of one raw reading, dB (for the truncation correction). */
  rawSigmaDb?: number
}

/**
 * A working sensor that did not hear the device at all in the window: evidence that the device is
 * not where that sensor would have heard it above its reporting floor.
 */
export interface Silence {
  sensor: SensorModel
  /** The sensor reports nothing weaker than this, dBm. */
  floorDbm: number
}

export interface SolverOptions {
  /** Phone height above the floor, m. */
  tagHeight: number
  /** Search box [minX, minY, maxX, maxY], m: starts and answers stay inside it. */
  bounds: [number, number, number, number]
  /** Huber threshold in sigmas. */
  huberK: number
  /** An optional prior position (e.g. the tracker's prediction) used as one more start. */
  prior?: { x: number; y: number }
  /** Prior on the device's transmit offset (dB): mean and standard deviation. sd 0 = no offset. */
  offsetPrior?: { mean: number; sd: number }
  /** Working sensors that did not hear the device (used where their reporting floor is known). */
  silent?: Silence[]
  /**
   * With radio maps: likelihood temperature (>1 widens it). 1 takes the likelihood as modelled: each
   * sigma already carries a floor for correlated fading, and with maps the residuals fit it (cost per
   * degree of freedom ~0.8 on the Kolakowski track).
   */
  gridTemperature?: number
  /** With radio maps: nodes whose calibration support is below this are off the walked area. */
  minSupport?: number
  /** With radio maps: log-prior penalty (nats) of a node off the walked area. */
  offMapPenalty?: number
}
