// Where a closed Wi-Fi burst was (wifi-devices.ts): the solver on its per-sensor mean RSSI, placed
// in shop and sector, with its depth inside the shop.
import { locate, type Site } from '../../shared/site.ts'
import { signedDepth } from '../../shared/geometry.ts'
import { solve, type Observation } from '../estimation/solver.ts'
import type { SensorModel } from '../estimation/radio-model.ts'
import type { Burst } from './wifi-device-types.ts'

/** One address's frames until it is quiet for `burstGapMs`. */
export interface Pending {
  first: number
  last: number
  randomized: boolean
  seq: number | null
  fp: string | null
  sum: Map<string, { s: number; n: number; max: number }>
}

/** The burst's place, or null when no known sensor heard it or the solver found none. */
export function locateBurst(p: Pending, models: Map<string, SensorModel>, site: Site, bounds: [number, number, number, number]): Burst | null {
  const obs: Observation[] = []
  let maxRssi = -Infinity
  for (const [sensor, s] of p.sum) {
    const m = models.get(sensor)
    if (!m) continue
    // One burst's frames share their fading: averaging them narrows the spread little.
    obs.push({ sensor: m, rssi: s.s / s.n, sigma: 6 })
    // The loudest sensor's mean over the burst: the max of every frame at every sensor is biased high, most for passers-by heard by many.
    maxRssi = Math.max(maxRssi, s.s / s.n)
  }
  if (obs.length === 0) return null
  const fix = solve(obs, { tagHeight: site.radio.tagHeightM, bounds: bounds, huberK: 2, offsetPrior: { mean: 0, sd: 4 } })
  if (fix === null) return null
  const loudest = obs.reduce((a, o) => (o.rssi > a.rssi ? o : a)).sensor
  const where = locate(site, fix.x, fix.y, loudest.floor)
  const shop = site.shops.find(z => z.id === where.shop)
  const depth = shop === undefined ? 0 : Math.max(0, signedDepth(fix.x, fix.y, shop))
  return { ts: p.first, x: fix.x, y: fix.y, floor: loudest.floor, shop: where.shop, sector: where.sector, maxRssi, depth, seq: p.seq, fp: p.fp, sensor: loudest.id }
}
