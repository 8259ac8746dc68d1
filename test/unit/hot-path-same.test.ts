// The broker's topic check, the zone stage's distances and self-calibration's median, rewritten to allocate nothing (issue 28),
// against the code they replaced (kept here as the reference): the same answer for every input, to
// the bit.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { topicMatches } from '../../gateway/ingest/firmware-acl.ts'
import { medianAsSorted } from '../../gateway/estimation/self-calibration.ts'
import { closestOnBoundary, closestOnSegment, distanceToBoundary, distanceToSegment, hypot2, hypot3 } from '../../shared/geometry.ts'
import { Rng } from '../../shared/rng.ts'
import type { Polygon } from '../../shared/site-schema.ts'

function referenceMatches(pattern: string, topic: string): boolean {
  const p = pattern.split('/')
  const t = topic.split('/')
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true
    if (i >= t.length) return false
    if (t[i] === '#') return false
    if (p[i] !== '+' && p[i] !== t[i]) return false
  }
  return p.length === t.length
}

test('topicMatches answers as the split-based check on edge cases', () => {
  const cases = ['', '/', '//', '#', '+', 'a', 'a/', '/a', 'a/#', 'a/+', 'a/b', 'a/b/', 'a//b', '+/+', '#/a', 'a/#/b', 'ab', 'a/bc', 'a/b#', 'a/+b', '+/#', 'instore/+/positions/#']
  const topics = [...cases, 'instore/s1/positions/h:1', 'instore/s1/sensors/r1/readings', 'é/ü', '\u{1F600}/a']
  for (const p of cases) for (const t of topics) assert.equal(topicMatches(p, t), referenceMatches(p, t), `${JSON.stringify(p)} against ${JSON.stringify(t)}`)
})

test('topicMatches answers as the split-based check on random patterns and topics', () => {
  const rng = new Rng(28)
  const parts = ['a', 'b', 'ab', '', '+', '#', 's1', 'x+', '#x']
  const random = (): string => {
    const n = 1 + Math.floor(rng.next() * 5)
    return Array.from({ length: n }, () => parts[Math.floor(rng.next() * parts.length)]).join('/')
  }
  let matched = 0
  for (let i = 0; i < 20_000; i++) {
    const p = random()
    const t = rng.next() < 0.5 ? p : random()
    const want = referenceMatches(p, t)
    if (want) matched++
    assert.equal(topicMatches(p, t), want, `${JSON.stringify(p)} against ${JSON.stringify(t)}`)
  }
  assert.ok(matched > 1000, `enough matching pairs drawn (${matched})`)
})

function referenceClosestOnSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): [number, number] {
  const dx = bx - ax
  const dy = by - ay
  const len2 = dx * dx + dy * dy
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2))
  return [ax + t * dx, ay + t * dy]
}

test('the distances to a segment and to a boundary are the same to the bit as through the closest point', () => {
  const rng = new Rng(7)
  const r = (): number => (rng.next() - 0.5) * 200
  const poly: Polygon = {
    type: 'Polygon',
    coordinates: [
      [
        [3.1, -2.7],
        [41.9, -2.7],
        [50.3, 9.1],
        [41.9, 17.3],
        [3.1, 17.3],
        [3.1, -2.7]
      ]
    ]
  }
  for (let i = 0; i < 20_000; i++) {
    const [px, py, ax, ay] = [r(), r(), r(), r()]
    // Every tenth segment degenerate (a point): the other branch of the parameter.
    const [bx, by] = i % 10 === 0 ? [ax, ay] : [r(), r()]
    const q = referenceClosestOnSegment(px, py, ax, ay, bx, by)
    assert.deepEqual(closestOnSegment(px, py, ax, ay, bx, by), q)
    assert.equal(Object.is(distanceToSegment(px, py, ax, ay, bx, by), Math.hypot(px - q[0], py - q[1])), true)
    let best: [number, number] = [poly.coordinates[0][0][0], poly.coordinates[0][0][1]]
    let bestD = Infinity
    let dist = Infinity
    const ring = poly.coordinates[0]
    for (let k = 0; k + 1 < ring.length; k++) {
      const c = referenceClosestOnSegment(px, py, ring[k][0], ring[k][1], ring[k + 1][0], ring[k + 1][1])
      const d = Math.hypot(px - c[0], py - c[1])
      if (d < bestD) {
        bestD = d
        best = c
      }
      if (d < dist) dist = d
    }
    assert.deepEqual(closestOnBoundary(px, py, poly), best)
    assert.equal(Object.is(distanceToBoundary(px, py, poly), dist), true)
  }
})

