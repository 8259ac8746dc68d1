// What a device's running transmit offset learns from (tracker.ts): the offset the fix's readings
// give at the fix's position on their own. The solver profiles each fix's offset with the running
// offset as its prior, so the fix's own offset already leans on the value it would update; learned
// from it, the running offset counts its prior twice and moves at about half its learning rate
// while the prior tightens as if it had moved at full rate: a device whose level is far from the
// site's (a tag 12 dB hot, a phone model much louder than most) is held off its level for the
// half minute that takes, and its positions are pulled towards every receiver meanwhile.
import { Problem } from './likelihood.ts'
import type { Observation, SolverOptions } from './solver-types.ts'

/** Fixes after which a phone's own offset has settled: the site's, where it started, weighs 0.9^30 = 4% in it. */
export const SETTLED_FIXES = 30

/** The readings' own offset at (x, y), dB: their weighted mean residual against the model, no prior. */
export function readingsOffset(obs: Observation[], options: SolverOptions, x: number, y: number): number {
  // An infinite spread is no prior at all; its mean still sets where a receiver's floor truncates.
  const problem = new Problem(obs, { ...options, offsetPrior: { mean: options.offsetPrior?.mean ?? 0, sd: Infinity } })
  problem.evaluate(x, y)
  return problem.lastOffset
}
