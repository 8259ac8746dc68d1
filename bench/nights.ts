// Visits over days with silent nights (issue 27's Done-when): the boutique-nights scenario cut to
// `days`, replayed at full speed through the whole gateway (embedded broker, event clock), its
// events taken by a subscriber of their own (a multi-day recording would hold every position too)
// and scored against the simulator's truth: recall, recall by visit length, false visits.
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { evaluateEvents, defaultEvalOptions, intervalsFromEvents, type EventMsg } from '../simulators/evaluate.ts'
import type { Truth } from '../simulators/engine.ts'
import { makeTrace } from '../test/helpers/sim.ts'
import { startGateway, waitSettled } from '../test/helpers/gateway.ts'
import { runBin } from '../test/helpers/run.ts'
import { zonesOption } from './args.ts'

export interface NightsResult {
  days: number
  /** Readings the gateway accepted. */
  readings: number
  /** Events the bench's subscriber received (each once), and the events the gateway wrote to its outbox. */
  events: number
  written: number
  /** Times the bench's subscriber lost its connection and came back. */
  reconnects: number
  truthVisits: number
  recall: number
  /** Visit recall by the truth visit's length: under 40 s, 40 to 60 s, 60 s or more. */
  byLength: Array<{ band: string; visits: number; found: number; recall: number }>
  falseVisits: number
  /** The missed visits and the false ones, each as day, subject, shop and seconds into the day. */
  missed: string[]
  falses: string[]
}

const BANDS: Array<[string, number, number]> = [
  ['under 40 s', 0, 40_000],
  ['40 to 60 s', 40_000, 60_000],
  ['60 s or more', 60_000, Infinity]
]

export async function nights(days: number, seed?: number, zones: Record<string, unknown> = {}): Promise<NightsResult> {
  const { dir, trace, sim, loaded, devices } = await makeTrace('boutique-nights', { days, ...(seed !== undefined ? { seed } : {}) })
  // Zone parameters to try instead of the site file's (`--zones`, as for the visits part).
  const file = JSON.parse(readFileSync(loaded.sitePath, 'utf8'))
  file.zones = { ...file.zones, ...zones }
  const sitePath = join(dir, 'site.json')
  writeFileSync(sitePath, JSON.stringify(file))
  const g = await startGateway({ campaigns: [], devices }, sitePath)
  const events: EventMsg[] = []
  // A stored session: the bench shares its process with the gateway, and when that process is
  // starved (a loaded machine) the broker may cut the subscriber (a socket not drained in time,
  // a ping unanswered); a clean session would lose what is published before it is back, a stored
  // one gets it queued (QoS 1, at least once: each event kept once, by its id).
  const sub = await mqtt.connectAsync(g.mqttUrl, { clean: false, clientId: `bench-nights-${process.pid}` })
  let reconnects = 0
  const seen = new Set<string>()
  sub.on('reconnect', () => reconnects++)
  sub.on('message', (_topic, payload) => {
    const e = JSON.parse(payload.toString()) as EventMsg & { id?: string }
    if (typeof e.id === 'string' && seen.has(e.id)) return
    if (typeof e.id === 'string') seen.add(e.id)
    events.push(e)
  })
  await sub.subscribeAsync('instore/+/events/#', { qos: 1 })
  // Every event the gateway wrote (the outbox's AUTOINCREMENT counts rows ever inserted, purged or not).
  const written = (): number => (g.store?.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as { seq: number } | undefined)?.seq ?? 0
  const accepted = (): number =>
    g.metrics
      .text()
      .split('\n')
      .filter(l => l.startsWith('instore_readings_total'))
      .reduce((a, l) => a + Number(l.split(' ').pop()), 0)
  let readings = 0
  let wrote = 0
  try {
    const r = await runBin('instore-replay', ['--trace', trace, '--broker', g.mqttUrl], { timeoutMs: 6 * 3600_000 })
    if (r.code !== 0) throw new Error(r.stdout + r.stderr)
    // The replay has handed every message to the broker; the gateway may still be working through them.
    await waitSettled(() => [accepted(), events.length], 5000, 3600_000, 'the gateway to finish the trace')
    readings = accepted()
    wrote = written()
  } finally {
    await sub.endAsync()
    await g.stop()
    // Days of trace take gigabytes: only the events and the truth stay.
    rmSync(trace, { force: true })
  }
  writeFileSync(join(dir, 'events.json'), JSON.stringify(events))
  const truth: Truth = sim.truth
  const q = evaluateEvents(truth, events, defaultEvalOptions).visits
  const { byLength, missed, falses } = scoreNights(truth, events)
  return { days, readings, events: events.length, written: wrote, reconnects, truthVisits: q.truth, recall: q.recall, byLength, falseVisits: q.falseVisits, missed, falses }
}

