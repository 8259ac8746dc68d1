// The street's direction (outside-traffic.ts `streetAxis`) finds each traffic cell's nearest wall
// edge once, through edges bucketed around the shop (nearest-edge.ts), instead of measuring every
// street cell against every edge at every call: the same edge as that scan, hence the same axis,
// on plain and detailed outlines (ties between collinear pieces of one wall included).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OutsideTraffic } from '../../gateway/estimation/outside-traffic.ts'
import { type CellGrid, NearestEdges } from '../../gateway/estimation/nearest-edge.ts'
import { distanceToSegment } from '../../shared/geometry.ts'
import { parseSite } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import type { Zone } from '../../shared/site.ts'

type Ring = number[][]

/** A 30 x 20 m shop's outline with `per` vertices on each wall (collinear pieces: exact ties at their ends). */
function detailed(per: number): Ring {
  const corners = [
    [0, 0],
    [30, 0],
    [30, 20],
    [0, 20]
  ]
  const ring: Ring = []
  for (let c = 0; c < 4; c++) {
    const [ax, ay] = corners[c]
    const [bx, by] = corners[(c + 1) % 4]
    for (let k = 0; k < per; k++) ring.push([ax + ((bx - ax) * k) / per, ay + ((by - ay) * k) / per])
  }
  return [...ring, ring[0]]
}

/** A ragged outline of `n` vertices around (15, 10) (a star: radius varying vertex by vertex). */
function ragged(n: number, rng: Rng): Ring {
  const ring = Array.from({ length: n }, (_, k) => {
    const r = 6 + rng.next() * 8
    return [15 + r * Math.cos((2 * Math.PI * k) / n), 10 + r * Math.sin((2 * Math.PI * k) / n)]
  })
  return [...ring, ring[0]]
}

function shopOf(ring: Ring): Zone {
  const site = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: { type: 'Polygon', coordinates: [ring] } },
      { type: 'Feature', properties: { kind: 'sensor', id: 'b0' }, geometry: { type: 'Point', coordinates: [15, 10] } }
    ]
  })
  return site.shops[0]
}

/** The scan the cache replaces: every edge in order, the first of the nearest kept. */
function scanNearest(ring: Ring, x: number, y: number): number {
  let best = 0
  let bestD = Infinity
  for (let k = 0; k + 1 < ring.length; k++) {
    const d = distanceToSegment(x, y, ring[k][0], ring[k][1], ring[k + 1][0], ring[k + 1][1])
    if (d < bestD) {
      bestD = d
      best = k
    }
  }
  return best
}

/** The axis as this round's change computed it at every call (the direct computation). */
function directAxis(t: OutsideTraffic, zone: Zone): [number, number] | null {
  const g = t.state(zone.id) as unknown as (CellGrid & { counts: Float64Array; total: number; cells: number }) | undefined
  if (g === undefined || g.cells === 0) return null
  const mean = g.total / g.cells
  let w = 0
  let street = 0
  for (const n of g.counts)
    if (n >= mean) {
      w += n
      street++
    }
  if (w < 10 * street) return null
  const ring = zone.polygon.coordinates[0]
  const edges = ring.length - 1
  const load = new Float64Array(edges)
  for (let j = 0; j < g.ny; j++)
    for (let i = 0; i < g.nx; i++) {
      const n = g.counts[j * g.nx + i]
      if (n >= mean) load[scanNearest(ring, g.x0 + (i + 0.5) * g.cell, g.y0 + (j + 0.5) * g.cell)] += n
    }
  const unit: Array<[number, number] | null> = []
  let front = -1
  for (let k = 0; k < edges; k++) {
    const dx = ring[k + 1][0] - ring[k][0]
    const dy = ring[k + 1][1] - ring[k][1]
    const l = Math.hypot(dx, dy)
    unit.push(l > 0 ? [dx / l, dy / l] : null)
    load[k] = l > 0 ? load[k] / l : 0
    if (load[k] > 0 && (front < 0 || load[k] > load[front])) front = k
  }
  const u = front < 0 ? null : unit[front]
  if (u === null) return null
  let across = 0
  for (let k = 0; k < edges; k++) {
    const v = unit[k]
    if (v !== null && Math.abs(u[0] * v[0] + u[1] * v[1]) < Math.cos(Math.PI / 6)) across = Math.max(across, load[k])
  }
  return load[front] >= 2 * across ? u : null
}

const outlines = (rng: Rng): Array<{ what: string; ring: Ring }> => [
  { what: 'a plain rectangle', ring: detailed(1) },
  { what: 'a rectangle of 9,997 vertices (the most a site may have)', ring: detailed(2499) },
  { what: 'a ragged outline of 40 vertices', ring: ragged(40, rng) },
  { what: 'a ragged outline of 3,000 vertices', ring: ragged(3000, rng) }
]

test('every cell of the map gets the edge a scan of all edges in order finds', () => {
  const rng = new Rng(3)
  for (const { what, ring } of outlines(rng)) {
    const zone = shopOf(ring)
    const t = new OutsideTraffic()
    t.count([zone], 0, -100, -100) // makes the zone's grid
    const g = t.state(zone.id) as unknown as CellGrid
    const near = new NearestEdges(zone.polygon.coordinates[0], g)
    let differ = 0
    // Every cell of a plain outline's map; a spread of cells of a detailed one's (the scan is slow).
    const step = ring.length > 100 ? 5 : 1
    for (let j = 0; j < g.ny; j++)
      for (let i = j % step; i < g.nx; i += step) {
        const want = scanNearest(ring, g.x0 + (i + 0.5) * g.cell, g.y0 + (j + 0.5) * g.cell)
        if (near.of(j * g.nx + i) !== want) differ++
        assert.equal(near.of(j * g.nx + i), want, `${what}: cell ${i}, ${j} asked again`)
      }
    assert.equal(differ, 0, `${what}: cells given another edge`)
  }
})

test('the street axis is the direct computation’s, call after call as traffic is counted', () => {
  const rng = new Rng(11)
  let axes = 0
  for (const { what, ring } of outlines(rng)) {
    const zone = shopOf(ring)
    // A street along the front (y about -4), a side street, and stray fixes all round, in rounds.
    const t = new OutsideTraffic()
    for (let round = 0; round < 8; round++) {
      for (let k = 0; k < 800; k++) t.count([zone], 0, -6 + rng.next() * 42, -6 + rng.next() * 4)
      if (round >= 4) for (let k = 0; k < 300 * (round - 3); k++) t.count([zone], 0, 32 + rng.next() * 4, rng.next() * 20)
      for (let k = 0; k < 40; k++) t.count([zone], 0, -16 + rng.next() * 62, -16 + rng.next() * 52)
      const got = t.streetAxis(zone)
      assert.deepEqual(got, directAxis(t, zone), `${what}, round ${round}`)
      if (got !== null) axes++
    }
  }
  assert.ok(axes > 6, `a street found in most rounds (${axes})`)
})
