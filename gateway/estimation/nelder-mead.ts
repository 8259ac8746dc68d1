// The minimiser of the street-walk test (street-walk.ts): a derivative-free search, since a walk's
// cost has kinks where it strays inside the outline or out of the speed bounds.

/**
 * A search has converged once its whole simplex is within this of its best (-2 ln L): the gaps
 * are judged against 3 and 40. At 0.001 a test took far longer and every simulated visit came
 * out the same (`npm run bench -- visits`; the test's cost shows in `-- events`).
 */
const CONVERGED = 0.02

const never = (): boolean => false

/**
 * Nelder-Mead simplex minimisation (Nelder & Mead 1965): the least value found. The simplex's
 * points are updated in place and the trial points reuse their arrays (no allocation per step);
 * the arithmetic is the textbook one, step for step. `v0` is f(x0) when the caller has it. The
 * search ends early, with the best value so far, once `done` holds for it: the caller's decision
 * cannot change by searching on, since the least value only ever falls.
 */
export function nelderMead(f: (p: number[]) => number, x0: number[], step: number[], iterations: number, v0 = f(x0), done: (least: number) => boolean = never): number {
  const n = x0.length
  const simplex = [{ p: x0.slice(), v: v0 }, ...step.map((s, i) => x0.map((v, j) => (j === i ? v + s : v))).map(p => ({ p, v: f(p) }))]
  const centre = new Array<number>(n).fill(0)
  const r = new Array<number>(n).fill(0)
  const e = new Array<number>(n).fill(0)
  const c = new Array<number>(n).fill(0)
  const along = (a: number, worst: number[], out: number[]): number[] => {
    for (let j = 0; j < n; j++) out[j] = centre[j] + a * (worst[j] - centre[j])
    return out
  }
  const replaceWorst = (p: number[], v: number): void => {
    const worst = simplex[n]
    for (let j = 0; j < n; j++) worst.p[j] = p[j]
    worst.v = v
  }
  for (let it = 0; it < iterations; it++) {
    simplex.sort((a, b) => a.v - b.v)
    // Converged: the whole simplex within CONVERGED of its best.
    if (simplex[n].v - simplex[0].v < CONVERGED || done(simplex[0].v)) break
    centre.fill(0)
    for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) centre[j] += simplex[k].p[j] / n
    const worst = simplex[n]
    const fr = f(along(-1, worst.p, r))
    if (fr < simplex[0].v) {
      const fe = f(along(-2, worst.p, e))
      if (fe < fr) replaceWorst(e, fe)
      else replaceWorst(r, fr)
    } else if (fr < simplex[n - 1].v) {
      replaceWorst(r, fr)
    } else {
      const fc = f(along(0.5, worst.p, c))
      if (fc < worst.v) replaceWorst(c, fc)
      else {
        const b = simplex[0].p
        for (let i = 1; i <= n; i++) {
          const s = simplex[i]
          for (let j = 0; j < n; j++) s.p[j] = b[j] + 0.5 * (s.p[j] - b[j])
          s.v = f(s.p)
        }
      }
    }
  }
  let least = Infinity
  for (const s of simplex) least = Math.min(least, s.v)
  return least
}
