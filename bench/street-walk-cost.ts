// What one street-walk test (gateway/estimation/street-walk.ts) costs on a simulated store's own
// fixes: a tracker follows the trace as the gateway does, and every 5 s of trace time every
// eighth tracked device is tested against the shop it is nearest to. The digest of every gap
// found lets a change to the test's code show that it found the same walks; the digest of every
// verdict (passer-by, shopper, neither), that it decided the same where it stopped searching early.
import { createHash } from 'node:crypto'
import { loadSiteFile } from '../shared/site.ts'
import { signedDepth } from '../shared/geometry.ts'
import { readJsonLines, type TraceLine } from '../shared/trace.ts'
import { sensorModels } from '../gateway/estimation/radio-model.ts'
import { Tracker, trackerOptions } from '../gateway/estimation/tracker.ts'
import { walkTest } from '../gateway/estimation/street-walk.ts'
import { defaultZoneParams } from '../shared/site-schema.ts'
import { TraceFollower } from '../tools/trace-follower.ts'
import { quantile } from '../shared/stats.ts'

/** Per test: wall time, and the process's CPU time (less swayed by other work on a shared machine). */
export interface WalkCost {
  tests: number
  medianMs: number
  p90Ms: number
  totalS: number
  cpuMedianMs: number
  cpuTotalS: number
  digest: string
  /** Digest of every test's verdict alone: the same whenever every visit decision is. */
  verdicts: string
  /** Tests that took the device for a passer-by (`line` under streetWalkGap), and for a shopper (`stop` at least streetWalkSureGap). */
  passerBy: number
  shopper: number
}

export async function streetWalkCost(sitePath: string, trace: string, every = 8): Promise<WalkCost> {
  const site = loadSiteFile(sitePath)
  const tracker = new Tracker(site, sensorModels(site), trackerOptions(site))
  const enough = site.file.zones?.streetWalkSureGap ?? defaultZoneParams.streetWalkSureGap
  const passerByGap = site.file.zones?.streetWalkGap ?? defaultZoneParams.streetWalkGap
  let passerBy = 0
  let shopper = 0
  const times: number[] = []
  const cpuTimes: number[] = []
  const hash = createHash('sha256')
  const verdicts = createHash('sha256')
  let k = 0
  const follower = new TraceFollower(tracker, (subject, t) => {
    const e = tracker.estimate(subject, t)
    if (e === null || t % 5000 !== 0 || k++ % every !== 0 || site.shops.length === 0) return e
    let zone = site.shops[0]
    for (const z of site.shops) if (signedDepth(e.rawX, e.rawY, z) > signedDepth(e.rawX, e.rawY, zone)) zone = z
    const a = performance.now()
    const cpu = process.cpuUsage()
    const gaps = walkTest(tracker.walkModel, e.walk, zone, enough)
    times.push(performance.now() - a)
    const used = process.cpuUsage(cpu)
    cpuTimes.push((used.user + used.system) / 1000)
    hash.update(`${subject} ${t} ${gaps.line} ${gaps.stop}\n`)
    const verdict = gaps.stop >= enough ? 'shopper' : gaps.line < passerByGap ? 'passer-by' : 'neither'
    verdicts.update(`${subject} ${t} ${verdict}\n`)
    if (gaps.line < passerByGap) passerBy++
    if (gaps.stop >= enough) shopper++
    return e
  })
  for await (const line of readJsonLines<TraceLine>(trace))
    for (const _ of follower.feed(line)) {
      /* positions are not scored here */
    }
  const sorted = [...times].sort((a, b) => a - b)
  const cpuSorted = [...cpuTimes].sort((a, b) => a - b)
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
  return {
    tests: times.length,
    medianMs: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    totalS: sum(times) / 1000,
    cpuMedianMs: quantile(cpuSorted, 0.5),
    cpuTotalS: sum(cpuTimes) / 1000,
    digest: hash.digest('hex').slice(0, 16),
    verdicts: verdicts.digest('hex').slice(0, 16),
    passerBy,
    shopper
  }
}

export interface WalkMemory {
  devices: number
  withMiB: number
  withoutMiB: number
  bytesPerDevice: number
}

/** Live memory (heap and typed arrays) of a tracker that followed `trace`, MiB, after a full collection. */
async function trackerMemory(sitePath: string, trace: string, walkHistory: boolean): Promise<{ devices: number; mib: number }> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc (npm run bench does)')
  gc()
  gc()
  const before = process.memoryUsage()
  const site = loadSiteFile(sitePath)
  const tracker = new Tracker(site, sensorModels(site), trackerOptions(site, { walkHistory }))
  const follower = new TraceFollower(tracker)
  for await (const line of readJsonLines<TraceLine>(trace))
    for (const _ of follower.feed(line)) {
      /* positions are not kept */
    }
  gc()
  gc()
  const after = process.memoryUsage()
  const mib = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / 2 ** 20
  return { devices: tracker.size, mib }
}

/** What the street-walk test's kept fixes cost a tracker per device (trackers with and without them). */
export async function walkMemory(sitePath: string, trace: string): Promise<WalkMemory> {
  const withWalks = await trackerMemory(sitePath, trace, true)
  const without = await trackerMemory(sitePath, trace, false)
  return { devices: withWalks.devices, withMiB: withWalks.mib, withoutMiB: without.mib, bytesPerDevice: ((withWalks.mib - without.mib) * 2 ** 20) / withWalks.devices }
}
