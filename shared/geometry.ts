// Planar geometry on the site's metre frame. Turf's point-in-polygon is planar and safe
// here; its distance/area helpers assume degrees and must not be used on this frame. Only the
// Turf modules used are imported, not @turf/turf: loading all of it costs a store box memory.
import { booleanPointInPolygon } from '@turf/boolean-point-in-polygon'
import type { Polygon } from './site-schema.ts'

export type BBox = [minX: number, minY: number, maxX: number, maxY: number]

export function polygonBBox(poly: Polygon): BBox {
  let minX = Infinity
  let minY = Infinity
  let maxX = -Infinity
  let maxY = -Infinity
  for (const [x, y] of poly.coordinates[0]) {
    if (x < minX) minX = x
    if (y < minY) minY = y
    if (x > maxX) maxX = x
    if (y > maxY) maxY = y
  }
  return [minX, minY, maxX, maxY]
}

export function pointInPolygon(x: number, y: number, zone: { polygon: Polygon; bbox: BBox }): boolean {
  const b = zone.bbox
  if (x < b[0] || x > b[2] || y < b[1] || y > b[3]) return false
  return booleanPointInPolygon([x, y], zone.polygon)
}

/** Distance from a point to a polygon's outer boundary, metres. */
export function distanceToBoundary(x: number, y: number, poly: Polygon): number {
  const ring = poly.coordinates[0]
  let best = Infinity
  for (let i = 0; i + 1 < ring.length; i++) {
    const d = distanceToSegment(x, y, ring[i][0], ring[i][1], ring[i + 1][0], ring[i + 1][1])
    if (d < best) best = d
  }
  return best
}

/** Signed distance from a point to a zone's outer boundary, metres: positive inside, negative outside. */
export function signedDepth(x: number, y: number, zone: { polygon: Polygon; bbox: BBox }): number {
  const d = distanceToBoundary(x, y, zone.polygon)
  return pointInPolygon(x, y, zone) ? d : -d
}

// The zone stage measures depths per fix, zone and edge: these helpers return numbers, not
// points, so that hot path allocates nothing (the very operations of `closestOnSegment`).
export function distanceToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const t = segmentParam(px, py, ax, ay, bx, by)
  return hypot2(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay)))
}

/**
 * `Math.hypot(x, y)` to the bit, as V8 works it out (its MathHypot builtin, src/builtins/math.tq:
 * scaled by the larger magnitude, Kahan-summed, infinity before NaN), written out because the
 * optimizing compiler does not inline the builtin: every call there allocates a scratch array and
 * its result. test/unit/hot-path-same.test.ts compares it with `Math.hypot` on random bit patterns.
 */
export function hypot2(x: number, y: number): number {
  const ax = Math.abs(x)
  const ay = Math.abs(y)
  if (ax === Infinity || ay === Infinity) return Infinity
  if (Number.isNaN(ax) || Number.isNaN(ay)) return Number.NaN
  const max = Math.max(ax, ay)
  if (max === 0) return 0
  // With two terms the Kahan compensation after the first is exactly 0, so the sum is plain.
  const nx = ax / max
  const ny = ay / max
  return Math.sqrt(nx * nx + ny * ny) * max
}

/**
 * `Math.hypot(x, y, z)` to the bit, as V8 works it out (the same builtin as `hypot2`: NaN noted,
 * infinity first, then every term scaled by the largest and Kahan-summed in argument order).
 * Self-calibration's 3-D distance per sensor of every fix called the builtin.
 */
export function hypot3(x: number, y: number, z: number): number {
  const ax = Math.abs(x)
  const ay = Math.abs(y)
  const az = Math.abs(z)
  if (ax === Infinity || ay === Infinity || az === Infinity) return Infinity
  if (Number.isNaN(ax) || Number.isNaN(ay) || Number.isNaN(az)) return Number.NaN
  const max = Math.max(ax, ay, az)
  if (max === 0) return 0
  const nx = ax / max
  const ny = ay / max
  const nz = az / max
  // The first term's compensation is exactly 0; the second and third follow the builtin's loop.
  let sum = nx * nx
  let summand = ny * ny
  let preliminary = sum + summand
  const compensation = preliminary - sum - summand
  sum = preliminary
  summand = nz * nz - compensation
  preliminary = sum + summand
  return Math.sqrt(preliminary) * max
}

/** Where on the segment a→b the point closest to p lies, 0 (at a) to 1 (at b). */
function segmentParam(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax
  const dy = by - ay
  const len2 = dx * dx + dy * dy
  return len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2))
}

export function closestOnSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): [number, number] {
  const t = segmentParam(px, py, ax, ay, bx, by)
  return [ax + t * (bx - ax), ay + t * (by - ay)]
}

/** The closest point of a polygon (inside or on its boundary) to (x, y). */
export function clampToPolygon(x: number, y: number, zone: { polygon: Polygon; bbox: BBox }): [number, number] {
  return pointInPolygon(x, y, zone) ? [x, y] : closestOnBoundary(x, y, zone.polygon)
}

