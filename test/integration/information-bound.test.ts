import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { linkInformation, positionBound, meanRadialError, informationBound, streetSeparation } from '../../bench/information-bound.ts'
import { measureAccuracy } from '../../bench/accuracy-lib.ts'
import { loadScenario } from '../../simulators/scenario.ts'
import { makeTrace } from '../helpers/sim.ts'
import { ROOT } from '../helpers/run.ts'

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`)

test("information bound: white noise alone gives the sum of the gradients' outer products over the variance", () => {
  const readings = [
    { t: 0, gx: 2, gy: -1 },
    { t: 10, gx: 0.5, gy: 3 },
    { t: 20, gx: -1, gy: 1 }
  ]
  const J = linkInformation(readings, 0, 2000, 4)
  close(J[0], (4 + 0.25 + 1) / 16)
  close(J[1], (-2 + 1.5 - 1) / 16)
  close(J[3], (1 + 9 + 1) / 16)
  close(J[2], (2 + 0.5 - 1) / 16)
  close(J[4], (-1 + 3 + 1) / 16)
  close(J[5], 3 / 16)
})

test('information bound: two readings under AR(1) fading carry 2 g^2 / (var + covariance)', () => {
  const f = 4
  const n = 5
  const tau = 2000
  const dt = 700
  const J = linkInformation(
    [
      { t: 0, gx: 3, gy: 0 },
      { t: dt, gx: 3, gy: 0 }
    ],
    f,
    tau,
    n
  )
  const c0 = f * f + n * n
  const c1 = f * f * Math.exp(-dt / tau)
  close(J[0], (2 * 9) / (c0 + c1))
})

test('information bound: readings inside one fading period saturate, readings far apart add up', () => {
  const g = { gx: 1, gy: 0 }
  const burst = Array.from({ length: 200 }, () => ({ t: 0, ...g }))
  const spread = Array.from({ length: 200 }, (_, i) => ({ t: i * 100_000, ...g }))
  const f = 4
  const n = 5
  // Simultaneous readings share one fading draw: at most 1 / f^2 however many there are.
  close(linkInformation(burst, f, 2000, n)[0], 1 / (f * f + (n * n) / 200), 1e-9)
  close(linkInformation(spread, f, 2000, n)[0], 200 / (f * f + n * n), 1e-6)
})

test('information bound: covariance and mean error of the bound', () => {
  // Isotropic: the mean length of a 2-D Gaussian error is sigma * sqrt(pi / 2).
  close(meanRadialError([4, 0, 4]), 2 * Math.sqrt(Math.PI / 2), 1e-6)
  const J = [2, 0.5, 1, 3, -1, 4]
  const [xx, xy, yy] = positionBound(J, true)
  close(xx, 3 / 5.75)
  close(xy, -0.5 / 5.75)
  close(yy, 2 / 5.75)
  // An unknown phone offset can only widen the bound.
  const u = positionBound(J, false)
  assert.ok(u[0] > xx && u[2] > yy)
  assert.equal(positionBound([0, 0, 0, 0, 0, 0], true)[0], Infinity)
})

test('information bound on a simulated boutique: more genie knowledge, a lower bound; the slow fading is what limits it; the gateway stays above it', async () => {
  const { trace, loaded } = await makeTrace('boutique', { durationS: 300 })
  const bound = await informationBound(loaded.site, loaded.radio, trace)
  assert.equal(bound.length, 4)
  for (const b of bound) {
    assert.ok(b.samples > 300 && Number.isFinite(b.mean), b.genie)
    assert.ok(b.meanOffsetUnknown >= b.mean, b.genie)
  }
  // One fix's readings are a subset of 10 s of path, which are a subset of 30 s.
  assert.ok(bound[0].mean > bound[2].mean && bound[2].mean > bound[3].mean)
  // Without the slow fading the same shoppers could be placed far better.
  const calm = await informationBound(loaded.site, { ...loaded.radio, fadingSdDb: 0 }, trace)
  assert.ok(calm[0].mean < 0.7 * bound[0].mean)
  // No estimator beats the bound of a genie that knows the last 30 s of the path, the offsets
  // and the radio model (up to the shop's walls, which a biased estimator may lean on).
  const gateway = await measureAccuracy(loaded.site, trace, 'gateway')
  assert.ok(gateway.error.mean > bound[3].mean, `${gateway.error.mean} vs ${bound[3].mean}`)
})

test('street separation: a longer stretch of readings tells a passer-by from a shopper better, and without fading or noise perfectly', () => {
  const { site, radio, scenario } = loadScenario(join(ROOT, 'simulators/scenarios/boutique.json'))
  const r = streetSeparation(site, radio, scenario.street, [10, 40], [2])
  assert.equal(r.length, 2)
  assert.ok(r[1].d > r[0].d, `${r[1].d} <= ${r[0].d}`)
  assert.ok(r[1].falseShare < r[0].falseShare && r[0].falseShare < 1 && r[1].falseShare > 0)
  // Nearly noiseless readings: the two paths are told apart with next to no passer-by taken.
  const quiet = streetSeparation(site, { ...radio, fadingSdDb: 0.01, noiseSdDb: 0.01 }, scenario.street, [10], [2])
  assert.ok(quiet[0].d > 100 && quiet[0].falseShare < 1e-12)
})
