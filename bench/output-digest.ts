// What the gateway publishes for a trace, as digests: the positions, the events (ids left out:
// contract §3) and the occupancy a replay as fast as taken gives, each in publishing order. A
// change meant to cost less CPU and change nothing runs this before and after (each from its own
// tree) and compares the lines: the same digests mean the same output, byte for byte. The
// occupancy line is printed but is no comparator: the retained occupancy messages a subscriber
// records of a replay as fast as taken differ from run to run of the same code (which of them
// arrive; not looked into), while positions and events do not.
//   node --import tsx bench/output-digest.ts [--trace FILE] [--site FILE] [--keep FILE] [--settle MS] [--workers N]
// (default: a minute of the hypermarket, out/bench/hypermarket-quick.jsonl as `bench/cpu-cost.ts`
// makes it; --keep writes the recorded messages there, to find where two runs part; --settle: how
// long the output must be quiet before the recording ends, default 15 s, for a loaded machine
// starves the gateway for seconds: a short record is a prefix of the whole one, not a difference;
// --workers: the solver and test pools' workers, default 0, the test pool's counts printed).
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startGateway } from '../test/helpers/gateway.ts'
import { runBin } from '../test/helpers/run.ts'
import { devicesBeside } from './trace-files.ts'
import type { DevicesFileT } from '../gateway/ingest/identity.ts'

export interface OutputDigest {
  positions: { count: number; sha256: string }
  events: { count: number; sha256: string }
  occupancy: { count: number; sha256: string }
}

/** Replays `trace` into a fresh in-process gateway on `site` (event clock) and digests what it published. */
export async function outputDigest(trace: string, site: string, keep?: string, settleMs = 15_000, workers = 0): Promise<OutputDigest & { pool: unknown }> {
  const devices = JSON.parse(readFileSync(devicesBeside(trace), 'utf8')) as DevicesFileT
  const out = join(mkdtempSync(join(tmpdir(), 'digest-')), 'out.jsonl')
  const g = await startGateway({ devices, pipeline: { workers } }, site)
  let pool: unknown = null
  try {
    const r = await runBin('instore-replay', ['--trace', trace, '--broker', g.mqttUrl, '--speed', 'max', '--record', out, '--settle', String(settleMs)], { timeoutMs: 1_800_000 })
    if (r.code !== 0) throw new Error(r.stdout + r.stderr)
    pool = { ...g.pipeline?.est.testPoolCounts }
  } finally {
    await g.stop()
  }
  if (keep !== undefined) copyFileSync(out, keep)
  const digests = { positions: createHash('sha256'), events: createHash('sha256'), occupancy: createHash('sha256') }
  const counts = { positions: 0, events: 0, occupancy: 0 }
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    if (line === '') continue
    const r = JSON.parse(line) as { topic: string; msg: Record<string, unknown> }
    const kind = r.topic.includes('/positions/') ? 'positions' : r.topic.includes('/events/') ? 'events' : r.topic.endsWith('/occupancy') ? 'occupancy' : undefined
    if (kind === undefined) continue
    counts[kind]++
    digests[kind].update(`${r.topic} ${JSON.stringify(kind === 'events' ? { ...r.msg, id: undefined } : r.msg)}\n`)
  }
  const d = (k: keyof typeof counts) => ({ count: counts[k], sha256: digests[k].digest('hex').slice(0, 16) })
  return { positions: d('positions'), events: d('events'), occupancy: d('occupancy'), pool }
}

// Run directly: prints one line per kind.
if (import.meta.url === `file://${process.argv[1]}`) {
  const option = (name: string): string | undefined => {
    const at = process.argv.indexOf(`--${name}`)
    return at > 0 ? process.argv[at + 1] : undefined
  }
  const trace = option('trace') ?? 'out/bench/hypermarket-quick.jsonl'
  const site = option('site') ?? 'sites/hypermarket.site.json'
  if (!existsSync(trace) || !existsSync(devicesBeside(trace))) throw new Error(`no trace ${trace} (or its devices beside it): make it as bench/cpu-cost.ts does`)
  const settle = Number(option('settle') ?? 15_000)
  if (!(settle > 0)) throw new Error(`--settle wants milliseconds, got ${option('settle')}`)
  const workers = Number(option('workers') ?? 0)
  if (!(Number.isInteger(workers) && workers >= 0)) throw new Error(`--workers wants a whole number, got ${option('workers')}`)
  const { pool, ...d } = await outputDigest(trace, site, option('keep'), settle, workers)
  for (const [k, v] of Object.entries(d)) console.log(`${k} ${v.count} ${v.sha256}`)
  console.log(`workers ${workers}, test pool ${JSON.stringify(pool)}`)
  process.exit(0)
}
