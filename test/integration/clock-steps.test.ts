// The wall clock stepping (an outside tester's repro, s6): in wall mode, with a device heard every
// second, the clock steps 6 h ahead and then back. Ticks stopped until wall time caught up again
// (6 h) while /healthz said ok. The pipeline on an injected wall clock, never a patched Date.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile } from '../../shared/site.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { CampaignEngine } from '../../gateway/campaigns/campaigns.ts'
import { PresenceEngine, presenceOptions } from '../../gateway/presence/presence.ts'
import { gatewayHealth } from '../../gateway/health.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { defaultClockOptions } from '../../gateway/ingest/clock.ts'
import type { PositionMessageT } from '../../shared/messages.ts'
import { eventPipelineOptions, metricValue } from '../helpers/gateway.ts'

const site = loadSiteFile('sites/boutique.site.json')
const T0 = 1_765_094_400_000
const HOUR = 3_600_000

function wallPipeline(presence: PresenceEngine | null = null) {
  let now = T0
  const positions: PositionMessageT[] = []
  const events: InstoreEvent[] = []
  const metrics = new Metrics()
  const o = eventPipelineOptions()
  const p = new Pipeline(
    site,
    { ...o, clock: { ...defaultClockOptions, mode: 'wall', wall: () => now } },
    { position: q => positions.push(q), occupancy() {}, events: e => events.push(...e), footfall() {} },
    metrics,
    silentLogger,
    presence
  )
  /** `seconds` of the device heard by every sensor each second, stamped by the (stepped) wall clock. */
  const live = (seconds: number) => {
    for (let k = 0; k < seconds; k++) {
      now += 1000
      for (const s of site.sensors.values()) {
        const rssi = Math.round(-59 - 22 * Math.log10(Math.max(1, Math.hypot(8 - s.x, 4 - s.y, 2.8))))
        p.handle(`instore/${site.storeId}/sensors/${s.id}/readings`, Buffer.from(JSON.stringify({ ts: now, readings: [{ t: 'ble', id: 'tag:stepped', rssi, ts: now }] })))
      }
      p.advance()
    }
  }
  return { p, positions, events, metrics, live, step: (ms: number) => (now += ms), now: () => now }
}

test('after the wall clock steps back, ticks and positions go on at once, and the step is counted (repro: frozen for 6 h)', () => {
  const w = wallPipeline()
  w.live(25)
  w.step(6 * HOUR)
  w.live(25)
  w.step(-6 * HOUR)
  const ticks = metricValue(w.metrics, 'instore_ticks_total')
  const from = w.now()
  w.live(25)
  assert.ok(metricValue(w.metrics, 'instore_ticks_total') - ticks >= 20, `${metricValue(w.metrics, 'instore_ticks_total') - ticks} ticks after the step back`)
  const after = w.positions.filter(q => q.ts > from && q.ts <= w.now())
  assert.ok(after.length >= 15, `${after.length} positions after the step back`)
  assert.equal(metricValue(w.metrics, 'instore_clock_steps_total', '{direction="back"}'), 1)
  assert.equal(metricValue(w.metrics, 'instore_clock_steps_total', '{direction="ahead"}'), 1)
})

test('a visit open in the future of a clock stepped back is closed at its last evidence, and the next one starts from the clock', () => {
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'clock-steps-')))
  try {
    const w = wallPipeline(new PresenceEngine(site, store, new CampaignEngine(site.storeId, site.timezone, store), presenceOptions(site), silentLogger))
    w.live(60)
    w.step(6 * HOUR)
    w.live(60)
    const ahead = w.events.filter(e => e.type === 'shop.enter').at(-1)
    w.step(-6 * HOUR)
    const from = w.now()
    w.live(60)
    // A device's first positions, and an entry made of them, can predate its readings by up to
    // about 3 s (docs/limits.md): the new visit may begin that much before the clock's step.
    const after = w.events.filter(e => e.ts > from - 5000)
    assert.ok(ahead && ahead.ts > from + 5 * HOUR, 'a visit opened while the clock was ahead')
    const exit = w.events.find(e => e.type === 'shop.exit' && e.visitId === ahead?.visitId)
    assert.ok(exit && exit.ts > ahead.ts, `the visit opened ahead is closed at its last evidence: ${JSON.stringify(exit)}`)
    assert.deepEqual(
      after
        .filter(e => e.ts < from + 5 * HOUR)
        .map(e => e.type)
        .slice(0, 3),
      ['shop.enter', 'sector.enter', 'sector.dwell'],
      'a new visit from the stepped-back clock'
    )
  } finally {
    store.close()
  }
})

test('/healthz is degraded when readings arrive and no tick has been due for several tick periods (wall mode)', () => {
  const w = wallPipeline()
  w.live(5)
  const health = () =>
    gatewayHealth({
      site,
      dataDir: tmpdir(),
      clock: 'wall',
      sensorSilenceMs: 600_000,
      bus: null,
      uplink: null,
      siteOutdated: false,
      store: null,
      pipeline: w.p,
      presence: null,
      lastWorkAt: Date.now(),
      startedAt: Date.now()
    })
  assert.equal(health().status, 'ok', JSON.stringify(health()))
  // The schedule stuck ahead of the clock, as the repro left it: readings arrive, no tick is due.
  const steps = w.p.clock.steps
  assert.ok(steps)
  steps.lastDueAt = w.now() - 30_000
  const h = health()
  assert.equal(h.status, 'degraded')
  assert.ok(
    h.problems.some(p => /no tick for 30 s while readings arrive/.test(p)),
    JSON.stringify(h)
  )
})
