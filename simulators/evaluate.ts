// Scores what a gateway published against ground truth: position error, sector agreement,
// and event quality (visits and sector stays: recall, precision, timing, flaps).
import { locate, type Site } from '../shared/site.ts'
import { summarize, type Summary } from '../shared/stats.ts'
import type { Truth, TruthVisit, TruthStay } from './engine.ts'

export interface TruthSample {
  ts: number
  subject: string
  x: number
  y: number
  floor?: number
}
export interface PositionMsg {
  subject: string
  ts: number
  x: number
  y: number
  accuracyM?: number
  shop: string | null
  sector: string | null
}
export interface EventMsg {
  type: string
  subject: string
  ts: number
  shop?: string
  sector?: string
  dwellMs?: number
}

export interface EvalOptions {
  /** A published position older than this (ms) does not count for a truth sample. */
  maxAgeMs: number
  /** Sector stays shorter than this (ms) are not expected to produce events. */
  minStayMs: number
  /** Ignore this much (ms) at the start of each window: the gateway needs evidence first. */
  warmupMs: number
}

export const defaultEvalOptions: EvalOptions = { maxAgeMs: 3000, minStayMs: 30_000, warmupMs: 5000 }

export interface EvalReport {
  positions: {
    samples: number
    covered: number
    coverage: number
    error: Summary
    sectorAgreement: number
    shopAgreement: number
  }
  visits?: { truth: number; unheard: number; detected: number; recall: number; precision: number; falseVisits: number; enterErrorS: Summary; exitErrorS: Summary }
  stays?: { truth: number; unheard: number; detected: number; recall: number; precision: number; extraEntriesPerStay: number; enterErrorS: Summary; exitErrorS: Summary }
}

/** Index of the last element with ts <= t (binary search on a ts-sorted array), or -1. */
export function lastAtOrBefore(arr: Array<{ ts: number }>, t: number): number {
  let lo = 0
  let hi = arr.length - 1
  let ans = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (arr[mid].ts <= t) {
      ans = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return ans
}

export function evaluatePositions(site: Site, truth: TruthSample[], positions: PositionMsg[], o: EvalOptions, windows: Array<[number, number]> = []): EvalReport['positions'] {
  const bySubject = new Map<string, PositionMsg[]>()
  for (const p of positions) {
    let arr = bySubject.get(p.subject)
    if (!arr) {
      arr = []
      bySubject.set(p.subject, arr)
    }
    arr.push(p)
  }
  for (const arr of bySubject.values()) arr.sort((a, b) => a.ts - b.ts)
  const errors: number[] = []
  let samples = 0
  let sectorOk = 0
  let shopOk = 0
  for (const t of truth) {
    if (windows.some(([w0]) => t.ts >= w0 && t.ts < w0 + o.warmupMs)) continue
    samples++
    const arr = bySubject.get(t.subject)
    if (!arr) continue
    const i = lastAtOrBefore(arr, t.ts)
    if (i < 0 || t.ts - arr[i].ts > o.maxAgeMs) continue
    const p = arr[i]
    errors.push(Math.hypot(p.x - t.x, p.y - t.y))
    const where = locate(site, t.x, t.y, t.floor ?? 0)
    if (where.sector === p.sector) sectorOk++
    if (where.shop === p.shop) shopOk++
  }
  return {
    samples,
    covered: errors.length,
    coverage: errors.length / Math.max(1, samples),
    error: summarize(errors),
    sectorAgreement: sectorOk / Math.max(1, errors.length),
    shopAgreement: shopOk / Math.max(1, errors.length)
  }
}

interface Interval {
  subject: string
  shop: string
  sector?: string
  enter: number
  exit: number
  entries: number
}

/** Pairs enter/exit events into intervals per subject (and sector). An open one ends at `end`. */
export function intervalsFromEvents(events: EventMsg[], level: 'shop' | 'sector', end: number): Interval[] {
  const open = new Map<string, Interval>()
  const out: Interval[] = []
  for (const e of [...events].sort((a, b) => a.ts - b.ts)) {
    if (e.type !== `${level}.enter` && e.type !== `${level}.exit`) continue
    const key = e.subject + '|' + (level === 'shop' ? e.shop : e.sector)
    if (e.type.endsWith('.enter')) {
      open.set(key, { subject: e.subject, shop: e.shop ?? '', ...(level === 'sector' ? { sector: e.sector } : {}), enter: e.ts, exit: end, entries: 1 })
    } else {
      const iv = open.get(key)
      if (iv) {
        iv.exit = e.ts
        out.push(iv)
        open.delete(key)
      }
    }
  }
  return [...out, ...open.values()]
}

function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0))
}

function score<T extends TruthVisit | TruthStay>(truth: T[], detected: Interval[], sameZone: (t: T, d: Interval) => boolean) {
  const enterErr: number[] = []
  const exitErr: number[] = []
  const extra: number[] = []
  let matched = 0
  for (const t of truth) {
    const cands = detected.filter(d => d.subject === t.subject && sameZone(t, d) && overlap(t.enter, t.exit, d.enter, d.exit) > 0)
    extra.push(Math.max(0, cands.length - 1))
    const best = cands.sort((a, b) => overlap(t.enter, t.exit, b.enter, b.exit) - overlap(t.enter, t.exit, a.enter, a.exit))[0]
    if (!best) continue
    matched++
    enterErr.push(Math.abs(best.enter - t.enter) / 1000)
    exitErr.push(Math.abs(best.exit - t.exit) / 1000)
  }
  return { matched, enterErr, exitErr, extra }
}

