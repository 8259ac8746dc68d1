// Cost of one tick of the grid filter (grid-filter.ts) for one device: the likelihood at every
// cell (receivers heard and silent), both motion layers' kernels and the fixed-lag smoother back
// over the kept steps. On a flat the size of the Kolakowski one at the default cell size, and on a
// site large enough to hit `maxCells`.
import { parseSite } from '../shared/site.ts'
import { Rng } from '../shared/rng.ts'
import { GridFilters, defaultGridFilterOptions } from '../gateway/estimation/grid-filter.ts'
import { sensorModels, expectedRssi } from '../gateway/estimation/radio-model.ts'
import type { Silence } from '../gateway/estimation/solver.ts'

function site(w: number, h: number, perSide: number) {
  const sensors = []
  for (let i = 0; i < perSide; i++)
    for (let j = 0; j < perSide; j++)
      sensors.push({
        type: 'Feature' as const,
        properties: { kind: 'sensor' as const, id: `s${i}-${j}`, z: 2.5 },
        geometry: { type: 'Point' as const, coordinates: [((i + 0.5) * w) / perSide, ((j + 0.5) * h) / perSide] }
      })
  return parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, outsideHeard: false },
    features: [
      {
        type: 'Feature',
        properties: { kind: 'shop', id: 'shop' },
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [w, 0],
              [w, h],
              [0, h],
              [0, 0]
            ]
          ]
        }
      },
      ...sensors
    ]
  })
}

/** µs per tick and cells, for a device walking across a w x h site of perSide² receivers, hearing the `heard` nearest. */
function tickCost(w: number, h: number, perSide: number, heard: number, ticks: number): { us: number; cells: number } {
  const s = site(w, h, perSide)
  const models = [...sensorModels(s).values()]
  const grids = GridFilters.create(s, [0, 0, w, h], defaultGridFilterOptions, 2000, 'grid') as GridFilters
  const r = new Rng(1)
  const device = {}
  const options = { tagHeight: 1.3, bounds: [0, 0, w, h] as [number, number, number, number], huberK: 2, offsetPrior: { mean: 0, sd: 2 } }
  let t0 = process.hrtime.bigint()
  // The first quarter of the ticks warms the code up and is not counted.
  const warm = Math.floor(ticks / 4)
  for (let k = 0; k < ticks + warm; k++) {
    if (k === warm) t0 = process.hrtime.bigint()
    const x = (w * (k % 100)) / 100
    const y = h / 2
    const byDistance = models.map(m => ({ m, d: Math.hypot(x - m.x, y - m.y, 1.3 - m.z) })).sort((a, b) => a.d - b.d)
    const obs = byDistance.slice(0, heard).map(({ m, d }) => ({ sensor: m, rssi: expectedRssi(m, d) + r.normal(0, 3), sigma: 3, floorDbm: -100 }))
    const silent: Silence[] = byDistance.slice(heard).map(({ m }) => ({ sensor: m, floorDbm: -95 }))
    grids.step(device, 0, k * 1000 + 1000, k * 1000 + 1000, obs, options, silent)
  }
  return { us: Number(process.hrtime.bigint() - t0) / 1000 / ticks, cells: grids.layout.size }
}

export function gridCost(ticks = 200): { flatUs: number; flatCells: number; largeUs: number; largeCells: number } {
  const f = tickCost(9, 7, 2, 4, ticks)
  const l = tickCost(100, 60, 5, 12, ticks)
  return { flatUs: f.us, flatCells: f.cells, largeUs: l.us, largeCells: l.cells }
}
