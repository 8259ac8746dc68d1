// Small descriptive statistics used by evaluation and benchmarks.
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

export interface Summary {
  n: number
  mean: number
  median: number
  p95: number
  max: number
}

export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b)
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)
  return { n: s.length, mean: s.length ? mean : NaN, median: quantile(s, 0.5), p95: quantile(s, 0.95), max: s.length ? s[s.length - 1] : NaN }
}

export function round(v: number, digits = 3): number {
  const f = 10 ** digits
  return Number.isFinite(v) ? Math.round(v * f) / f : v
}
