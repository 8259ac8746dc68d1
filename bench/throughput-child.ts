// One side of the throughput benchmark in a process of its own, so that it can be pinned to a core
// (`taskset -c 0`) and its memory is its own: `bare` is the embedded broker taking the messages
// and counting them, `gateway` the whole gateway. It prints `{"url": ...}` once it listens; on
// the line `report` from its parent (the replay has ended) it waits until the work is done and
// prints its figures as one JSON line, then exits.
//   node --import tsx bench/throughput-child.ts bare   (throughput.ts runs it bundled, as deployed)
//   node --import tsx bench/throughput-child.ts gateway SITE TRACE
import { createInterface } from 'node:readline'
import { mainThreadCpuS } from './thread-cpu.ts'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PerformanceObserver } from 'node:perf_hooks'
import { loadSiteFile } from '../shared/site.ts'
import { silentLogger } from '../shared/log.ts'
import { startBroker } from '../shared/broker.ts'
import { quantile } from '../shared/stats.ts'
import { Gateway } from '../gateway/gateway.ts'
import { loadDevicesFile } from '../gateway/ingest/identity.ts'
import { defaultClockOptions } from '../gateway/ingest/clock.ts'
import { cpuClock, type Stage, type StageClock } from '../gateway/stage-clock.ts'

export interface ChildReport {
  readings: number
  messages: number
  /** Wall seconds from the first message's arrival to the end of the work it caused. */
  seconds: number
  /**
   * Wall time from a message's arrival to the publishing of the positions of the tick that first
   * uses its readings, ms
   * (null where nothing was placed: the bare broker). It includes the event clock's wait: a tick
   * runs once readings 500 ms of event time later have come in, which at a replay's pace N takes
   * 500/N ms of wall time whatever the gateway does.
   */
  latencyP50Ms: number | null
  latencyP99Ms: number | null
  /**
   * The gateway's own share of it: from the arrival of the message, or if later of the message
   * that made its tick due (the event clock passed it), to that tick's positions, ms.
   */
  delayP50Ms: number | null
  delayP99Ms: number | null
  /**
   * The own delay in two: waiting behind earlier work (from when the message's tick was due, or it
   * arrived, to the start of that tick: the zone stage of the tick before, other messages) and the
   * tick's own work up to its positions (every device's fix), ms, each p50 / p99 over the messages.
   */
  behindP50Ms: number | null
  behindP99Ms: number | null
  fixesP50Ms: number | null
  fixesP99Ms: number | null
  /** Per tick: its positions stage (fixes, publishing) and its zone stage after them (presence, occupancy), ms, p50 / p99. */
  tickPositionsP50Ms: number | null
  tickPositionsP99Ms: number | null
  tickZonesP50Ms: number | null
  tickZonesP99Ms: number | null
  /**
   * Paced replays only (null at full speed): how long before being taken each message was due out
   * of the replay by its schedule (its stamp over the pace, against the earliest message's), which
   * is the wait the latency above cannot see (in the gateway's socket while its event loop was busy)
   * plus the replay's own lateness and the network; and the latency counted from that schedule, ms.
   */
  unseenP50Ms: number | null
  unseenP99Ms: number | null
  scheduledLatencyP50Ms: number | null
  scheduledLatencyP99Ms: number | null
  /** Resident memory at the end and the most seen while it ran, MiB. */
  rssMiB: number
  peakRssMiB: number
  heapMiB: number
  /** The most heap in use, heap reserved, and memory outside the heap (buffers) seen while it ran, MiB. */
  peakHeapUsedMiB: number
  peakHeapTotalMiB: number
  peakExternalMiB: number
  /** The most messages waiting in the pipeline's inbox at once. */
  peakBacklog: number
  /** Devices tracked at the end and the most at once. */
  devicesTracked: number
  peakDevices: number
  /** Garbage collections while it ran, and their pauses in all, ms. */
  gcCount: number
  gcMs: number
  /**
   * The process's CPU time from the first message to the end of the work, s (process.cpuUsage:
   * every thread, broker and solver workers included): unlike the rates, it hardly moves when other
   * work shares the machine.
   */
  cpuUserS: number
  cpuSystemS: number
  /** The main thread's CPU time (user + system) in the same span, s (the broker's and the pipeline's thread; null where /proc has no task stat). */
  mainCpuS: number | null
  /**
   * The gateway's time per stage and calls per stage since it started (gateway/stage-clock.ts): the
   * main thread's wall time, or the process's CPU time with INSTORE_BENCH_CPU_STAGES=1; null for the bare broker.
   */
  stages: { ms: Record<Stage, number>; calls: Record<Stage, number> } | null
}

