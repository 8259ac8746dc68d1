// The short soak (issue 27, item 5): a few simulated days through Mosquitto to the gateway
// process, with silent nights, dropouts, rotating MACs, the central server down, two SIGKILLs and
// a Mosquitto restart. The long one is `npm run bench -- soak`.
import assert from 'node:assert/strict'
import { soak } from '../../bench/soak.ts'
import { partTest } from '../helpers/parts.ts'

partTest(
  'mosquitto',
  'soak: days with silent nights, outages and restarts: every event delivered once, no visit lost, state bounded, no error logged',
  { timeout: 600_000 },
  async () => {
    const r = await soak({ days: 4, durationS: 480, seed: 11 })
    const summary = JSON.stringify(r)
    assert.ok(r.readings > 10_000 && r.events > 20, summary)
    // Backpressure reaches the replay through Mosquitto: nothing refused for want of room.
    assert.equal(r.refused, 0, summary)
    assert.equal(r.undelivered, 0, summary)
    assert.equal(r.delivered, r.events, summary)
    assert.equal(r.duplicates, 0, summary)
    assert.ok(r.truthVisits >= 5 && r.visitRecall >= 0.95, summary)
    assert.equal(r.falseVisits, 0, summary)
    assert.deepEqual(r.errorsLogged, [], summary)
    // Rotating addresses come and go: what the gateway holds stays that of a store's worth of phones.
    assert.ok(r.maxDevices < 400 && r.maxZoneTracks < 100, summary)
  }
)
