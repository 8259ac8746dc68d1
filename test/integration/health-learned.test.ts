// Re-tester's s9 finding: a kept people state left at start (unreadable, or kept for another sensor
// layout) was only logged, and /healthz said ok while people counting learned from nothing. It is a
// problem in /healthz for a day after the start.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { PresenceEngine, presenceOptions } from '../../gateway/presence/presence.ts'
import { CampaignEngine } from '../../gateway/campaigns/campaigns.ts'
import { learnedKey } from '../../gateway/presence/people-learned.ts'
import { eventPipelineOptions } from '../helpers/gateway.ts'
import { gatewayHealth } from '../../gateway/health.ts'

const T0 = Date.UTC(2026, 10, 1, 10)
const site = parseSite(loadSiteFile('sites/boutique.site.json').file)

function healthOn(dir: string, startedAt = Date.now()) {
  const store = new GatewayStore(dir)
  const presence = new PresenceEngine(site, store, new CampaignEngine(site.storeId, site.timezone, store), presenceOptions(site), silentLogger)
  const p = new Pipeline(
    site,
    eventPipelineOptions(() => T0),
    { position() {}, occupancy() {}, events() {}, footfall() {} },
    new Metrics(),
    silentLogger,
    presence
  )
  const h = gatewayHealth({
    site,
    dataDir: dir,
    clock: 'event',
    sensorSilenceMs: 600_000,
    bus: null,
    uplink: null,
    siteOutdated: false,
    store,
    pipeline: p,
    presence,
    lastWorkAt: Date.now(),
    startedAt
  })
  store.close()
  return h
}

test('a kept people state left at start is a /healthz problem for a day (repro: logged only, /healthz ok)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'health-learned-'))
  const store = new GatewayStore(dir)
  store.saveLearned('people-learned', learnedKey(site), '{"v":1,', T0)
  store.close()
  const h = healthOn(dir)
  assert.ok(
    h.problems.some(x => /people counting left what an earlier run learned \(not JSON\)/.test(x)),
    JSON.stringify(h.problems)
  )
  assert.ok(!healthOn(dir, Date.now() - 25 * 3_600_000).problems.some(x => /people counting/.test(x)), 'gone a day after the start')
  // A state that reads is no problem.
  const fine = mkdtempSync(join(tmpdir(), 'health-learned-'))
  const s2 = new GatewayStore(fine)
  s2.saveLearned('people-learned', learnedKey(site), JSON.stringify({ v: 1, spots: [], places: [], staysMs: [] }), T0)
  s2.close()
  assert.ok(!healthOn(fine).problems.some(x => /people counting/.test(x)))
})
