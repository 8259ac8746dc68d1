// Cost of one motion-filter step: the kalman-filter package (constant-speed model) against the
// hand-written filters, same observations, same process; and a tick of the grid filter (grid-cost.ts).
import { createRequire } from 'node:module'
import { CvFilter, MotionFilter, defaultKalmanOptions } from '../gateway/estimation/kalman.ts'
import { Rng } from '../shared/rng.ts'
import { gridCost } from './grid-cost.ts'

interface KfState {
  mean: number[][]
}
interface KfLib {
  predict(o: { previousCorrected: KfState | null }): KfState
  correct(o: { predicted: KfState; observation: number[] }): KfState
}

export function filterCost(steps = 20_000): Record<string, number> {
  const require = createRequire(import.meta.url)
  const { KalmanFilter } = require('kalman-filter') as { KalmanFilter: new (o: unknown) => KfLib }
  const r = new Rng(1)
  const obs = Array.from({ length: steps }, (_, i) => [i * 0.1 + r.normal(0, 1), r.normal(0, 1)])
  const time = (fn: () => void): number => {
    const t0 = process.hrtime.bigint()
    fn()
    return Number(process.hrtime.bigint() - t0) / 1000 / steps
  }
  const lib = new KalmanFilter({ observation: 2, dynamic: 'constant-speed' })
  const libSteps = Math.min(steps, 5000)
  const t0 = process.hrtime.bigint()
  let prev: KfState | null = null
  for (let i = 0; i < libSteps; i++) prev = lib.correct({ predicted: lib.predict({ previousCorrected: prev }), observation: obs[i] })
  const libUs = Number(process.hrtime.bigint() - t0) / 1000 / libSteps
  const cv = new CvFilter(defaultKalmanOptions.moving)
  cv.s.set([0, 0, 0, 0])
  cv.P.set([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
  const cvUs = time(() => {
    for (const [x, y] of obs) {
      cv.predict(1)
      cv.update(x, y, 1, 1, 0, 0, true)
    }
  })
  const imm = new MotionFilter()
  const immUs = time(() => {
    obs.forEach(([x, y], i) => {
      imm.update(i * 1000, x, y, 1, 1, 0, 0.5)
    })
  })
  const grid = gridCost()
  return {
    kalmanFilterPackageUs: libUs,
    handWrittenCvUs: cvUs,
    immTwoModelsUs: immUs,
    gridFlatUs: grid.flatUs,
    gridFlatCells: grid.flatCells,
    gridLargeUs: grid.largeUs,
    gridLargeCells: grid.largeCells
  }
}
