// Erasure reaches people counting (an outside tester's repro): a Wi-Fi device learned as a fixture
// is forgotten in memory, in /metrics and in the gateway state, and its fixture row does not come
// back when the device probes again.
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
import { CampaignEngine } from '../../gateway/campaigns/campaigns.ts'
import { PresenceEngine, presenceOptions } from '../../gateway/presence/presence.ts'
import { ROOT } from '../helpers/run.ts'
import { eventPipelineOptions } from '../helpers/gateway.ts'

test('an erased Wi-Fi fixture is gone from people counting, /metrics and the state, and is not kept again when it probes', () => {
  const file = { ...structuredClone(loadSiteFile(join(ROOT, 'sites/boutique.site.json')).file), people: { coldStartQuietS: 0, fixtureAfterS: 1800 } }
  const site = parseSite(file)
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'people-erasure-')))
  try {
    const presence = new PresenceEngine(site, store, new CampaignEngine(site.storeId, site.timezone, store), presenceOptions(site))
    const metrics = new Metrics()
    const p = new Pipeline(site, eventPipelineOptions(), { position() {}, occupancy() {}, events() {}, footfall() {} }, metrics, silentLogger, presence)
    const T0 = Date.UTC(2026, 10, 2, 9)
    const send = (ts: number, mac: string | null): void => {
      for (const s of site.sensors.values()) {
        const readings = mac ? [{ t: 'wifi', mac, rssi: Math.round(-45 - 22 * Math.log10(Math.hypot(18 - s.x, 2 - s.y, 1.6))), ts: ts + 5 }] : []
        p.handle(`instore/${site.storeId}/sensors/${s.id}/readings`, Buffer.from(JSON.stringify({ ts, readings })))
      }
    }
    const MAC = '00:aa:bb:cc:dd:01'
    for (let s = 0; s < 40 * 60; s++) send(T0 + s * 1000, s % 60 === 0 ? MAC : null)
    const rows = store.fixtures()
    assert.equal(rows.length, 1, 'learned as a fixture and kept')
    const subject = rows[0].subject
    assert.ok(p.holds(subject).includes('people'))
    p.forget(subject)
    presence.forget(subject)
    store.erase(subject)
    assert.deepEqual(p.holds(subject), [])
    assert.deepEqual(store.fixtures(), [])
    assert.ok(!metrics.text().includes(subject), 'not in /metrics')
    // Back after a day away, probing as before: learned again only from scratch, not from memory.
    let t = T0 + 40 * 60_000
    for (let k = 0; k < 27 * 60; k++) {
      t += 60_000
      send(t, null)
    }
    for (let s = 0; s < 180; s++) {
      t += 1000
      send(t, s % 60 === 0 ? MAC : null)
    }
    assert.deepEqual(store.fixtures(), [])
  } finally {
    store.close()
  }
})
