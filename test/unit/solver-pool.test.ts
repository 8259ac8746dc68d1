// The solver pool (issue 28): a tick's fixes solved by the main thread and workers together are the
// fixes solved inline, number for number; a worker that hangs holding a question or dies costs a
// deadline at most, never a wrong answer or a hang; a closed pool solves inline.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { Tracker, trackerOptions, type Question } from '../../gateway/estimation/tracker.ts'
import { sensorModels, type SensorModel } from '../../gateway/estimation/radio-model.ts'
import { RadioMap } from '../../gateway/estimation/radio-map.ts'
import { solve } from '../../gateway/estimation/solver.ts'
import { SolverPool } from '../../gateway/estimation/pool.ts'
import { MODEL, questionSize } from '../../gateway/estimation/pool-codec.ts'
import { WorkerGroup } from '../../gateway/estimation/worker-group.ts'
import type { RadioMapData } from '../../shared/site-schema.ts'

const site = loadSiteFile('sites/hypermarket.site.json')
const T0 = 1_764_000_000_000
const NO_MAPS = { ids: [], data: [] }
const HELPER = new URL('../helpers/pool-workers.ts', import.meta.url)

/** One tick's questions for `devices` devices standing about the site, heard by every sensor in range. */
function questions(devices: number, models = sensorModels(site)): Question[] {
  const tracker = new Tracker(site, models, trackerOptions(site))
  const [x0, y0, x1, y1] = site.bbox
  let seed = 28
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647
  const at = Array.from({ length: devices }, () => [x0 + rnd() * (x1 - x0), y0 + rnd() * (y1 - y0)])
  for (let t = T0; t <= T0 + 3000; t += 500) {
    for (const s of models.values()) {
      at.forEach(([x, y], i) => {
        const rssi = Math.round(s.a - 10 * s.n * Math.log10(Math.hypot(s.x - x, s.y - y, s.z - 1.2)) + (rnd() - 0.5) * 8)
        if (rssi > -95) tracker.addReading(`tag:${i}`, s.id, t, rssi)
      })
    }
  }
  const qs: Question[] = []
  for (const subject of tracker.active(T0 + 3000)) {
    const q = tracker.question(subject, T0 + 3000)
    if (q !== null) qs.push(q)
  }
  return qs
}

const inline = (qs: Question[]) => JSON.stringify(qs.map(q => solve(q.obs, q.options)))

