// Per-sensor path-loss model: expected RSSI at a 3-D distance, and its inverse.
// Log-distance model (Rappaport, Wireless Communications, §4.9): rssi = A - 10·n·log10(d), with
// A the RSSI at 1 m and n the path-loss exponent, both per sensor once calibrated.
import type { Site, SensorInfo } from '../../shared/site.ts'
import { RadioMap } from './radio-map.ts'

export interface SensorModel {
  id: string
  x: number
  y: number
  z: number
  floor: number
  /** RSSI at 1 m for the site's reference transmitter, dBm, offset included. */
  a: number
  /** Path-loss exponent. */
  n: number
  /**
   * How much more a raw reading at this receiver spreads than the site's typical one (1: as
   * typical), learned online (self-calibration.ts); absent until then.
   */
  spreadScale?: number
  /** Location-dependent correction learned from a calibration walk, when there was one. */
  map?: RadioMap
}

/** Distances below this are clamped: the far-field model does not hold closer (m). */
export const MIN_DISTANCE_M = 0.3

export function sensorModel(s: SensorInfo): SensorModel {
  // offsetDb is added to what the sensor reports (one that reads 3 dB low takes +3): the same as
  // expecting that much less from it.
  return {
    id: s.id,
    x: s.x,
    y: s.y,
    z: s.z,
    floor: s.floor,
    a: s.rssiAt1m - s.offsetDb,
    n: s.pathLossExponent,
    ...(s.radioMap ? { map: new RadioMap(s.radioMap) } : {})
  }
}

export function sensorModels(site: Site): Map<string, SensorModel> {
  return new Map([...site.sensors.values()].map(s => [s.id, sensorModel(s)]))
}

/** Phone-scan mode: the site's beacons act as the receivers, the phone as the transmitter. */
export function beaconModels(site: Site): Map<string, SensorModel> {
  return new Map([...site.beacons.values()].map(b => [b.id, { id: b.id, x: b.x, y: b.y, z: b.z, floor: b.floor, a: b.rssiAt1m, n: site.radio.pathLossExponent }]))
}

export function expectedRssi(m: SensorModel, d: number): number {
  return m.a - 10 * m.n * Math.log10(Math.max(d, MIN_DISTANCE_M))
}
