// Outside tester's defect 7: a valid site whose shop outline had 200,000 vertices held the
// gateway's start for minutes, saying nothing (the self-intersection check compared every pair of
// edges). A ring may have at most MAX_RING_VERTICES vertices (a specific error), and the checks are
// a sweep along x: the same answers as comparing every pair, in O(n log n) for an outline.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { interiorsOverlap, ringSelfIntersects } from '../../shared/geometry.ts'
import { MAX_RING_VERTICES, SiteError, parseSite } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'

/** The pairwise check the sweep replaces, as the reference. */
function bruteSelfIntersects(ring: number[][]): boolean {
  const n = ring.length - 1
  const o = (a: number[], b: number[], c: number[]) => Math.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
  for (let i = 0; i < n; i++)
    for (let j = i + 2; j < n; j++) {
      if (i === 0 && j === n - 1) continue
      const [p1, p2, q1, q2] = [ring[i], ring[i + 1], ring[j], ring[j + 1]]
      if (o(q1, q2, p1) * o(q1, q2, p2) < 0 && o(p1, p2, q1) * o(p1, p2, q2) < 0) return true
    }
  return false
}

/** A closed ring of `n` vertices around (10, 6), radius `r(k)`. */
function star(n: number, r: (k: number) => number): number[][] {
  const ring = Array.from({ length: n }, (_, k) => [10 + r(k) * Math.cos((2 * Math.PI * k) / n), 6 + r(k) * Math.sin((2 * Math.PI * k) / n)])
  return [...ring, ring[0]]
}

test('the sweep finds exactly the crossings that comparing every pair finds (random rings)', () => {
  const rng = new Rng(7)
  let crossing = 0
  for (let t = 0; t < 400; t++) {
    const n = 3 + Math.floor(rng.next() * 12)
    const ring = Array.from({ length: n }, () => [rng.int(0, 11), rng.int(0, 11)])
    ring.push(ring[0])
    const want = bruteSelfIntersects(ring)
    if (want) crossing++
    assert.equal(ringSelfIntersects(ring), want, JSON.stringify(ring))
  }
  assert.ok(crossing > 50 && crossing < 400, `${crossing} crossing rings of 400: both kinds tested`)
})

test('sectors: crossing edges, touching edges and one inside the other (table)', () => {
  const poly = (r: Array<[number, number]>) => ({ type: 'Polygon' as const, coordinates: [r] })
  const sq = (x: number, y: number, s: number) =>
    poly([
      [x, y],
      [x + s, y],
      [x + s, y + s],
      [x, y + s],
      [x, y]
    ])
  const cases: Array<[string, ReturnType<typeof poly>, ReturnType<typeof poly>, boolean]> = [
    ['crossing', sq(0, 0, 4), sq(2, 2, 4), true],
    ['sharing an edge', sq(0, 0, 4), sq(4, 0, 4), false],
    ['apart', sq(0, 0, 4), sq(10, 10, 1), false],
    ['one inside the other', sq(0, 0, 10), sq(2, 2, 1), true]
  ]
  for (const [name, a, b, want] of cases) assert.equal(interiorsOverlap(a, b), want, name)
})

test('an outline of 40,000 vertices is checked in a sweep, not pair by pair', () => {
  // Pair by pair that is 800 million comparisons (minutes); the sweep compares only edges overlapping along x.
  const t0 = process.hrtime.bigint()
  assert.equal(ringSelfIntersects(star(40_000, () => 5)), false)
  const bow = star(40_000, () => 5)
  ;[bow[10], bow[11]] = [bow[11], bow[10]]
  assert.equal(ringSelfIntersects(bow), true)
  assert.ok(Number(process.hrtime.bigint() - t0) / 1e9 < 20, 'checked within seconds')
})

test(`a shop outline of more than ${MAX_RING_VERTICES} vertices is refused with its own error, at once`, () => {
  const json = JSON.parse(readFileSync('sites/boutique.site.json', 'utf8')) as { features: Array<{ properties: { kind?: string }; geometry: { coordinates: number[][][] } }> }
  const shop = json.features.find(f => f.properties.kind === 'shop')
  assert.ok(shop)
  // The boutique's rectangle, its bottom edge cut into 200,000 steps: a valid polygon.
  const steps = Array.from({ length: 200_000 }, (_, k) => [(20 * k) / 200_000, 0])
  shop.geometry.coordinates = [[...steps, [20, 0], [20, 12], [0, 12], [0, 0]]]
  assert.throws(
    () => parseSite(json, 'huge-outline'),
    (err: unknown) => err instanceof SiteError && err.problems.some(p => p.reason.includes(`has 200004 vertices: at most ${MAX_RING_VERTICES}`))
  )
})

test(`an outline of ${MAX_RING_VERTICES} vertices is still a valid site`, () => {
  const json = JSON.parse(readFileSync('sites/boutique.site.json', 'utf8')) as { features: Array<{ properties: { kind?: string }; geometry: { coordinates: number[][][] } }> }
  const shop = json.features.find(f => f.properties.kind === 'shop')
  assert.ok(shop)
  const n = MAX_RING_VERTICES - 4
  const steps = Array.from({ length: n }, (_, k) => [(20 * k) / n, 0])
  shop.geometry.coordinates = [[...steps, [20, 0], [20, 12], [0, 12], [0, 0]]]
  assert.equal(parseSite(json, 'long-outline').shops[0].polygon.coordinates[0].length, MAX_RING_VERTICES)
})
