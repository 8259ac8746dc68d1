// Writes a short simulator trace to a temp folder for tests.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadScenario, type Scenario } from '../../simulators/scenario.ts'
import { Simulator } from '../../simulators/engine.ts'
import { JsonLinesWriter } from '../../shared/trace.ts'
import { ROOT } from './run.ts'

export async function makeTrace(
  name: string,
  overrides: Partial<Pick<Scenario, 'seed' | 'durationS' | 'days' | 'start' | 'quiet'>> = {},
  dir = mkdtempSync(join(tmpdir(), 'trace-'))
) {
  const loaded = loadScenario(join(ROOT, 'simulators/scenarios', name + '.json'), overrides)
  const sim = new Simulator(loaded)
  const trace = join(dir, name + '.jsonl')
  const w = new JsonLinesWriter(trace)
  for (const line of sim.lines()) await w.write(line)
  await w.close()
  const truth = join(dir, name + '.truth.json')
  writeFileSync(truth, JSON.stringify(sim.truth))
  // Beside the trace, where instore-replay finds it: app phones go out as their rotating EIDs.
  const devices = sim.devices()
  writeFileSync(join(dir, name + '.devices.json'), JSON.stringify(devices))
  return { dir, trace, truth, loaded, sim, devices }
}
