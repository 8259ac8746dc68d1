// Scores people counts against the simulator's truth: people in a shop per bin (from the truth
// visits: a visit covers its bin for as long as it overlaps it) and visitors per day.
import type { Truth } from './engine.ts'

/** Mean number of people inside any shop over each bin [from + i·binMs, from + (i+1)·binMs). */
export function truthPeopleBins(truth: Truth, from: number, to: number, binMs: number): number[] {
  const bins = new Array<number>(Math.ceil((to - from) / binMs)).fill(0)
  for (const v of truth.visits) {
    const a = Math.max(v.enter, from)
    const b = Math.min(v.exit, to)
    for (let i = Math.floor((a - from) / binMs); i < bins.length && from + i * binMs < b; i++) {
      const b0 = from + i * binMs
      bins[i] += Math.max(0, Math.min(b, b0 + binMs) - Math.max(a, b0)) / binMs
    }
  }
  return bins
}

/** Mean of timed estimates per bin (NaN where a bin has none). */
export function estimateBins(samples: Array<{ ts: number; n: number }>, from: number, to: number, binMs: number): number[] {
  const sum = new Array<number>(Math.ceil((to - from) / binMs)).fill(0)
  const cnt = new Array<number>(sum.length).fill(0)
  for (const s of samples) {
    const i = Math.floor((s.ts - from) / binMs)
    if (i < 0 || i >= sum.length) continue
    sum[i] += s.n
    cnt[i]++
  }
  return sum.map((v, i) => (cnt[i] === 0 ? NaN : v / cnt[i]))
}

export interface PeopleScore {
  bins: number
  pearsonR: number
  mae: number
  meanTruth: number
  maeShare: number
  maxEstimate: number /** Mean signed error (estimate − truth). */
  bias: number
}

/** Pearson r and mean absolute error of estimate bins against truth bins (bins without an estimate skipped). */
export function scorePeople(est: number[], truth: number[]): PeopleScore {
  const pairs = est.map((e, i) => [e, truth[i]] as const).filter(([e]) => Number.isFinite(e))
  const n = pairs.length
  const me = pairs.reduce((a, [e]) => a + e, 0) / Math.max(1, n)
  const mt = pairs.reduce((a, [, t]) => a + t, 0) / Math.max(1, n)
  let sxy = 0
  let sxx = 0
  let syy = 0
  let abs = 0
  let signed = 0
  for (const [e, t] of pairs) {
    sxy += (e - me) * (t - mt)
    sxx += (e - me) ** 2
    syy += (t - mt) ** 2
    abs += Math.abs(e - t)
    signed += e - t
  }
  const mae = abs / Math.max(1, n)
  return {
    bins: n,
    pearsonR: sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN,
    mae,
    meanTruth: mt,
    maeShare: mae / Math.max(1e-9, mt),
    maxEstimate: Math.max(0, ...pairs.map(([e]) => e)),
    bias: signed / Math.max(1, n)
  }
}

/** Visits that began inside [from, to): the day's true visitors. */
export function truthVisitors(truth: Truth, from: number, to: number): number {
  return truth.visits.filter(v => v.enter >= from && v.enter < to).length
}

/** Durations, s, of the visits that began and ended within [from, to): what a dwell distribution times (one still on has none yet). */
export function truthDwellS(truth: Truth, from: number, to: number): number[] {
  return truth.visits.filter(v => v.enter >= from && v.exit < to).map(v => (v.exit - v.enter) / 1000)
}