const RSSI_KEY = Buffer.from('"rssi"')
/** Counts readings in a batch payload cheaply (the bare broker must not parse JSON). */
export function countReadings(payload: Buffer): number {
  let n = 0
  // The needle as bytes, once: a string needle is encoded again at every call, twice a reading.
  for (let i = payload.indexOf(RSSI_KEY); i >= 0; i = payload.indexOf(RSSI_KEY, i + RSSI_KEY.length)) n++
  return n
}

/**
 * Messages whose readings await the tick that first uses them, in arrival order (typed arrays: no
 * allocation per message). A message's readings are taken in once the pipeline has worked through
 * the messages before it (`seq` against the pipeline's count), and the next tick after that uses
 * them: every tick at or after the message's time less the clock's lateness and one tick.
 */
class Pending {
  private ts: Float64Array = new Float64Array(1 << 16)
  private at: Float64Array = new Float64Array(1 << 16)
  private seq: Float64Array = new Float64Array(1 << 16)
  private head = 0
  private tail = 0
  readonly latencies: number[] = []
  readonly delays: number[] = []
  readonly behind: number[] = []
  readonly fixes: number[] = []
  /** Per timed message, its arrival less its stamp over the pace (paced replays; see `unseenP50Ms`). */
  readonly offsets: number[] = []
  constructor(private readonly pace: number) {}
  /** When the event clock's watermark reached each new value, in order (see `due`). */
  private marks: Array<{ w: number; at: number }> = []
  private markHead = 0
  private watermark = -Infinity

  /** A message at event time ts arrived: the event clock's watermark moves to ts - lateness. */
  arrived(ts: number, at: number): void {
    const w = ts - LATENESS_MS
    if (w <= this.watermark) return
    this.watermark = w
    this.marks.push({ w, at })
  }

  /** When tick t became due: the first arrival that brought the watermark to t. */
  private due(t: number): number {
    while (this.markHead < this.marks.length - 1 && this.marks[this.markHead].w < t) this.markHead++
    if (this.markHead > 4096) {
      this.marks = this.marks.slice(this.markHead)
      this.markHead = 0
    }
    return this.marks[this.markHead]?.at ?? 0
  }

  push(ts: number, at: number, seq: number): void {
    if (this.tail === this.ts.length) {
      const live = this.tail - this.head
      const size = live * 2 > this.ts.length ? this.ts.length * 2 : this.ts.length
      const grow = (a: Float64Array): Float64Array => {
        const b = new Float64Array(size)
        b.set(a.subarray(this.head, this.tail))
        return b
      }
      this.ts = grow(this.ts)
      this.at = grow(this.at)
      this.seq = grow(this.seq)
      this.head = 0
      this.tail = live
    }
    this.ts[this.tail] = ts
    this.at[this.tail] = at
    this.seq[this.tail++] = seq
  }

  /** Tick t (begun at wall time `began`) has just published its positions; the pipeline has taken in the readings of its first `taken` messages. */
  done(t: number, now: number, taken: number, began: number): void {
    const due = this.due(t)
    while (this.head < this.tail && this.seq[this.head] <= taken && this.ts[this.head] <= t + LATENESS_MS + TICK_MS) {
      const at = this.at[this.head++]
      const from = Math.max(at, due)
      this.latencies.push(now - at)
      this.delays.push(now - from)
      this.behind.push(Math.max(0, began - from))
      this.fixes.push(now - Math.max(began, from))
      if (Number.isFinite(this.pace)) this.offsets.push(at - this.ts[this.head - 1] / this.pace)
    }
  }
}

