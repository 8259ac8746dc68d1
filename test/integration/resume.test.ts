// A visit open when the gateway was killed (issue 27, the soak's lost visit): after the restart the
// saved visit resumes, and when its subject comes back only the next morning, the old visit ends
// as of its evidence and the new one is a visit of its own (a shop.enter the day it happens).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile } from '../../shared/site.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { CampaignEngine } from '../../gateway/campaigns/campaigns.ts'
import { PresenceEngine, presenceOptions } from '../../gateway/presence/presence.ts'
import type { ZoneTrack } from '../../gateway/presence/zones.ts'
import type { InstoreEvent } from '../../shared/events.ts'

const site = loadSiteFile('sites/boutique.site.json')
const T0 = 1_764_000_000_000
const HOUR = 3_600_000

/** An open visit and stay as the killed run saved them, last heard at T0. */
function openVisit(): ZoneTrack {
  return {
    shop: { id: 'boutique', enteredAt: T0 - 600_000, lastEvidence: T0, leftBy: T0, score: 40, n: 60, visitId: 'visit-old', sectors: {} },
    shopCand: null,
    sector: { id: 'women', enteredAt: T0 - 300_000, lastEvidence: T0, score: 20, n: 30, dwellSent: 0 },
    sectorCand: null
  }
}

const cases: Array<{ name: string; back: number; newVisit: boolean }> = [
  { name: 'the next morning', back: 14 * HOUR, newVisit: true },
  { name: 'within the visit timeout', back: 5000, newVisit: false }
]

for (const c of cases) {
  test(`a visit open at a SIGKILL, its subject heard again ${c.name}: ${c.newVisit ? 'the old visit ends at its evidence, the new one is entered' : 'the visit goes on'}`, () => {
    const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'resume-')))
    try {
      store.saveState('tag:back', openVisit(), T0)
      const presence = new PresenceEngine(site, store, new CampaignEngine(site.storeId, site.timezone, store), presenceOptions(site))
      assert.equal(presence.size, 1, 'the saved visit resumes')
      const events: InstoreEvent[] = []
      for (let t = T0 + c.back; t < T0 + c.back + 30_000; t += 1000) events.push(...presence.tick(t, new Map([['tag:back', { x: 10, y: 6, accuracyM: 2, floor: 0 }]])))
      const exits = events.filter(e => e.type === 'shop.exit')
      const enters = events.filter(e => e.type === 'shop.enter')
      if (c.newVisit) {
        assert.equal(exits.length, 1, JSON.stringify(events.map(e => e.type)))
        assert.equal(exits[0].visitId, 'visit-old')
        assert.ok(exits[0].ts <= T0, `the old visit ends at T0+${exits[0].ts - T0} ms`)
        assert.equal(enters.length, 1, JSON.stringify(events.map(e => e.type)))
        assert.notEqual(enters[0].visitId, 'visit-old')
        assert.ok(enters[0].ts >= T0 + c.back, 'the new visit begins when its subject is heard again')
      } else {
        assert.deepEqual([exits.length, enters.length], [0, 0], JSON.stringify(events.map(e => e.type)))
      }
    } finally {
      store.close()
    }
  })
}
