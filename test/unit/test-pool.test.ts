// The test pool (issue 28): shop-entry tests worked out by workers, taken in the order the steps
// ask them, are the tests worked out inline, number for number, on the traffic map as it stood
// when each was asked; a test not planned (or on another map) is worked out inline and counted; a
// worker that fails, hangs or exits costs the main thread that test, never a wrong answer or a
// stop, and is replaced.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { Tracker, trackerOptions } from '../../gateway/estimation/tracker.ts'
import { sensorModels } from '../../gateway/estimation/radio-model.ts'
import { OutsideTraffic } from '../../gateway/estimation/outside-traffic.ts'
import { TestPool } from '../../gateway/estimation/test-pool.ts'
import type { ZoneCosts } from '../../gateway/estimation/zone-costs.ts'
import type { EntryAsk, EvidenceRadio } from '../../gateway/presence/zone-types.ts'

const site = loadSiteFile('sites/hypermarket.site.json')
const T0 = 1_764_000_000_000
const NO_MAPS = { ids: [], data: [] }
const HELPER = new URL('../helpers/test-pool-workers.ts', import.meta.url)
const tracker = new Tracker(site, sensorModels(site), trackerOptions(site))
const opts = () => tracker.entryOptions

let seed = 28
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647

/** Fixes of `n` devices standing about the site, heard by every sensor in range (with silent sensors). */
function radios(n: number): EvidenceRadio[] {
  const models = sensorModels(site)
  const t = new Tracker(site, models, trackerOptions(site))
  const [x0, y0, x1, y1] = site.bbox
  const at = Array.from({ length: n }, () => [x0 + rnd() * (x1 - x0), y0 + rnd() * (y1 - y0)])
  for (let ms = T0; ms <= T0 + 3000; ms += 500)
    for (const s of models.values())
      at.forEach(([x, y], i) => {
        const rssi = Math.round(s.a - 10 * s.n * Math.log10(Math.hypot(s.x - x, s.y - y, s.z - 1.2)) + (rnd() - 0.5) * 8)
        if (rssi > -95) t.addReading(`tag:${i}`, s.id, ms, rssi)
      })
  const out: EvidenceRadio[] = []
  for (const subject of t.active(T0 + 3000)) {
    const q = t.question(subject, T0 + 3000)
    if (q === null) continue
    const [x, y] = at[Number(subject.slice(4))]
    out.push({ from: 'ble', fix: { obs: q.obs, silent: q.options.silent ?? [], x: x + 2, y: y - 1 }, offsetPrior: { mean: 0, sd: 6 }, overlap: 3 })
  }
  return out
}

/** A traffic map with some counts about every shop (enough that places outside cost their rarity). */
function busyTraffic(): OutsideTraffic {
  const traffic = new OutsideTraffic()
  for (const z of site.shops) {
    const [x0, y0, x1] = z.bbox
    for (let i = 0; i < 3000; i++) traffic.count([z], z.floor, x0 - 4 + rnd() * (x1 - x0 + 8), y0 - 1 - rnd() * 4)
  }
  return traffic
}

/**
 * One tick: every radio asks a test of a shop, with a few fixes counted in the traffic before each
 * (as the steps count theirs); the plan is made on a copy, then the "real" tick counts the same
 * fixes and takes each answer from the pool. Returns the answers and what inline gave.
 */
function tick(pool: TestPool, traffic: OutsideTraffic, rs: EvidenceRadio[], tamper?: (j: number) => Partial<{ base: number }>): { got: ZoneCosts[]; want: ZoneCosts[] } {
  const copy = traffic.clone()
  // Fixes all about the zone (behind its walls too), enough to move what its rare places cost.
  const fixes = rs.map(() => Array.from({ length: 40 }, () => [rnd(), rnd()]))
  // Each fix tested against the shop nearest it (the tests that weigh places outside near the outline).
  const away = (z: (typeof site.shops)[number], x: number, y: number) => Math.hypot(Math.max(0, z.bbox[0] - x, x - z.bbox[2]), Math.max(0, z.bbox[1] - y, y - z.bbox[3]))
  const shopOf = rs.map(r => site.shops.reduce((a, b) => (away(b, r.fix.x, r.fix.y) < away(a, r.fix.x, r.fix.y) ? b : a)))
  const count = (t: OutsideTraffic, j: number) => {
    const z = shopOf[j]
    const [x0, y0, x1, y1] = z.bbox
    for (const [u, v] of fixes[j]) t.count([z], z.floor, x0 - 12 + u * (x1 - x0 + 24), y0 - 12 + v * (y1 - y0 + 24))
  }
  const asks: EntryAsk[] = rs.map((radio, j) => {
    count(copy, j)
    const g = copy.state(shopOf[j].id)
    return { radio, zone: copy.view(shopOf[j]), base: -1, logged: copy.log?.get(shopOf[j].id)?.length ?? 0, total: g?.total ?? 0, cells: g?.cells ?? 0 }
  })
  pool.prefetch({ asks, traffic, log: copy.log ?? new Map() }, opts)
  const got: ZoneCosts[] = []
  const want: ZoneCosts[] = []
  rs.forEach((radio, j) => {
    count(traffic, j)
    const zone = traffic.view(shopOf[j])
    const base = tamper?.(j).base ?? -1
    const work = () => tracker.zoneCosts(radio.fix, zone, base)
    got.push(pool.answer(radio, zone, base, work))
    want.push(work())
  })
  pool.settle()
  return { got, want }
}