/** The event clock's lateness, ms (clock.ts default, which the gateway runs with here). */
const LATENESS_MS = defaultClockOptions.latenessMs
/** The gateway's tick, ms (gateway.ts). */
const TICK_MS = 1000
const mode = process.argv[2]
const gc = { count: 0, ms: 0 }
new PerformanceObserver(list => {
  for (const e of list.getEntries()) {
    gc.count++
    gc.ms += e.duration
  }
}).observe({ entryTypes: ['gc'] })
let peakRss = 0
let peakDevices = 0
const peak = { heapUsed: 0, heapTotal: 0, external: 0, backlog: 0 }
const mib = (b: number) => b / 2 ** 20
const send = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n')
const tsOf = /"ts":(\d+)/

let first = 0
let cpuAtFirst = process.cpuUsage()
let mainAtFirst = mainThreadCpuS()
let stageClock: StageClock | null = null
let last = 0
let readings = 0
let messages = 0
// The replay's pace (seconds of event time a wall second; the gateway's fifth argument, absent: as fast as taken).
const pace = Number(process.argv[5] ?? Infinity)
const pending = new Pending(pace)
const tickPositions: number[] = []
const tickZones: number[] = []
let devices = (): number => 0
let stop: () => Promise<void>
let idle = (): boolean => true
let backlog = (): number => 0

