// People now and daily visitors on a simulated Wi-Fi store, against the simulator's truth: the
// simulator's Wi-Fi readings fed straight into the gateway's people counter (gateway/presence/people.ts),
// which is asked every 10 s of event time, as the pipeline asks it every tick.
import { join } from 'node:path'
import { loadScenario, type Scenario } from '../simulators/scenario.ts'
import { Simulator } from '../simulators/engine.ts'
import { isReading } from '../shared/trace.ts'
import { localTime } from '../shared/local-time.ts'
import { SubjectHasher, isRandomizedMac } from '../gateway/ingest/subjects.ts'
import { People, peopleOptions, wifiModels, type PeopleOptions, type DwellSummary } from '../gateway/presence/people.ts'
import { truthPeopleBins, estimateBins, scorePeople, truthVisitors, type PeopleScore } from '../simulators/evaluate-people.ts'

export interface PeopleDay {
  date: string
  /** Per 5 minutes over the whole day, and over its open hours (first arrival to last departure). */
  day: PeopleScore
  open: PeopleScore | null
  visitors: { estimate: number; truth: number; error: number }
  dwell: DwellSummary
  fixturesLearned: number
  /** Share of the 5-minute means that read at most one person (an empty room should). */
  atMostOne: number
  /** Per 5 minutes: the estimate's mean and the truth. */
  series: Array<[number, number]>
  /** The most new Wi-Fi devices one sensor gave within a minute up to the day's end (against `newDevicesPerSensorMin`), and those refused. */
  newcomers: { peak: number; refused: number }
}

const ASK_MS = 10_000
const BIN_MS = 300_000

export async function peopleRun(
  scenario: string,
  over: Partial<Pick<Scenario, 'seed' | 'durationS' | 'days' | 'start'>> = {},
  opts: Partial<PeopleOptions> = {},
  root = '.'
): Promise<PeopleDay[]> {
  const loaded = loadScenario(join(root, 'simulators/scenarios', scenario + '.json'), over)
  const sim = new Simulator(loaded)
  const site = loaded.site
  const hasher = new SubjectHasher('bench-secret')
  const people = new People(site, wifiModels(site), peopleOptions(site, opts), mac => hasher.hash(mac))
  const samples: Array<{ ts: number; n: number }> = []
  const visitorsByDate = new Map<string, ReturnType<People['visitors']> & { fixtures: number }>()
  let next = -Infinity
  const ask = (until: number) => {
    if (next === -Infinity) next = Math.ceil(until / ASK_MS) * ASK_MS
    for (; next <= until; next += ASK_MS) {
      const p = people.now(next, [], [], 0)
      samples.push({ ts: next, n: Object.values(p.shops).reduce((a, b) => a + b, 0) })
      visitorsByDate.set(localTime(next, site.timezone).date, { ...people.visitors(next), fixtures: people.wifi.fixtures().length })
    }
  }
  for (const l of sim.lines()) {
    ask(l.ts)
    if (!isReading(l) || l.t !== 'wifi' || l.mac === undefined) continue
    people.observeWifi({
      subject: hasher.hash(l.mac),
      randomized: isRandomizedMac(l.mac),
      sensor: l.sensor,
      rssi: l.rssi,
      ts: l.ts,
      ...(l.seq !== undefined ? { seq: l.seq } : {}),
      ...(l.fp !== undefined ? { fp: l.fp } : {})
    })
  }
  const out: PeopleDay[] = []
  for (const [w0, w1] of sim.truth.windows) {
    ask(w1 - 1)
    const date = localTime(w0, site.timezone).date
    const truth = truthPeopleBins(sim.truth, w0, w1, BIN_MS)
    const est = estimateBins(samples, w0, w1, BIN_MS)
    const busy = truth.map((v, i) => (v > 0 ? i : -1)).filter(i => i >= 0)
    const open = busy.length > 0 ? scorePeople(est.slice(busy[0], busy[busy.length - 1] + 1), truth.slice(busy[0], busy[busy.length - 1] + 1)) : null
    const v = visitorsByDate.get(date)
    const tv = truthVisitors(sim.truth, w0, w1)
    const estimate = v?.visitors ?? 0
    out.push({
      date,
      day: scorePeople(est, truth),
      open,
      visitors: { estimate, truth: tv, error: tv > 0 ? (estimate - tv) / tv : estimate },
      dwell: v?.dwell ?? { n: 0, medianS: null, p90S: null, buckets: {} },
      fixturesLearned: v?.fixtures ?? 0,
      atMostOne: est.filter(e => Number.isFinite(e) && e <= 1).length / Math.max(1, est.filter(e => Number.isFinite(e)).length),
      series: est.map((e, i) => [Math.round(e * 10) / 10, Math.round(truth[i] * 10) / 10]),
      newcomers: { peak: people.wifi.newcomers.peak, refused: people.wifi.newcomers.refused }
    })
  }
  return out
}