/** Rounds until the workers have answered some questions (they start while the event loop runs, as between ticks). */
async function warm(pool: SolverPool, qs: Question[]): Promise<void> {
  const begun = Date.now()
  while (pool.workerAnswers === 0) {
    assert.ok(Date.now() - begun < 30_000, 'the workers never answered')
    assert.equal(JSON.stringify(pool.solveAll(qs)), inline(qs))
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

for (const size of [1, 2, 3]) {
  test(`a pool of ${size} answers every question as the main thread alone does, round after round`, async () => {
    const pool = new SolverPool(size, NO_MAPS)
    try {
      await warm(pool, questions(300))
      const before = pool.workerAnswers
      for (const devices of [40, 3, 300]) {
        const qs = questions(devices)
        assert.ok(qs.length >= Math.min(devices, 3), `${qs.length} questions`)
        assert.equal(JSON.stringify(pool.solveAll(qs)), inline(qs))
      }
      assert.ok(pool.workerAnswers > before, 'the workers took part')
      assert.equal(pool.restarts, 0)
      assert.equal(pool.lateAnswers, 0)
    } finally {
      pool.close()
    }
  })
}

test('a round names each sensor model once: its shared memory is the questions by reference, not every model in every question', async () => {
  const pool = new SolverPool(1, NO_MAPS)
  try {
    const qs = questions(1500)
    await warm(pool, qs)
    // What the questions alone took with every model written in place in each (before issue 28's cut).
    let inPlace = 0
    for (const q of qs) inPlace += questionSize(q.obs.length, q.options.silent?.length ?? 0, MODEL) * 8
    assert.ok(pool.sharedBytes > 0 && pool.sharedBytes < inPlace, `${pool.sharedBytes} bytes shared, ${inPlace} for the questions with their models in place`)
    assert.equal(JSON.stringify(pool.solveAll(qs)), inline(qs))
  } finally {
    pool.close()
  }
})

test("radio maps: the workers' copies give the same fixes; a map they do not know is solved on the main thread", async () => {
  const models = sensorModels(site)
  const [x0, y0, x1, y1] = site.bbox
  const nx = 12
  const ny = 8
  const data: RadioMapData = {
    x0,
    y0,
    cell: Math.max((x1 - x0) / (nx - 1), (y1 - y0) / (ny - 1)),
    nx,
    ny,
    values: Array.from({ length: nx * ny }, (_, i) => ((i * 7) % 11) - 5),
    support: Array.from({ length: nx * ny }, (_, i) => (i % 3) + 0.5)
  }
  const mapped = [...models.values()].slice(0, 6)
  for (const m of mapped) models.set(m.id, { ...m, map: new RadioMap(data) } satisfies SensorModel)
  const qs = questions(30, models)
  const known = { ids: mapped.map(m => m.id), data: mapped.map(() => data) }
  for (const maps of [known, NO_MAPS]) {
    const pool = new SolverPool(1, maps)
    try {
      if (maps === known) await warm(pool, qs)
      assert.equal(JSON.stringify(pool.solveAll(qs)), inline(qs))
    } finally {
      pool.close()
    }
  }
})

test('a worker that hangs holding a question costs one deadline: its answer is solved inline and the workers are replaced', async () => {
  process.env.POOL_TEST_WORKER = 'hang'
  const pool = new SolverPool(1, NO_MAPS, 300, HELPER)
  try {
    const qs = questions(200)
    // The misbehaving worker must have started and claimed: ask until it has (a round it missed is answered here).
    const begun = performance.now()
    let answers = ''
    while (pool.restarts === 0 && performance.now() - begun < 20_000) {
      const round = performance.now()
      answers = JSON.stringify(pool.solveAll(qs))
      assert.ok(performance.now() - round < 300 + 5000, 'a round waited past its deadline')
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    assert.equal(pool.restarts, 1, 'replaced once')
    assert.ok(pool.lateAnswers >= 1)
    assert.equal(answers, inline(qs))
  } finally {
    pool.close()
    delete process.env.POOL_TEST_WORKER
  }
})

test('a worker that dies is replaced before the next round; a closed pool solves inline', async () => {
  process.env.POOL_TEST_WORKER = 'exit'
  const pool = new SolverPool(1, NO_MAPS, 300, HELPER)
  const qs = questions(20)
  try {
    // Its exit is noticed between rounds (on the event loop), as between ticks.
    const begun = Date.now()
    while (pool.restarts === 0 && Date.now() - begun < 20_000) {
      assert.equal(JSON.stringify(pool.solveAll(qs)), inline(qs))
      await new Promise(resolve => setImmediate(resolve))
    }
    assert.ok(pool.restarts >= 1, 'replaced')
  } finally {
    pool.close()
    delete process.env.POOL_TEST_WORKER
  }
  assert.equal(pool.live, 0)
  assert.equal(JSON.stringify(pool.solveAll(qs)), inline(qs))
})

test('a group whose workers keep dying gives up after its replacements, and a pool then counts none more', async () => {
  process.env.POOL_TEST_WORKER = 'exit'
  const group = new WorkerGroup(1, NO_MAPS, HELPER, 2)
  const pool = new SolverPool(group, NO_MAPS, 300)
  group.start()
  const qs = questions(20)
  try {
    const begun = Date.now()
    while (pool.restarts < 3 && Date.now() - begun < 60_000) {
      assert.equal(JSON.stringify(pool.solveAll(qs)), inline(qs))
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    assert.equal(pool.restarts, 3, 'two replacements, then the third gives up')
    assert.equal(pool.live, 0)
    // Every round after is solved inline, and is no replacement.
    for (let i = 0; i < 5; i++) assert.equal(JSON.stringify(pool.solveAll(qs)), inline(qs))
    assert.equal(pool.restarts, 3)
  } finally {
    pool.close()
    delete process.env.POOL_TEST_WORKER
  }
})
