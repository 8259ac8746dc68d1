// Baselines for phone-scan positioning on the OpenHPS floor: what a phone could do without the
// gateway's radio model. Nearest beacon needs only the beacons' positions; k-NN fingerprinting
// needs a survey (the data set's train split), which the gateway never gets.

/** RSSI per beacon id, dBm: one scan, or the mean of the readings of a window of scans. */
export type Heard = ReadonlyMap<string, number>

/** A surveyed fingerprint: where it was taken (and at which reference point, for cross-validation) and the RSSI vector. */
export interface Fingerprint {
  x: number
  y: number
  point: string
  v: Float64Array
}

/**
 * What a vector holds for a beacon not heard: the usual fingerprinting convention, just under the
 * weakest reading phones report, so "not heard" reads as "far".
 */
export const MISSING_DBM = -100

/** The position of the strongest beacon heard, or null when none was. */
export function nearestBeacon(heard: Heard, beacons: ReadonlyMap<string, { x: number; y: number }>): [number, number] | null {
  let best: string | null = null
  for (const [id, rssi] of heard) if (beacons.has(id) && (best === null || rssi > (heard.get(best) ?? -Infinity))) best = id
  const b = best === null ? undefined : beacons.get(best)
  return b === undefined ? null : [b.x, b.y]
}

/** Per beacon, the mean of the readings in which it was heard (a window of scans as one fingerprint). */
export function meanHeard(scans: Heard[]): Map<string, number> {
  const sum = new Map<string, [number, number]>()
  for (const s of scans) {
    for (const [id, rssi] of s) {
      const a = sum.get(id) ?? [0, 0]
      a[0] += rssi
      a[1]++
      sum.set(id, a)
    }
  }
  return new Map([...sum].map(([id, [total, n]]) => [id, total / n]))
}

/** A fingerprint vector in the order of `ids`, MISSING_DBM where not heard. */
export function vector(heard: Heard, ids: readonly string[]): Float64Array {
  return Float64Array.from(ids, id => heard.get(id) ?? MISSING_DBM)
}

function distance2(a: Float64Array, b: Float64Array): number {
  let d = 0
  for (let i = 0; i < a.length; i++) {
    const e = a[i] - b[i]
    d += e * e
  }
  return d
}

/**
 * The `k` nearest fingerprints in signal space (ties broken by survey order, so runs repeat),
 * leaving out those of the reference point `skip` (for cross-validation).
 */
function neighbours(db: readonly Fingerprint[], v: Float64Array, k: number, skip?: string): Fingerprint[] {
  const best: Array<{ d: number; f: Fingerprint }> = []
  for (const f of db) {
    if (f.point === skip) continue
    const d = distance2(f.v, v)
    if (best.length === k && d >= best[k - 1].d) continue
    let i = best.length
    while (i > 0 && best[i - 1].d > d) i--
    best.splice(i, 0, { d, f })
    if (best.length > k) best.pop()
  }
  return best.map(b => b.f)
}

function centroid(fs: readonly Fingerprint[]): [number, number] {
  let x = 0
  let y = 0
  for (const f of fs) {
    x += f.x
    y += f.y
  }
  return [x / fs.length, y / fs.length]
}

/** k-NN fingerprinting: the mean position of the k fingerprints closest in signal space. */
export function knn(db: readonly Fingerprint[], v: Float64Array, k: number): [number, number] | null {
  const near = neighbours(db, v, k)
  return near.length === 0 ? null : centroid(near)
}

/** What cross-validation found: the chosen k and the mean error of each k tried, m. */
export interface KChoice {
  k: number
  meanErrorByK: Record<number, number>
}

/**
 * Chooses k on the survey alone: leave one reference point out (all its fingerprints, since those
 * taken at one spot are near-copies of each other and would make k = 1 look perfect), locate each
 * of its fingerprints from the others, keep the k with the smallest mean error.
 */
export function chooseK(db: readonly Fingerprint[], candidates: readonly number[] = [1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 60, 80]): KChoice {
  const kMax = Math.max(...candidates)
  const sums = candidates.map(() => 0)
  for (const f of db) {
    const near = neighbours(db, f.v, kMax, f.point)
    candidates.forEach((k, i) => {
      const [x, y] = centroid(near.slice(0, k))
      sums[i] += Math.hypot(x - f.x, y - f.y)
    })
  }
  const meanErrorByK = Object.fromEntries(candidates.map((k, i) => [k, sums[i] / db.length]))
  const k = candidates.reduce((a, b) => (meanErrorByK[b] < meanErrorByK[a] ? b : a))
  return { k, meanErrorByK }
}
