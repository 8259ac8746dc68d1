// What one street-axis look-up (outside-traffic.ts `streetAxis`, asked at every held visit's end)
// costs against the detail of the shop's outline: a 30 x 20 m shop drawn with 4 to 10,000 vertices
// (the most a site may have), street traffic along its front with strays all round. The first call
// finds the street cells' nearest edges; later calls (more traffic counted between them) reuse them.
// CPU time of the process, per call: median of the later calls, and the first.
// Run: node --import tsx bench/street-axis-cost.ts [--calls N]
import { OutsideTraffic } from '../gateway/estimation/outside-traffic.ts'
import { parseSite, type Zone } from '../shared/site.ts'
import { Rng } from '../shared/rng.ts'
import { quantile } from '../shared/stats.ts'

/** The shop's rectangle with `per` vertices on each wall. */
function outline(per: number): number[][] {
  const corners = [
    [0, 0],
    [30, 0],
    [30, 20],
    [0, 20]
  ]
  const ring: number[][] = []
  for (let c = 0; c < 4; c++) {
    const [ax, ay] = corners[c]
    const [bx, by] = corners[(c + 1) % 4]
    for (let k = 0; k < per; k++) ring.push([ax + ((bx - ax) * k) / per, ay + ((by - ay) * k) / per])
  }
  return [...ring, ring[0]]
}

function shopOf(ring: number[][]): Zone {
  return parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: { type: 'Polygon', coordinates: [ring] } },
      { type: 'Feature', properties: { kind: 'sensor', id: 'b0' }, geometry: { type: 'Point', coordinates: [15, 10] } }
    ]
  }).shops[0]
}

const cpuMs = (f: () => void): number => {
  const a = process.cpuUsage()
  f()
  const u = process.cpuUsage(a)
  return (u.user + u.system) / 1000
}

export function streetAxisCost(calls = 30): Array<{ vertices: number; firstMs: number; medianMs: number; maxMs: number }> {
  const out = []
  // 2,499 a wall: 9,997 in the ring with its closing vertex, within the site validator's 10,000.
  for (const per of [1, 125, 500, 2499]) {
    const ring = outline(per)
    const zone = shopOf(ring)
    const rng = new Rng(5)
    const t = new OutsideTraffic()
    const traffic = (n: number) => {
      for (let k = 0; k < n; k++) t.count([zone], 0, -8 + rng.next() * 46, -6 + rng.next() * 4)
      for (let k = 0; k < n / 20; k++) t.count([zone], 0, -16 + rng.next() * 62, -16 + rng.next() * 52)
    }
    traffic(20_000)
    const firstMs = cpuMs(() => t.streetAxis(zone))
    const times: number[] = []
    for (let c = 0; c < calls; c++) {
      traffic(200)
      times.push(cpuMs(() => t.streetAxis(zone)))
    }
    times.sort((a, b) => a - b)
    out.push({ vertices: ring.length, firstMs, medianMs: quantile(times, 0.5), maxMs: times[times.length - 1] })
  }
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--calls')
  streetAxisCost(3) // warms the compiler up: the first row measured would carry it
  const rows = streetAxisCost(i > 0 ? Number(process.argv[i + 1]) : 30)
  for (const r of rows) console.log(`${r.vertices} vertices: first call ${r.firstMs.toFixed(2)} ms, then median ${r.medianMs.toFixed(3)} ms, max ${r.maxMs.toFixed(3)} ms (CPU)`)
}
