// instore-sim: writes a contract §7 trace (with truth lines) and a truth side file for a scenario.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { runCommand, UsageError } from '../shared/cli.ts'
import { createLogger } from '../shared/log.ts'
import { JsonLinesWriter } from '../shared/trace.ts'
import { loadScenario } from './scenario.ts'
import { Simulator } from './engine.ts'

const spec = {
  name: 'instore-sim',
  summary: 'simulate a store and its shoppers; write a trace (JSON Lines) and its truth',
  usage: 'instore-sim --scenario simulators/scenarios/boutique.json --out boutique.jsonl',
  options: {
    scenario: { type: 'string', doc: 'scenario file (see simulators/scenarios/)', required: true },
    out: { type: 'string', doc: 'trace file to write', required: true },
    truth: { type: 'string', doc: 'truth visits and stays file (default: OUT with .truth.json)' },
    seed: { type: 'number', doc: 'override the scenario seed' },
    duration: { type: 'number', doc: 'override simulated seconds per day' },
    days: { type: 'number', doc: 'override the number of days' },
    start: { type: 'string', doc: 'override the start: an ISO date-time, or "now"' }
  }
} as const

await runCommand(spec, async o => {
  const log = createLogger({ base: { name: 'instore-sim' } })
  const start = o.start === 'now' ? new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString() : o.start
  if (start !== undefined && !Number.isFinite(Date.parse(start))) throw new UsageError(`--start must be an ISO date-time or "now", got '${start}'`)
  const loaded = loadScenario(o.scenario, { seed: o.seed, durationS: o.duration, days: o.days, start })
  const sim = new Simulator(loaded)
  mkdirSync(dirname(o.out), { recursive: true })
  const out = new JsonLinesWriter(o.out)
  const truthPath = o.truth ?? o.out.replace(/(\.jsonl)?$/, '.truth.json')
  const started = Date.now()
  let lines = 0
  let lastReport = started
  let first = -1
  for (const line of sim.lines()) {
    await out.write(line)
    lines++
    if ((lines & 0xfff) === 0 && Date.now() - lastReport > 2000) {
      lastReport = Date.now()
      if (first < 0) first = sim.truth.windows[0][0]
      const done = sim.truth.windows.slice(0, -1).reduce((s, [a, b]) => s + b - a, 0) + line.ts - sim.truth.windows[sim.truth.windows.length - 1][0]
      log.info('progress', { lines, percent: Math.round((100 * done) / sim.totalMs) })
    }
  }
  await out.close()
  writeFileSync(truthPath, JSON.stringify(sim.truth) + '\n')
  const devicesPath = o.out.replace(/(\.jsonl)?$/, '.devices.json')
  // Identity keys are secrets of the app phones: the file is for replay and standalone gateways only.
  // The mode applies only when the file is created: an existing, readable file is narrowed too.
  writeFileSync(devicesPath, JSON.stringify(sim.devices(), null, 1) + '\n', { mode: 0o600 })
  chmodSync(devicesPath, 0o600)
  log.info('done', {
    scenario: loaded.scenario.name,
    lines,
    trace: o.out,
    truth: truthPath,
    devices: devicesPath,
    visits: sim.truth.visits.length,
    stays: sim.truth.stays.length,
    seconds: (Date.now() - started) / 1000
  })
})
