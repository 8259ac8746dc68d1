// A per-sensor correction map learned from a calibration walk: what walls, furniture and
// multipath add to the log-distance model at each place, as a grid of mean residuals (dB).
// Built by kernel regression (Nadaraya-Watson, Gaussian kernel) shrunk towards 0 where the walk
// left few samples, so uncovered places fall back to the plain path-loss model.

import type { RadioMapData } from '../../shared/site-schema.ts'

export class RadioMap {
  private readonly v: Float64Array
  constructor(readonly d: RadioMapData) {
    this.v = Float64Array.from(d.values)
  }

  /** Kernel weight of calibration samples at grid node (i, j): how well the walk covered it. */
  supportAt(i: number, j: number): number {
    return this.d.support?.[j * this.d.nx + i] ?? 0
  }

  /** Correction at (x, y) by bilinear interpolation, and its gradient (dB/m). */
  at(x: number, y: number, grad?: { gx: number; gy: number }): number {
    const { x0, y0, cell, nx, ny } = this.d
    const fx = Math.min(nx - 1.000001, Math.max(0, (x - x0) / cell))
    const fy = Math.min(ny - 1.000001, Math.max(0, (y - y0) / cell))
    const i = Math.floor(fx)
    const j = Math.floor(fy)
    const tx = fx - i
    const ty = fy - j
    const a = this.v[j * nx + i]
    const b = this.v[j * nx + i + 1]
    const c = this.v[(j + 1) * nx + i]
    const e = this.v[(j + 1) * nx + i + 1]
    if (grad) {
      const inX = (x - x0) / cell > 0 && (x - x0) / cell < nx - 1
      const inY = (y - y0) / cell > 0 && (y - y0) / cell < ny - 1
      grad.gx = inX ? ((b - a) * (1 - ty) + (e - c) * ty) / cell : 0
      grad.gy = inY ? ((c - a) * (1 - tx) + (e - b) * tx) / cell : 0
    }
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + e * tx) * ty
  }

  static build(samples: Array<{ x: number; y: number; r: number }>, bbox: [number, number, number, number], o: { cell: number; bandwidth: number; priorWeight: number }): RadioMap {
    const [bx0, by0, bx1, by1] = bbox
    const nx = Math.max(2, Math.ceil((bx1 - bx0) / o.cell) + 1)
    const ny = Math.max(2, Math.ceil((by1 - by0) / o.cell) + 1)
    const sw = new Float64Array(nx * ny)
    const sr = new Float64Array(nx * ny)
    const reach = Math.ceil((3 * o.bandwidth) / o.cell)
    const inv = 1 / (2 * o.bandwidth * o.bandwidth)
    for (const s of samples) {
      const ci = Math.round((s.x - bx0) / o.cell)
      const cj = Math.round((s.y - by0) / o.cell)
      for (let j = Math.max(0, cj - reach); j <= Math.min(ny - 1, cj + reach); j++) {
        for (let i = Math.max(0, ci - reach); i <= Math.min(nx - 1, ci + reach); i++) {
          const dx = bx0 + i * o.cell - s.x
          const dy = by0 + j * o.cell - s.y
          const w = Math.exp(-(dx * dx + dy * dy) * inv)
          sw[j * nx + i] += w
          sr[j * nx + i] += w * s.r
        }
      }
    }
    const values = Array.from(sw, (w, k) => Math.round((10 * sr[k]) / (w + o.priorWeight)) / 10)
    const support = Array.from(sw, w => Math.round(10 * w) / 10)
    return new RadioMap({ x0: bx0, y0: by0, cell: o.cell, nx, ny, values, support })
  }
}