if (mode === 'bare') {
  const b = await startBroker({ port: 0 })
  await new Promise<void>(resolve =>
    b.broker.subscribe(
      'instore/+/sensors/#',
      (packet, done) => {
        const now = performance.now()
        if (messages === 0) {
          first = now
          cpuAtFirst = process.cpuUsage()
          mainAtFirst = mainThreadCpuS()
          mainAtFirst = mainThreadCpuS()
        }
        last = now
        messages++
        readings += countReadings(packet.payload as Buffer)
        done()
      },
      resolve
    )
  )
  stop = () => b.close()
  send({ url: b.url })
} else if (mode === 'gateway') {
  const [sitePath, trace] = process.argv.slice(3)
  const devicesFile = trace.replace(/(\.jsonl)?$/, '.devices.json')
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-'))
  const g = new Gateway({
    site: loadSiteFile(sitePath),
    port: 0,
    host: '127.0.0.1',
    dataDir,
    clock: 'event',
    httpPort: 0,
    prefix: 'instore',
    secret: 'bench',
    log: silentLogger,
    // As deployed (the cores less one: none when pinned to one core) unless the part's --workers says.
    pipeline: { workers: process.env.INSTORE_BENCH_WORKERS !== undefined ? Number(process.env.INSTORE_BENCH_WORKERS) : 0 },
    // The app phones' identities, as instore-replay finds them beside the trace.
    ...(existsSync(devicesFile) ? { devices: loadDevicesFile(devicesFile) } : {})
  })
  await g.start()
  const pipeline = g.pipeline
  if (!pipeline) throw new Error('gateway did not start')
  // Latency: wall time from a message's arrival to the publishing of the positions of the tick
  // that first uses its readings (before that tick's zone stage).
  const take = pipeline.take.bind(pipeline)
  const tick = pipeline.tick.bind(pipeline)
  let began = 0
  let positionsAt = 0
  pipeline.afterPositions = (t: number) => {
    positionsAt = performance.now()
    tickPositions.push(positionsAt - began)
    pending.done(t, positionsAt, pipeline.processed, began)
  }
  pipeline.tick = (t: number) => {
    began = performance.now()
    tick(t)
    last = performance.now()
    tickZones.push(last - positionsAt)
  }
  pipeline.take = (topic: string, payload: Buffer) => {
    const now = performance.now()
    const n = countReadings(payload)
    const m = tsOf.exec(payload.toString('latin1', 0, 64))
    if (m) pending.arrived(Number(m[1]), now)
    const before = pipeline.processed + pipeline.backlog
    take(topic, payload)
    if (n > 0) {
      if (readings === 0) {
        first = now
        cpuAtFirst = process.cpuUsage()
      }
      readings += n
      messages++
      // Its place in the pipeline's queue (none: refused or held, then not timed).
      if (m && pipeline.processed + pipeline.backlog > before) pending.push(Number(m[1]), now, before)
    }
    last = Math.max(last, performance.now())
  }
  devices = () => pipeline.trackedDevices
  stageClock = pipeline.stages
  // bench/cpu-cost.ts: stages in CPU time, which a shared machine hardly moves (a system call a read).
  if (process.env.INSTORE_BENCH_CPU_STAGES === '1') stageClock.now = cpuClock
  idle = () => pipeline.backlog === 0
  backlog = () => pipeline.backlog
  stop = async () => {
    await g.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  send({ url: g.mqttUrl })
} else {
  throw new Error(`usage: throughput-child.ts bare | gateway SITE TRACE (got ${mode})`)
}

const sample = (): void => {
  const u = process.memoryUsage()
  peakRss = Math.max(peakRss, u.rss)
  peak.heapUsed = Math.max(peak.heapUsed, u.heapUsed)
  peak.heapTotal = Math.max(peak.heapTotal, u.heapTotal)
  peak.external = Math.max(peak.external, u.external)
  peak.backlog = Math.max(peak.backlog, backlog())
  peakDevices = Math.max(peakDevices, devices())
}
const sampler = setInterval(sample, 200)

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== 'report') continue
  // The replay has ended: wait until the inbox is empty and no tick has run for a while.
  for (let quiet = 0; quiet < 5; ) {
    const before = last
    await new Promise(resolve => setTimeout(resolve, 100))
    quiet = idle() && last === before ? quiet + 1 : 0
  }
  clearInterval(sampler)
  const cpu = process.cpuUsage(cpuAtFirst)
  const mainNow = mainThreadCpuS()
  sample()
  const rss = process.memoryUsage.rss()
  const tracked = devices()
  peakDevices = Math.max(peakDevices, tracked)
  const heap = process.memoryUsage().heapUsed
  // Against the schedule: the earliest message stands for the replay's start (before sorting the latencies, which pair with the offsets).
  const scheduleStart = pending.offsets.reduce((a, b) => Math.min(a, b), Infinity)
  const unseen = pending.offsets.map(o => o - scheduleStart)
  const scheduled = unseen.map((u, i) => u + pending.latencies[i])
  const lat = pending.latencies.sort((a, b) => a - b)
  const delay = pending.delays.sort((a, b) => a - b)
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b)
  const q = (xs: number[], p: number) => (xs.length > 0 ? quantile(xs, p) : null)
  const report: ChildReport = {
    readings,
    messages,
    seconds: (last - first) / 1000,
    latencyP50Ms: q(lat, 0.5),
    latencyP99Ms: q(lat, 0.99),
    delayP50Ms: q(delay, 0.5),
    delayP99Ms: q(delay, 0.99),
    behindP50Ms: q(sorted(pending.behind), 0.5),
    behindP99Ms: q(sorted(pending.behind), 0.99),
    fixesP50Ms: q(sorted(pending.fixes), 0.5),
    fixesP99Ms: q(sorted(pending.fixes), 0.99),
    tickPositionsP50Ms: q(sorted(tickPositions), 0.5),
    tickPositionsP99Ms: q(sorted(tickPositions), 0.99),
    tickZonesP50Ms: q(sorted(tickZones), 0.5),
    tickZonesP99Ms: q(sorted(tickZones), 0.99),
    unseenP50Ms: q(sorted(unseen), 0.5),
    unseenP99Ms: q(sorted(unseen), 0.99),
    scheduledLatencyP50Ms: q(sorted(scheduled), 0.5),
    scheduledLatencyP99Ms: q(sorted(scheduled), 0.99),
    rssMiB: mib(rss),
    peakRssMiB: mib(peakRss),
    heapMiB: mib(heap),
    peakHeapUsedMiB: mib(peak.heapUsed),
    peakHeapTotalMiB: mib(peak.heapTotal),
    peakExternalMiB: mib(peak.external),
    peakBacklog: peak.backlog,
    devicesTracked: tracked,
    peakDevices,
    gcCount: gc.count,
    gcMs: gc.ms,
    cpuUserS: cpu.user / 1e6,
    cpuSystemS: cpu.system / 1e6,
    mainCpuS: mainNow === null || mainAtFirst === null ? null : mainNow - mainAtFirst,
    stages: stageClock === null ? null : { ms: { ...stageClock.ms }, calls: { ...stageClock.calls } }
  }
  await stop()
  send(report)
  break
}
process.exit(0)