/**
 * When the trace holds readings of each subject (ms, ascending): what any gateway could have heard.
 * `heardDuring` asks it whether a truth visit or stay had at least one reading behind it.
 */
export type HeardIndex = Map<string, number[]>

export function heardDuring(h: HeardIndex, subject: string, from: number, to: number): boolean {
  const times = h.get(subject)
  if (times === undefined) return false
  let lo = 0
  let hi = times.length - 1
  let at = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (times[mid] <= to) {
      at = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return at >= 0 && times[at] >= from
}

/**
 * Scores events against the truth. `heard` (optional): whether a truth visit or stay had any
 * reading behind it. One that had none (every sensor that could hear it off or out) is no
 * detection a gateway could make: it is counted as `unheard`, outside recall.
 */
export function evaluateEvents(truth: Truth, events: EventMsg[], o: EvalOptions, heard?: (v: TruthVisit | TruthStay) => boolean) {
  const end = Math.max(...truth.windows.map(w => w[1]))
  const inside = (a: number, b: number) => truth.windows.some(([w0, w1]) => a >= w0 + o.warmupMs && b <= w1)
  const judgedVisits = truth.visits.filter(v => v.subject !== null && inside(v.enter, v.exit))
  const judgedStays = truth.stays.filter(s => s.subject !== null && s.exit - s.enter >= o.minStayMs && inside(s.enter, s.exit))
  const visits = heard === undefined ? judgedVisits : judgedVisits.filter(heard)
  const stays = heard === undefined ? judgedStays : judgedStays.filter(heard)
  const shopIv = intervalsFromEvents(events, 'shop', end)
  const sectorIv = intervalsFromEvents(events, 'sector', end)
  // Only detections that fall inside a fully observed truth window are judged for precision.
  const judged = (d: Interval) => inside(d.enter, Math.min(d.exit, end))
  const v = score(visits, shopIv, (t, d) => t.shop === d.shop)
  const s = score(stays, sectorIv, (t, d) => t.sector === d.sector)
  const visitDetections = shopIv.filter(judged)
  const stayDetections = sectorIv.filter(d => judged(d) && d.exit - d.enter >= o.minStayMs)
  // A detection is true when it overlaps any truth interval of its subject and zone, even one
  // that the window cuts and recall therefore does not judge.
  const real =
    <T extends TruthVisit | TruthStay>(all: T[], same: (t: T, d: Interval) => boolean) =>
    (d: Interval) =>
      all.some(t => t.subject === d.subject && same(t, d) && overlap(t.enter, t.exit, d.enter, d.exit) > 0)
  const realVisit = real(truth.visits, (t, d) => t.shop === d.shop)
  const realStay = real(truth.stays, (t, d) => t.sector === d.sector)
  const falseVisits = visitDetections.filter(d => !realVisit(d)).length
  return {
    visits: {
      truth: visits.length,
      unheard: judgedVisits.length - visits.length,
      detected: visitDetections.length,
      recall: v.matched / Math.max(1, visits.length),
      precision: (visitDetections.length - falseVisits) / Math.max(1, visitDetections.length),
      falseVisits,
      enterErrorS: summarize(v.enterErr),
      exitErrorS: summarize(v.exitErr)
    },
    stays: {
      truth: stays.length,
      unheard: judgedStays.length - stays.length,
      detected: stayDetections.length,
      recall: s.matched / Math.max(1, stays.length),
      precision: stayDetections.filter(realStay).length / Math.max(1, stayDetections.length),
      extraEntriesPerStay: s.extra.reduce((a, b) => a + b, 0) / Math.max(1, stays.length),
      enterErrorS: summarize(s.enterErr),
      exitErrorS: summarize(s.exitErr)
    }
  }
}

export function formatReport(r: EvalReport): string {
  const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a')
  const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(1) + '%' : 'n/a')
  const rows: Array<[string, string]> = [
    ['position samples (truth)', String(r.positions.samples)],
    ['coverage', pct(r.positions.coverage)],
    ['error mean / median / p95 (m)', `${f(r.positions.error.mean)} / ${f(r.positions.error.median)} / ${f(r.positions.error.p95)}`],
    ['sector agreement', pct(r.positions.sectorAgreement)],
    ['shop agreement', pct(r.positions.shopAgreement)]
  ]
  if (r.visits) {
    rows.push(
      ['visits truth / detected', `${r.visits.truth} / ${r.visits.detected}${r.visits.unheard > 0 ? ` (${r.visits.unheard} unheard, not judged)` : ''}`],
      ['visit recall / precision', `${pct(r.visits.recall)} / ${pct(r.visits.precision)}`],
      ['visit enter / exit error median (s)', `${f(r.visits.enterErrorS.median, 1)} / ${f(r.visits.exitErrorS.median, 1)}`]
    )
  }
  if (r.stays) {
    rows.push(
      ['stays truth / detected', `${r.stays.truth} / ${r.stays.detected}${r.stays.unheard > 0 ? ` (${r.stays.unheard} unheard, not judged)` : ''}`],
      ['stay recall / precision', `${pct(r.stays.recall)} / ${pct(r.stays.precision)}`],
      ['extra sector entries per stay', f(r.stays.extraEntriesPerStay, 3)],
      ['stay enter / exit error median (s)', `${f(r.stays.enterErrorS.median, 1)} / ${f(r.stays.exitErrorS.median, 1)}`]
    )
  }
  const w = Math.max(...rows.map(r => r[0].length))
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n'
}
