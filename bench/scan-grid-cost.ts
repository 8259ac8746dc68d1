// The scan grid's cost per phone scan on big phone-scan sites (issue 31): 100 and 1,000 beacons on
// a 15 m lattice, 30 phones scanning once a second, each hearing its three nearest beacons. Prints
// the wall and CPU time per scan folded in, and (where the grid counts it) the work per scan, its bound, and
// the scans left to the solver over the budget.
//
//   node --import tsx bench/scan-grid-cost.ts [module exporting ScanGrid] [seconds, default 20]
//
// The module defaults to gateway/estimation/scan-grid.ts; give another (an older version of the
// file, copied with its imports fixed) to measure that one on the same traffic.
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseSite, type Site } from '../shared/site.ts'
import { beaconModels, expectedRssi, type SensorModel } from '../gateway/estimation/radio-model.ts'

interface Grid {
  add(phone: string, beacon: string, ts: number, rssi: number, models: ReadonlyMap<string, SensorModel>): unknown
  fix(phone: string, t: number, models: ReadonlyMap<string, SensorModel>): unknown
  work?: number
  maxWorkPerScan?: number
  maxScanWork?: number
  results?: Record<string, number>
}

function lattice(perSide: number, spacing: number): Site {
  const side = perSide * spacing
  const beacons: Array<[number, number]> = []
  for (let j = 0; j < perSide; j++) for (let i = 0; i < perSide; i++) beacons.push([(i + 0.5) * spacing, (j + 0.5) * spacing])
  return parseSite({
    type: 'FeatureCollection',
    storeId: 'cost',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, tagHeightM: 1.2 },
    features: [
      {
        type: 'Feature',
        properties: { kind: 'shop', id: 'floor' },
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [side, 0],
              [side, side],
              [0, side],
              [0, 0]
            ]
          ]
        }
      },
      ...beacons.map(([x, y], i) => ({
        type: 'Feature' as const,
        properties: { kind: 'beacon' as const, id: `b${i}`, z: 2.5 },
        geometry: { type: 'Point' as const, coordinates: [x, y] as [number, number] }
      }))
    ]
  })
}

const modulePath = resolve(process.argv[2] ?? 'gateway/estimation/scan-grid.ts')
const { ScanGrid } = (await import(pathToFileURL(modulePath).href)) as { ScanGrid: new (site: Site) => Grid }
console.log(`scan grid cost: ${modulePath}`)
for (const perSide of [10, 32]) {
  const site = lattice(perSide, 15)
  const models = beaconModels(site)
  const grid = new ScanGrid(site)
  let s = 7
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
  const side = perSide * 15
  const phones = Array.from({ length: 30 }, (_, i) => ({ id: `p${i}`, x: side * rand(), y: side * rand() }))
  const seconds = Number(process.argv[3] ?? 20)
  let ms = 0
  let cpu = 0
  for (let t = 1; t <= seconds; t++) {
    for (const p of phones) {
      const near = [...models.values()].map(m => ({ m, d: Math.hypot(m.x - p.x, m.y - p.y, m.z - 1.2) })).sort((a, b) => a.d - b.d)
      for (const { m, d } of near.slice(0, 3)) grid.add(p.id, m.id, 1000 * t, Math.round(expectedRssi(m, d) + 6 * (rand() - 0.5)), models)
    }
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    for (const p of phones) grid.fix(p.id, 1000 * t + 500, models)
    ms += performance.now() - t0
    const c = process.cpuUsage(c0)
    cpu += (c.user + c.system) / 1000
  }
  const scans = seconds * phones.length
  const folded = grid.results?.folded ?? scans
  const counted =
    grid.work === undefined
      ? ''
      : `; work per scan ${((grid.work ?? 0) / folded).toFixed(0)} (most ${grid.maxWorkPerScan}, bound ${grid.maxScanWork}); ${JSON.stringify(grid.results)}`
  console.log(
    `  ${models.size} beacons, ${side} m square, ${phones.length} phones x ${seconds} s: ${(ms / folded).toFixed(2)} ms per scan folded in (CPU ${(cpu / folded).toFixed(2)} ms), ${(ms / seconds).toFixed(0)} ms per second (CPU ${(cpu / seconds).toFixed(0)} ms)${counted}`
  )
}
