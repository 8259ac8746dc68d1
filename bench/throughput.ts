// Throughput, latency and memory of the whole gateway against the bare embedded broker taking
// the same messages, in one run: each side in a process of its own (throughput-child.ts), the
// publisher in a third (the replay command). Every figure comes twice: on the cores the machine
// has, and with the broker or gateway pinned to one core (`taskset -c 0`, a busy store box).
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { createReadStream, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBin, ROOT } from '../test/helpers/run.ts'
import type { ChildReport } from './throughput-child.ts'
import { buildBundles } from '../scripts/build.ts'

/** One replay through one side at one offered load. */
export interface LoadPoint {
  side: 'bare' | 'gateway'
  pinned: boolean
  /** The replay's pace: readings a second offered (Infinity: as fast as taken). */
  offeredPerS: number
  /** Readings a second taken (the side's first arrival to the end of its work). */
  takenPerS: number
  report: ChildReport
}

export interface Latency {
  p50Ms: number | null
  p99Ms: number | null
  delayP50Ms: number | null
  delayP99Ms: number | null
  /** What the own delay is made of (throughput-child.ts): waiting behind earlier work, and the tick's own fixes; per tick, its positions and zone stages. */
  parts: Pick<
    ChildReport,
    | 'behindP50Ms'
    | 'behindP99Ms'
    | 'fixesP50Ms'
    | 'fixesP99Ms'
    | 'tickPositionsP50Ms'
    | 'tickPositionsP99Ms'
    | 'tickZonesP50Ms'
    | 'tickZonesP99Ms'
    | 'unseenP50Ms'
    | 'unseenP99Ms'
    | 'scheduledLatencyP50Ms'
    | 'scheduledLatencyP99Ms'
  >
}

const latency = (r: ChildReport): Latency => ({
  p50Ms: r.latencyP50Ms,
  p99Ms: r.latencyP99Ms,
  delayP50Ms: r.delayP50Ms,
  delayP99Ms: r.delayP99Ms,
  parts: {
    behindP50Ms: r.behindP50Ms,
    behindP99Ms: r.behindP99Ms,
    fixesP50Ms: r.fixesP50Ms,
    fixesP99Ms: r.fixesP99Ms,
    tickPositionsP50Ms: r.tickPositionsP50Ms,
    tickPositionsP99Ms: r.tickPositionsP99Ms,
    tickZonesP50Ms: r.tickZonesP50Ms,
    tickZonesP99Ms: r.tickZonesP99Ms,
    unseenP50Ms: r.unseenP50Ms,
    unseenP99Ms: r.unseenP99Ms,
    scheduledLatencyP50Ms: r.scheduledLatencyP50Ms,
    scheduledLatencyP99Ms: r.scheduledLatencyP99Ms
  }
})

/** The own delay's parts as one line: behind earlier work, the tick's fixes; per tick, positions and zone stages. */
export function delayParts(l: Latency): string {
  const p = l.parts
  return (
    `own delay = behind earlier work ${ms(p.behindP50Ms)} / ${ms(p.behindP99Ms)} + the tick's fixes ${ms(p.fixesP50Ms)} / ${ms(p.fixesP99Ms)}; ` +
    `a tick's positions stage ${ms(p.tickPositionsP50Ms)} / ${ms(p.tickPositionsP99Ms)}, its zone stage ${ms(p.tickZonesP50Ms)} / ${ms(p.tickZonesP99Ms)} (p50 / p99)` +
    (p.unseenP99Ms === null
      ? ''
      : `; unseen before being taken (socket, replay, network) ${ms(p.unseenP50Ms)} / ${ms(p.unseenP99Ms)}, latency from the replay's schedule ${ms(p.scheduledLatencyP50Ms)} / ${ms(p.scheduledLatencyP99Ms)}`)
  )
}

export interface CoreFigures {
  pinned: boolean
  bareReadingsPerS: number
  gatewayReadingsPerS: number
  ratio: number
  /** Reading -> position latency (event clock's wait included) and the gateway's own delay in it, ms (throughput-child.ts). */
  full: Latency
  half: Latency & { offeredPerS: number; takenPerS: number }
  /** Peak resident memory with the trace's devices, and with the many-device trace. */
  memory: { devices: number; peakRssMiB: number; heapMiB: number; manyDevices: number; manyPeakRssMiB: number; manyHeapMiB: number }
  gc: { count: number; ms: number; msPerSecond: number }
}

export interface ThroughputStory {
  messages: number
  readings: number
  /** Readings a second of event time in the trace: what `--speed 1` offers. */
  traceReadingsPerS: number
  rounds: number
  cores: CoreFigures[]
  /** Every run, for the plot of throughput and latency against offered load. */
  points: LoadPoint[]
}

