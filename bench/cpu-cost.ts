// The gateway's CPU per 100,000 readings of store traffic, and where it goes: a figure that holds
// on a shared machine, where rates measure the neighbours as much as the gateway. The quick
// hypermarket trace (a minute, as `npm run bench -- throughput --quick` makes it) is replayed as
// fast as taken into a gateway in a process of its own (bench/throughput-child.ts), round after
// round; each round prints the process's CPU seconds (every thread) per 100,000 readings and the
// CPU time spent in each stage of the main thread (gateway/stage-clock.ts) per 100,000 readings.
//   node --import tsx bench/cpu-cost.ts [--rounds N] [--trace FILE] [--wall-stages]   (default: 2 rounds of out/bench/hypermarket-quick.jsonl)
import { existsSync } from 'node:fs'
import { loadScenario } from '../simulators/scenario.ts'
import { Simulator } from '../simulators/engine.ts'
import { STAGES, type Stage } from '../gateway/stage-clock.ts'
import { replayInto } from './throughput.ts'
import { simulate, devicesBeside } from './trace-files.ts'
import type { ChildReport } from './throughput-child.ts'

export interface CpuCost {
  readings: number
  /** Wall seconds the replay took and the process's CPU seconds (user + system) in that time. */
  seconds: number
  cpuS: number
  /** CPU seconds per 100,000 readings. */
  cpuPer100k: number
  /** The main thread's CPU seconds per 100,000 readings (null: unknown). */
  mainCpuPer100k: number | null
  /** CPU ms per stage per 100,000 readings (the process's, while the main thread was in the stage), and calls per stage per 100,000 readings. */
  stageMsPer100k: Record<Stage, number>
  stageCallsPer100k: Record<Stage, number>
}

export function cpuCost(r: ChildReport): CpuCost {
  const per = 100_000 / Math.max(1, r.readings)
  const cpuS = r.cpuUserS + r.cpuSystemS
  const ms = {} as Record<Stage, number>
  const calls = {} as Record<Stage, number>
  for (const s of STAGES) {
    ms[s] = (r.stages?.ms[s] ?? 0) * per
    calls[s] = (r.stages?.calls[s] ?? 0) * per
  }
  return {
    readings: r.readings,
    seconds: r.seconds,
    cpuS,
    cpuPer100k: cpuS * per,
    mainCpuPer100k: r.mainCpuS === null ? null : r.mainCpuS * per,
    stageMsPer100k: ms,
    stageCallsPer100k: calls
  }
}

export function cpuLine(c: CpuCost): string {
  const stages = STAGES.map(s => `${s} ${c.stageMsPer100k[s].toFixed(0)} ms`).join(', ')
  return (
    `${c.readings} readings in ${c.seconds.toFixed(1)} s: CPU ${c.cpuS.toFixed(2)} s, ${c.cpuPer100k.toFixed(3)} s per 100,000 readings (main thread ${c.mainCpuPer100k?.toFixed(3) ?? 'n/a'} s); CPU per stage per 100,000: ${stages}; ` +
    `entry tests ${c.stageCallsPer100k.entryTests.toFixed(0)}, walk tests ${c.stageCallsPer100k.walkTests.toFixed(0)}, ticks ${c.stageCallsPer100k.fixes.toFixed(0)} per 100,000`
  )
}

// Run directly: prints one line a round.
if (import.meta.url === `file://${process.argv[1]}`) {
  const option = (name: string): string | undefined => {
    const at = process.argv.indexOf(`--${name}`)
    return at > 0 ? process.argv[at + 1] : undefined
  }
  // The stages in CPU time cost a system call a clock read (four a message): that inflates the
  // process's CPU. `--wall-stages` keeps the pipeline's own wall-time clock, so the process's CPU is
  // what a store box pays, and the stage figures are wall time (read them only on an idle machine).
  const wallStages = process.argv.includes('--wall-stages')
  if (!wallStages) process.env.INSTORE_BENCH_CPU_STAGES = '1'
  const rounds = Number(option('rounds') ?? 2)
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds wants a whole number of at least 1, got ${option('rounds')}`)
  const trace = option('trace') ?? 'out/bench/hypermarket-quick.jsonl'
  if (!existsSync(trace) || !existsSync(devicesBeside(trace))) {
    if (option('trace') !== undefined) throw new Error(`no trace ${trace} (or its devices beside it)`)
    await simulate(trace, new Simulator(loadScenario('simulators/scenarios/hypermarket.json', { durationS: 60 })))
  }
  console.log(
    `gateway CPU per 100,000 readings: ${trace} replayed as fast as taken, ${rounds} round(s), all cores, workers ${process.env.INSTORE_BENCH_WORKERS ?? 'as deployed (the cores less one)'}, stages in ${wallStages ? 'wall' : 'CPU'} time`
  )
  for (let i = 0; i < rounds; i++) {
    const r = await replayInto('gateway', false, 'sites/hypermarket.site.json', trace, Infinity)
    console.log(JSON.stringify(cpuCost(r)))
    console.log(`  ${cpuLine(cpuCost(r))}`)
  }
  process.exit(0)
}
