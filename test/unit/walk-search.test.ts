// The street-walk test's searches stop once their answer cannot change the verdict (issue 28):
// fewer evaluations, the very same decisions.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { WalkHistory, WALK_HISTORY_MS, streetWalkGaps } from '../../gateway/estimation/street-walk.ts'
import { nelderMead } from '../../gateway/estimation/nelder-mead.ts'
import type { Observation } from '../../gateway/estimation/solver.ts'
import { departmentFront } from '../helpers/geo.ts'

test('Nelder-Mead: a search told when it is done stops there, at a value that says so, having evaluated less', () => {
  let calls = 0
  const bowl = (p: number[]): number => {
    calls++
    return (p[0] - 3) ** 2 + 10 * (p[1] + 1) ** 2 + 100
  }
  const full = nelderMead(bowl, [0, 0], [1, 1], 200)
  const fullCalls = calls
  calls = 0
  const early = nelderMead(bowl, [0, 0], [1, 1], 200, bowl([0, 0]), least => least < 105)
  assert.ok(early < 105 && early >= full, `early ${early}, full ${full}`)
  assert.ok(calls < fullCalls / 2, `${calls} evaluations against ${fullCalls}`)
  // Never done: the search as without the question, value for value.
  assert.equal(
    nelderMead(bowl, [0, 0], [1, 1], 200, bowl([0, 0]), () => false),
    full
  )
})

// A department-store front as in street-walk.test.ts: rows of sensors 3, 10 and 17 m in; the street 4 m out.
const site = parseSite(departmentFront())
const list = [...sensorModels(site).values()]
const index = new Map(list.map((m, i) => [m.id, i]))
const o = { tagHeight: 1.2, huberK: 2, bounds: [-10, -10, 40, 30] as [number, number, number, number] }
const prior = { mean: 0, sd: 4 }

function history(path: (s: number) => [number, number], offsetDb: number, seed: number): WalkHistory {
  const h = new WalkHistory()
  const rng = new Rng(seed)
  for (let t = 0; t <= WALK_HISTORY_MS; t += 1000) {
    const [x, y] = path(t / 1000)
    const obs: Observation[] = list.map(m => ({
      sensor: m,
      rssi: expectedRssi(m, Math.hypot(x - m.x, y - m.y, o.tagHeight - m.z)) + offsetDb + rng.normal(0, 1.5),
      sigma: 2,
      floorDbm: -Infinity,
      rawSigmaDb: 6
    }))
    h.add(t, x, y, obs, [], index)
  }
  return h
}

/** What visit-hold.ts makes of the gaps, with its default thresholds (3 and 40). */
const verdict = (g: { line: number; stop: number }, sure: number): string => (g.stop >= sure ? 'shopper' : g.line < 3 ? 'passer-by' : 'neither')

test('street walk: asked with a sure gap, the test stops searching once it is reached, and decides as the full search does', () => {
  const cases: Array<[string, (s: number) => [number, number], number]> = [
    ['passer-by on the street', s => [2 + 0.9 * s, -4], 0],
    ['loud passer-by', s => [2 + 0.9 * s, -4], 6],
    ['shopper walking inside', s => [3 + 0.8 * s, 8], 0],
    ['shopper by the front', () => [15, 1.5], 0],
    ['walked in and stopped', s => (s < 10 ? [10, -4 + 0.9 * s] : [10, 5]), 0],
    ['stood at the window outside', () => [12, -1.5], 0]
  ]
  for (const sure of [10, 40]) {
    for (const [name, path, offset] of cases) {
      for (const seed of [1, 2]) {
        const fixes = history(path, offset, seed).fixes
        const full = streetWalkGaps(fixes, list, site.shops[0], o, prior)
        const early = streetWalkGaps(fixes, list, site.shops[0], o, prior, sure)
        assert.equal(verdict(early, sure), verdict(full, sure), `${name}, seed ${seed}, sure ${sure}: ${JSON.stringify({ early, full })}`)
        // Searched in full wherever the gap stays under the sure gap: the very same numbers.
        if (verdict(full, sure) !== 'shopper') assert.deepEqual(early, full, name)
      }
    }
  }
})
