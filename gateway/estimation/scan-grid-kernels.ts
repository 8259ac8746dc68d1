// The scan grid's inner loops (scan-grid.ts), each with a cost bounded by the grid's size and the
// options, never by the site's beacon count: the table of a not-heard beacon's likelihood, the
// blur of a posterior by a random walk, and each beacon's nearest neighbours (the beacons a scan
// that heard it could have heard too).
import { normalUpperTail } from './sensitivity.ts'

/** The not-heard table's step, dB, and its reach either side of the floor, in sigmas of a reading. */
const TABLE_STEP_DB = 0.25
const TABLE_SIGMAS = 8
/** Widest Gaussian kernel applied as such, cells either side; wider walks take three box passes (the same spread, a cost that does not grow with it). */
const MAX_KERNEL_R = 6

/**
 * ln P(not reported | expected reading e) = ln(1 - detect · P(reading above the floor)), as a
 * table over Δ = e - floor (dB): one lookup per beacon and cell instead of a tail integral.
 */
export class UnheardTable {
  readonly values: Float64Array
  private readonly lo: number
  private detectAt = Number.NaN

  constructor(private readonly sigmaDb: number) {
    this.lo = -TABLE_SIGMAS * sigmaDb
    this.values = new Float64Array(Math.ceil((2 * TABLE_SIGMAS * sigmaDb) / TABLE_STEP_DB) + 1)
  }

  /** Refills the table for a detection chance (a no-op when it has not moved); returns the work done, entries computed. */
  set(detect: number): number {
    if (Math.abs(detect - this.detectAt) < 1e-4) return 0
    this.detectAt = detect
    for (let i = 0; i < this.values.length; i++) this.values[i] = Math.log(1 - detect * normalUpperTail(-(this.lo + i * TABLE_STEP_DB) / this.sigmaDb))
    return this.values.length
  }

  /** The term for Δ = expected - floor, dB (linear between entries; the ends beyond). */
  at(delta: number): number {
    const u = (delta - this.lo) / TABLE_STEP_DB
    if (u <= 0) return this.values[0]
    const last = this.values.length - 1
    if (u >= last) return this.values[last]
    const i = Math.floor(u)
    const f = u - i
    return this.values[i] + f * (this.values[i + 1] - this.values[i])
  }
}

/** The work `blur` does for a walk of `sigma` m on nx x ny cells of `step` m (what it returns), known before it runs. */
export function blurWork(nx: number, ny: number, step: number, sigma: number): number {
  if (sigma < 0.1 * step) return 0
  const r = Math.ceil((3 * sigma) / step)
  return r <= MAX_KERNEL_R ? 2 * nx * ny * (2 * r + 1) : 6 * nx * ny
}

/**
 * Spreads the posterior `p` (nx x ny cells of `step` m) by a random walk of `sigma` m, into itself,
 * with `tmp` (as long as `p`) and `kernel` (at least 2 * MAX_KERNEL_R + 1) as scratch. Nobody leaves
 * through the grid's edge. Returns the work done: cell-taps.
 */
export function blur(p: Float32Array, nx: number, ny: number, step: number, sigma: number, tmp: Float32Array, kernel: Float64Array): number {
  if (sigma < 0.1 * step) return 0
  const s = sigma / step
  const r = Math.ceil(3 * s)
  if (r <= MAX_KERNEL_R) {
    for (let i = -r; i <= r; i++) kernel[i + r] = Math.exp(-0.5 * (i / s) ** 2)
    for (let pass = 0; pass < 2; pass++) {
      const src = pass === 0 ? p : tmp
      const dst = pass === 0 ? tmp : p
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          let sum = 0
          let w = 0
          for (let i = -r; i <= r; i++) {
            const xx = pass === 0 ? x + i : x
            const yy = pass === 0 ? y : y + i
            if (xx < 0 || xx >= nx || yy < 0 || yy >= ny) continue
            sum += kernel[i + r] * src[yy * nx + xx]
            w += kernel[i + r]
          }
          dst[y * nx + x] = sum / w
        }
      }
    }
    return 2 * nx * ny * (2 * r + 1)
  }
  // Three box passes per axis have the Gaussian's spread: each box of width w adds (w² - 1) / 12 cells².
  const half = Math.min(Math.max(nx, ny), Math.max(1, Math.round((Math.sqrt(4 * s * s + 1) - 1) / 2)))
  for (let pass = 0; pass < 3; pass++) {
    boxRows(p, tmp, nx, ny, half)
    boxColumns(tmp, p, nx, ny, half)
  }
  return 6 * nx * ny
}

