// What the bench parts share (run.ts, throughput-part.ts): simulated traces written with their app
// phones' identities beside them, and figures printed to two decimals.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { JsonLinesWriter, type TraceLine } from '../shared/trace.ts'
import type { Simulator } from '../simulators/engine.ts'

export const f2 = (v: number | null) => (v === null ? 'n/a' : v.toFixed(2))

/** Where a simulated trace's app phones' identities go (replay and the gateway find them there). */
export function devicesBeside(trace: string): string {
  return trace.replace(/(\.jsonl)?$/, '.devices.json')
}

/** A simulator's trace, and its app phones' identities beside it. */
export async function simulate(path: string, sim: Simulator): Promise<void> {
  await writeTrace(path, sim.lines())
  writeFileSync(devicesBeside(path), JSON.stringify(sim.devices()))
}

/** Writes a trace, making its folder first (a fresh clone has no out/bench: `bench/cpu-cost.ts` stopped there). */
export async function writeTrace(path: string, lines: Iterable<TraceLine>): Promise<void> {
  mkdirSync(dirname(path), { recursive: true })
  const w = new JsonLinesWriter(path)
  for (const l of lines) await w.write(l)
  await w.close()
}