/** Bit for bit (Infinity included). */
function same(a: ZoneCosts[], b: ZoneCosts[]): void {
  assert.equal(a.length, b.length)
  a.forEach((c, j) => {
    assert.deepEqual(Float64Array.from(c.inside), Float64Array.from(b[j].inside), `test ${j} inside`)
    assert.deepEqual(Float64Array.from(c.outside), Float64Array.from(b[j].outside), `test ${j} outside`)
  })
}

/** Ticks until the workers have answered some tests (they start while the event loop runs). */
async function warm(pool: TestPool, traffic: OutsideTraffic, rs: EvidenceRadio[]): Promise<void> {
  const begun = Date.now()
  while (pool.counts.workerAnswers === 0) {
    assert.ok(Date.now() - begun < 60_000, 'the workers never answered')
    const { got, want } = tick(pool, traffic, rs)
    same(got, want)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

for (const size of [1, 2]) {
  test(`a pool of ${size}: every test as inline, bit for bit, on the traffic as counted before it, tick after tick`, async () => {
    const pool = new TestPool(size, NO_MAPS, site.shops)
    try {
      const traffic = busyTraffic()
      const rs = radios(40)
      assert.ok(rs.length >= 30, `${rs.length} fixes`)
      await warm(pool, traffic, rs)
      const before = pool.counts.workerAnswers
      for (let i = 0; i < 3; i++) {
        const { got, want } = tick(pool, traffic, rs)
        same(got, want)
      }
      assert.ok(pool.counts.workerAnswers > before, 'the workers took part')
      assert.equal(pool.counts.unplanned, 0)
      assert.equal(pool.counts.failures, 0)
      assert.equal(pool.counts.restarts, 0)
    } finally {
      pool.close()
    }
  })
}

test("a worker's copy of the traffic map, rebuilt from the map before the tick and the first k cells counted in it, is the map after those k", () => {
  const real = busyTraffic()
  const copy = real.clone()
  const z = site.shops[0]
  const [x0, y0, x1, y1] = z.bbox
  const after: Array<{ total: number; cells: number; cost: number }> = []
  for (let i = 0; i < 300; i++) {
    copy.count([z], z.floor, x0 - 12 + rnd() * (x1 - x0 + 24), y0 - 12 + rnd() * (y1 - y0 + 24))
    const g = copy.state(z.id)
    after.push({ total: g?.total ?? 0, cells: g?.cells ?? 0, cost: copy.cost(z, x0 - 10, y1 + 10) })
  }
  const log = Int32Array.from(copy.log?.get(z.id) ?? [])
  assert.ok(log.length > 100, `${log.length} cells counted`)
  const g = real.state(z.id)
  const worker = new OutsideTraffic()
  for (const k of [0, 1, 57, log.length]) {
    worker.load(z, g?.counts ?? null, g?.total ?? 0, g?.cells ?? 0, log, 0, k)
    const w = worker.state(z.id)
    const want = k === 0 ? { total: g?.total ?? 0, cells: g?.cells ?? 0 } : after.find(a => a.total === (g?.total ?? 0) + k)
    assert.equal(w?.total, want?.total)
    assert.equal(w?.cells, want?.cells)
  }
  assert.deepEqual(worker.state(z.id)?.counts, copy.state(z.id)?.counts)
  assert.equal(worker.cost(z, x0 - 10, y1 + 10), after[after.length - 1].cost)
})

test('a test asked otherwise than planned (another base) is worked out inline and counted', async () => {
  const pool = new TestPool(1, NO_MAPS, site.shops)
  try {
    const traffic = busyTraffic()
    const rs = radios(20)
    await warm(pool, traffic, rs)
    const { got, want } = tick(pool, traffic, rs, j => (j % 2 === 0 ? { base: 2 } : {}))
    same(got, want)
    assert.equal(pool.counts.unplanned, Math.ceil(rs.length / 2))
  } finally {
    pool.close()
  }
})

for (const mode of ['fail', 'hang', 'exit'] as const) {
  test(`a worker that ${mode === 'fail' ? 'fails its tests' : mode === 'hang' ? 'hangs holding a test' : 'exits'}: every answer right, counted, the worker replaced`, async () => {
    process.env.TEST_POOL_WORKER = mode
    const pool = new TestPool(1, NO_MAPS, site.shops, 200, HELPER)
    try {
      const traffic = busyTraffic()
      const rs = radios(20)
      const begun = Date.now()
      // Until the misbehaviour has been noticed (the worker starts, or exits, while the event loop runs).
      while (pool.counts.restarts === 0) {
        assert.ok(Date.now() - begun < 60_000, 'never noticed')
        const { got, want } = tick(pool, traffic, rs)
        same(got, want)
        await new Promise(resolve => setTimeout(resolve, 20))
      }
      if (mode !== 'exit') assert.ok(pool.counts.failures > 0)
      assert.equal(pool.counts.workerAnswers, 0)
      assert.ok(pool.live <= 1)
    } finally {
      pool.close()
      delete process.env.TEST_POOL_WORKER
    }
  })
}
