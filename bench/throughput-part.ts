// `npm run bench -- throughput [--quick] [--rounds N]`: the gateway against a bare broker on the
// hypermarket trace (bench/throughput.ts), recorded under bench/results/ with its plot in docs/.
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { loadScenario } from '../simulators/scenario.ts'
import { Simulator } from '../simulators/engine.ts'
import { throughputStory, manyDevicesMemory, gatewayNodeFlags, delayParts, RSS_TARGET_MIB } from './throughput.ts'
import { throughputSvg } from './throughput-plot.ts'
import { writeManyDevicesTrace } from './many-devices.ts'
import { f2, simulate, devicesBeside } from './trace-files.ts'

/** The many-device trace: 5,000 devices for 40 s (a walk history fills in 30 s), a tenth changing address every 10 s. */
export const MANY_DEVICES = { devices: 5000, seconds: 40, rotatingShare: 0.1, rotateS: 10, seed: 28 }

export async function throughputPart(OUT: string, option: (name: string) => string | undefined): Promise<unknown> {
  // `--quick`: a minute of the hypermarket and one round, to check the part runs (its figures say little).
  const quick = process.argv.includes('--quick')
  const trace = join(OUT, quick ? 'hypermarket-quick.jsonl' : 'hypermarket.jsonl')
  const many = join(OUT, quick ? 'hypermarket-many-quick.jsonl' : 'hypermarket-many.jsonl')
  const durationS = quick ? 60 : undefined
  if (!existsSync(many)) await writeManyDevicesTrace('sites/hypermarket.site.json', many, quick ? { ...MANY_DEVICES, devices: 1000, seconds: 20 } : MANY_DEVICES)
  const target = (rss: number) => `target <= ${RSS_TARGET_MIB} MiB with ${MANY_DEVICES.devices}: ${rss <= RSS_TARGET_MIB ? 'met' : 'NOT met'}`
  const flags = gatewayNodeFlags().join(' ') || 'none'
  // `--memory`: the many-device trace alone, for the memory figure (the rest of the part takes long).
  if (process.argv.includes('--memory')) {
    const r = await manyDevicesMemory('sites/hypermarket.site.json', many)
    console.log(
      `throughput, memory only: many-device trace (${r.peakDevices} devices at most, a tenth changing address every ${MANY_DEVICES.rotateS} s), gateway node options as deployed: ${flags}`
    )
    console.log(
      `  peak rss ${r.peakRssMiB.toFixed(0)} MiB (${target(r.peakRssMiB)}); heap at most ${r.peakHeapUsedMiB.toFixed(0)} MiB used of ${r.peakHeapTotalMiB.toFixed(0)} MiB, outside it ${r.peakExternalMiB.toFixed(0)} MiB; gc ${r.gcCount} collections, ${f2(r.gcMs / r.seconds)} ms a second`
    )
    return { memory: r, flags, targetMiB: RSS_TARGET_MIB }
  }
  if (!existsSync(trace) || !existsSync(devicesBeside(trace))) await simulate(trace, new Simulator(loadScenario('simulators/scenarios/hypermarket.json', { durationS })))
  // `--workers N`: the gateway's test and solver pools (default: as deployed, the cores less one); 0: all inline.
  const workers = option('workers')
  if (workers !== undefined) {
    if (!/^\d+$/.test(workers)) throw new Error(`--workers wants a whole number, got ${workers}`)
    process.env.INSTORE_BENCH_WORKERS = workers
  }
  const rounds = Number(option('rounds') ?? (quick ? 1 : 2))
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds wants a whole number of at least 1, got ${option('rounds')}`)
  console.log(
    `throughput: hypermarket trace, replay command in another process, gateway and bare broker each in a process of their own, best of ${rounds} alternating round(s) each; then the same pinned to one core (taskset -c 0); workers ${workers ?? 'as deployed (the cores less one)'}`
  )
  const t = await throughputStory({ sitePath: 'sites/hypermarket.site.json', trace, manyTrace: many, rounds, shares: quick ? [] : [0.25, 0.75], log: l => console.log('  ' + l) })
  console.log(`  ${t.readings} readings in ${t.messages} messages, ${Math.round(t.traceReadingsPerS)} readings a second of event time`)
  for (const c of t.cores) {
    console.log(
      ` ${c.pinned ? 'one core (taskset -c 0)' : 'all cores'}: bare broker ${Math.round(c.bareReadingsPerS)}/s  gateway ${Math.round(c.gatewayReadingsPerS)}/s  ratio ${f2(c.ratio)}`
    )
    console.log(
      `   latency reading → position, p50 / p99 (the gateway's own delay in it, without the event clock's 500 ms wait): full speed ${f2(c.full.p50Ms)} / ${f2(c.full.p99Ms)} ms (${f2(c.full.delayP50Ms)} / ${f2(c.full.delayP99Ms)} ms);` +
        ` half the best rate (${Math.round(c.half.offeredPerS)}/s offered) ${f2(c.half.p50Ms)} / ${f2(c.half.p99Ms)} ms (${f2(c.half.delayP50Ms)} / ${f2(c.half.delayP99Ms)} ms)`
    )
    console.log(`   at full speed: ${delayParts(c.full)}`)
    console.log(`   at half the best rate: ${delayParts(c.half)}`)
    console.log(
      `   memory: peak rss ${c.memory.peakRssMiB.toFixed(0)} MiB with ${c.memory.devices} devices, ${c.memory.manyPeakRssMiB.toFixed(0)} MiB with ${c.memory.manyDevices} (${target(c.memory.manyPeakRssMiB)}; node options ${flags}); gc ${c.gc.count} collections, ${f2(c.gc.msPerSecond)} ms a second`
    )
  }
  const commit = execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8' }).trim()
  const record = { date: new Date().toISOString(), commit, command: `npm run bench -- throughput${quick ? ' --quick' : ''}`, node: process.version, ...t }
  // A full run is recorded (bench/results/, the plot in docs/); a quick one stays in out/.
  const json = quick ? join(OUT, 'throughput-quick.json') : `bench/results/${record.date.slice(0, 10)}-${commit}-throughput.json`
  const svg = quick ? join(OUT, 'throughput-quick.svg') : 'docs/throughput.svg'
  writeFileSync(json, JSON.stringify(record, (_, v: unknown) => (v === Infinity ? 'max' : v), 1) + '\n')
  writeFileSync(svg, throughputSvg(t))
  console.log(`  recorded: ${json}, plot ${svg}`)
  return t
}