/** Draws of any 64-bit pattern (NaNs, infinities, subnormals) and of plausible metres, from `rng`. */
function doubles(rng: Rng): { anyDouble: () => number; metres: () => number } {
  const bits = new Float64Array(1)
  const words = new Uint32Array(bits.buffer)
  const anyDouble = (): number => {
    words[0] = rng.int(0, 2 ** 32)
    words[1] = rng.int(0, 2 ** 32)
    return bits[0]
  }
  return { anyDouble, metres: () => (rng.next() - 0.5) * 10 ** rng.uniform(-4, 4) }
}

test('hypot2 is Math.hypot to the bit (random bit patterns, magnitudes, zeros, infinities, NaN)', () => {
  const { anyDouble, metres } = doubles(new Rng(28))
  for (let i = 0; i < 300_000; i++) {
    const x = i % 2 === 0 ? anyDouble() : metres()
    const y = i % 5 === 0 ? 0 : i % 2 === 0 ? anyDouble() : metres()
    assert.ok(Object.is(hypot2(x, y), Math.hypot(x, y)), `hypot2(${x}, ${y})`)
  }
  const edges = [0, -0, 1, -1, 3, 4, 5e-324, -5e-324, 1e308, -1e308, Number.MAX_VALUE, Infinity, -Infinity, Number.NaN]
  for (const x of edges) for (const y of edges) assert.ok(Object.is(hypot2(x, y), Math.hypot(x, y)), `hypot2(${x}, ${y})`)
})

test('hypot3 is Math.hypot of three to the bit (random bit patterns, magnitudes, zeros, infinities, NaN)', () => {
  const { anyDouble, metres } = doubles(new Rng(33))
  for (let i = 0; i < 300_000; i++) {
    const x = i % 2 === 0 ? anyDouble() : metres()
    const y = i % 3 === 0 ? anyDouble() : metres()
    const z = i % 5 === 0 ? 0 : i % 7 === 0 ? anyDouble() : metres()
    assert.ok(Object.is(hypot3(x, y, z), Math.hypot(x, y, z)), `hypot3(${x}, ${y}, ${z})`)
  }
  const edges = [0, -0, 1, -1, 3, 4, 5e-324, 1e308, -1e308, Number.MAX_VALUE, Infinity, -Infinity, Number.NaN]
  for (const x of edges) for (const y of edges) for (const z of edges) assert.ok(Object.is(hypot3(x, y, z), Math.hypot(x, y, z)), `hypot3(${x}, ${y}, ${z})`)
})

test("self-calibration's median is the comparator sort's to the bit (signed zeros, ties, NaN)", () => {
  const rng = new Rng(34)
  const pool = [0, -0, 1.5, -1.5, 3, -7.25, 0.1, 1e-300, -1e-300]
  for (let i = 0; i < 50_000; i++) {
    const n = rng.int(1, 40)
    const values = new Float64Array(n)
    for (let j = 0; j < n; j++) values[j] = rng.next() < 0.5 ? pool[rng.int(0, pool.length)] : (rng.next() - 0.5) * 20
    if (i % 50 === 0) values[rng.int(0, n)] = Number.NaN
    const v = Array.from(values).sort((a, b) => a - b)
    const h = n >> 1
    const want = n % 2 === 1 ? v[h] : (v[h - 1] + v[h]) / 2
    assert.ok(Object.is(medianAsSorted(values.slice(), values), want), `median of ${Array.from(values, x => (Object.is(x, -0) ? '-0' : String(x)))}`)
  }
})
