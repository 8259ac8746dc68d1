// Who the day's Wi-Fi visitors are, by the simulated radio behind each: the simulator's readings fed
// to the gateway's people counter as bench/people.ts does, every address mapped to the person (and
// kind: shopper, passer-by, fixture) whose radio sent it, and each device still counted as a visitor
// at the end of a day printed with what it was when counted (state, bursts, place, strength).
// `node --import tsx bench/people-visitors-diagnosis.ts SEED [SCENARIO] [DAY]` (DAY 1 or 2; all days by default).
import { join } from 'node:path'
import { loadScenario } from '../simulators/scenario.ts'
import { Simulator } from '../simulators/engine.ts'
import { localTime } from '../shared/local-time.ts'
import { SubjectHasher } from '../gateway/ingest/subjects.ts'
import { People, peopleOptions, wifiModels } from '../gateway/presence/people.ts'
import type { WifiDevice } from '../gateway/presence/wifi-device-types.ts'
import { observeWifiLine } from './people.ts'

const seed = Number(process.argv[2] ?? 42)
const scenario = process.argv[3] ?? 'wifi-empty-room'
const onlyDay = process.argv[4] === undefined ? null : Number(process.argv[4])

const loaded = loadScenario(join('simulators/scenarios', scenario + '.json'), { seed })
const sim = new Simulator(loaded)
const site = loaded.site
const hasher = new SubjectHasher('bench-secret')
const opts = peopleOptions(site, {})
const people = new People(site, wifiModels(site), opts, mac => hasher.hash(mac))

// Which person sent each address: the simulator's burst step, wrapped (a diagnosis only).
const who = new Map<string, { id: string; kind: string; fp: string | undefined }>()
type Probe = (a: { trip: { person: { id: string; kind: string } } }, w: { mac: string | null; radio: { fp?: string } }, ...rest: unknown[]) => void
const proto = Simulator.prototype as unknown as { probeBurst: Probe }
const probe = proto.probeBurst
// Each person's burst times (for the visits no device of theirs was counted for).
const burstsOf = new Map<string, number[]>()
proto.probeBurst = function (this: unknown, a, w, ...rest) {
  probe.call(this, a, w, ...rest)
  if (w.mac !== null) who.set(hasher.hash(w.mac), { id: a.trip.person.id, kind: a.trip.person.kind, fp: w.radio.fp })
  const ts = rest[0] as number
  const list = burstsOf.get(a.trip.person.id) ?? []
  list.push(ts)
  burstsOf.set(a.trip.person.id, list)
}

interface Counted {
  t: number
  person: string
  kind: string
  bursts: number
  inShop: number
  span: number
  x: number
  y: number
  depth: number
  maxRssi: number
  fp: string | null
  /** Minutes since the stay it continues began (its own, or one of its model it took over at its spot). */
  stayMin: number
}
const counted = new Map<WifiDevice, Counted>()
const pp = People.prototype as unknown as { countVisitor: (d: WifiDevice, t: number) => void }
const count = pp.countVisitor
pp.countVisitor = function (this: People, d: WifiDevice, t: number) {
  const before = d.countedDay
  count.call(this, d, t)
  if (d.countedDay === before) return
  const w = who.get(d.address)
  const at = d.lastInShop ?? d.last
  counted.set(d, {
    t,
    person: w?.id ?? '?',
    kind: w?.kind ?? '?',
    bursts: d.bursts,
    inShop: d.inShop,
    span: d.firstInShopTs === null ? 0 : at.ts - d.firstInShopTs,
    x: at.x,
    y: at.y,
    depth: at.depth,
    maxRssi: at.maxRssi,
    fp: d.fp,
    stayMin: (t - this.wifi.stayStart(d, t)) / 60_000
  })
}