/** A box average of half-width `half` along each row, by a running sum (the edge: over the cells inside). */
function boxRows(src: Float32Array, dst: Float32Array, nx: number, ny: number, half: number): void {
  for (let y = 0; y < ny; y++) {
    const row = y * nx
    let sum = 0
    let n = 0
    for (let x = 0; x < Math.min(nx, half); x++) {
      sum += src[row + x]
      n++
    }
    for (let x = 0; x < nx; x++) {
      const add = x + half
      if (add < nx) {
        sum += src[row + add]
        n++
      }
      const out = x - half - 1
      if (out >= 0) {
        sum -= src[row + out]
        n--
      }
      dst[row + x] = sum / n
    }
  }
}

function boxColumns(src: Float32Array, dst: Float32Array, nx: number, ny: number, half: number): void {
  for (let x = 0; x < nx; x++) {
    let sum = 0
    let n = 0
    for (let y = 0; y < Math.min(ny, half); y++) {
      sum += src[y * nx + x]
      n++
    }
    for (let y = 0; y < ny; y++) {
      const add = y + half
      if (add < ny) {
        sum += src[add * nx + x]
        n++
      }
      const out = y - half - 1
      if (out >= 0) {
        sum -= src[out * nx + x]
        n--
      }
      dst[y * nx + x] = sum / n
    }
  }
}

/** The posterior's mean and covariance, into `out` (x, y, cxx, cyy, cxy; m and m²), which it returns. */
export function moments(p: Float32Array, g: { x0: number; y0: number; step: number; nx: number }, out: Float64Array): Float64Array {
  let mx = 0
  let my = 0
  for (let c = 0; c < p.length; c++) {
    if (p[c] === 0) continue
    const x = c % g.nx
    mx += p[c] * x
    my += p[c] * ((c - x) / g.nx)
  }
  let cxx = 0
  let cyy = 0
  let cxy = 0
  for (let c = 0; c < p.length; c++) {
    if (p[c] === 0) continue
    const x = c % g.nx
    const dx = x - mx
    const dy = (c - x) / g.nx - my
    cxx += p[c] * dx * dx
    cyy += p[c] * dy * dy
    cxy += p[c] * dx * dy
  }
  const s2 = g.step * g.step
  // A cell's own width is the least a grid can claim.
  const cell = s2 / 12
  out[0] = g.x0 + mx * g.step
  out[1] = g.y0 + my * g.step
  out[2] = cxx * s2 + cell
  out[3] = cyy * s2 + cell
  out[4] = cxy * s2
  return out
}

/** For each beacon (by index), the indices of the `k` others nearest it, nearest first: worked out once per site. */
export function nearestNeighbours(xs: Float64Array, ys: Float64Array, k: number): Int32Array[] {
  const n = xs.length
  const want = Math.max(0, Math.min(k, n - 1))
  const out: Int32Array[] = []
  const dist = new Float64Array(want)
  for (let i = 0; i < n; i++) {
    const list = new Int32Array(want)
    let have = 0
    for (let j = 0; j < n; j++) {
      if (j === i) continue
      const d = (xs[j] - xs[i]) ** 2 + (ys[j] - ys[i]) ** 2
      if (have === want && d >= dist[want - 1]) continue
      // Insertion into the sorted short list.
      let at = have < want ? have++ : want - 1
      while (at > 0 && dist[at - 1] > d) {
        dist[at] = dist[at - 1]
        list[at] = list[at - 1]
        at--
      }
      dist[at] = d
      list[at] = j
    }
    out.push(list)
  }
  return out
}
