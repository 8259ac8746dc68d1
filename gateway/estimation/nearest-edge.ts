// The edge of a shop's outline nearest each cell of its traffic map (outside-traffic.ts
// `streetAxis`). The axis is asked at every held visit's end, on the main thread: measuring every
// street cell against every edge there made its cost grow with the outline (a site may draw one
// with thousands of vertices). Cells and edges are fixed for a site, so each cell's nearest edge is
// looked up once and kept; the look-up searches the edges bucketed on a coarse grid, ring by ring
// outwards, instead of all of them. It finds the very edge a scan of all of them in order finds:
// the nearest, the first in the ring's order on a tie (the same distance to the bit, from the same
// `distanceToSegment` call).
import { distanceToSegment } from '../../shared/geometry.ts'

type Ring = ReadonlyArray<readonly number[]>

/** How far beyond its bounds an edge is put in buckets, m: far above rounding on a site's scale (a few km). */
const EPS_M = 1e-6

/** A traffic map's cells: lower-left corner, side (m) and how many across and up. */
export interface CellGrid {
  x0: number
  y0: number
  cell: number
  nx: number
  ny: number
}

export class NearestEdges {
  readonly edges: number
  /** Per edge: its length (m) and unit direction (0, 0 where it has no length). */
  readonly length: Float64Array
  readonly ux: Float64Array
  readonly uy: Float64Array
  /** Per-edge sums, scratch for the caller (left all zero after each use). */
  readonly load: Float64Array
  /** Per cell, its nearest edge; -1 until asked. */
  private readonly memo: Int32Array
  private readonly side: number
  private readonly bnx: number
  private readonly bny: number
  /** Edges per bucket (row-major): those of `list[start[b], start[b + 1])`. */
  private readonly start: Int32Array
  private readonly list: Int32Array

  constructor(
    readonly ring: Ring,
    private readonly g: CellGrid
  ) {
    const edges = Math.max(0, ring.length - 1)
    this.edges = edges
    this.length = new Float64Array(edges)
    this.ux = new Float64Array(edges)
    this.uy = new Float64Array(edges)
    this.load = new Float64Array(edges)
    for (let k = 0; k < edges; k++) {
      const dx = ring[k + 1][0] - ring[k][0]
      const dy = ring[k + 1][1] - ring[k][1]
      const l = Math.hypot(dx, dy)
      this.length[k] = l
      if (l > 0) {
        this.ux[k] = dx / l
        this.uy[k] = dy / l
      }
    }
    this.memo = new Int32Array(g.nx * g.ny).fill(-1)
    // About one edge a bucket, never buckets smaller than a cell: a 4-edge outline is one or two
    // buckets (a scan of all), a detailed one a bucket a cell.
    const w = g.nx * g.cell
    const h = g.ny * g.cell
    this.side = Math.max(g.cell, Math.sqrt((w * h) / Math.max(1, edges)))
    this.bnx = Math.max(1, Math.ceil(w / this.side))
    this.bny = Math.max(1, Math.ceil(h / this.side))
    const per: number[][] = Array.from({ length: this.bnx * this.bny }, () => [])
    for (let k = 0; k < edges; k++) this.place(k, per)
    this.start = new Int32Array(per.length + 1)
    for (let b = 0; b < per.length; b++) this.start[b + 1] = this.start[b] + per[b].length
    this.list = new Int32Array(this.start[per.length])
    for (let b = 0; b < per.length; b++) this.list.set(per[b], this.start[b])
  }

  /** The edge nearest the centre of cell `c` (0 for an outline of no edges). */
  of(c: number): number {
    const m = this.memo[c]
    if (m >= 0) return m
    const g = this.g
    const x = g.x0 + ((c % g.nx) + 0.5) * g.cell
    const y = g.y0 + (Math.floor(c / g.nx) + 0.5) * g.cell
    const k = this.search(x, y)
    this.memo[c] = k
    return k
  }

  /** The nearest edge to (x, y), the lowest-numbered of equally near ones (a scan in order keeps the first). */
  private search(x: number, y: number): number {
    const ring = this.ring
    const bi = this.clampI(Math.floor((x - this.g.x0) / this.side))
    const bj = this.clampJ(Math.floor((y - this.g.y0) / this.side))
    let best = -1
    let bestD = Infinity
    const rings = Math.max(this.bnx, this.bny)
    for (let r = 0; r <= rings; r++) {
      // Every point of a bucket r rings out is at least r - 1 buckets away; the margin keeps an
      // edge exactly as near (rounded the other way) in play, for the tie.
      if (r > 0 && (r - 1) * this.side > bestD * (1 + 1e-9) + 1e-9) break
      for (let j = bj - r; j <= bj + r; j++) {
        if (j < 0 || j >= this.bny) continue
        const edge = j === bj - r || j === bj + r
        for (let i = bi - r; i <= bi + r; i += edge || r === 0 ? 1 : 2 * r) {
          if (i < 0 || i >= this.bnx) continue
          const b = j * this.bnx + i
          for (let e = this.start[b]; e < this.start[b + 1]; e++) {
            const k = this.list[e]
            const d = distanceToSegment(x, y, ring[k][0], ring[k][1], ring[k + 1][0], ring[k + 1][1])
            if (d < bestD || (d === bestD && k < best)) {
              bestD = d
              best = k
            }
          }
        }
      }
    }
    return Math.max(best, 0)
  }

  /** Puts edge k in every bucket it passes through (row by row, widened by EPS_M for rounding). */
  private place(k: number, per: number[][]): void {
    const [ax, ay] = this.ring[k]
    const [bx, by] = this.ring[k + 1]
    const { x0, y0 } = this.g
    const s = this.side
    const j0 = this.clampJ(Math.floor((Math.min(ay, by) - EPS_M - y0) / s))
    const j1 = this.clampJ(Math.floor((Math.max(ay, by) + EPS_M - y0) / s))
    for (let j = j0; j <= j1; j++) {
      let lo = Math.min(ax, bx)
      let hi = Math.max(ax, bx)
      if (ay !== by) {
        // Where the segment is within this row's slab of y.
        const t0 = Math.max(0, Math.min(1, (y0 + j * s - EPS_M - ay) / (by - ay)))
        const t1 = Math.max(0, Math.min(1, (y0 + (j + 1) * s + EPS_M - ay) / (by - ay)))
        const xa = ax + t0 * (bx - ax)
        const xb = ax + t1 * (bx - ax)
        lo = Math.min(xa, xb)
        hi = Math.max(xa, xb)
      }
      const i0 = this.clampI(Math.floor((lo - EPS_M - x0) / s))
      const i1 = this.clampI(Math.floor((hi + EPS_M - x0) / s))
      for (let i = i0; i <= i1; i++) per[j * this.bnx + i].push(k)
    }
  }

  private clampI(i: number): number {
    return Number.isFinite(i) ? Math.max(0, Math.min(this.bnx - 1, i)) : 0
  }

  private clampJ(j: number): number {
    return Number.isFinite(j) ? Math.max(0, Math.min(this.bny - 1, j)) : 0
  }
}
