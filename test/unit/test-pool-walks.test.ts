// The test pool's street-walk tests (issue 28): a walk test a tick's plan lists is worked out by a
// worker on the kept fixes as packed (walk-ask-codec.ts), and its gaps are the ones the main thread
// finds, bit for bit; one asked otherwise than planned (another sure gap, another zone) is worked
// out inline and counted. The walks here hear every sensor of a department-store front through
// noise, with the far sensors silent (their floors set), kept as the tracker keeps them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { WalkHistory, WALK_HISTORY_MS, packListening, walkTest, type WalkFix, type WalkGaps, type WalkModel } from '../../gateway/estimation/street-walk.ts'
import type { Observation, Silence } from '../../gateway/estimation/solver.ts'
import { OutsideTraffic } from '../../gateway/estimation/outside-traffic.ts'
import { TestPool } from '../../gateway/estimation/test-pool.ts'
import type { WalkAsk } from '../../gateway/presence/zone-types.ts'
import { departmentFront } from '../helpers/geo.ts'

const site = parseSite(departmentFront())
const models = sensorModels(site)
const list = [...models.values()]
const index = new Map(list.map((m, i) => [m.id, i]))
const shop = site.shops[0]
const o = { tagHeight: 1.2, huberK: 2, bounds: [-10, -10, 40, 30] as [number, number, number, number] }
const model: WalkModel = { sensors: list, o, prior: { mean: 1.5, sd: 4 } }
const NO_MAPS = { ids: [], data: [] }
const SURE = 12

/** Half a minute of kept fixes along `path`: sensors that would read under -88 dBm are silent (floor -90). */
function walk(path: (s: number) => [number, number], seed: number, masked: boolean): readonly WalkFix[] {
  const h = new WalkHistory()
  const rng = new Rng(seed)
  const listening = packListening(
    list.map(sensor => ({ sensor, floorDbm: -90 })),
    index
  )
  for (let t = 0; t <= WALK_HISTORY_MS; t += 1000) {
    const [x, y] = path(t / 1000)
    const obs: Observation[] = []
    const silent: Silence[] = []
    list.forEach((m, i) => {
      const rssi = expectedRssi(m, Math.hypot(x - m.x, y - m.y, o.tagHeight - m.z)) + 2 + rng.normal(0, 2)
      if (rssi < -88) silent.push(listening.list[i])
      else obs.push({ sensor: m, rssi, sigma: 1.5 + rng.normal(0, 0.2) ** 2, floorDbm: -90, rawSigmaDb: 6 })
    })
    const [px, py] = [x + rng.normal(0, 1.5), y + rng.normal(0, 1.5)]
    h.add(t, px, py, obs, silent, index, masked ? listening : null)
  }
  return h.fixes
}

/** Passers-by, shoppers walking in and standing, and a walk of two fixes (too little to tell). */
function walks(): Array<readonly WalkFix[]> {
  const out: Array<readonly WalkFix[]> = []
  for (let i = 0; i < 4; i++) {
    out.push(walk(s => [1 + 0.9 * s, -4 + i * 0.3], 10 + i, i % 2 === 0))
    out.push(walk(s => (s < 12 ? [8 + i, -4 + 0.8 * s] : [8 + i, 5.6]), 20 + i, i % 2 === 1))
  }
  out.push(walk(s => [1 + s, -4], 30, true).slice(0, 2))
  return out
}

/** One tick: every walk planned, then asked (as a step asks it, a new evidence object on the same fixes), pool and inline. */
function tick(pool: TestPool, ws: Array<readonly WalkFix[]>, askedEnough = (_: number) => SURE): { got: WalkGaps[]; want: WalkGaps[] } {
  const planned: WalkAsk[] = ws.map(fixes => ({ walk: { from: 'ble', fixes }, zone: shop, enough: SURE }))
  pool.prefetch(
    { asks: [], walks: planned, traffic: new OutsideTraffic(), log: new Map() },
    () => o,
    () => model
  )
  const got: WalkGaps[] = []
  const want: WalkGaps[] = []
  ws.forEach((fixes, j) => {
    const enough = askedEnough(j)
    const work = () => walkTest(model, fixes, shop, enough)
    got.push(pool.answerWalk({ from: 'ble', fixes }, shop, enough, work))
    want.push(work())
  })
  pool.settle()
  return { got, want }
}

function same(got: WalkGaps[], want: WalkGaps[]): void {
  assert.equal(got.length, want.length)
  got.forEach((g, j) => {
    assert.ok(Object.is(g.line, want[j].line) && Object.is(g.stop, want[j].stop), `walk ${j}: ${JSON.stringify(g)} against ${JSON.stringify(want[j])}`)
  })
}

test('the test pool works planned street-walk tests out in its workers, every gap as inline to the bit', async () => {
  const pool = new TestPool(1, NO_MAPS, site.shops)
  try {
    const ws = walks()
    const begun = Date.now()
    // Until the worker has begun (it starts while the event loop runs).
    while (pool.counts.walkAnswers === 0) {
      assert.ok(Date.now() - begun < 60_000, 'the worker never answered a walk test')
      const { got, want } = tick(pool, ws)
      same(got, want)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    const { got, want } = tick(pool, ws)
    same(got, want)
    assert.ok(want.some(g => g.line < 3) && want.some(g => g.stop >= SURE), `passers-by and shoppers both: ${JSON.stringify(want)}`)
    assert.ok(pool.counts.plannedWalks >= 2 * ws.length)
    assert.equal(pool.counts.unplanned, 0)
    assert.equal(pool.counts.failures, 0)
  } finally {
    pool.close()
  }
})

test('a street-walk test asked otherwise than planned (another sure gap) is worked out inline and counted', async () => {
  const pool = new TestPool(1, NO_MAPS, site.shops)
  try {
    const ws = walks()
    const { got, want } = tick(pool, ws, j => (j % 2 === 0 ? Infinity : SURE))
    same(got, want)
    assert.equal(pool.counts.unplanned, Math.ceil(ws.length / 2))
  } finally {
    pool.close()
  }
})
