// The arithmetic of the Kolakowski track diagnosis (bench/kolakowski-diagnosis.ts), on cases whose
// answers are known: it decides what the benchmark says about where the error comes from.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { biasShare, bestShift, fitPathLoss, positionAt, type Timed } from '../../bench/kolakowski-diagnosis.ts'

const track: Timed[] = Array.from({ length: 41 }, (_, i) => ({ ts: 500 * i, x: 0.25 * i, y: 1 }))

test('a track is read between its points, and at its ends outside them', () => {
  const cases: Array<[number, number]> = [
    [-1000, 0],
    [0, 0],
    [250, 0.125],
    [1000, 0.5],
    [20_000, 10],
    [30_000, 10]
  ]
  for (const [ts, x] of cases) assert.ok(Math.abs(positionAt(track, ts).x - x) < 1e-9, `at ${ts}: ${positionAt(track, ts).x}`)
})

test('bias by place: an error that repeats at a place is bias, one that alternates there is noise', () => {
  const truth = Array.from({ length: 40 }, (_, i) => ({ x: 0.5 + (i % 4), y: 0.5 }))
  const cases: Array<[string, Array<{ x: number; y: number }>, number]> = [
    ['the same offset everywhere', truth.map(p => ({ x: p.x + 1, y: p.y })), 1],
    ['each place its own offset', truth.map((p, i) => ({ x: p.x, y: p.y + (i % 4) - 1.5 })), 1],
    ['left and right in turn at each place', truth.map((p, i) => ({ x: p.x + (Math.floor(i / 4) % 2 === 0 ? 1 : -1), y: p.y })), 0],
    ['no error', truth, 0]
  ]
  for (const [name, estimate, share] of cases) assert.ok(Math.abs(biasShare(truth, estimate, 1) - share) < 1e-9, `${name}: ${biasShare(truth, estimate, 1)}`)
})

test('lag: estimates describing the track 2 s late match it best 2 s earlier', () => {
  const late = track.filter(p => p.ts >= 4000).map(p => ({ ts: p.ts, ...positionAt(track, p.ts - 2000) }))
  const shifts = [-4000, -3000, -2000, -1000, 0, 1000]
  const best = bestShift(track, late, shifts)
  assert.equal(best.shiftMs, -2000)
  assert.ok(best.meanM < 1e-9)
})

test('path loss fitted on readings that follow the model exactly gives the model back', () => {
  const cases: Array<[number, number]> = [
    [-59, 2.2],
    [-45, 1.5],
    [-70, 3]
  ]
  for (const [a, n] of cases) {
    const d = [0.5, 1, 2, 4, 8]
    const fit = fitPathLoss(
      d,
      d.map(v => a - 10 * n * Math.log10(v))
    )
    assert.ok(Math.abs(fit.a - a) < 1e-9 && Math.abs(fit.n - n) < 1e-9 && fit.sdDb < 1e-9, JSON.stringify(fit))
  }
})
