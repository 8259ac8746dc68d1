// People now and daily visitors on a simulated Wi-Fi store, against the simulator's truth: the
// simulator's Wi-Fi readings fed straight into the gateway's people counter (gateway/presence/people.ts),
// which is asked every 10 s of event time, as the pipeline asks it every tick.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadScenario, type Scenario } from '../simulators/scenario.ts'
import { Simulator } from '../simulators/engine.ts'
import { isReading, type TraceLine } from '../shared/trace.ts'
import { localTime } from '../shared/local-time.ts'
import { SubjectHasher, isRandomizedMac } from '../gateway/ingest/subjects.ts'
import { People, peopleOptions, wifiModels, dwellSummary, type PeopleOptions, type DwellSummary } from '../gateway/presence/people.ts'
import { truthPeopleBins, estimateBins, scorePeople, truthVisitors, truthDwellS, type PeopleScore } from '../simulators/evaluate-people.ts'

/** A trace line's Wi-Fi reading, as the gateway's ingest hands it to people counting (its MAC hashed); other lines are skipped. */
export function observeWifiLine(people: People, hasher: SubjectHasher, l: TraceLine): void {
  if (!isReading(l) || l.t !== 'wifi' || l.mac === undefined) return
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

export interface PeopleDay {
  date: string
  /** Per 5 minutes over the whole day, and over its open hours (first arrival to last departure). */
  day: PeopleScore
  open: PeopleScore | null
  visitors: { estimate: number; truth: number; error: number }
  dwell: DwellSummary
  /** The truth's visits that began and ended that day: the dwell the estimate's should follow. */
  dwellTruth: DwellSummary
  fixturesLearned: number
  /** Share of the 5-minute means that read at most one person (an empty room should). */
  atMostOne: number
  /** Per 5 minutes: the estimate's mean and the truth. */
  series: Array<[number, number]>
  /** The most new Wi-Fi devices one sensor gave within a minute up to the day's end (against `newDevicesPerSensorMin`), and those refused. */
  newcomers: { peak: number; refused: number }
  /** The most people counted beyond what a place holds at one count up to the day's end (people-capacity.ts: none on honest traffic), and the devices not counted as visitors for it. */
  overCapacity: { peak: number; excessVisitors: number }
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
  let overPeak = 0
  const ask = (until: number) => {
    if (next === -Infinity) next = Math.ceil(until / ASK_MS) * ASK_MS
    for (; next <= until; next += ASK_MS) {
      const p = people.now(next, [], [], 0)
      samples.push({ ts: next, n: Object.values(p.shops).reduce((a, b) => a + b, 0) })
      overPeak = Math.max(
        overPeak,
        people.suspicious().overCapacity.reduce((a, o) => a + o.n, 0)
      )
      visitorsByDate.set(localTime(next, site.timezone).date, { ...people.visitors(next), fixtures: people.wifi.fixtures().length })
    }
  }
  for (const l of sim.lines()) {
    ask(l.ts)
    observeWifiLine(people, hasher, l)
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
      dwellTruth: dwellSummary(truthDwellS(sim.truth, w0, w1)),
      fixturesLearned: v?.fixtures ?? 0,
      atMostOne: est.filter(e => Number.isFinite(e) && e <= 1).length / Math.max(1, est.filter(e => Number.isFinite(e)).length),
      series: est.map((e, i) => [Math.round(e * 10) / 10, Math.round(truth[i] * 10) / 10]),
      newcomers: { peak: people.wifi.newcomers.peak, refused: people.wifi.newcomers.refused },
      overCapacity: { peak: overPeak, excessVisitors: people.excessVisitors }
    })
  }
  return out
}

/** One line per scenario and day: the figures docs/people-counting.md reports per seed. */
export function peopleLine(seed: number, scenario: string, d: PeopleDay): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a')
  const pc = (x: number) => `${(100 * x).toFixed(1)}%`
  const est = d.series.map(s => s[0]).filter(Number.isFinite)
  const o = d.open
  // Nobody there all day (the empty room): a share of a true count of 0 means nothing, the error in people does.
  const whole = d.day.meanTruth > 0 ? `MAE ${f(d.day.mae)} (${pc(d.day.maeShare)} of ${f(d.day.meanTruth)})` : `MAE ${f(d.day.mae)} people (truth 0)`
  return (
    `seed ${seed} ${scenario} ${d.date}: whole day r ${f(d.day.pearsonR)} ${whole}` +
    (o ? `; open hours r ${f(o.pearsonR)} MAE ${pc(o.maeShare)} of ${f(o.meanTruth)} bias ${f(o.bias)}` : '') +
    `; visitors ${d.visitors.estimate}/${d.visitors.truth}; largest 5-min mean ${f(Math.max(0, ...est))}, mean ${f(est.reduce((a, b) => a + b, 0) / Math.max(1, est.length))}` +
    `, ${pc(d.atMostOne)} of 5-min means at most 1; newcomers peak ${d.newcomers.peak} refused ${d.newcomers.refused}; over capacity peak ${f(d.overCapacity.peak)}` +
    `; dwell n ${d.dwell.n}/${d.dwellTruth.n} median ${d.dwell.medianS ?? 'n/a'}/${d.dwellTruth.medianS ?? 'n/a'} s p90 ${d.dwell.p90S ?? 'n/a'}/${d.dwellTruth.p90S ?? 'n/a'} s`
  )
}

// `node --import tsx bench/people.ts SEED...`: both scenarios, both days, per seed (a few minutes a seed).
// SCENARIOS=a,b runs those instead.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const seed of process.argv.slice(2).map(Number)) {
    for (const scenario of (process.env.SCENARIOS ?? 'wifi-store,wifi-empty-room').split(','))
      for (const d of await peopleRun(scenario, { seed })) console.log(peopleLine(seed, scenario, d))
  }
}