const ms = (v: number | null) => (typeof v === 'number' ? `${v.toFixed(1)} ms` : 'n/a')

/** Readings, and the span of their event time, of a trace (seconds). */
export async function traceRate(trace: string): Promise<{ readings: number; seconds: number }> {
  let readings = 0
  let t0 = Infinity
  let t1 = -Infinity
  const tsOf = /"ts":(\d+)/
  for await (const line of createInterface({ input: createReadStream(trace) })) {
    if (!line.includes('"rssi"')) continue
    const m = tsOf.exec(line)
    if (m === null) continue
    const ts = Number(m[1])
    readings++
    if (ts < t0) t0 = ts
    if (ts > t1) t1 = ts
  }
  return { readings, seconds: Math.max(1, (t1 - t0) / 1000) }
}

/** The resident memory the gateway must stay within with 5,000 devices tracked, MiB (issue 28). */
export const RSS_TARGET_MIB = 250

/**
 * The options the store box's node runs the gateway with (`deploy/instore-gateway.service`, its
 * ExecStart), so that the gateway measured here runs as deployed: the heap limit sets how far V8
 * lets garbage pile up before it collects, and so most of the resident memory.
 */
export function gatewayNodeFlags(unit = `${ROOT}/deploy/instore-gateway.service`): string[] {
  const exec = readFileSync(unit, 'utf8')
    .split('\n')
    .find(l => l.startsWith('ExecStart='))
  return (exec ?? '').split(/\s+/).filter(w => /^--max-[a-z-]+-size=\d+$/.test(w))
}

let childBundle: Promise<string> | undefined

/**
 * The child process, built as the deployed gateway is (`npm run build`: plain JavaScript, no
 * TypeScript loader in its memory), into out/ once a run, with the pool's worker beside it.
 */
function bundledChild(): Promise<string> {
  const out = `${ROOT}/out/bench/dist`
  childBundle ??= buildBundles(out, {
    'throughput-child': 'bench/throughput-child.ts',
    'pool-worker': 'gateway/estimation/pool-worker.ts'
  }).then(() => `${out}/throughput-child.mjs`)
  return childBundle
}

/**
 * Extra node flags for the gateway's process from `INSTORE_BENCH_GATEWAY_FLAGS` (space-separated,
 * e.g. `--cpu-prof --cpu-prof-dir=out/prof`): node refuses `--cpu-prof` in NODE_OPTIONS, and the
 * gateway's process is the one worth profiling.
 */
function profileFlags(): string[] {
  return (process.env.INSTORE_BENCH_GATEWAY_FLAGS ?? '').split(/\s+/).filter(w => w.startsWith('--'))
}

/** Starts one side (pinned to core 0 if asked), replays the trace at `speed` into it and returns its report. */
export async function replayInto(side: 'bare' | 'gateway', pinned: boolean, sitePath: string, trace: string, speed: number): Promise<ChildReport> {
  const node = [
    process.execPath,
    ...(side === 'gateway' ? [...gatewayNodeFlags(), ...profileFlags()] : []),
    await bundledChild(),
    side,
    ...(side === 'gateway' ? [sitePath, trace, String(speed)] : [])
  ]
  const cmd = pinned ? ['taskset', '-c', '0', ...node] : node
  const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', d => {
    stderr += d
  })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async (): Promise<Record<string, unknown>> => {
    const l = await lines.next()
    if (l.done === true) throw new Error(`throughput-child ${side} ended early: ${stderr}`)
    return JSON.parse(l.value) as Record<string, unknown>
  }
  try {
    const { url } = await next()
    const r = await runBin('instore-replay', ['--trace', trace, '--broker', String(url), '--speed', Number.isFinite(speed) ? String(speed) : 'max'], { timeoutMs: 1_800_000 })
    if (r.code !== 0) throw new Error(r.stdout + r.stderr)
    child.stdin.write('report\n')
    return (await next()) as unknown as ChildReport
  } finally {
    child.stdin.end()
    if (child.exitCode === null) await new Promise(resolve => child.once('close', resolve))
  }
}

export interface StoryOptions {
  sitePath: string
  /** The trace every rate is measured on, and one with many devices for memory. */
  trace: string
  manyTrace: string
  /** Alternating bare/gateway rounds at full speed per core setting; the best of each side is kept. */
  rounds: number
  /** Offered loads beside full and half, as shares of the gateway's best rate (the plot's points). */
  shares: number[]
  /** Core settings to measure: all cores (false) and pinned to one (true); default both. */
  pinned?: boolean[]
  log: (line: string) => void
}

