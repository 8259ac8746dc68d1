import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadScenario } from '../../simulators/scenario.ts'
import { Simulator } from '../../simulators/engine.ts'
import { isTruth } from '../../shared/trace.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { CampaignEngine } from '../../gateway/campaigns/campaigns.ts'
import { PresenceEngine, presenceOptions } from '../../gateway/presence/presence.ts'
import { frequency } from '../../gateway/presence/frequency.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import type { Evidence } from '../../gateway/presence/zones.ts'
import { ROOT } from '../helpers/run.ts'

const DAY = 86_400_000

test("segments follow the contract's default rules", () => {
  const h = (v7: number, v30: number, v90: number, last: number | null) => ({ visits7d: v7, visits30d: v30, visits90d: v90, lastEnter: last })
  const t = Date.UTC(2026, 10, 20)
  assert.equal(frequency(h(0, 0, 0, null), t).segment, 'first')
  assert.equal(frequency(h(0, 0, 0, null), t).daysSinceLastVisit, null)
  assert.equal(frequency(h(0, 0, 0, t - 120 * DAY), t).segment, 'lapsed')
  assert.equal(frequency(h(0, 0, 0, t - 120 * DAY), t).daysSinceLastVisit, 120)
  assert.equal(frequency(h(2, 4, 6, t - DAY), t).segment, 'regular')
  assert.equal(frequency(h(1, 3, 5, t - 3 * DAY), t).segment, 'returning')
})

test('frequency fields are exactly right over three weeks of visits, across a restart', async () => {
  // The regulars scenario with a radio slowed to a trickle: only the truth paths matter here.
  const dir = mkdtempSync(join(tmpdir(), 'freq-'))
  const sc = JSON.parse(readFileSync(join(ROOT, 'simulators/scenarios/regulars-3weeks.json'), 'utf8'))
  sc.site = join(ROOT, 'sites/boutique.site.json')
  sc.radio = { advHz: 0.01 }
  sc.wifiShare = 0
  writeFileSync(join(dir, 'sc.json'), JSON.stringify(sc))
  const loaded = loadScenario(join(dir, 'sc.json'))
  const sim = new Simulator(loaded)
  const byTs = new Map<number, Map<string, Evidence>>()
  for (const l of sim.lines()) {
    if (!isTruth(l)) continue
    let m = byTs.get(l.ts)
    if (!m) {
      m = new Map()
      byTs.set(l.ts, m)
    }
    m.set(l.truth.subject, { x: l.truth.x, y: l.truth.y, accuracyM: 0.3 })
  }
  const times = [...byTs.keys()].sort((a, b) => a - b)
  const events: InstoreEvent[] = []
  const open = () => {
    const store = new GatewayStore(dir)
    const campaigns = new CampaignEngine(loaded.site.storeId, loaded.site.timezone, store)
    return { store, presence: new PresenceEngine(loaded.site, store, campaigns, presenceOptions(loaded.site)) }
  }
  let g = open()
  times.forEach((t, i) => {
    // Halfway through, the gateway restarts: history and open state come back from SQLite.
    if (i === Math.floor(times.length / 2)) {
      g.store.close()
      g = open()
    }
    events.push(...g.presence.tick(t, byTs.get(t) as Map<string, Evidence>))
  })
  events.push(...g.presence.tick(times[times.length - 1] + 3_600_000, new Map()))
  g.store.close()

  const truth = sim.truth.visits.filter(v => v.subject !== null)
  const enters = events.filter(e => e.type === 'shop.enter')
  assert.ok(enters.length >= 0.95 * truth.length && enters.length <= truth.length, `${enters.length} entries for ${truth.length} visits`)
  let regulars = 0
  for (const e of enters) {
    // Earlier truth visits of this subject (this one excluded), counted per contract §5.
    const earlier = truth.filter(v => v.subject === e.subject && v.enter < e.ts - 60_000)
    const within = (d: number) => earlier.filter(v => v.enter >= e.ts - d * DAY).length
    const last = earlier.length ? Math.max(...earlier.map(v => v.enter)) : null
    const expected = {
      visits7d: within(7),
      visits30d: within(30),
      visits90d: within(90),
      daysSinceLastVisit: last === null ? null : Math.floor((e.ts - last) / DAY)
    }
    const { segment, ...got } = e.frequency ?? {}
    assert.deepEqual(got, expected, `${e.subject} at ${new Date(e.ts).toISOString()}`)
    if (segment === 'regular') regulars++
  }
  assert.ok(regulars > 0, "the scenario's regulars become regular")
})
