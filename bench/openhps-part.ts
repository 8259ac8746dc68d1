// The OpenHPS rows of `npm run bench -- accuracy`: printed, and returned for results.json.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Summary } from '../shared/stats.ts'
import { openHpsAccuracy, type MethodScore, type OpenHpsResult } from './openhps.ts'

const f2 = (v: number) => v.toFixed(2)
const cols = (s: Summary) => `mean ${f2(s.mean)} m  median ${f2(s.median)} m  p95 ${f2(s.p95)} m`

export function openHpsPart(dir: string): OpenHpsResult | null {
  if (!existsSync(join(dir, 'beacons.csv'))) {
    console.log(` (skipped: no ${join(dir, 'beacons.csv')})`)
    return null
  }
  const r = openHpsAccuracy(dir)
  console.log(` real: OpenHPS office floor, phone-scan (11 beacons, ${r.testPoints} test points x 4 headings, ${r.testScans} scans; site defaults, no survey for the gateway)`)
  const rows: Array<[string, MethodScore]> = [
    ['nearest beacon', r.nearestBeacon],
    [`k-NN fingerprinting (train split, k ${r.knn.k.k} / ${r.knn.k5s.k})`, r.knn],
    ['gateway (self-cal.)', r.gateway],
    ["gateway after the phone's earlier traffic", r.gatewayWarm],
    ['gateway, no self-calibration', r.gatewayNoSelfCalibration],
    ['diagnostic: gateway, repeated values dropped', r.gatewayFreshOnly],
    // Uses the train split: how far a perfectly calibrated path-loss model would get, not a gateway figure.
    ['diagnostic: gateway, radio refitted on train', r.gatewayRefitted]
  ]
  for (const [name, m] of rows) {
    console.log(`  ${name.padEnd(44)} per scan: ${cols(m.perScan)} (${m.perScan.n})`)
    console.log(`  ${''.padEnd(44)} after 5 s: ${cols(m.after5s)} (${m.after5s.n} points)`)
  }
  console.log(`    gateway's per-scan mean at most k-NN's: ${r.gatewayAtMostKnn ? 'yes' : 'no'}`)
  const d = r.diagnosis
  const offsets = Object.values(d.beaconOffsetsDb)
  console.log(
    `    radio, from the train split's ${d.readings} readings at known points: ${f2(d.beaconsPerScan)} beacons per scan, ${(100 * d.scansWithThree).toFixed(0)}% of scans hear 3 or more;` +
      ` site model off by ${f2(d.defaultModel.meanDb)} dB (spread ${f2(d.defaultModel.sdDb)} dB); refitted rssiAt1m ${f2(d.fitted.rssiAt1m)} dBm, exponent ${f2(d.fitted.pathLossExponent)}, spread ${f2(d.fitted.sdDb)} dB;` +
      ` per-beacon offsets ${f2(Math.min(...offsets))}..${f2(Math.max(...offsets))} dB (spread left ${f2(d.perBeaconSdDb)} dB); fixed by place ${f2(d.byPlace.staticSdDb)} dB, varying at a place ${f2(d.byPlace.varyingSdDb)} dB; heading ${Object.entries(
        d.headingDb
      )
        .map(([h, v]) => `${h}°: ${f2(v)}`)
        .join(', ')} dB;` +
      ` spread with beacons at phone height ${f2(d.heightSdDb.phoneHeight)} dB, at 4 m ${f2(d.heightSdDb.fourMetres)} dB`
  )
  return r
}