/**
 * The whole story: per core setting, the bare broker and the gateway alternating at full speed,
 * the gateway at half its best rate and at the other shares asked, and the many-device trace.
 */
export async function throughputStory(o: StoryOptions): Promise<ThroughputStory> {
  if (!existsSync(o.trace) || !existsSync(o.manyTrace)) throw new Error('traces missing')
  const rate = await traceRate(o.trace)
  const perS = rate.readings / rate.seconds
  const points: LoadPoint[] = []
  const cores: CoreFigures[] = []
  let messages = 0
  const run = async (side: 'bare' | 'gateway', pinned: boolean, speed: number, trace = o.trace): Promise<LoadPoint> => {
    const report = await replayInto(side, pinned, trace === o.manyTrace ? manyDevicesSite(o.sitePath) : o.sitePath, trace, speed)
    const p: LoadPoint = { side, pinned, offeredPerS: speed * perS, takenPerS: report.readings / report.seconds, report }
    if (trace === o.trace) points.push(p)
    o.log(
      `${side.padEnd(7)} ${pinned ? 'one core ' : 'all cores'} offered ${Number.isFinite(p.offeredPerS) ? Math.round(p.offeredPerS) : 'max'}/s: ` +
        `took ${Math.round(p.takenPerS)}/s, ${side === 'gateway' ? `latency p50 ${ms(report.latencyP50Ms)} p99 ${ms(report.latencyP99Ms)} (own delay ${ms(report.delayP50Ms)} / ${ms(report.delayP99Ms)}), ` : ''}peak rss ${report.peakRssMiB.toFixed(0)} MiB, ${report.peakDevices} devices, CPU ${(report.cpuUserS + report.cpuSystemS).toFixed(1)} s (main thread ${report.mainCpuS?.toFixed(1) ?? 'n/a'} s)`
    )
    return p
  }
  for (const pinned of o.pinned ?? [false, true]) {
    let bare: LoadPoint | null = null
    let gw: LoadPoint | null = null
    for (let i = 0; i < o.rounds; i++) {
      const b = await run('bare', pinned, Infinity)
      if (bare === null || b.takenPerS > bare.takenPerS) bare = b
      const g = await run('gateway', pinned, Infinity)
      if (gw === null || g.takenPerS > gw.takenPerS) gw = g
    }
    if (bare === null || gw === null) throw new Error('rounds must be at least 1')
    messages = bare.report.messages
    const best = gw.takenPerS
    const half = await run('gateway', pinned, best / 2 / perS)
    // The plot's other points on all cores only: pinned, full and half speed tell the worst case.
    if (!pinned) for (const share of o.shares) await run('gateway', pinned, (share * best) / perS)
    const many = await run('gateway', pinned, Infinity, o.manyTrace)
    const g = gw.report
    cores.push({
      pinned,
      bareReadingsPerS: bare.takenPerS,
      gatewayReadingsPerS: best,
      ratio: best / bare.takenPerS,
      full: latency(g),
      half: { offeredPerS: half.offeredPerS, takenPerS: half.takenPerS, ...latency(half.report) },
      memory: {
        devices: g.peakDevices,
        peakRssMiB: g.peakRssMiB,
        heapMiB: g.heapMiB,
        manyDevices: many.report.peakDevices,
        manyPeakRssMiB: many.report.peakRssMiB,
        manyHeapMiB: many.report.heapMiB
      },
      gc: { count: g.gcCount, ms: g.gcMs, msPerSecond: g.gcMs / g.seconds }
    })
  }
  return { messages, readings: rate.readings, traceReadingsPerS: perS, rounds: o.rounds, cores, points }
}

/** The many-device trace alone through the gateway (on all cores): `npm run bench -- throughput --memory`. */
export async function manyDevicesMemory(sitePath: string, manyTrace: string): Promise<ChildReport> {
  if (!existsSync(manyTrace)) throw new Error('trace missing')
  return replayInto('gateway', false, manyDevicesSite(sitePath), manyTrace, Infinity)
}

/**
 * The site for the many-device trace: its thousands of tags all appear in the first second, which
 * the gateway rightly takes for a sender inventing stable ids (people.newBleDevicesPerSectorMin per
 * sensor a minute) and counts as one device. The memory figure is per tracked device, so this
 * site admits them (the limit at its maximum).
 */
export function manyDevicesSite(sitePath: string): string {
  const site = JSON.parse(readFileSync(sitePath, 'utf8'))
  site.people = { ...site.people, newBleDevicesPerSectorMin: 10_000 }
  const path = join(mkdtempSync(join(tmpdir(), 'many-site-')), 'site.json')
  writeFileSync(path, JSON.stringify(site))
  return path
}
