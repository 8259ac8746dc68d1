// A confirmed visit is held back until the street-walk test (street-walk.ts) tells a shopper from
// a passer-by: from `shopHoldS` after it began, every RETEST_MS, on the device's last half minute
// of fixes. A shopper's walk that stops announces it; a passer-by's straight walk, found twice in a
// row, drops it; one the test cannot tell is announced `shopHoldMaxS` after it began. zones.ts
// holds the visit, asks the test (through its `EvidenceSource`) and carries out the verdict.
import type { ZoneParams } from '../../shared/site-schema.ts'
import type { WalkGaps } from '../estimation/street-walk.ts'

/** What a held visit keeps between tests (saved with the zone state). */
export interface Hold {
  enteredAt: number
  /** Not tested again before this (absent: due once the hold is over). */
  nextTest?: number
  /** Tests in a row that took it for a passer-by. */
  passerByTests?: number
  /**
   * Confirmed on the radio's weak odds (`shopEnterWeakOdds`): announced only on a shopper's
   * verdict, dropped otherwise.
   */
  weak?: boolean
}

/** A held visit the street-walk test cannot tell yet is tested again this much later, ms. */
const RETEST_MS = 5000
/**
 * Tests in a row that take a held visit for a passer-by before it is dropped. A shopper's first
 * test, 20 s into the visit, often still sees mostly the walk in from the street; a passer-by's
 * stay low. Over simulated boutique and department-store hours run without dropping any visit and
 * judged offline, dropping on one such test cut several times more shoppers' visits than on two,
 * and no passer-by got through either way (`npm run bench -- visits` measures the outcome).
 */
const PASSER_BY_TESTS = 2

/**
 * Whether a visit's path ran along the street rather than into the shop and back out: from its
 * first fix to its last one within the exit margin, it moved along the street (`axis`, learned
 * from the outside traffic: outside-traffic.ts) more than twice as far as across it, and farther
 * than two standard deviations of what placement errors of its fixes' mean accuracy would make of
 * a phone that came back out where it went in. A passer-by the radio placed inside (its mirror
 * place across the front row) walks on along the street, placed inside the whole way; a shopper
 * leaves by the door it came in by. No axis (a map not ready, traffic that is no line) or no path
 * kept: false.
 */
export function crossedFront(path: Path, axis: [number, number] | null): boolean {
  const { from, to, accuracy } = path
  if (from === undefined || to === undefined || accuracy === undefined || accuracy.n === 0 || axis === null) return false
  const dx = to[0] - from[0]
  const dy = to[1] - from[1]
  const along = Math.abs(dx * axis[0] + dy * axis[1])
  const across = Math.abs(dy * axis[0] - dx * axis[1])
  // An accuracy is a radial one: a place's error along one axis has a variance of half its square,
  // and the difference of two places twice that.
  const sd = accuracy.sum / accuracy.n
  return along > 2 * across && along > 2 * sd
}

/** Where a fix was placed: x, y (m). */
export type Place = [number, number]

/** What of a visit its path is judged by (zone-types.ts ShopPresence). */
export interface Path {
  from?: Place
  to?: Place
  accuracy?: { sum: number; n: number }
}

/** Whether the held visit is due for a test at t. */
export function testDue(visit: Hold, t: number, p: Required<ZoneParams>): boolean {
  return t - visit.enteredAt >= p.shopHoldS * 1000 && (visit.nextTest ?? -Infinity) <= t
}

/**
 * What the street-walk test's `gaps` (asked with `enough` = `streetWalkSureGap`) make of a held
 * visit at t (`ended`: it has ended). A shopper's walk that stops (`streetWalkSureGap`) announces
 * it; `PASSER_BY_TESTS` passer-by's walks in a row (`streetWalkGap`) drop it, as one does at its
 * end or `shopHoldMaxS` after it began, when it is announced otherwise. No test at hand
 * (undefined: the device not heard since a restart): announced. Updates the visit's count of
 * passer-by tests and when it is tested next.
 */
export function heldVerdict(visit: Hold, gaps: WalkGaps | undefined, t: number, p: Required<ZoneParams>, ended: boolean, crossed = false): 'announce' | 'drop' | 'wait' {
  const last = ended || t - visit.enteredAt >= p.shopHoldMaxS * 1000
  if (visit.weak === true) return weakVerdict(visit, gaps, t, p, last)
  if (gaps === undefined || gaps.stop >= p.streetWalkSureGap) return 'announce'
  const passerBy = gaps.line < p.streetWalkGap
  visit.passerByTests = passerBy ? (visit.passerByTests ?? 0) + 1 : 0
  if (passerBy && (last || visit.passerByTests >= PASSER_BY_TESTS)) return 'drop'
  // Ended and still not told: its path decides (crossedFront).
  if (ended) return crossed ? 'drop' : 'announce'
  if (last) return 'announce'
  visit.nextTest = t + RETEST_MS
  return 'wait'
}

/**
 * A visit the radio only leaned towards (`shopEnterWeakOdds`) has what the street-walk test says
 * and nothing else: a shopper's walk that stops announces it; passer-by's walks (as many in a row
 * as drop any held visit: a quiet phone's walk in from the street is as straight as a passer-by's),
 * no test at hand (the walk unknown), or its end or `shopHoldMaxS` without a shopper's verdict
 * drop it. Near the front a quiet phone standing inside and a passer-by sound alike, fix by fix
 * (their radio odds overlap: docs/zones-and-visits.md), but a passer-by does not stop.
 */
function weakVerdict(visit: Hold, gaps: WalkGaps | undefined, t: number, p: Required<ZoneParams>, last: boolean): 'announce' | 'drop' | 'wait' {
  if (gaps !== undefined && Number.isFinite(gaps.stop) && gaps.stop >= p.streetWalkSureGap) return 'announce'
  if (gaps === undefined || last) return 'drop'
  visit.passerByTests = gaps.line < p.streetWalkGap ? (visit.passerByTests ?? 0) + 1 : 0
  if (visit.passerByTests >= PASSER_BY_TESTS) return 'drop'
  visit.nextTest = t + RETEST_MS
  return 'wait'
}
