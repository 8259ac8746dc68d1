// Event quality over several simulated boutique hours: the whole gateway (embedded broker, event
// clock) fed by the replay command, its events scored against the simulator's truth. One seed can
// look better or worse than the design is; the spread over seeds is the figure to trust.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { evaluateEvents, defaultEvalOptions, type EventMsg } from '../simulators/evaluate.ts'
import { makeTrace } from '../test/helpers/sim.ts'
import { startGateway } from '../test/helpers/gateway.ts'
import { runBin } from '../test/helpers/run.ts'

export interface VisitQuality {
  seed: number
  visits: { truth: number; recall: number; precision: number; falseVisits: number; exitErrorMedianS: number }
  stays: { truth: number; recall: number; extraEntriesPerStay: number; exitErrorMedianS: number }
}

/** `zones`: members of the site file's `zones` object to try instead of the file's own. */
export async function visitQuality(seed: number, durationS: number, scenario = 'boutique', zones: Record<string, unknown> = {}): Promise<VisitQuality> {
  const { dir, trace, sim, loaded, devices } = await makeTrace(scenario, { durationS, seed })
  const file = JSON.parse(readFileSync(loaded.sitePath, 'utf8'))
  file.zones = { ...file.zones, ...zones }
  const sitePath = join(dir, 'site.json')
  writeFileSync(sitePath, JSON.stringify(file))
  const g = await startGateway({ campaigns: [], devices }, sitePath)
  try {
    // The recording ends once the output has been quiet 15 s: on a loaded machine a starved gateway
    // is quiet for seconds while still at work, and the replay's default (1.5 s) cut visits off.
    const r = await runBin('instore-replay', ['--trace', trace, '--broker', g.mqttUrl, '--record', join(dir, 'rec.jsonl'), '--settle', '15000'], { timeoutMs: 600_000 })
    if (r.code !== 0) throw new Error(r.stdout + r.stderr)
  } finally {
    await g.stop()
  }
  const events = readFileSync(join(dir, 'rec.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as { topic: string; msg: EventMsg })
    .filter(r => r.topic.includes('/events/'))
    .map(r => r.msg)
  const q = evaluateEvents(sim.truth, events, defaultEvalOptions)
  return {
    seed,
    visits: { truth: q.visits.truth, recall: q.visits.recall, precision: q.visits.precision, falseVisits: q.visits.falseVisits, exitErrorMedianS: q.visits.exitErrorS.median },
    stays: { truth: q.stays.truth, recall: q.stays.recall, extraEntriesPerStay: q.stays.extraEntriesPerStay, exitErrorMedianS: q.stays.exitErrorS.median }
  }
}