const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`
const report = (date: string) => {
  // Bursts inside by the day's end (or when dropped): one only is a visit no second burst confirmed.
  const rows = [...counted].filter(([d]) => d.countedDay === date).map(([d, c]) => ({ ...c, finalInShop: d.inShop }))
  const kinds = new Map<string, number>()
  for (const r of rows) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1)
  console.log(`${scenario} seed ${seed} ${date}: ${rows.length} visitors; by kind ${JSON.stringify(Object.fromEntries(kinds))}`)
  const groups = new Map<string, number>()
  for (const r of rows) {
    const key = `${r.kind === 'passerBy' || r.kind === 'fixture' ? r.kind : 'shopper'} ${r.inShop < 2 ? (r.finalInShop < 2 ? 'single-only' : 'single-then-settled') : 'settled'} depth ${r.depth < 1 ? '<1' : r.depth < 2 ? '1-2' : r.depth < 3 ? '2-3' : r.depth < 4 ? '3-4' : '4+'} stay ${r.stayMin > 30 ? '>30m' : 'own'}`
    groups.set(key, (groups.get(key) ?? 0) + 1)
  }
  for (const [k, n] of [...groups].sort()) console.log(`  ${k}: ${n}`)
  if (process.env.LIST !== undefined)
    for (const r of rows.sort((a, b) => a.t - b.t))
      console.log(
        `  ${hhmm(localTime(r.t, site.timezone).minutes)} ${r.kind.padEnd(10)} ${r.person.padEnd(14)} fp ${r.fp ?? '-'} bursts ${r.bursts} inShop ${r.inShop} span ${(r.span / 1000).toFixed(0)}s at ${r.x.toFixed(1)},${r.y.toFixed(1)} depth ${r.depth.toFixed(1)} max ${r.maxRssi.toFixed(0)} dBm stay ${r.stayMin.toFixed(0)} min`
      )
  if (process.env.MISSED !== undefined) missed(date, rows)
  for (const [d] of [...counted].filter(([d]) => d.countedDay === date)) counted.delete(d)
  const f = (x: number) => x.toFixed(1)
  console.log(`  fixture spots: ${people.wifi.spots.spots.map(s => `${s.fp} ${f(s.x)},${f(s.y)}`).join('; ')}`)
  const cells = (people as unknown as { entered?: { cells: Map<string, { o: boolean[] }> } }).entered?.cells
  if (cells !== undefined)
    console.log(
      `  patches inside (floor:x/3:y/3 came in/of): ${[...cells]
        .sort()
        .map(([k, { o }]) => `${k} ${o.filter(Boolean).length}/${o.length}`)
        .join('; ')}`
    )
  const places = people.wifi.modelSpots.kept(36, 10)
  console.log(`  most heard places: ${places.map(k => `${k.fp} ${f(k.x)},${f(k.y)} slots ${k.slots.length}${k.learned ? ' learned' : ''}`).join('; ')}`)
}

// The day's true visits no device of their person was counted for, by length and bursts sent
// during the visit; and people with more visits that day than devices counted (a stable address
// counts once a day).
function missed(date: string, rows: Counted[]): void {
  const win = sim.truth.windows.find(([w0]) => localTime(w0, site.timezone).date === date)
  if (win === undefined) return
  const visits = sim.truth.visits.filter(v => v.enter >= win[0] && v.enter < win[1])
  const devices = new Map<string, number>()
  for (const r of rows) devices.set(r.person, (devices.get(r.person) ?? 0) + 1)
  const byPerson = new Map<string, number>()
  for (const v of visits) byPerson.set(v.person, (byPerson.get(v.person) ?? 0) + 1)
  const groups = new Map<string, number>()
  let repeats = 0
  for (const [person, n] of byPerson) {
    const c = devices.get(person) ?? 0
    if (c > 0 && c < n) repeats += n - c
  }
  const models = new Map<string, string>()
  for (const w of who.values()) models.set(w.id, w.fp ?? '-')
  for (const v of visits) {
    if ((devices.get(v.person) ?? 0) > 0) continue
    const min = (v.exit - v.enter) / 60_000
    const sent = (burstsOf.get(v.person) ?? []).filter(t => t >= v.enter && t <= v.exit).length
    const key = `length ${min < 2 ? '<2' : min < 5 ? '2-5' : min < 15 ? '5-15' : '15+'} min, bursts ${sent < 1 ? '0' : sent < 2 ? '1' : sent < 4 ? '2-3' : '4+'}${process.env.MISSED === 'fp' ? `, fp ${models.get(v.person)}` : ''}`
    groups.set(key, (groups.get(key) ?? 0) + 1)
  }
  const n = [...groups.values()].reduce((a, b) => a + b, 0)
  console.log(`  true visits ${visits.length}; of people never counted: ${n}; more visits than devices counted: ${repeats}`)
  for (const [k, m] of [...groups].sort()) console.log(`    ${k}: ${m}`)
}

let next = -Infinity
let date = ''
let day = 0
const ask = (until: number) => {
  if (next === -Infinity) next = Math.ceil(until / 10_000) * 10_000
  for (; next <= until; next += 10_000) {
    const dt = localTime(next, site.timezone).date
    if (dt !== date) {
      if (date !== '' && (onlyDay === null || onlyDay === day)) report(date)
      date = dt
      day++
    }
    people.now(next, [], [], 0)
  }
}
for (const l of sim.lines()) {
  ask(l.ts)
  observeWifiLine(people, hasher, l)
}
const [, w1] = sim.truth.windows[sim.truth.windows.length - 1]
ask(w1 - 1)
if (onlyDay === null || onlyDay === day) report(date)
