// instore-eval: compares a gateway recording (positions, events) with a trace's truth.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCommand, UsageError } from '../shared/cli.ts'
import { SubjectHasher, isMac, readStoreSecret, SECRET_FILE } from '../gateway/ingest/subjects.ts'
import { loadSiteFile } from '../shared/site.ts'
import { readJsonLines, isTruth, isReading, isScan, type TraceLine } from '../shared/trace.ts'
import type { RecordedMessage } from './recorder.ts'
import type { Truth, TruthVisit, TruthStay } from './engine.ts'
import {
  evaluatePositions,
  evaluateEvents,
  heardDuring,
  formatReport,
  defaultEvalOptions,
  type EvalReport,
  type PositionMsg,
  type EventMsg,
  type TruthSample,
  type HeardIndex
} from './evaluate.ts'

const spec = {
  name: 'instore-eval',
  summary: 'score a gateway recording against the truth of a trace',
  usage: 'instore-eval --site sites/boutique.site.json --trace boutique.jsonl --recording out.jsonl [--json report.json]',
  options: {
    site: { type: 'string', doc: 'site file', required: true },
    trace: { type: 'string', doc: 'trace with truth lines', required: true },
    truth: { type: 'string', doc: 'truth visits and stays (default: TRACE with .truth.json, if present)' },
    recording: { type: 'string', doc: 'what the gateway published (instore-replay --record)', required: true },
    json: { type: 'string', doc: 'also write the report as JSON to this file ("-" for stdout only)' },
    data: { type: 'string', doc: "the gateway's data folder: its store secret names MAC subjects as the gateway did" },
    secret: { type: 'string', doc: "the gateway's store secret (instead of --data)" },
    'max-age-ms': { type: 'number', doc: 'a position older than this does not count', default: defaultEvalOptions.maxAgeMs },
    'min-stay-s': { type: 'number', doc: 'sector stays shorter than this are not expected to be detected', default: defaultEvalOptions.minStayMs / 1000 },
    'warmup-s': { type: 'number', doc: 'ignore this much at the start of each window', default: defaultEvalOptions.warmupMs / 1000 }
  }
} as const

await runCommand(spec, async o => {
  const site = loadSiteFile(o.site)
  const opts = { maxAgeMs: o['max-age-ms'], minStayMs: o['min-stay-s'] * 1000, warmupMs: o['warmup-s'] * 1000 }
  // The gateway publishes a MAC address only hashed with its store secret (contract §4): a truth
  // subject that is a MAC is scored under that same name, or cannot be scored at all.
  const secret = o.secret ?? (o.data !== undefined ? readSecret(o.data) : undefined)
  const hasher = secret !== undefined ? new SubjectHasher(secret) : null
  const subjectOf = (s: string) => {
    if (!isMac(s)) return s
    if (hasher === null) throw new UsageError(`truth subject ${s} is a MAC address, which the gateway publishes hashed: pass --data (the gateway's data folder) or --secret`)
    return hasher.hash(s)
  }
  const truthPath = o.truth ?? o.trace.replace(/(\.jsonl)?$/, '.truth.json')
  const truth: Truth | null = existsSync(truthPath) ? (JSON.parse(readFileSync(truthPath, 'utf8')) as Truth) : null
  // When the trace holds readings of each truth subject, under the name the trace gives it.
  const wanted = new Set([...(truth?.visits ?? []), ...(truth?.stays ?? [])].map(v => v.subject).filter(s => s !== null))
  const heard: HeardIndex = new Map()
  const samples: TruthSample[] = []
  let first = Infinity
  let last = -Infinity
  for await (const line of readJsonLines<TraceLine>(o.trace)) {
    first = Math.min(first, line.ts)
    last = Math.max(last, line.ts)
    const id = isReading(line) ? (line.id ?? line.mac) : isScan(line) ? line.device : undefined
    if (id !== undefined && wanted.has(id)) {
      const times = heard.get(id)
      if (times === undefined) heard.set(id, [line.ts])
      else times.push(line.ts)
    }
    // `person:` subjects are simulated people without a BLE identity (Wi-Fi only or no phone):
    // nothing can name them in the output, so they are not scored.
    if (isTruth(line) && !line.truth.subject.startsWith('person:'))
      samples.push({ ts: line.ts, subject: subjectOf(line.truth.subject), x: line.truth.x, y: line.truth.y, floor: line.truth.floor })
  }
  const positions: PositionMsg[] = []
  const events: EventMsg[] = []
  for await (const r of readJsonLines<RecordedMessage>(o.recording)) {
    if (r.topic.includes('/positions/')) positions.push(r.msg as PositionMsg)
    else if (r.topic.includes('/events/')) events.push(r.msg as EventMsg)
  }
  // Not one truth subject in the recording: most likely the gateway ran without the trace's
  // devices file, so every app phone stayed an anonymous rotating EID. Say so instead of scoring zero.
  const recorded = new Set(positions.map(p => p.subject))
  if (samples.length > 0 && !samples.some(s => recorded.has(s.subject))) {
    process.stderr.write(
      `instore-eval: no subject of the truth appears in the recording; was the gateway given the trace's devices file (--devices ${o.trace.replace(/(\.jsonl)?$/, '.devices.json')})?\n`
    )
  }
  for (const times of heard.values()) times.sort((a, b) => a - b)
  // Visits and stays no reading supports (every sensor that could hear them off) are not judged.
  const unheard = new Set<TruthVisit | TruthStay>(
    [...(truth?.visits ?? []), ...(truth?.stays ?? [])].filter(v => v.subject !== null && !heardDuring(heard, v.subject, v.enter, v.exit))
  )
  for (const v of [...(truth?.visits ?? []), ...(truth?.stays ?? [])]) if (v.subject !== null) v.subject = subjectOf(v.subject)
  const windows = truth?.windows ?? [[first, last]]
  const report: EvalReport = { positions: evaluatePositions(site, samples, positions, opts, windows) }
  if (truth && events.length > 0)
    Object.assign(
      report,
      evaluateEvents(truth, events, opts, v => !unheard.has(v))
    )
  if (o.json === '-') process.stdout.write(JSON.stringify(report, null, 2) + '\n')
  else {
    process.stdout.write(formatReport(report))
    if (o.json) writeFileSync(o.json, JSON.stringify(report, null, 2) + '\n')
  }
})

function readSecret(dir: string): string {
  const secret = readStoreSecret(dir)
  if (secret === null) throw new UsageError(`no store secret in ${dir} (expected ${join(dir, SECRET_FILE)})`)
  return secret
}