/** The closest point of a polygon's outer boundary to (x, y), from inside or outside. */
export function closestOnBoundary(x: number, y: number, poly: Polygon): [number, number] {
  const ring = poly.coordinates[0]
  let bx = ring[0][0]
  let by = ring[0][1]
  let bestD = Infinity
  for (let i = 0; i + 1 < ring.length; i++) {
    const ax = ring[i][0]
    const ay = ring[i][1]
    const t = segmentParam(x, y, ax, ay, ring[i + 1][0], ring[i + 1][1])
    const qx = ax + t * (ring[i + 1][0] - ax)
    const qy = ay + t * (ring[i + 1][1] - ay)
    const d = hypot2(x - qx, y - qy)
    if (d < bestD) {
      bestD = d
      bx = qx
      by = qy
    }
  }
  return [bx, by]
}

/** A uniformly random point inside a polygon (rejection sampling in its bounding box). */
export function randomPointIn(zone: { polygon: Polygon; bbox: BBox }, rand: () => number, margin = 0): [number, number] {
  const [x0, y0, x1, y1] = zone.bbox
  for (let i = 0; i < 1000; i++) {
    const x = x0 + margin + rand() * Math.max(0, x1 - x0 - 2 * margin)
    const y = y0 + margin + rand() * Math.max(0, y1 - y0 - 2 * margin)
    if (pointInPolygon(x, y, zone) && (margin === 0 || distanceToBoundary(x, y, zone.polygon) >= margin)) return [x, y]
  }
  return [(x0 + x1) / 2, (y0 + y1) / 2]
}

export function polygonCentroid(poly: Polygon): [number, number] {
  const ring = poly.coordinates[0]
  let a = 0
  let cx = 0
  let cy = 0
  for (let i = 0; i + 1 < ring.length; i++) {
    const f = ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1]
    a += f
    cx += (ring[i][0] + ring[i + 1][0]) * f
    cy += (ring[i][1] + ring[i + 1][1]) * f
  }
  if (a === 0) return [ring[0][0], ring[0][1]]
  return [cx / (3 * a), cy / (3 * a)]
}

/**
 * True when two simple polygons share interior area. Sectors that only touch along an edge do
 * not overlap (turf's booleanOverlap counts shared edges, which site files use all the time).
 */
export function interiorsOverlap(a: Polygon, b: Polygon): boolean {
  const ra = a.coordinates[0]
  const rb = b.coordinates[0]
  // Edge i of a is edge i, edge j of b is edge (ra.length + j): only pairs from different rings count.
  const na = ra.length - 1
  const edges = [...ra.slice(0, -1).map((p, i): Edge => [p, ra[i + 1]]), ...rb.slice(0, -1).map((p, j): Edge => [p, rb[j + 1]])]
  if (anyCross(edges, (i, j) => i < na === j < na)) return true
  const strictlyIn = (p: number[], poly: Polygon) => booleanPointInPolygon(p, poly, { ignoreBoundary: true })
  const probes = (ring: number[][]) => {
    const out: number[][] = []
    for (let i = 0; i + 1 < ring.length; i++) out.push(ring[i], [(ring[i][0] + ring[i + 1][0]) / 2, (ring[i][1] + ring[i + 1][1]) / 2])
    return out
  }
  if (probes(ra).some(p => strictlyIn(p, b)) || probes(rb).some(p => strictlyIn(p, a))) return true
  return strictlyIn(polygonCentroid(a), b) || strictlyIn(polygonCentroid(b), a)
}

function properCross(p1: number[], p2: number[], q1: number[], q2: number[]): boolean {
  const o = (a: number[], b: number[], c: number[]) => Math.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
  const d1 = o(q1, q2, p1)
  const d2 = o(q1, q2, p2)
  const d3 = o(p1, p2, q1)
  const d4 = o(p1, p2, q2)
  return d1 * d2 < 0 && d3 * d4 < 0
}

/** True when two non-adjacent edges of a closed ring cross (a bow-tie or worse). */
export function ringSelfIntersects(ring: number[][]): boolean {
  const n = ring.length - 1
  const edges = ring.slice(0, -1).map((p, i): Edge => [p, ring[i + 1]])
  // Neighbours share a vertex (the first and last edges too): not a crossing.
  return anyCross(edges, (i, j) => Math.abs(i - j) < 2 || Math.abs(i - j) === n - 1)
}

type Edge = [number[], number[]]

/**
 * Whether two edges properly cross, `skip` naming pairs not to compare (by index). A sweep along x:
 * edges sorted by their left end, each compared only with the edges whose x-range it overlaps, so
 * an outline of n vertices costs O(n log n) plus its x-overlapping pairs, not all n^2/2 pairs. A ring whose edges mostly overlap along x
 * (a fine zigzag) still costs nearly n^2/2: the site's vertex cap (site.ts) bounds that.
 */
function anyCross(edges: Edge[], skip: (i: number, j: number) => boolean): boolean {
  const minX = edges.map(([p, q]) => Math.min(p[0], q[0]))
  const maxX = edges.map(([p, q]) => Math.max(p[0], q[0]))
  const order = edges.map((_, i) => i).sort((a, b) => minX[a] - minX[b])
  let active: number[] = []
  for (const i of order) {
    active = active.filter(j => maxX[j] >= minX[i])
    for (const j of active) if (!skip(i, j) && properCross(edges[i][0], edges[i][1], edges[j][0], edges[j][1])) return true
    active.push(i)
  }
  return false
}