/**
 * Recall by length and each missed and false visit, as day, subject, shop and seconds into the
 * day. A miss also says how many of that phone's judged visits were found (misses that gather on
 * a few phones point at the phone, a quiet one, not at the day); a false visit, how many visits
 * that phone has in the truth (none: a passer-by).
 */
export function scoreNights(truth: Truth, events: EventMsg[]): Pick<NightsResult, 'byLength' | 'missed' | 'falses'> {
  const end = Math.max(...truth.windows.map(w => w[1]))
  const shops = intervalsFromEvents(events, 'shop', end)
  const dayOf = (t: number) => truth.windows.findIndex(([w0, w1]) => t >= w0 && t <= w1)
  const at = (subject: string, shop: string, a: number, b: number) => {
    const d = dayOf(a)
    const w0 = d >= 0 ? truth.windows[d][0] : a
    return `day ${d + 1} ${subject} ${shop} ${Math.round((a - w0) / 1000)}-${Math.round((b - w0) / 1000)} s`
  }
  const inside = (a: number, b: number) => truth.windows.some(([w0, w1]) => a >= w0 + defaultEvalOptions.warmupMs && b <= w1)
  const overlaps = (a0: number, a1: number, b0: number, b1: number) => Math.min(a1, b1) > Math.max(a0, b0)
  const judged = truth.visits.filter(v => v.subject !== null && inside(v.enter, v.exit))
  const byLength = BANDS.map(([band]) => ({ band, visits: 0, found: 0, recall: 0 }))
  const perPhone = new Map<string, { visits: number; found: number }>()
  const misses: Array<{ subject: string; text: string }> = []
  for (const v of judged) {
    const band = byLength[BANDS.findIndex(([, lo, hi]) => v.exit - v.enter >= lo && v.exit - v.enter < hi)]
    const phone = perPhone.get(v.subject ?? '') ?? { visits: 0, found: 0 }
    perPhone.set(v.subject ?? '', phone)
    band.visits++
    phone.visits++
    if (shops.some(d => d.subject === v.subject && d.shop === v.shop && overlaps(v.enter, v.exit, d.enter, d.exit))) {
      band.found++
      phone.found++
    } else misses.push({ subject: v.subject ?? '', text: at(v.subject ?? '', v.shop, v.enter, v.exit) })
  }
  for (const b of byLength) b.recall = b.found / Math.max(1, b.visits)
  const missed = misses.map(m => {
    const phone = perPhone.get(m.subject) ?? { visits: 0, found: 0 }
    return `${m.text} (its phone: ${phone.found} of ${phone.visits} found)`
  })
  const falses = shops
    .filter(d => inside(d.enter, Math.min(d.exit, end)))
    .filter(d => !truth.visits.some(t => t.subject === d.subject && t.shop === d.shop && overlaps(t.enter, t.exit, d.enter, d.exit)))
    .map(d => `${at(d.subject, d.shop, d.enter, d.exit)} (its phone: ${truth.visits.filter(t => t.subject === d.subject).length} visits in the truth)`)
  return { byLength, missed, falses }
}

/** `npm run bench -- nights [--days N] [--seed S] [--zones JSON]`: runs and prints it. */
export async function nightsPart(option: (name: string) => string | undefined): Promise<NightsResult> {
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`
  const days = Number(option('days') ?? 45)
  const seedArg = option('seed')
  const seed = seedArg !== undefined ? Number(seedArg) : undefined
  if (!Number.isInteger(days) || days < 1 || (seed !== undefined && !Number.isInteger(seed))) throw new Error('--days wants a whole number of days, --seed an integer')
  const zonesArg = option('zones')
  const zones = zonesOption(zonesArg)
  console.log(
    `nights: boutique-nights, ${days} days of 3600 s, no heartbeat at night, whole gateway (event clock) over the replay command at full speed${zonesArg !== undefined ? `, zones ${zonesArg}` : ''}`
  )
  const r = await nights(days, seed, zones)
  if (r.events !== r.written)
    console.log(`  the bench's subscriber received ${r.events} of the ${r.written} events the gateway wrote (${r.reconnects} reconnections): the figures below miss what it lost`)
  else if (r.reconnects > 0) console.log(`  the bench's subscriber was cut off ${r.reconnects} times and still received all ${r.written} events the gateway wrote`)
  console.log(`  readings ${r.readings}, events ${r.events}; visits ${r.truthVisits}: recall ${pct(r.recall)}, ${r.falseVisits} false`)
  console.log(`  recall by length: ${r.byLength.map(b => `${b.band} ${pct(b.recall)} (${b.found} of ${b.visits})`).join(', ')}`)
  if (r.missed.length > 0) console.log(`  missed: ${r.missed.join('; ')}`)
  if (r.falses.length > 0) console.log(`  false: ${r.falses.join('; ')}`)
  return r
}
