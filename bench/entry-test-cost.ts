// The shop-entry radio test's cost (zone-odds.ts `zoneCosts`) on the hypermarket's own tests: every
// test the gateway asks while a simulated hypermarket is replayed into it is kept, then each is
// worked out again as the gateway does (skipping the places that cannot count) and summing every
// place, timed in CPU time, and the two answers compared bit for bit.
//   node --import tsx bench/entry-test-cost.ts [--duration S]   (S: seconds of hypermarket, default 60)
import { makeTrace } from '../test/helpers/sim.ts'
import { startGateway } from '../test/helpers/gateway.ts'
import { runBin } from '../test/helpers/run.ts'
import { Tracker } from '../gateway/estimation/tracker.ts'
import { zoneCosts, zoneCostsSummingAll } from '../gateway/estimation/zone-odds.ts'

export interface EntryTestCost {
  tests: number
  /** CPU microseconds a test, best of three passes: as the gateway works it out, and summing every place. */
  usPerTest: number
  usPerTestSummingAll: number
  /** Tests whose costs differ between the two in any bit (must be 0). */
  differing: number
}

type Args = Parameters<typeof zoneCosts>

export async function entryTestCost(durationS = 60): Promise<EntryTestCost> {
  const asked: Args[] = []
  const original = Object.getOwnPropertyDescriptor(Tracker.prototype, 'zoneCosts')?.value as Tracker['zoneCosts']
  Tracker.prototype.zoneCosts = function (this: Tracker, f, zone, base) {
    const o = (this as unknown as { costOptions: Args[2] }).costOptions
    // Copies: the fix's observations as they were when asked.
    asked.push([f.obs.map(x => ({ ...x })), f.silent.map(x => ({ ...x })), o, zone, f.x, f.y, base])
    return original.call(this, f, zone, base)
  }
  try {
    const { trace, devices, loaded } = await makeTrace('hypermarket', { durationS })
    const g = await startGateway({ campaigns: [], devices }, loaded.sitePath)
    try {
      const r = await runBin('instore-replay', ['--trace', trace, '--broker', g.mqttUrl, '--settle', '3000'], { timeoutMs: 1_800_000 })
      if (r.code !== 0) throw new Error(r.stdout + r.stderr)
    } finally {
      await g.stop()
    }
  } finally {
    Tracker.prototype.zoneCosts = original
  }
  let differing = 0
  for (const a of asked) {
    const x = zoneCosts(...a)
    const y = zoneCostsSummingAll(...a)
    if (x.inside.some((v, k) => !Object.is(v, y.inside[k])) || x.outside.some((v, k) => !Object.is(v, y.outside[k]))) differing++
  }
  const time = (fn: typeof zoneCosts): number => {
    let best = Infinity
    for (let pass = 0; pass < 3; pass++) {
      const t0 = process.cpuUsage().user
      for (const a of asked) fn(...a)
      best = Math.min(best, process.cpuUsage().user - t0)
    }
    return best / Math.max(1, asked.length)
  }
  return { tests: asked.length, usPerTest: time(zoneCosts), usPerTestSummingAll: time(zoneCostsSummingAll), differing }
}

// Run directly: prints the figures.
if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--duration')
  const durationS = at > 0 ? Number(process.argv[at + 1]) : 60
  if (!(durationS > 0)) throw new Error(`--duration wants seconds, got ${process.argv[at + 1]}`)
  const c = await entryTestCost(durationS)
  console.log(`shop-entry radio tests (zoneCosts): the ${c.tests} a simulated hypermarket of ${durationS} s asked for, CPU time a test, best of 3 passes`)
  console.log(
    `  as the gateway works them out ${c.usPerTest.toFixed(0)} µs, summing every place ${c.usPerTestSummingAll.toFixed(0)} µs; tests whose costs differ in any bit: ${c.differing}`
  )
  process.exit(0)
}
